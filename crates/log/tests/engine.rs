//! The log engine end to end over both storage backends: receipts that verify, strict dedup
//! (within a batch, across batches, across restarts), size limits, backpressure, graceful
//! shutdown, and refusing to start on a store that disagrees with its checkpoint.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_log::{Log, LogConfig, LogError, LogSigner, Receipt};
use cairn_storage::{
    FjallOptions, FjallStore, Head, IndexEntries, Integration, LogStore, MemoryStore, SledOptions,
    SledStore, StorageError,
};
use cairn_tree::{leaf_hash, verify_consistency, verify_inclusion, Hash};

fn signer() -> LogSigner {
    LogSigner::generate("engine.test/log").unwrap()
}

fn open_memory(config: LogConfig) -> Log {
    Log::open(Arc::new(MemoryStore::new()), signer(), config).unwrap()
}

/// A receipt must stand on its own: signature, leaf, inclusion proof.
/// The engine's configuration with lookahead off (as `cairn serve` runs sled) and on (as it
/// runs fjall), for the tests that must hold in both.
fn both_modes() -> [LogConfig; 2] {
    [false, true].map(|lookahead| LogConfig {
        lookahead,
        ..LogConfig::default()
    })
}

fn check_receipt(log: &Log, entry: &[u8], r: &Receipt) {
    let cp = log
        .signer()
        .open(&r.checkpoint.note)
        .expect("checkpoint verifies");
    assert_eq!((cp.size, cp.root), (r.checkpoint.size, r.checkpoint.root));
    assert_eq!(r.leaf_hash, leaf_hash(entry));
    verify_inclusion(r.index, cp.size, &r.leaf_hash, &r.proof, &cp.root).unwrap();
}

#[test]
fn receipts_verify_and_indices_are_contiguous() {
    for config in both_modes() {
        let log = open_memory(config.clone());
        assert_eq!(log.checkpoint().size, 0);
        assert_eq!(log.checkpoint().root, Hash::empty_root());
        let entries: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("event {i}").into_bytes())
            .collect();
        let receipts = log.submit_many_blocking(entries.clone()).unwrap();
        for (i, (e, r)) in entries.iter().zip(&receipts).enumerate() {
            assert_eq!(r.index, i as u64);
            assert!(!r.duplicate);
            check_receipt(&log, e, r);
        }
        assert_eq!(log.checkpoint().size, 1000);
        for (i, e) in entries.iter().enumerate().step_by(37) {
            assert_eq!(&log.entry(i as u64).unwrap(), e);
            assert_eq!(log.find(&leaf_hash(e)).unwrap(), Some(i as u64));
        }
        assert!(matches!(log.entry(1000), Err(LogError::NotFound(_))));
        // Proofs against older sizes and consistency between checkpoints.
        let old = receipts[10].checkpoint.clone();
        let proof = log.consistency_proof(old.size, 1000).unwrap();
        verify_consistency(old.size, 1000, &old.root, &log.checkpoint().root, &proof).unwrap();
        let p = log.inclusion_proof(3, 500).unwrap();
        let root500 = cairn_tree::root_at(
            500,
            &cairn_tree::TileHashSource::new(1000, cairn_storage::StoreTiles(log.store().as_ref())),
        )
        .unwrap();
        verify_inclusion(3, 500, &leaf_hash(&entries[3]), &p, &root500).unwrap();
        // Proofs against the latest size come from the cached prover; they must equal the
        // one-off computation from storage.
        let tiles =
            cairn_tree::TileHashSource::new(1000, cairn_storage::StoreTiles(log.store().as_ref()));
        for i in (0..1000).step_by(7) {
            assert_eq!(
                log.inclusion_proof(i, 1000).unwrap(),
                cairn_tree::inclusion_proof(i, 1000, &tiles).unwrap()
            );
            assert_eq!(
                log.consistency_proof(i + 1, 1000).unwrap(),
                cairn_tree::consistency_proof(i + 1, 1000, &tiles).unwrap()
            );
        }
        assert!(log.inclusion_proof(1000, 1000).is_err());
        assert!(log.inclusion_proof(0, 1001).is_err());
        assert!(log.consistency_proof(0, 10).is_err());
        assert!(log.consistency_proof(11, 10).is_err());
    }
}

#[test]
fn concurrent_submitters_all_get_valid_distinct_receipts() {
    for config in both_modes() {
        let log = Arc::new(open_memory(config.clone()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| {
                            let e = format!("t{t} e{i}").into_bytes();
                            let r = log.submit_many_blocking(vec![e.clone()]).unwrap().remove(0);
                            (e, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut indices = std::collections::HashSet::new();
        for t in threads {
            for (e, r) in t.join().unwrap() {
                check_receipt(&log, &e, &r);
                assert!(
                    indices.insert(r.index),
                    "index {} handed out twice",
                    r.index
                );
            }
        }
        assert_eq!(indices.len(), 1600);
        assert_eq!(log.checkpoint().size, 1600);
    }
}

/// Group commit: what queues while one batch is being written goes into one write.
#[test]
fn submissions_queued_during_a_write_are_committed_together() {
    let (store, log) = gated_log(LogConfig::default());
    store.open.store(false, Ordering::Release);
    let submit = |e: String| {
        let log = log.clone();
        std::thread::spawn(move || log.submit_many_blocking(vec![e.into_bytes()]))
    };
    let first = submit("first".into());
    // The sequencer is inside the store's write with the first entry (the empty tree's
    // checkpoint was the write before).
    store.wait_until_entered(2);
    let rest: Vec<_> = (0..50).map(|i| submit(format!("queued {i}"))).collect();
    while log.queued() < 51 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Counted before it is sent: give the last submitters time to reach the queue.
    std::thread::sleep(Duration::from_millis(100));
    store.open.store(true, Ordering::Release);
    first.join().unwrap().unwrap();
    for r in rest {
        r.join().unwrap().unwrap();
    }
    // One write per batch: the first entry's, then the 50 queued behind it in one (two if
    // a submitter was slower than the pause above), not 50.
    let batches = log.stats().batches.load(Ordering::Relaxed);
    assert!((2..=3).contains(&batches), "{batches} batches");
    assert_eq!(log.checkpoint().size, 51);
}

/// A request is never split and a batch never holds more than `max_batch` entries: a request
/// that does not fit opens the next batch.
#[test]
fn a_batch_never_exceeds_max_batch() {
    let (store, log) = gated_log(LogConfig {
        max_batch: 10,
        ..LogConfig::default()
    });
    store.open.store(false, Ordering::Release);
    let submit = |tag: &'static str, n: usize| {
        let log = log.clone();
        std::thread::spawn(move || {
            log.submit_many_blocking((0..n).map(|i| format!("{tag} {i}").into_bytes()).collect())
        })
    };
    let wait_for = |queued: usize| {
        while log.queued() < queued {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let first = submit("first", 1);
    store.wait_until_entered(2);
    let nine = submit("nine", 9);
    wait_for(10);
    std::thread::sleep(Duration::from_millis(50));
    let ten = submit("ten", 10);
    wait_for(20);
    std::thread::sleep(Duration::from_millis(50));
    store.open.store(true, Ordering::Release);
    for t in [first, nine, ten] {
        t.join().unwrap().unwrap();
    }
    // Nine and ten queued together would be a batch of 19.
    let sizes = store.sizes.lock().unwrap().clone();
    assert_eq!(sizes.last(), Some(&20));
    for pair in sizes.windows(2) {
        assert!(
            pair[1] - pair[0] <= 10,
            "a batch over max_batch: sizes {sizes:?}"
        );
    }
}

#[test]
fn strict_dedup_within_and_across_batches() {
    for lookahead in [true, false] {
        strict_dedup_within_and_across_batches_with(lookahead);
    }
}

fn strict_dedup_within_and_across_batches_with(lookahead: bool) {
    let log = open_memory(LogConfig {
        lookahead,
        ..LogConfig::default()
    });
    let r = log
        .submit_many_blocking(vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()])
        .unwrap();
    assert_eq!((r[0].index, r[0].duplicate), (0, false));
    assert_eq!((r[1].index, r[1].duplicate), (1, false));
    assert_eq!((r[2].index, r[2].duplicate), (0, true));
    check_receipt(&log, b"a", &r[2]);
    let again = log.submit_many_blocking(vec![b"b".to_vec()]).unwrap();
    assert_eq!((again[0].index, again[0].duplicate), (1, true));
    check_receipt(&log, b"b", &again[0]);
    assert_eq!(log.checkpoint().size, 2, "no second leaf for a duplicate");
    assert_eq!(log.stats().duplicates.load(Ordering::Relaxed), 2);
}

#[test]
fn dedup_can_be_turned_off() {
    let log = open_memory(LogConfig {
        dedup: false,
        ..LogConfig::default()
    });
    let r = log
        .submit_many_blocking(vec![b"a".to_vec(), b"a".to_vec()])
        .unwrap();
    assert_eq!((r[0].index, r[1].index), (0, 1));
    assert!(!r[1].duplicate);
    check_receipt(&log, b"a", &r[1]);
    // The hash index keeps the first occurrence.
    assert_eq!(log.find(&leaf_hash(b"a")).unwrap(), Some(0));
}

#[test]
fn oversized_entries_are_refused_and_nothing_is_stored() {
    let log = open_memory(LogConfig::default());
    let max = vec![7u8; 65_535];
    let r = log.submit_many_blocking(vec![max.clone()]).unwrap();
    check_receipt(&log, &max, &r[0]);
    let err = log
        .submit_many_blocking(vec![b"fine".to_vec(), vec![0u8; 65_536]])
        .unwrap_err();
    assert!(matches!(
        err,
        LogError::EntryTooLarge {
            len: 65_536,
            max: 65_535
        }
    ));
    assert_eq!(log.checkpoint().size, 1, "a refused batch stores nothing");
    let small = open_memory(LogConfig {
        max_entry_len: 10,
        ..LogConfig::default()
    });
    assert!(matches!(
        small.submit_many_blocking(vec![vec![0; 11]]),
        Err(LogError::EntryTooLarge { len: 11, max: 10 })
    ));
    assert!(Log::open(
        Arc::new(MemoryStore::new()),
        signer(),
        LogConfig {
            max_entry_len: 70_000,
            ..LogConfig::default()
        }
    )
    .is_err());
    // The empty entry is a valid entry.
    let r = log.submit_many_blocking(vec![Vec::new()]).unwrap();
    check_receipt(&log, b"", &r[0]);
}

/// A store whose writes block until released, to hold the sequencer mid-batch.
struct GatedStore {
    inner: MemoryStore,
    open: AtomicBool,
    fail: AtomicBool,
    busy: AtomicBool,
    /// Tile reads fail (writes still succeed).
    tiles_fail: AtomicBool,
    /// Writes succeed, then report a failure.
    fail_after_write: AtomicBool,
    /// Writes panic (a bug in a backend).
    panic: AtomicBool,
    /// The tree size after each successful write, in order.
    sizes: Mutex<Vec<u64>>,
    /// Writes begun (counted before the gate).
    entered: AtomicUsize,
    /// Dedup index lookups made.
    lookups: AtomicUsize,
    /// An answer the dedup index gives the log's lookup thread only: a store that shows a
    /// batch before it is durable (as sled does during its flush).
    shown_early: Mutex<Option<(Hash, u64)>>,
}

impl GatedStore {
    /// Waits until `n` writes have begun: the sequencer is then inside the n-th.
    fn wait_until_entered(&self, n: usize) {
        while self.entered.load(Ordering::Acquire) < n {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl LogStore for GatedStore {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        self.inner.head()
    }
    fn integrate(&self, batch: &Integration) -> Result<(), StorageError> {
        self.entered.fetch_add(1, Ordering::AcqRel);
        while !self.open.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.fail.load(Ordering::Acquire) {
            return Err(StorageError::Backend("disk on fire".into()));
        }
        if self.busy.load(Ordering::Acquire) {
            return Err(StorageError::Busy("compacting".into()));
        }
        if self.panic.load(Ordering::Acquire) {
            panic!("the backend hit a bug");
        }
        self.inner.integrate(batch)?;
        self.sizes.lock().unwrap().push(batch.new_size);
        if self.fail_after_write.load(Ordering::Acquire) {
            return Err(StorageError::Backend("fsync reported EIO late".into()));
        }
        Ok(())
    }
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        if self.tiles_fail.load(Ordering::Acquire) {
            return Err(StorageError::Backend("unreadable sector".into()));
        }
        self.inner.tile(level, index)
    }
    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.bundle(index)
    }
    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        let early = *self.shown_early.lock().unwrap();
        let found = match early {
            Some((hash, index))
                if hash == *leaf && std::thread::current().name() == Some("cairn-lookup") =>
            {
                Ok(Some(index))
            }
            _ => self.inner.find_leaf(leaf),
        };
        // Counted once the answer is fixed: a test that waits for a lookup knows what it saw.
        self.lookups.fetch_add(1, Ordering::AcqRel);
        found
    }
    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.checkpoint(size)
    }
    fn checkpoint_sizes(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.checkpoint_sizes()
    }
    fn put_cosigned(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        self.inner.put_cosigned(size, note)
    }
    fn cosigned(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.cosigned(size)
    }
    fn latest_cosigned(&self, at_most: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        self.inner.latest_cosigned(at_most)
    }
    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError> {
        self.inner.dedup_entries()
    }
}

fn gated() -> Arc<GatedStore> {
    Arc::new(GatedStore {
        inner: MemoryStore::new(),
        open: AtomicBool::new(true),
        fail: AtomicBool::new(false),
        busy: AtomicBool::new(false),
        tiles_fail: AtomicBool::new(false),
        fail_after_write: AtomicBool::new(false),
        panic: AtomicBool::new(false),
        sizes: Mutex::new(Vec::new()),
        entered: AtomicUsize::new(0),
        lookups: AtomicUsize::new(0),
        shown_early: Mutex::new(None),
    })
}

/// A log on a fresh gated store.
fn gated_log(config: LogConfig) -> (Arc<GatedStore>, Arc<Log>) {
    let store = gated();
    let log = Log::open(store.clone(), signer(), config).unwrap();
    (store, Arc::new(log))
}

/// A log on a gated store with lookahead on.
fn gated_lookahead_log() -> (Arc<GatedStore>, Arc<Log>) {
    gated_log(LogConfig {
        lookahead: true,
        ..LogConfig::default()
    })
}

/// Holds the sequencer inside a write (the gate closed) and submits `entry` behind it on a
/// thread of its own; returns once the lookup thread has looked the entry up.
fn submit_behind_a_write(
    store: &GatedStore,
    log: &Arc<Log>,
    entry: &[u8],
) -> std::thread::JoinHandle<Result<Vec<Receipt>, LogError>> {
    let looked_up = store.lookups.load(Ordering::Acquire);
    let handle = {
        let log = log.clone();
        let entry = entry.to_vec();
        std::thread::spawn(move || log.submit_many_blocking(vec![entry]))
    };
    while store.lookups.load(Ordering::Acquire) == looked_up {
        std::thread::sleep(Duration::from_millis(1));
    }
    handle
}

/// Starts submitting `entry` and waits until the sequencer is inside its `n`-th write.
fn submit_into_write(
    store: &GatedStore,
    log: &Arc<Log>,
    entry: &[u8],
    n: usize,
) -> std::thread::JoinHandle<Result<Vec<Receipt>, LogError>> {
    let handle = {
        let log = log.clone();
        let entry = entry.to_vec();
        std::thread::spawn(move || log.submit_many_blocking(vec![entry]))
    };
    store.wait_until_entered(n);
    handle
}

/// Entries are looked up while the batch before them is being written: a duplicate of an
/// entry in that batch must still get its index, not a second leaf.
#[test]
fn a_duplicate_of_an_entry_being_written_gets_its_index() {
    let (store, log) = gated_lookahead_log();
    store.open.store(false, Ordering::Release);
    let first = submit_into_write(&store, &log, b"twice", 2);
    // Its lookup missed: the first batch is not in the store yet.
    let second = submit_behind_a_write(&store, &log, b"twice");
    store.open.store(true, Ordering::Release);
    let first = first.join().unwrap().unwrap().remove(0);
    let second = second.join().unwrap().unwrap().remove(0);
    assert_eq!((first.index, first.duplicate), (0, false));
    assert_eq!((second.index, second.duplicate), (0, true));
    assert_eq!(log.checkpoint().size, 1);
    check_receipt(&log, b"twice", &second);
}

/// A store may show a batch before it is durable, and that batch may then fail: a hit at or
/// beyond the size a lookup was made at is not trusted, even once the log has grown past it
/// (with other leaves at those indices).
#[test]
fn a_lookup_hit_beyond_its_size_is_not_trusted() {
    let (store, log) = gated_lookahead_log();
    log.submit_many_blocking(vec![b"a".to_vec()]).unwrap();
    store.open.store(false, Ordering::Release);
    let other = submit_into_write(&store, &log, b"other", 3);
    // Looked up at size 1, it is "found" at index 1, where `other` is about to land.
    *store.shown_early.lock().unwrap() = Some((leaf_hash(b"early"), 1));
    let early = submit_behind_a_write(&store, &log, b"early");
    store.open.store(true, Ordering::Release);
    assert_eq!(other.join().unwrap().unwrap()[0].index, 1);
    let r = early.join().unwrap().unwrap().remove(0);
    assert_eq!((r.index, r.duplicate), (2, false));
    check_receipt(&log, b"early", &r);
}

/// A write reported failed may have landed; a lookup made before it (a miss) must not be
/// finished from the sequencer's record of recent leaves, which does not hold that batch.
#[test]
fn a_lookup_from_before_a_failed_write_that_landed_is_asked_again() {
    let (store, log) = gated_lookahead_log();
    store.open.store(false, Ordering::Release);
    store.fail_after_write.store(true, Ordering::Release);
    let first = submit_into_write(&store, &log, b"landed", 2);
    let second = submit_behind_a_write(&store, &log, b"landed");
    store.open.store(true, Ordering::Release);
    assert!(matches!(
        first.join().unwrap(),
        Err(LogError::LoggedWithoutReceipt { size: 1, .. })
    ));
    // All duplicates: nothing is written, so the failing store cannot fail it.
    let r = second.join().unwrap().unwrap().remove(0);
    assert_eq!((r.index, r.duplicate), (0, true));
    assert_eq!(log.checkpoint().size, 1);
}

#[test]
fn the_queue_is_bounded_in_bytes_too() {
    let (store, log) = gated_log(LogConfig {
        queue_bytes: 1000,
        ..LogConfig::default()
    });
    store.open.store(false, Ordering::Release);
    let big = {
        let log = log.clone();
        std::thread::spawn(move || log.submit_many_blocking(vec![vec![1; 600]]))
    };
    store.wait_until_entered(2);
    // 600 + 600 bytes is over the budget although two entries are far below the count.
    match log.submit_many_blocking(vec![vec![2; 600]]) {
        Err(LogError::Overloaded { .. }) => {}
        other => panic!("expected Overloaded, got {other:?}"),
    }
    let small = {
        let log = log.clone();
        std::thread::spawn(move || log.submit_many_blocking(vec![vec![3; 300]]))
    };
    while log.queued() < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    store.open.store(true, Ordering::Release);
    big.join().unwrap().unwrap();
    small.join().unwrap().unwrap();
    // Drained: the budget is free again.
    log.submit_many_blocking(vec![vec![2; 600]]).unwrap();
    assert_eq!(log.checkpoint().size, 3);
}

#[test]
fn a_max_wait_over_the_limit_is_refused() {
    let err = Log::open(
        Arc::new(MemoryStore::new()),
        signer(),
        LogConfig {
            max_wait: Duration::from_secs(3600),
            ..LogConfig::default()
        },
    )
    .err()
    .expect("an hour-long max_wait is refused");
    assert!(err.to_string().contains("max_wait"), "{err}");
}

#[test]
fn a_write_reported_failed_that_landed_is_answered_as_logged() {
    for config in both_modes() {
        let (store, log) = gated_log(config.clone());
        log.submit_many_blocking(vec![b"before".to_vec()]).unwrap();
        store.fail_after_write.store(true, Ordering::Release);
        match log.submit_many_blocking(vec![b"landed".to_vec()]) {
            Err(LogError::LoggedWithoutReceipt { size: 2, .. }) => {}
            other => panic!("expected LoggedWithoutReceipt, got {other:?}"),
        }
        // Reloaded from the store: the batch is published, not written a second time, and
        // its entry is counted.
        assert_eq!(log.checkpoint().size, 2);
        assert_eq!(log.stats().entries.load(Ordering::Relaxed), 2);
        store.fail_after_write.store(false, Ordering::Release);
        let r = log.submit_many_blocking(vec![b"landed".to_vec()]).unwrap();
        assert_eq!((r[0].index, r[0].duplicate), (1, true));
        check_receipt(&log, b"landed", &r[0]);
    }
}

#[test]
fn a_dead_sequencer_is_reported_and_not_retried_forever() {
    let (store, log) = gated_log(LogConfig::default());
    log.submit_many_blocking(vec![b"before".to_vec()]).unwrap();
    assert!(log.accepting());
    store.panic.store(true, Ordering::Release);
    match log.submit_many_blocking(vec![b"boom".to_vec()]) {
        Err(LogError::SequencerFailed) => {}
        other => panic!("expected SequencerFailed, got {other:?}"),
    }
    // The sequencer's guard marks the log failed as its thread unwinds, which may end just
    // after the submitter heard.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.accepting() {
        assert!(std::time::Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(1));
    }
    match log.submit_many_blocking(vec![b"after".to_vec()]) {
        Err(LogError::SequencerFailed) => {}
        other => panic!("expected SequencerFailed, got {other:?}"),
    }
    assert_eq!(log.checkpoint().size, 1);
}

#[test]
fn a_full_queue_pushes_back_and_recovers() {
    let (store, log) = gated_log(LogConfig {
        queue_capacity: 100,
        max_batch: 10,
        ..LogConfig::default()
    });
    store.open.store(false, Ordering::Release);
    // Fill the queue while the sequencer is stuck writing.
    let waiting: Vec<_> = (0..10)
        .map(|i| {
            let log = log.clone();
            std::thread::spawn(move || {
                log.submit_many_blocking((0..10).map(|j| format!("{i}/{j}").into_bytes()).collect())
            })
        })
        .collect();
    while log.queued() < 100 {
        std::thread::sleep(Duration::from_millis(1));
    }
    match log.submit_many_blocking(vec![b"one too many".to_vec()]) {
        Err(LogError::Overloaded { retry_after }) => assert!(retry_after > Duration::ZERO),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    store.open.store(true, Ordering::Release);
    for w in waiting {
        assert_eq!(w.join().unwrap().unwrap().len(), 10);
    }
    assert_eq!(log.checkpoint().size, 100);
    log.submit_many_blocking(vec![b"one too many".to_vec()])
        .unwrap();
}

#[test]
fn a_request_larger_than_a_batch_is_refused_whole() {
    let log = Log::open(
        Arc::new(MemoryStore::new()),
        signer(),
        LogConfig {
            max_batch: 10,
            ..LogConfig::default()
        },
    )
    .unwrap();
    let entries = |n: usize| (0..n).map(|i| format!("e{i}").into_bytes()).collect();
    match log.submit_many_blocking(entries(11)) {
        Err(LogError::TooManyEntries { n: 11, max: 10 }) => {}
        other => panic!("expected TooManyEntries, got {other:?}"),
    }
    assert_eq!((log.queued(), log.checkpoint().size), (0, 0));
    assert_eq!(log.submit_many_blocking(entries(10)).unwrap().len(), 10);
}

#[test]
fn a_busy_store_makes_submitters_retry_and_is_no_failure() {
    for config in both_modes() {
        let (store, log) = gated_log(config.clone());
        log.submit_many_blocking(vec![b"before".to_vec()]).unwrap();
        store.busy.store(true, Ordering::Release);
        match log.submit_many_blocking(vec![b"later".to_vec()]) {
            Err(LogError::Overloaded { retry_after }) => assert!(retry_after > Duration::ZERO),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        assert_eq!(log.stats().storage_failures.load(Ordering::Relaxed), 0);
        assert_eq!(log.checkpoint().size, 1);
        store.busy.store(false, Ordering::Release);
        let r = log.submit_many_blocking(vec![b"later".to_vec()]).unwrap();
        assert_eq!((r[0].index, r[0].duplicate), (1, false));
        assert_eq!(log.checkpoint().size, 2);
    }
}

#[test]
fn a_failed_write_acknowledges_nothing_and_the_log_recovers() {
    for config in both_modes() {
        let (store, log) = gated_log(config.clone());
        log.submit_many_blocking(vec![b"before".to_vec()]).unwrap();
        store.fail.store(true, Ordering::Release);
        assert!(matches!(
            log.submit_many_blocking(vec![b"lost".to_vec()]),
            Err(LogError::Storage(_))
        ));
        assert_eq!(log.checkpoint().size, 1);
        store.fail.store(false, Ordering::Release);
        let r = log.submit_many_blocking(vec![b"lost".to_vec()]).unwrap();
        assert_eq!((r[0].index, r[0].duplicate), (1, false));
        check_receipt(&log, b"lost", &r[0]);
    }
}

#[test]
fn receipts_that_cannot_be_built_say_the_entries_are_logged() {
    for config in both_modes() {
        let (store, log) = gated_log(config.clone());
        let old: Vec<Vec<u8>> = (0..600).map(|i| format!("old {i}").into_bytes()).collect();
        log.submit_many_blocking(old.clone()).unwrap();
        // Durable, then the proofs need a stored tile that cannot be read.
        store.tiles_fail.store(true, Ordering::Release);
        let batch = vec![old[5].clone(), b"fresh".to_vec()];
        match log.submit_many_blocking(batch.clone()) {
            Err(e @ LogError::LoggedWithoutReceipt { size: 601, .. }) => {
                assert!(e.to_string().contains("were logged"), "{e}")
            }
            other => panic!("expected LoggedWithoutReceipt, got {other:?}"),
        }
        assert_eq!(log.stats().storage_failures.load(Ordering::Relaxed), 0);
        assert_eq!(log.checkpoint().size, 601);
        // Submitted again: the same indices, now with receipts.
        store.tiles_fail.store(false, Ordering::Release);
        let r = log.submit_many_blocking(batch).unwrap();
        assert_eq!((r[0].index, r[0].duplicate), (5, true));
        assert_eq!((r[1].index, r[1].duplicate), (600, true));
        check_receipt(&log, b"fresh", &r[1]);
    }
}

#[test]
fn shutdown_integrates_what_was_accepted() {
    for config in both_modes() {
        let (store, log) = gated_log(config.clone());
        store.open.store(false, Ordering::Release);
        let pending: Vec<_> = (0..5)
            .map(|i| {
                let log = log.clone();
                std::thread::spawn(move || {
                    log.submit_many_blocking(vec![format!("p{i}").into_bytes()])
                })
            })
            .collect();
        while log.queued() < 5 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let closer = {
            let log = log.clone();
            std::thread::spawn(move || log.shutdown())
        };
        std::thread::sleep(Duration::from_millis(20));
        store.open.store(true, Ordering::Release);
        closer.join().unwrap();
        for p in pending {
            p.join()
                .unwrap()
                .expect("accepted entries are acknowledged on shutdown");
        }
        assert_eq!(log.checkpoint().size, 5);
        assert!(matches!(
            log.submit_many_blocking(vec![b"late".to_vec()]),
            Err(LogError::ShuttingDown)
        ));
    }
}

/// Ingests 300 entries, closes the log and its store, reopens both: dedup and consistency
/// carry across the restart.
/// Run with the lookahead `cairn serve` gives the backend.
fn restart_resumes_dedup_and_consistency(
    lookahead: bool,
    open: impl Fn(&std::path::Path) -> Arc<dyn LogStore>,
) {
    let config = LogConfig {
        lookahead,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    let skey = signer.signer_key_text();
    let first = {
        let log = Log::open(open(dir.path()), signer, config.clone()).unwrap();
        let entries: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_be_bytes().to_vec()).collect();
        log.submit_many_blocking(entries).unwrap();
        log.checkpoint()
    };
    let log = Log::open(
        open(dir.path()),
        LogSigner::from_signer_key(&skey).unwrap(),
        config,
    )
    .unwrap();
    assert_eq!(log.checkpoint().note, first.note);
    let r = log
        .submit_many_blocking(vec![7u32.to_be_bytes().to_vec(), b"new".to_vec()])
        .unwrap();
    assert_eq!((r[0].index, r[0].duplicate), (7, true));
    assert_eq!((r[1].index, r[1].duplicate), (300, false));
    let proof = log.consistency_proof(300, 301).unwrap();
    verify_consistency(300, 301, &first.root, &log.checkpoint().root, &proof).unwrap();
}

#[test]
fn restart_resumes_dedup_and_consistency_on_sled() {
    restart_resumes_dedup_and_consistency(false, |p| {
        Arc::new(SledStore::open(p, &SledOptions::default()).unwrap())
    });
}

#[test]
fn restart_resumes_dedup_and_consistency_on_fjall() {
    restart_resumes_dedup_and_consistency(true, |p| {
        Arc::new(FjallStore::open(p, &FjallOptions::default()).unwrap())
    });
}

#[test]
fn a_store_from_another_log_is_refused() {
    let store = Arc::new(MemoryStore::new());
    {
        let log = Log::open(store.clone(), signer(), LogConfig::default()).unwrap();
        log.submit_many_blocking((0..20u8).map(|i| vec![i]).collect())
            .unwrap();
    }
    // Another key (or origin) cannot take over the log.
    let refusal = |signer| match Log::open(store.clone(), signer, LogConfig::default()) {
        Err(LogError::Note(why)) => why,
        Err(other) => panic!("refused for the wrong reason: {other}"),
        Ok(_) => panic!("a foreign signer opened the log"),
    };
    let other_key = refusal(signer());
    assert!(other_key.contains("signature"), "{other_key}");
    // A key is named after its origin, so another origin's key has no signature here either.
    let other_origin = refusal(LogSigner::generate("other.origin/log").unwrap());
    assert!(other_origin.contains("signature"), "{other_origin}");
}

#[test]
fn a_corrupt_right_edge_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let signer = signer();
    let skey = signer.signer_key_text();
    {
        let log = Log::open(store.clone(), signer, LogConfig::default()).unwrap();
        log.submit_many_blocking((0..20u8).map(|i| vec![i]).collect())
            .unwrap();
    }
    let mut tile = store.tile(0, 0).unwrap().unwrap();
    tile[19 * 32] ^= 1;
    store.corrupt_tile(0, 0, tile);
    let err = Log::open(
        store,
        LogSigner::from_signer_key(&skey).unwrap(),
        LogConfig::default(),
    )
    .err()
    .expect("refused");
    assert!(matches!(err, LogError::Inconsistent(_)), "{err}");
}
