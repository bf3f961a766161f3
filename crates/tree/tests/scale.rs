//! Index arithmetic at scale: roots, proofs and the appender for trees of up to 2^40 leaves.
//!
//! The exhaustive tests stop at a few thousand leaves, where every index fits in 11 bits; bugs in
//! shifts, masks and off-by-ones at high bits would pass them. Building a real tree of 2^40
//! leaves is impossible, so this file uses a synthetic store whose leaves repeat with period
//! `PERIOD` (a power of two): every aligned perfect subtree at least one period wide has the same
//! hash as any other of its height, so any node hash costs O(1) and any root O(log n).
//!
//! Checked, for random sizes biased to edge shapes (powers of two, 2^k ± 1, all-ones, sparse
//! bits): `root_at` equals an independent RFC 9162 recursion; inclusion and consistency proofs
//! have the predicted length and verify against independent roots; a neighbouring index, leaf or
//! old size is rejected; asking for a tree larger than the store fails instead of inventing
//! hashes; and `Frontier::load` at huge sizes reproduces the same roots as leaves are appended.

mod common;

use std::sync::OnceLock;

use cairn_tree::{
    consistency_proof, consistency_proof_len, inclusion_proof, inclusion_proof_len, leaf_hash,
    node_hash, root_at, verify_consistency, verify_inclusion, Frontier, Hash, HashSource, NodeId,
    Prover, TreeError, VerifyError,
};
use common::Reference;
use proptest::prelude::*;

/// Leaves repeat every `PERIOD` indices. A power of two, so aligned subtrees of at least this
/// width are all equal; more than 2, so that index ± 1 and index XOR 2 all name different leaves.
const PERIOD: u64 = 16;
const PERIOD_LOG: u8 = PERIOD.trailing_zeros() as u8;
/// The largest tree size the random cases use.
const MAX_SIZE: u64 = 1 << 40;

/// Leaf hash of entry `index`: the entry is `index mod PERIOD` as 8 big-endian bytes, so
/// neighbouring indices always have different leaves.
fn periodic_leaf(index: u64) -> Hash {
    leaf_hash(&(index % PERIOD).to_be_bytes())
}

/// The perfect subtree of `2^level` leaves starting at `first`, hashed from its leaves. Only
/// used below one period, so at most `PERIOD` leaves.
fn hash_leaves(first: u64, level: u8) -> Hash {
    if level == 0 {
        return periodic_leaf(first);
    }
    let half = 1 << (level - 1);
    node_hash(
        &hash_leaves(first, level - 1),
        &hash_leaves(first + half, level - 1),
    )
}

// ---------------------------------------------------------------------------------------------
// The synthetic store.
// ---------------------------------------------------------------------------------------------

/// A `HashSource` for the periodic tree of `size` leaves. Nodes at or above the period level are
/// a per-level constant; smaller ones are hashed from their leaves. Nodes that the tree of
/// `size` leaves does not contain yet are refused, as a real store would.
struct PeriodicStore {
    size: u64,
    /// `above[l - PERIOD_LOG]` is the hash of every aligned node at level `l`, for l in
    /// PERIOD_LOG..=63.
    above: Vec<Hash>,
}

impl PeriodicStore {
    fn new(size: u64) -> Self {
        let mut above = vec![hash_leaves(0, PERIOD_LOG)];
        for _ in PERIOD_LOG + 1..64 {
            let below = *above.last().unwrap();
            above.push(node_hash(&below, &below));
        }
        PeriodicStore { size, above }
    }

    fn node(&self, id: NodeId) -> Result<Hash, TreeError> {
        // `end_leaf` is None for addresses past 2^64, which no tree contains.
        match id.end_leaf() {
            Some(end) if end <= self.size => {}
            _ => return Err(TreeError::MissingNode(id)),
        }
        Ok(if id.level >= PERIOD_LOG {
            self.above[usize::from(id.level - PERIOD_LOG)]
        } else {
            hash_leaves(id.index << id.level, id.level)
        })
    }
}

impl HashSource for PeriodicStore {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        nodes.iter().map(|&id| self.node(id)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The independent root.
// ---------------------------------------------------------------------------------------------

/// MTH of the first `2^level` periodic leaves, for every level: the only closed form the
/// independent root uses. Built bottom-up from one period hashed leaf by leaf, not from the
/// store's table.
fn perfect(level: u32) -> Hash {
    static TABLE: OnceLock<Vec<Hash>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let leaves: Vec<Hash> = (0..PERIOD).map(periodic_leaf).collect();
        let mut reference = Reference::new(leaves);
        let mut table: Vec<Hash> = (0..=u64::from(PERIOD_LOG))
            .map(|l| reference.mth(0, 1 << l))
            .collect();
        while table.len() < 64 {
            let below = *table.last().unwrap();
            table.push(node_hash(&below, &below));
        }
        table
    });
    table[level as usize]
}

/// MTH(D[lo:hi]) by the RFC 9162 definition: split at the largest power of two below the
/// width. A perfect range aligned to its width takes the closed form (when at least a period
/// wide) or is hashed leaf by leaf; every other range recurses, so the depth is O(log n) and
/// nothing here shares the crate's decomposition into stored nodes.
fn independent_mth(lo: u64, hi: u64) -> Hash {
    let n = hi - lo;
    match n {
        0 => Hash::empty_root(),
        1 => periodic_leaf(lo),
        _ if n.is_power_of_two() && lo.is_multiple_of(n) && n >= PERIOD => {
            perfect(n.trailing_zeros())
        }
        _ => {
            let k = 1u64 << (63 - (n - 1).leading_zeros());
            node_hash(&independent_mth(lo, lo + k), &independent_mth(lo + k, hi))
        }
    }
}

fn independent_root(size: u64) -> Hash {
    independent_mth(0, size)
}

// ---------------------------------------------------------------------------------------------
// Sanity of the test fixtures themselves, against the naive reference.
// ---------------------------------------------------------------------------------------------

#[test]
fn fixtures_match_naive_reference() {
    const N: u64 = 600;
    let leaves: Vec<Hash> = (0..N).map(periodic_leaf).collect();
    let mut reference = Reference::new(leaves);
    let store = PeriodicStore::new(N);
    for n in 0..=N {
        assert_eq!(independent_root(n), reference.mth(0, n), "root of {n}");
    }
    // Every node the store can serve, against the reference hash of its leaves.
    for level in 0..=9u8 {
        let width = 1u64 << level;
        for index in 0..N / width {
            let (lo, hi) = (index * width, (index + 1) * width);
            let id = NodeId::new(level, index);
            assert_eq!(store.node(id).unwrap(), reference.mth(lo, hi), "{id:?}");
        }
        // The first node past the end is refused.
        let past = NodeId::new(level, N / width);
        assert!(matches!(store.node(past), Err(TreeError::MissingNode(id)) if id == past));
    }
    // Neighbouring leaves differ, and the leaf two away differs too (index XOR 2).
    for i in 0..PERIOD {
        assert_ne!(periodic_leaf(i), periodic_leaf(i + 1));
        assert_ne!(periodic_leaf(i), periodic_leaf(i ^ 2));
    }
    // Refusals at the top of the address space.
    let huge = PeriodicStore::new(u64::MAX);
    assert!(huge.node(NodeId::new(63, 0)).is_ok());
    assert!(huge.node(NodeId::new(63, 1)).is_err());
    assert!(huge.node(NodeId::new(64, 0)).is_err());
    assert!(huge.node(NodeId::leaf(u64::MAX)).is_err());
}

// ---------------------------------------------------------------------------------------------
// The per-case checks.
// ---------------------------------------------------------------------------------------------

/// All checks for one (size, index, old size) triple; panics with the case in the message.
fn check_case(n: u64, index: u64, old: u64) {
    assert!(
        index < n && (1..=n).contains(&old),
        "bad case {n} {index} {old}"
    );
    let store = PeriodicStore::new(n);
    let root = independent_root(n);
    assert_eq!(root_at(n, &store).unwrap(), root, "root_at({n})");

    // Inclusion.
    let leaf = periodic_leaf(index);
    let proof = inclusion_proof(index, n, &store).unwrap();
    let prover = Prover::new(n, &store).unwrap();
    assert_eq!(prover.root(), root, "prover root({n})");
    assert_eq!(
        prover.inclusion_proof(index, &store).unwrap(),
        proof,
        "prover inclusion({index}, {n})"
    );
    assert_eq!(
        proof.len(),
        inclusion_proof_len(index, n),
        "len({index}, {n})"
    );
    verify_inclusion(index, n, &leaf, &proof, &root)
        .unwrap_or_else(|e| panic!("inclusion of {index} in {n}: {e}"));
    // A neighbouring index with the same leaf and proof, and a neighbouring leaf at the same
    // index, must fail: with PERIOD > 2 their leaves differ, so acceptance would mean a hash
    // collision or an index bit used the wrong way.
    for wrong in [index.wrapping_sub(1), index + 1, index ^ 2] {
        if wrong < n {
            assert!(
                verify_inclusion(wrong, n, &leaf, &proof, &root).is_err(),
                "inclusion of {index} in {n} accepted at index {wrong}"
            );
        }
    }
    for other in [index + 1, index.wrapping_sub(1)] {
        assert!(
            verify_inclusion(index, n, &periodic_leaf(other), &proof, &root).is_err(),
            "inclusion of {index} in {n} accepted the leaf of {other}"
        );
    }

    // Consistency.
    let old_root = independent_root(old);
    let proof = consistency_proof(old, n, &store).unwrap();
    assert_eq!(
        prover.consistency_proof(old, &store).unwrap(),
        proof,
        "prover consistency({old}, {n})"
    );
    assert_eq!(
        proof.len(),
        consistency_proof_len(old, n),
        "len({old}, {n})"
    );
    verify_consistency(old, n, &old_root, &root, &proof)
        .unwrap_or_else(|e| panic!("consistency {old} -> {n}: {e}"));
    // A wrong old size with the same roots and proof: the old tree's shape changes, so the
    // proof cannot lead to both roots (old - 1 = 0 and old + 1 > n are refused outright).
    for wrong in [old - 1, old + 1] {
        assert!(
            verify_consistency(wrong, n, &old_root, &root, &proof).is_err(),
            "consistency {old} -> {n} accepted as {wrong} -> {n}"
        );
    }
    if old < n {
        assert!(verify_consistency(old, n, &root, &old_root, &proof).is_err());
        assert!(verify_consistency(old, n, &old_root, &root, &[]).is_err());
    }

    // A tree one leaf larger than the store holds needs its last leaf: generation must fail
    // with a missing node instead of producing something.
    let bigger = root_at(n + 1, &store);
    assert!(
        matches!(bigger, Err(TreeError::MissingNode(_))),
        "root_at({}) from a store of {n}: {bigger:?}",
        n + 1
    );
    assert!(matches!(
        inclusion_proof(index, n + 1, &store),
        Err(TreeError::MissingNode(_))
    ));
    assert!(matches!(
        consistency_proof(old, n + 1, &store),
        Err(TreeError::MissingNode(_))
    ));
}

/// Picks a value in `1..=n` from `r`, biased towards the shapes where index arithmetic breaks.
fn pick_biased(n: u64, r: u64, selector: u8) -> u64 {
    debug_assert!(n >= 1);
    let below = |x: u64| x.clamp(1, n);
    let pow = if n > 1 {
        1u64 << (63 - (n - 1).leading_zeros())
    } else {
        1
    };
    match selector % 8 {
        0 => 1,
        1 => n,
        2 => below(n - 1),
        3 => pow,            // the root's split point
        4 => below(pow + 1), // just right of it
        5 => below(pow - 1), // just left of it
        6 => below(n & r),   // a sub-pattern of n's bits
        _ => 1 + r % n,      // uniform
    }
}

/// Tree sizes in `1..=2^40`, biased towards edge shapes.
fn size_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 1..=MAX_SIZE,
        1 => (0u32..=40).prop_map(|k| 1u64 << k),
        1 => (1u32..=40).prop_map(|k| (1u64 << k) - 1),
        1 => (1u32..=39).prop_map(|k| (1u64 << k) + 1),
        1 => (1..=MAX_SIZE, 1..=MAX_SIZE, 1..=MAX_SIZE).prop_map(|(a, b, c)| (a & b & c).max(1)),
        1 => (1..=MAX_SIZE, 1..=MAX_SIZE).prop_map(|(a, b)| a | b | 1).prop_map(|x| x.min(MAX_SIZE)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        // Each case costs a few hundred hashes, so 2000 run in well under a second. Proptest
        // seeds each run afresh and records failing seeds in tests/scale.proptest-regressions.
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_trees_up_to_2_pow_40(
        n in size_strategy(),
        r1 in any::<u64>(),
        s1 in any::<u8>(),
        r2 in any::<u64>(),
        s2 in any::<u8>(),
    ) {
        // Both picks are in 1..=n; an index is one less.
        let index = pick_biased(n, r1, s1) - 1;
        let old = pick_biased(n, r2, s2);
        check_case(n, index, old);
    }
}

/// Every edge shape up to 2^40 deterministically, so they run even if proptest's sampling
/// misses one: sizes 2^k - 1, 2^k, 2^k + 1, with every biased index and old size.
#[test]
fn edge_shapes_up_to_2_pow_40() {
    let mut cases = 0;
    for k in 0..=40u32 {
        let p = 1u64 << k;
        for n in [p - 1, p, p + 1] {
            if n == 0 || n > MAX_SIZE + 1 {
                continue;
            }
            for s1 in 0..8 {
                for s2 in 0..8 {
                    let r = 0x5555_5555_5555_5555u64 >> (s1 + s2);
                    check_case(n, pick_biased(n, r, s1) - 1, pick_biased(n, r, s2));
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 7000, "{cases}");
}

/// The top of the u64 range, past what Go clients handle (2^63) but within the crate's types.
#[test]
fn sizes_up_to_2_pow_63() {
    let top = 1u64 << 63;
    for n in [
        top - 1,
        top,
        top - 2,
        (top >> 1) + 1,
        top - (1 << 40) + 12_345,
    ] {
        for (s1, s2) in [
            (0, 0),
            (1, 1),
            (2, 3),
            (3, 4),
            (4, 5),
            (5, 2),
            (6, 6),
            (7, 7),
        ] {
            let r = 0x0123_4567_89ab_cdefu64;
            check_case(n, pick_biased(n, r, s1) - 1, pick_biased(n, r, s2));
        }
    }
}

/// Sizes above 2^63: the proof-length formulas shift by the full width of a u64 there (a bug
/// that once refused every valid proof), so check generation and verification in full.
#[test]
fn sizes_above_2_pow_63() {
    let n = (1u64 << 63) + 1;
    let store = PeriodicStore::new(n);
    let root = independent_root(n);
    assert_eq!(root_at(n, &store).unwrap(), root);

    // Leaf 5 sits in the left perfect half of 2^63 leaves, so its path is its path there plus
    // the lone right leaf.
    let proof = inclusion_proof(5, n, &store).unwrap();
    let prover = Prover::new(n, &store).unwrap();
    assert_eq!(prover.inclusion_proof(5, &store).unwrap(), proof);
    assert_eq!(
        prover.consistency_proof(3, &store).unwrap(),
        consistency_proof(3, n, &store).unwrap()
    );
    let left = inclusion_proof(5, 1 << 63, &store).unwrap();
    assert_eq!(proof.len(), 64);
    assert_eq!(&proof[..63], &left[..]);
    assert_eq!(proof[63], periodic_leaf(1 << 63));
    assert_eq!(
        verify_inclusion(5, n, &periodic_leaf(5), &proof, &root),
        Ok(())
    );

    let consistency = consistency_proof(3, n, &store).unwrap();
    assert_eq!(consistency.len(), 65);
    assert_eq!(
        &consistency[..consistency.len() - 1],
        &consistency_proof(3, 1 << 63, &store).unwrap()[..]
    );
    let old_root = independent_root(3);
    assert_eq!(
        verify_consistency(3, n, &old_root, &root, &consistency),
        Ok(())
    );

    for n in [(1u64 << 63) + 1, u64::MAX - 1, (1 << 63) + (1 << 40) + 7] {
        for (s1, s2) in [(0, 0), (1, 1), (2, 3), (5, 2), (7, 7)] {
            let r = 0x0123_4567_89ab_cdefu64;
            check_case(n, pick_biased(n, r, s1) - 1, pick_biased(n, r, s2));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The appender at huge sizes.
// ---------------------------------------------------------------------------------------------

/// `Frontier::load` reads the right edge of a huge tree from storage; its root must be the tree's
/// root, and appending must keep it so, emitting exactly the nodes the larger tree has.
#[test]
fn frontier_load_at_huge_sizes() {
    const APPEND: u64 = 40;
    for size in [
        (1u64 << 40) - 1,
        1 << 40,
        (1 << 40) + 12_345,
        (1 << 40) - 16,
        0x55_5555_5555,
        (1 << 62) - 1,
        (1 << 63) - 1,
        1 << 63,
    ] {
        let store = PeriodicStore::new(size);
        let mut frontier = Frontier::load(size, &store).unwrap();
        assert_eq!(frontier.size(), size);
        assert_eq!(frontier.hashes().len(), size.count_ones() as usize);
        assert_eq!(
            frontier.root(),
            independent_root(size),
            "loaded root of {size}"
        );

        // The store of the grown tree knows every node the appender emits.
        let grown = PeriodicStore::new(size + APPEND);
        let mut out = Vec::new();
        for i in size..size + APPEND {
            out.clear();
            frontier.append(periodic_leaf(i), &mut out).unwrap();
            assert_eq!(frontier.size(), i + 1);
            assert_eq!(
                frontier.root(),
                independent_root(i + 1),
                "root after appending {i}"
            );
            // One new leaf plus one node per trailing 1-bit of the old size.
            assert_eq!(out.len(), 1 + i.trailing_ones() as usize);
            for (id, hash) in &out {
                assert_eq!(grown.node(*id).unwrap(), *hash, "emitted {id:?}");
                assert_eq!(
                    id.end_leaf(),
                    Some(i + 1),
                    "{id:?} completes at size {}",
                    i + 1
                );
            }
        }
        assert_eq!(Frontier::load(size + APPEND, &grown).unwrap(), frontier);
    }
}

#[test]
fn frontier_load_refuses_a_store_that_is_too_small() {
    let store = PeriodicStore::new((1 << 40) - 1);
    assert!(matches!(
        Frontier::load(1 << 40, &store),
        Err(TreeError::MissingNode(id)) if id == NodeId::new(40, 0)
    ));
}

/// `verify_consistency` and the length helpers agree with the store on the largest trees where
/// an old size is 1 or the whole tree.
#[test]
fn trivial_consistency_at_scale() {
    let n = MAX_SIZE;
    let store = PeriodicStore::new(n);
    let root = independent_root(n);
    assert_eq!(consistency_proof(n, n, &store).unwrap(), vec![]);
    assert_eq!(verify_consistency(n, n, &root, &root, &[]), Ok(()));
    assert_eq!(
        verify_consistency(n, n, &root, &independent_root(n - 1), &[]),
        Err(VerifyError::DifferentRootsForSameSize)
    );
    // From one leaf: the proof is the full audit path of leaf 0.
    assert_eq!(
        consistency_proof(1, n, &store).unwrap(),
        inclusion_proof(0, n, &store).unwrap()
    );
}
