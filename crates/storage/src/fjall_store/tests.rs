//! What only the fjall layout can show: which keys an integration writes (pieces, joined
//! tiles, long index keys), that the writer's copy always equals what a reopen would load,
//! that v1 stores open and grow, and that the audit finds damage to pieces and index keys.

use super::*;
use crate::conformance::{open_test_checkpoint, sharing, CraftedLog, ReferenceLog};
use crate::{audit, AuditProblem};

fn open(dir: &Path) -> FjallStore {
    FjallStore::open(dir, &FjallOptions::default()).unwrap()
}

/// A store in `dir` holding the empty log, and its reference.
fn new_log(dir: &Path) -> (FjallStore, ReferenceLog) {
    let store = open(dir);
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    (store, reference)
}

/// The same with a log of crafted leaf hashes.
fn new_crafted_log(dir: &Path) -> (FjallStore, CraftedLog) {
    let store = open(dir);
    let mut log = CraftedLog::default();
    store.integrate(&log.grow(&[])).unwrap();
    (store, log)
}

fn entries(from: u64, count: u64) -> Vec<Vec<u8>> {
    (from..from + count)
        .map(|i| format!("pieces entry {i}").into_bytes())
        .collect()
}

/// All keys (and value lengths) of `ks` that start with `prefix`.
fn keys_with_prefix(ks: &Keyspace, prefix: &[u8]) -> Vec<(Vec<u8>, usize)> {
    ks.prefix(prefix)
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.len())
        })
        .collect()
}

/// The writer's copy must be exactly what loading it from disk gives, after every batch:
/// otherwise the next batch would write the wrong new bytes.
fn assert_writer_copy_matches_disk(store: &FjallStore) {
    let guard = store.writer.lock().unwrap();
    let copy = guard.as_ref().expect("writer state loaded");
    let disk = store.load_writer_state().unwrap();
    assert_eq!(copy.head, disk.head);
    assert_eq!(copy.bundle, disk.bundle);
    assert_eq!(copy.tiles, disk.tiles);
}

fn assert_reads_match(store: &FjallStore, reference: &ReferenceLog) {
    let size = reference.size();
    for index in 0..size.div_ceil(TILE_WIDTH) {
        assert_eq!(
            store.bundle(index).unwrap().unwrap(),
            reference.bundle_body(index, size),
            "bundle {index} at {size}"
        );
    }
    for level in 0..2u8 {
        for index in 0..=(size >> (8 * level)) / TILE_WIDTH {
            assert_eq!(
                store.tile(level, index).unwrap(),
                reference.tile_body(level, index, size),
                "tile {level}/{index} at {size}"
            );
        }
    }
}

#[test]
fn integrations_write_only_new_bytes_and_join_full_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut reference) = new_log(dir.path());
    for count in [10u64, 20, 30, 200, 3, 100, 1, 600] {
        let old = reference.size();
        let old_bundle_len = if old.is_multiple_of(TILE_WIDTH) {
            0
        } else {
            reference.bundle_body(old / TILE_WIDTH, old).len()
        };
        store
            .integrate(&reference.grow(entries(old, count)))
            .unwrap();
        let new = reference.size();
        assert_writer_copy_matches_disk(&store);
        assert_reads_match(&store, &reference);

        // The bundle that was partial got exactly its new bytes as one piece (or, when it
        // was new, one base), never a copy of what was stored.
        let bundle = old / TILE_WIDTH;
        let keys = keys_with_prefix(&store.bundles, &bundle.to_be_bytes());
        let grown_to = reference.bundle_body(bundle, new).len();
        if old_bundle_len > 0 {
            let (last_key, last_len) = keys.last().unwrap();
            assert_eq!(
                last_key[8..],
                u32::try_from(old_bundle_len).unwrap().to_be_bytes(),
                "{count} entries after {old}"
            );
            assert_eq!(*last_len, grown_to - old_bundle_len);
        } else {
            assert_eq!(keys, vec![(bundle.to_be_bytes().to_vec(), grown_to)]);
        }
        // Every full level-0 tile is one value; only the partial one may be in pieces.
        for tile in 0..new / TILE_WIDTH {
            assert_eq!(
                keys_with_prefix(&store.tiles, &tile_key(0, tile)),
                vec![(tile_key(0, tile).to_vec(), TILE_BYTES)],
                "tile 0/{tile} at {new}"
            );
        }
    }
    // Reopening loads the same partial state and goes on from it.
    drop(store);
    let store = open(dir.path());
    assert_writer_copy_matches_disk(&store);
    let old = reference.size();
    store.integrate(&reference.grow(entries(old, 77))).unwrap();
    assert_reads_match(&store, &reference);
    assert_writer_copy_matches_disk(&store);
}

#[test]
fn a_part_in_too_many_pieces_is_rewritten_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut reference) = new_log(dir.path());
    for i in 0..(MAX_PIECES as u64 + 10) {
        store.integrate(&reference.grow(entries(i, 1))).unwrap();
        let pieces = keys_with_prefix(&store.bundles, &0u64.to_be_bytes()).len() - 1;
        assert!(
            pieces <= MAX_PIECES,
            "{pieces} pieces after {} entries",
            i + 1
        );
        let tile_pieces = keys_with_prefix(&store.tiles, &tile_key(0, 0)).len() - 1;
        assert!(tile_pieces <= MAX_PIECES);
    }
    // One rewrite happened, by the entry that would have been piece MAX_PIECES + 1: the
    // base holds the first MAX_PIECES + 2 entries and each later one is a piece.
    assert_eq!(
        keys_with_prefix(&store.bundles, &0u64.to_be_bytes()).len(),
        1 + reference.size() as usize - (MAX_PIECES + 2)
    );
    assert_reads_match(&store, &reference);
    assert_writer_copy_matches_disk(&store);
}

#[test]
fn colliding_prefixes_get_long_keys_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let member = |m: u8| sharing(0x5a, LEAF_PREFIX, m);
    // Two in one batch, one in a later batch.
    store.integrate(&log.grow(&[member(1), member(2)])).unwrap();
    store.integrate(&log.grow(&[member(3)])).unwrap();
    let keys: Vec<Vec<u8>> = keys_with_prefix(&store.leaves, &[0x5a; LEAF_PREFIX])
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let long = |i: u64| [&[0x5a; LEAF_PREFIX][..], &i.to_be_bytes()].concat();
    assert_eq!(keys, vec![vec![0x5a; LEAF_PREFIX], long(1), long(2)]);
    for (m, index) in [(1, 0), (2, 1), (3, 2)] {
        assert_eq!(store.find_leaf(&member(m)).unwrap(), Some(index));
    }
    assert_eq!(store.find_leaf(&member(4)).unwrap(), None);
}

/// `find_leaf` remembers free prefixes so the next insert need not read them again; a miss
/// seen before a commit that took its prefix must not be trusted after it, or a later leaf
/// with the same prefix would overwrite the short key of the leaf that commit stored.
#[test]
fn a_miss_from_before_a_commit_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let x = Hash([0x77; 32]);
    let mut y = x;
    y.0[31] = 0x78;
    assert_eq!(store.find_leaf(&x).unwrap(), None);
    store.integrate(&log.grow(&[y])).unwrap();
    store.integrate(&log.grow(&[x])).unwrap();
    assert_eq!(store.find_leaf(&y).unwrap(), Some(0));
    assert_eq!(store.find_leaf(&x).unwrap(), Some(1));
}

/// A lookup that began before a commit and missed may have raced it (its read before the
/// commit's insert, its report after the commit forgot the prefixes it took): such a miss is
/// not remembered.
#[test]
fn a_miss_reported_after_a_commit_it_began_before_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let y = Hash([0x44; 32]);
    let mut x = y;
    x.0[31] = 0x45;
    let began = store.commits.load(Ordering::Acquire);
    store.integrate(&log.grow(&[y])).unwrap();
    // x's lookup read the index before y's commit, and reports its miss only now.
    store.remember_miss(leaf_prefix(&x), began);
    store.integrate(&log.grow(&[x])).unwrap();
    assert_eq!(store.find_leaf(&y).unwrap(), Some(0));
    assert_eq!(store.find_leaf(&x).unwrap(), Some(1));
}

/// The engine looks a batch up while the batch before it is written, so a miss must survive
/// a commit that did not take its prefix, or every insert would read the index again.
#[test]
fn a_miss_outlives_a_commit_that_took_another_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let (x, y) = (Hash([0x11; 32]), Hash([0x22; 32]));
    assert_eq!(store.find_leaf(&x).unwrap(), None);
    assert_eq!(store.find_leaf(&y).unwrap(), None);
    store.integrate(&log.grow(&[y])).unwrap();
    store.integrate(&log.grow(&[x])).unwrap();
    assert_eq!(store.prefix_reads.load(Ordering::Relaxed), 0);
    assert_eq!(store.find_leaf(&y).unwrap(), Some(0));
    assert_eq!(store.find_leaf(&x).unwrap(), Some(1));
    // A leaf nobody looked up is read before it is inserted.
    let z = Hash([0x33; 32]);
    store.integrate(&log.grow(&[z])).unwrap();
    assert_eq!(store.prefix_reads.load(Ordering::Relaxed), 1);
}

/// Writes `integration` the way format v1 did: whole bodies under plain keys, the hash index
/// keyed by the full leaf hash.
fn write_v1(db: &Database, integration: &Integration) {
    let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default).unwrap();
    let (meta, tiles, bundles, dedup, checkpoints) = (
        ks("meta"),
        ks("tiles"),
        ks("bundles"),
        ks("dedup"),
        ks("checkpoints"),
    );
    let mut b = db.batch().durability(Some(PersistMode::SyncAll));
    b.insert(&meta, FORMAT_KEY, FORMAT_V1);
    for (level, index, body) in &integration.tiles {
        b.insert(&tiles, tile_key(*level, *index), body.as_slice());
    }
    for (index, body) in &integration.bundles {
        b.insert(&bundles, index.to_be_bytes(), body.as_slice());
    }
    for (hash, index) in &integration.dedup {
        b.insert(&dedup, hash.0, index.to_be_bytes());
    }
    b.insert(
        &checkpoints,
        integration.new_size.to_be_bytes(),
        integration.checkpoint.as_slice(),
    );
    b.insert(&meta, HEAD, integration.new_size.to_be_bytes());
    b.commit().unwrap();
}

#[test]
fn a_v1_store_opens_upgrades_and_grows() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference = ReferenceLog::new();
    {
        let db = Database::builder(dir.path()).open().unwrap();
        write_v1(&db, &reference.grow(Vec::new()));
        write_v1(&db, &reference.grow(entries(0, 300)));
        write_v1(&db, &reference.grow(entries(300, 5)));
    }
    let v1_leaf = cairn_tree::leaf_hash(&entries(299, 1)[0]);
    for count in [7u64, 250, 100] {
        let store = open(dir.path());
        assert_eq!(
            store.meta.get(FORMAT_KEY).unwrap().unwrap().as_ref(),
            FORMAT
        );
        assert_writer_copy_matches_disk(&store);
        assert_reads_match(&store, &reference);
        let old = reference.size();
        store
            .integrate(&reference.grow(entries(old, count)))
            .unwrap();
        assert_reads_match(&store, &reference);
        assert_eq!(store.find_leaf(&v1_leaf).unwrap(), Some(299));
        let new_leaf = cairn_tree::leaf_hash(&entries(old + count - 1, 1)[0]);
        assert_eq!(store.find_leaf(&new_leaf).unwrap(), Some(old + count - 1));
        let report = audit(&store, &open_test_checkpoint, &mut |_| {}).unwrap();
        assert_eq!(report.problem, None);
        assert_eq!(report.index_entries_checked, reference.size());
    }
}

#[test]
fn an_unknown_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let mut b = store.db.batch().durability(Some(PersistMode::SyncAll));
        b.insert(&store.meta, FORMAT_KEY, b"cairn-fjall-v9");
        b.commit().unwrap();
    }
    let err = match FjallStore::open(dir.path(), &FjallOptions::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a store of an unknown format"),
    };
    assert!(err.contains("cairn-fjall-v9"), "{err}");
}

/// Builds a log whose last bundle and tiles are in several pieces, with a prefix collision in
/// the leaf index.
fn damaged_store_fixture(dir: &Path) -> (FjallStore, ReferenceLog) {
    let (store, mut reference) = new_log(dir);
    for count in [100u64, 100, 100, 40, 3] {
        let old = reference.size();
        store
            .integrate(&reference.grow(entries(old, count)))
            .unwrap();
    }
    (store, reference)
}

fn audit_problem(store: &FjallStore) -> Option<AuditProblem> {
    audit(store, &open_test_checkpoint, &mut |_| {})
        .unwrap()
        .problem
}

/// Every stored key/value pair of `ks`.
fn all_pairs(ks: &Keyspace) -> Vec<(Vec<u8>, Vec<u8>)> {
    ks.iter()
        .map(|g| {
            let (k, v) = g.into_inner().unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

fn put(ks: &Keyspace, key: &[u8], value: &[u8]) {
    ks.insert(key, value).unwrap();
}

#[test]
fn the_audit_finds_a_flipped_byte_in_any_piece_or_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = damaged_store_fixture(dir.path());
    assert_eq!(audit_problem(&store), None);
    let mut checked = 0;
    for name in ["tiles", "bundles", "leaf_index"] {
        let ks = store.raw_keyspace(name).clone();
        let pairs = all_pairs(&ks);
        // Several pieces exist, or this test would only exercise whole values.
        assert!(pairs.iter().any(|(k, _)| k.len() > 9) || name == "leaf_index");
        for (key, value) in &pairs {
            // Values: a sample of positions in each.
            let step = (value.len() / 12).max(1);
            for at in (0..value.len()).step_by(step) {
                let mut bad = value.clone();
                bad[at] ^= 0x20;
                put(&ks, key, &bad);
                assert!(
                    audit_problem(&store).is_some(),
                    "{name} key {key:02x?} value byte {at}"
                );
                put(&ks, key, value);
                checked += 1;
            }
            // Keys: every byte, moved to the flipped key (when that key is free).
            for at in 0..key.len() {
                let mut bad = key.clone();
                bad[at] ^= 0x01;
                if ks.get(&bad).unwrap().is_some() {
                    continue;
                }
                ks.remove(key.as_slice()).unwrap();
                put(&ks, &bad, value);
                assert!(
                    audit_problem(&store).is_some(),
                    "{name} key {key:02x?} key byte {at}"
                );
                ks.remove(bad.as_slice()).unwrap();
                put(&ks, key, value);
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked}");
    assert_eq!(audit_problem(&store), None);
}

#[test]
fn pieces_that_do_not_fit_together_are_reported_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let (store, reference) = damaged_store_fixture(dir.path());
    let last = reference.size() / TILE_WIDTH;
    let keys = keys_with_prefix(&store.bundles, &last.to_be_bytes());
    assert!(keys.len() >= 3, "{keys:?}");
    // Drop a middle piece: the next piece no longer starts where the bytes before it end.
    store.bundles.remove(keys[1].0.as_slice()).unwrap();
    match store.bundle(last) {
        Err(StorageError::Corrupt(reason)) => {
            assert!(reason.contains("starts at byte"), "{reason}")
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(matches!(
        audit_problem(&store),
        Some(AuditProblem::BadBundle { index, .. }) if index == last
    ));
}

/// Validation accepts an integration's tiles and bundles in any order; the writer's copy
/// must come out the same, or every later batch would be refused.
#[test]
fn parts_listed_in_any_order_keep_the_writer_copy_right() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut reference) = new_log(dir.path());
    store.integrate(&reference.grow(entries(0, 200))).unwrap();
    // 200 → 300 completes tile 0/0 and bundle 0 and starts tile 0/1 and bundle 1.
    let mut batch = reference.grow(entries(200, 100));
    batch.tiles.reverse();
    batch.bundles.reverse();
    assert!(batch.bundles.len() == 2 && batch.tiles.iter().filter(|t| t.0 == 0).count() == 2);
    store.integrate(&batch).unwrap();
    assert_writer_copy_matches_disk(&store);
    store.integrate(&reference.grow(entries(300, 50))).unwrap();
    assert_writer_copy_matches_disk(&store);
    assert_reads_match(&store, &reference);
}

/// A refused batch must not leave the writer unable to go on.
#[test]
fn a_refused_batch_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut reference) = new_log(dir.path());
    store.integrate(&reference.grow(entries(0, 10))).unwrap();
    let mut good = reference.grow(entries(10, 10));
    let mut bad = good.clone();
    bad.bundles[0].1.truncate(3);
    assert!(store.integrate(&bad).is_err());
    store.integrate(&good).unwrap();
    good.old_size = 0;
    assert!(store.integrate(&good).is_err());
    store.integrate(&reference.grow(entries(20, 300))).unwrap();
    assert_writer_copy_matches_disk(&store);
    assert_reads_match(&store, &reference);
}

fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, StorageError>, reason_has: &str) {
    match result {
        Err(StorageError::Corrupt(reason)) => assert!(reason.contains(reason_has), "{reason}"),
        other => panic!("expected corruption ({reason_has}), got {other:?}"),
    }
}

/// Damage to the keys of a shared prefix that would make `find_leaf` miss a stored leaf (and
/// so log it again) is reported by `dedup_entries`, which the audit reads.
#[test]
fn index_damage_within_a_shared_prefix_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let member = |m: u8| sharing(0x3c, LEAF_PREFIX, m);
    store
        .integrate(&log.grow(&[member(1), Hash([9; 32]), member(2)]))
        .unwrap();
    let entries_ok = |store: &FjallStore| -> Result<Vec<(Hash, u64)>, StorageError> {
        store.dedup_entries().unwrap().collect()
    };
    let mut found = entries_ok(&store).unwrap();
    found.sort_by_key(|(_, i)| *i);
    assert_eq!(
        found,
        vec![(member(1), 0), (Hash([9; 32]), 1), (member(2), 2)]
    );
    let short = [0x3c; LEAF_PREFIX];
    let original = store.leaves.get(short).unwrap().unwrap().to_vec();

    // The short key now names member 2, the leaf of the long key: member 1 is unfindable.
    put(&store.leaves, &short, &encode_index(2));
    assert_eq!(store.find_leaf(&member(1)).unwrap(), None);
    assert_corrupt(entries_ok(&store), "two leaf index keys");
    // The short key is gone: lookups never reach the long key.
    store.leaves.remove(short).unwrap();
    assert_eq!(store.find_leaf(&member(2)).unwrap(), None);
    assert_corrupt(entries_ok(&store), "has no short key");
    put(&store.leaves, &short, &original);
    assert_eq!(entries_ok(&store).unwrap().len(), 3);
}

/// Readers looking leaves up (and so filling the cache of free prefixes the writer trusts)
/// while small batches of leaves sharing one prefix are integrated: no lookup ever names a
/// wrong index, and afterwards every leaf is found at its own index and the prefix's keys
/// are intact.
#[test]
fn lookups_racing_small_batches_of_colliding_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut log) = new_crafted_log(dir.path());
    let member = |k: u8| sharing(0x42, LEAF_PREFIX, k);
    // Members of one prefix family interleaved with unrelated leaves.
    let leaves: Vec<Hash> = (0..120u8)
        .flat_map(|k| {
            let mut other = [0x99; 32];
            other[0] = k;
            [member(k), Hash(other)]
        })
        .collect();
    let position = |leaf: &Hash| leaves.iter().position(|l| l == leaf).map(|i| i as u64);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for reader in 0..3u8 {
            let (store, done, leaves) = (&store, &done, &leaves);
            scope.spawn(move || {
                let mut k = reader;
                let mut lookups = 0;
                while !done.load(Ordering::Acquire) || lookups < 1000 {
                    k = k.wrapping_mul(31).wrapping_add(7) % 120;
                    let leaf = member(k);
                    let found = store.find_leaf(&leaf).unwrap();
                    let expected = leaves.iter().position(|l| *l == leaf).unwrap() as u64;
                    assert!(
                        found.is_none() || found == Some(expected),
                        "member {k}: {found:?}, stored at {expected}"
                    );
                    lookups += 1;
                }
            });
        }
        let mut at = 0;
        for size in [1usize, 2, 3].iter().cycle() {
            if at == leaves.len() {
                break;
            }
            let end = (at + size).min(leaves.len());
            store.integrate(&log.grow(&leaves[at..end])).unwrap();
            at = end;
        }
        done.store(true, Ordering::Release);
    });
    for leaf in &leaves {
        assert_eq!(store.find_leaf(leaf).unwrap(), position(leaf), "{leaf}");
    }
    let short = store.leaves.get([0x42; LEAF_PREFIX]).unwrap().unwrap();
    assert_eq!(
        decode_index(&short).unwrap(),
        0,
        "the first member keeps the short key"
    );
    let indexed: Result<Vec<_>, _> = store.dedup_entries().unwrap().collect();
    assert_eq!(indexed.unwrap().len(), leaves.len());
}

#[test]
fn an_integration_waits_for_flushes_then_refuses_after_its_patience() {
    // Over the limit for three looks, then at it: the wait ends there, having asked for the
    // memtables to be sealed once.
    let looks = std::cell::Cell::new(0u32);
    let seals = std::cell::Cell::new(0u32);
    let seal = || {
        seals.set(seals.get() + 1);
        Ok(())
    };
    let unflushed = || {
        looks.set(looks.get() + 1);
        if looks.get() <= 3 {
            101
        } else {
            100
        }
    };
    let waited = wait_for_flushes(100, Duration::from_secs(5), unflushed, seal).unwrap();
    assert_eq!((looks.get(), seals.get()), (4, 1));
    assert!(waited >= Duration::from_millis(3), "{waited:?}");
    // Under it from the start: nothing to seal, no wait.
    let waited = wait_for_flushes(100, Duration::from_secs(5), || 7, seal).unwrap();
    assert_eq!((seals.get(), waited), (1, Duration::ZERO));
    // Never under it: sealed again each SEAL_EVERY, refused as busy once the patience is
    // spent, saying why.
    let started = Instant::now();
    let patience = SEAL_EVERY + Duration::from_millis(100);
    let err = wait_for_flushes(100, patience, || 150, seal).unwrap_err();
    assert!(started.elapsed() >= patience);
    assert_eq!(seals.get(), 3);
    assert!(
        matches!(&err, StorageError::Busy(why) if why.contains("150 unflushed bytes")),
        "{err}"
    );
    // A seal that fails (a poisoned database) ends the wait with its error at once.
    let err = wait_for_flushes(
        100,
        Duration::from_secs(5),
        || 150,
        || Err(StorageError::Backend("poisoned".into())),
    )
    .unwrap_err();
    assert!(matches!(err, StorageError::Backend(_)), "{err}");
}

#[test]
fn a_store_reopened_over_the_unflushed_bound_flushes_and_takes_batches() {
    // A reopen replays the journal into memtables; when that is more than the bound (here
    // forced by a smaller bound on the second open), the store must get fjall to flush them
    // (at open, and again while an integration waits) rather than wait for a write that
    // never comes.
    let dir = tempfile::tempdir().unwrap();
    let mut reference = ReferenceLog::new();
    {
        // Memtables large enough that nothing is flushed before the reopen.
        let options = FjallOptions {
            max_memtable_size: 64 * 1024 * 1024,
            ..FjallOptions::default()
        };
        let store = FjallStore::open(dir.path(), &options).unwrap();
        store.integrate(&reference.grow(Vec::new())).unwrap();
        let big: Vec<Vec<u8>> = (0..400u32).map(|i| vec![i as u8; 10_000]).collect();
        store.integrate(&reference.grow(big)).unwrap();
    }
    // The 64 KiB only lowers the bound's minimum: the keyspaces keep the memtable size they
    // were created with.
    let options = FjallOptions {
        max_memtable_size: 64 * 1024,
        max_unflushed: 0,
        ..FjallOptions::default()
    };
    let store = FjallStore::open(dir.path(), &options).unwrap();
    store
        .integrate(&reference.grow(entries(0, 10)))
        .expect("the integration after the flush");
    assert!(store.db.write_buffer_size() <= store.max_unflushed + 1024 * 1024);
    assert_eq!(store.head().unwrap().unwrap().size, 410);
}

#[test]
fn the_unflushed_bound_is_never_below_what_normal_operation_holds() {
    // A memtable is sealed only once full, so a bound below one filling and one sealed
    // memtable per keyspace would make every integration wait for a seal: it is raised.
    let dir = tempfile::tempdir().unwrap();
    let options = FjallOptions {
        max_unflushed: 1,
        ..FjallOptions::default()
    };
    let store = FjallStore::open(dir.path(), &options).unwrap();
    assert_eq!(
        store.max_unflushed,
        MIN_UNFLUSHED_MEMTABLES * options.max_memtable_size
    );
}

#[test]
fn a_wait_seals_only_memtables_worth_flushing() {
    // Half a memtable in `bundles`, a few hundred bytes in the others: a seal takes the
    // bundles' memtable to the worker and leaves the small ones filling.
    let dir = tempfile::tempdir().unwrap();
    let options = FjallOptions {
        max_memtable_size: 64 * 1024,
        ..FjallOptions::default()
    };
    let store = FjallStore::open(dir.path(), &options).unwrap();
    let mut reference = ReferenceLog::new();
    let big: Vec<Vec<u8>> = (0..120u32).map(|i| vec![i as u8; 300]).collect();
    store.integrate(&reference.grow(big)).unwrap();
    let active = |ks: &Keyspace| ks.tree.active_memtable().id();
    let bundles = store.bundles.tree.active_memtable().size();
    assert!(
        (store.seal_at..64 * 1024).contains(&bundles),
        "the set-up needs a half-full bundles memtable, not {bundles} bytes"
    );
    let small = [&store.meta, &store.tiles, &store.leaves, &store.checkpoints];
    let before: Vec<_> = small.iter().map(|ks| active(ks)).collect();
    let bundles_before = active(&store.bundles);
    store.seal_memtables().unwrap();
    assert_ne!(active(&store.bundles), bundles_before, "bundles sealed");
    let after: Vec<_> = small.iter().map(|ks| active(ks)).collect();
    assert_eq!(after, before, "small memtables left filling");
    // Nothing is lost by a seal: the batch reads back, and the log goes on.
    assert_reads_match(&store, &reference);
    store.integrate(&reference.grow(entries(0, 3))).unwrap();
    assert_reads_match(&store, &reference);
}

/// A memtable that has reached its size is sealed by the next integration, before it writes,
/// whichever keyspace it is in, and the store records that fjall's own sealing (whose
/// requests can fill its worker's queue and hang it; see `seal_full_memtables`) is off.
#[test]
fn full_memtables_are_sealed_before_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    // fjall's own sealing is off in a store created now; the store reopened below seals at
    // 16 KiB itself.
    {
        let store = FjallStore::open(
            dir.path(),
            &FjallOptions {
                max_memtable_size: 1 << 20,
                ..FjallOptions::default()
            },
        )
        .unwrap();
        store
            .integrate(&ReferenceLog::new().grow(Vec::new()))
            .unwrap();
    }
    let store = FjallStore::open(
        dir.path(),
        &FjallOptions {
            max_memtable_size: 16 << 10,
            ..FjallOptions::default()
        },
    )
    .unwrap();
    assert!(store.sealed_by_cairn);
    // 64 KiB into `cosigned`, which integrations do not write.
    store.put_cosigned(0, &vec![b'x'; 64 << 10]).unwrap();
    let before = store.cosigned.tree.active_memtable();
    assert!(before.size() >= 64 << 10);
    let mut reference = ReferenceLog::new();
    reference.grow(Vec::new());
    store.integrate(&reference.grow(entries(0, 3))).unwrap();
    let after = store.cosigned.tree.active_memtable();
    assert_ne!(after.id(), before.id(), "the full memtable is still active");
    assert_eq!(after.size(), 0);
    // Nothing was lost by sealing it.
    assert_eq!(store.cosigned(0).unwrap().unwrap().len(), 64 << 10);
}
