//! Crash safety: a child process ingests continuously and is killed with SIGKILL at random
//! moments, many times over the same data directory. After every kill:
//! - every acknowledged entry is present at its acknowledged index with its bytes;
//! - the new head checkpoint is consistent (verified consistency proof) with every checkpoint
//!   seen before, and signed by the log;
//! - no partial batch is visible (the audit checks every tile and bundle is exactly as wide as
//!   the signed head says, and every stored checkpoint matches the stored hashes);
//! - dedup holds across kills: the child resubmits entries of the run before, each leaf hash
//!   is only ever acknowledged at one index, and the tree never holds two equal leaves;
//! - every run acknowledged entries and no submission failed;
//! - the log keeps accepting entries.
//!
//! 20 kills on sled (the default backend) and 8 on fjall by default; set
//! `CAIRN_CRASH_ITERATIONS` for a longer run of both (docs/operations.md).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::{
    audit, FjallOptions, FjallStore, LogStore, SledOptions, SledStore, StoreTiles,
};
use cairn_tree::{
    consistency_proof, entry_bundle_width, leaf_hash, parse_bundle, verify_consistency, Hash,
    TileHashSource,
};

struct Ack {
    index: u64,
    /// Computed by the child from the bytes it submitted.
    leaf: Hash,
    cp_size: u64,
    cp_root: Hash,
    duplicate: bool,
}

/// What the child printed before it was killed.
#[derive(Default)]
struct ChildOutput {
    acks: Vec<Ack>,
    failures: Vec<String>,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 6 || parts[0] != "ack" {
        return None;
    }
    Some(Ack {
        index: parts[1].parse().ok()?,
        leaf: Hash::from_hex(parts[2]).ok()?,
        cp_size: parts[3].parse().ok()?,
        cp_root: Hash::from_hex(parts[4]).ok()?,
        duplicate: parts[5].parse().ok()?,
    })
}

fn entry_at(store: &dyn LogStore, index: u64, size: u64) -> Vec<u8> {
    let bundle = index / 256;
    let body = store.bundle(bundle).unwrap().expect("bundle present");
    let entries = parse_bundle(&body, entry_bundle_width(bundle, size)).expect("exact bundle");
    entries[(index % 256) as usize].to_vec()
}

fn open_store(backend: &str, dir: &std::path::Path) -> Arc<dyn LogStore> {
    match backend {
        "sled" => Arc::new(SledStore::open(dir, &SledOptions::default()).unwrap()),
        "fjall" => Arc::new(FjallStore::open(dir, &FjallOptions::default()).unwrap()),
        other => panic!("unknown backend {other}"),
    }
}

#[test]
fn acknowledged_entries_survive_sigkill() {
    crash_loop("sled", 20);
}

#[test]
fn acknowledged_entries_survive_sigkill_on_fjall() {
    // Fewer kills than sled: the default backend gets the long run, this one checks that
    // fjall's journal gives the same guarantee.
    crash_loop("fjall", 8);
}

fn crash_loop(backend: &str, default_iterations: u64) {
    let iterations: u64 = std::env::var("CAIRN_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_iterations);
    let mut seed: u64 = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test ({backend}) seed {seed} (set CAIRN_CRASH_SEED to repeat)");
    let mut next_random = move |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };

    let dir = tempfile::tempdir().unwrap();
    let signer = LogSigner::generate("crash.test/log").unwrap();
    let skey = signer.signer_key_text();
    // Every checkpoint any child acknowledged against, and every head seen after a kill.
    let mut seen: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut total_acks = 0usize;
    let mut last_size = 0;
    // Every leaf hash acknowledged, with its index: one index per hash, across all kills.
    let mut acked_at: HashMap<Hash, u64> = HashMap::new();
    // Duplicates answered with an index acknowledged in an earlier run: dedup across a kill.
    let mut deduped_across_kills = 0usize;

    for run in 0..iterations {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-crash-child"))
            .args([
                dir.path().to_str().unwrap(),
                &skey,
                &run.to_string(),
                "4",
                backend,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut out = ChildOutput::default();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(fail) = line.strip_prefix("fail ") {
                    out.failures.push(fail.to_owned());
                } else if let Some(ack) = parse_ack(&line) {
                    if out.acks.is_empty() {
                        let _ = ready_tx.send(());
                    }
                    out.acks.push(ack);
                }
            }
            out
        });
        // Once the log is open and acknowledging (a first fsync can be slow on a busy
        // machine), let it ingest a varying amount more.
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("run {run}: the child acknowledged nothing in 60 s"));
        std::thread::sleep(Duration::from_millis(50 + next_random(400)));
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {run}: the child exited before it was killed"
        );
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let ChildOutput { acks, failures } = reader.join().unwrap();
        assert!(
            failures.is_empty(),
            "run {run}: submissions failed: {failures:?}"
        );
        assert!(!acks.is_empty(), "run {run}: nothing was acknowledged");
        total_acks += acks.len();
        let earlier_runs = acked_at.clone();
        for ack in &acks {
            let first = *acked_at.entry(ack.leaf).or_insert(ack.index);
            assert_eq!(
                first, ack.index,
                "run {run}: leaf {} acknowledged at {} and at {}: dedup failed",
                ack.leaf, first, ack.index
            );
            if ack.duplicate && earlier_runs.contains_key(&ack.leaf) {
                deduped_across_kills += 1;
            }
        }

        let store = open_store(backend, dir.path());
        let store = store.as_ref();
        let head = store.head().unwrap().expect("a head after the first start");
        let cp = signer
            .open(&head.checkpoint)
            .expect("head checkpoint verifies");
        assert_eq!(cp.size, head.size);
        assert!(
            head.size >= last_size,
            "the log shrank: {last_size} -> {}",
            head.size
        );
        last_size = head.size;

        for ack in &acks {
            assert!(
                ack.index < head.size,
                "run {run}: acknowledged index {} missing (head {})",
                ack.index,
                head.size
            );
            let entry = entry_at(store, ack.index, head.size);
            assert_eq!(
                leaf_hash(&entry),
                ack.leaf,
                "run {run}: entry {} changed",
                ack.index
            );
            assert!(ack.cp_size > ack.index && ack.cp_size <= head.size);
            seen.insert(ack.cp_size, ack.cp_root);
        }

        // Consistent with everything seen before, by a verified proof from stored hashes.
        let source = TileHashSource::new(head.size, StoreTiles(store));
        for (&size, root) in &seen {
            if size == 0 || size > head.size {
                assert!(
                    size <= head.size,
                    "run {run}: checkpoint {size} beyond head"
                );
                continue;
            }
            let proof = consistency_proof(size, head.size, &source).unwrap();
            verify_consistency(size, head.size, root, &cp.root, &proof)
                .unwrap_or_else(|e| panic!("run {run}: {size} -> {}: {e}", head.size));
        }
        seen.insert(head.size, cp.root);

        // No partial batch: every tile and bundle exactly as the head says; every stored
        // checkpoint signed and matching.
        let report = audit(
            store,
            &|note| {
                signer
                    .open(note)
                    .map(|c| (c.size, c.root))
                    .map_err(|e| e.to_string())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(report.problem, None, "run {run}: audit failed");
    }
    assert!(total_acks > 0, "the child never acknowledged anything");
    assert!(last_size > 0);
    if iterations > 1 {
        assert!(
            deduped_across_kills > 0,
            "no resubmission was answered from an earlier run's acknowledgement"
        );
    }
    // With dedup on, no two leaves are equal, whatever was in flight at each kill.
    let store = open_store(backend, dir.path());
    let mut leaves = HashSet::new();
    for bundle in 0..last_size.div_ceil(256) {
        let body = store.bundle(bundle).unwrap().expect("bundle present");
        let entries = parse_bundle(&body, entry_bundle_width(bundle, last_size)).unwrap();
        for (i, entry) in entries.iter().enumerate() {
            assert!(
                leaves.insert(leaf_hash(entry)),
                "leaf {} repeats an earlier leaf: dedup failed",
                bundle * 256 + i as u64
            );
        }
    }
    assert_eq!(leaves.len() as u64, last_size);
    drop(store);

    // The log keeps accepting entries after all those kills.
    let log = Log::open(
        open_store(backend, dir.path()),
        signer,
        LogConfig::default(),
    )
    .unwrap();
    let receipt = log
        .submit_many_blocking(vec![b"after the storm".to_vec()])
        .unwrap();
    assert_eq!(receipt[0].index, last_size);
    eprintln!(
        "{backend}: {iterations} kills, {total_acks} acknowledgements checked \
         ({deduped_across_kills} answered from an earlier run), final size {last_size}"
    );
}
