//! Merkle core benchmarks: the SHA-256 ceiling, appends, and proofs at 10M leaves.
//!
//! Run: `cargo bench -p cairn-tree --bench tree`. Compare ratios within one run: the machines
//! are shared and noisy.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use cairn_tree::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, verify_inclusion, Frontier, Hash,
    MemoryHashes, Prover,
};
use divan::counter::{BytesCount, ItemsCount};
use sha2::{Digest, Sha256};

fn main() {
    divan::main();
}

const BIG: u64 = 10_000_000;

/// A 10M-leaf tree held in memory, built once for the proof benches.
fn big_tree() -> &'static (MemoryHashes, Hash) {
    static TREE: OnceLock<(MemoryHashes, Hash)> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut frontier = Frontier::new();
        let mut store = MemoryHashes::new();
        let mut out = Vec::new();
        for i in 0..BIG {
            frontier
                .append(leaf_hash(&i.to_be_bytes()), &mut out)
                .unwrap();
            store.store(&out);
            out.clear();
        }
        (store, frontier.root())
    })
}

/// Deterministic pseudo-random numbers, so runs compare.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 11
}

/// Pseudo-random numbers for benches run on several threads (inputs are made outside the
/// timed section, so the shared counter costs nothing measured).
fn shared_random() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut seed = NEXT.fetch_add(1, Ordering::Relaxed);
    lcg(&mut seed)
}

/// The ceiling: SHA-256 over 64-byte inputs (a node hash hashes 65 bytes).
#[divan::bench]
fn sha256_64_bytes(bencher: divan::Bencher) {
    let input = [7u8; 64];
    bencher
        .counter(BytesCount::new(64usize))
        .bench(|| Sha256::digest(black_box(&input)));
}

#[divan::bench]
fn node_hash_one(bencher: divan::Bencher) {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    bencher.bench(|| node_hash(black_box(&a), black_box(&b)));
}

/// Hashing a 256-byte entry and appending it, with the emitted nodes collected as storage
/// would receive them.
#[divan::bench]
fn append_256_byte_leaves(bencher: divan::Bencher) {
    const BATCH: u64 = 65_536;
    let entry = [0x5au8; 256];
    bencher
        .counter(ItemsCount::new(BATCH))
        .with_inputs(|| (Frontier::new(), Vec::with_capacity(2 * BATCH as usize)))
        .bench_local_values(|(mut frontier, mut out)| {
            for _ in 0..BATCH {
                frontier.append(leaf_hash(&entry), &mut out).unwrap();
            }
            (frontier.root(), out.len())
        });
}

/// The whole 10M-leaf append, stored in memory: one sample, it takes seconds.
#[divan::bench(sample_count = 1, sample_size = 1)]
fn append_10m_leaves_into_memory(bencher: divan::Bencher) {
    let entry = [0x5au8; 256];
    bencher.counter(ItemsCount::new(BIG)).bench_local(|| {
        let mut frontier = Frontier::new();
        let mut store = MemoryHashes::new();
        let mut out = Vec::with_capacity(64);
        for _ in 0..BIG {
            frontier.append(leaf_hash(&entry), &mut out).unwrap();
            store.store(&out);
            out.clear();
        }
        frontier.root()
    });
}

/// Proofs per timed iteration in the proof benches: enough that timer overhead vanishes.
const PROOFS_PER_ITER: usize = 1024;

/// Random indexes (or old sizes) in `1..BIG`, made outside the timed section.
fn random_positions() -> Vec<u64> {
    (0..PROOFS_PER_ITER)
        .map(|_| 1 + shared_random() % (BIG - 1))
        .collect()
}

/// What a log serves: proofs against its latest size, with the right edge's partial subtree
/// hashes computed once per size. On 1 and 2 threads: the throughput shown is per thread.
#[divan::bench(threads = [1, 2])]
fn prover_inclusion_at_10m(bencher: divan::Bencher) {
    let (store, _) = big_tree();
    let prover = Prover::new(BIG, store).unwrap();
    bencher
        .counter(ItemsCount::new(PROOFS_PER_ITER))
        .with_inputs(random_positions)
        .bench_local_refs(|indexes| {
            for &index in indexes.iter() {
                black_box(prover.inclusion_proof(index, store).unwrap());
            }
        });
}

#[divan::bench(threads = [1, 2])]
fn prover_consistency_at_10m(bencher: divan::Bencher) {
    let (store, _) = big_tree();
    let prover = Prover::new(BIG, store).unwrap();
    bencher
        .counter(ItemsCount::new(PROOFS_PER_ITER))
        .with_inputs(random_positions)
        .bench_local_refs(|olds| {
            for &old in olds.iter() {
                black_box(prover.consistency_proof(old, store).unwrap());
            }
        });
}

/// One-off proofs: each also reads the right edge and rehashes the partial subtree it needs.
#[divan::bench]
fn inclusion_proof_at_10m(bencher: divan::Bencher) {
    let (store, _) = big_tree();
    bencher
        .counter(ItemsCount::new(PROOFS_PER_ITER))
        .with_inputs(random_positions)
        .bench_local_refs(|indexes| {
            for &index in indexes.iter() {
                black_box(inclusion_proof(index, BIG, store).unwrap());
            }
        });
}

#[divan::bench]
fn consistency_proof_at_10m(bencher: divan::Bencher) {
    let (store, _) = big_tree();
    bencher
        .counter(ItemsCount::new(PROOFS_PER_ITER))
        .with_inputs(random_positions)
        .bench_local_refs(|olds| {
            for &old in olds.iter() {
                black_box(consistency_proof(old, BIG, store).unwrap());
            }
        });
}

#[divan::bench]
fn verify_inclusion_at_10m(bencher: divan::Bencher) {
    let (store, root) = big_tree();
    let index = 4_242_424;
    let proof = inclusion_proof(index, BIG, store).unwrap();
    let leaf = leaf_hash(&index.to_be_bytes());
    bencher.bench_local(|| verify_inclusion(index, BIG, &leaf, &proof, root).unwrap());
}
