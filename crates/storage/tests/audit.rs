//! The audit finds a flipped byte anywhere in stored entries, hash tiles or checkpoints, and
//! reports where; a clean store audits clean.

use cairn_storage::conformance::{open_test_checkpoint as open, ReferenceLog};
use cairn_storage::{audit, AuditProblem, LogStore, MemoryStore};
use cairn_tree::Hash;

fn build(sizes: &[u64]) -> (MemoryStore, ReferenceLog) {
    let store = MemoryStore::new();
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    for &target in sizes {
        let entries = (reference.size()..target)
            .map(|i| format!("audit entry {i}").into_bytes())
            .collect();
        store.integrate(&reference.grow(entries)).unwrap();
    }
    (store, reference)
}

fn run(store: &MemoryStore) -> Option<AuditProblem> {
    let mut calls = 0;
    let report = audit(store, &open, &mut |_| calls += 1).unwrap();
    report.problem
}

#[test]
fn clean_store_audits_clean() {
    let (store, _) = build(&[5, 256, 700, 66_000]);
    let mut last = 0;
    let report = audit(&store, &open, &mut |n| last = n).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.size, 66_000);
    assert_eq!(report.entries_checked, 66_000);
    assert_eq!(last, 66_000);
    assert_eq!(report.checkpoints_checked, 5);
    assert_eq!(report.index_entries_checked, 66_000);
    // 258 level-0 tiles, 2 level-1 tiles, 1 level-2 tile.
    assert_eq!(report.tiles_checked, 258 + 2 + 1);
}

#[test]
fn every_flipped_entry_byte_is_found() {
    let (store, reference) = build(&[300, 700]);
    for bundle in 0..3u64 {
        let body = reference.bundle_body(bundle, 700);
        for pos in (0..body.len()).step_by(5) {
            let mut bad = body.clone();
            bad[pos] ^= 0x40;
            store.corrupt_bundle(bundle, bad);
            let problem = run(&store).unwrap_or_else(|| panic!("bundle {bundle} byte {pos}"));
            assert!(
                matches!(problem, AuditProblem::EntryMismatch { index } if index / 256 == bundle)
                    || matches!(problem, AuditProblem::BadBundle { index, .. } if index == bundle),
                "bundle {bundle} byte {pos}: {problem:?}"
            );
        }
        store.corrupt_bundle(bundle, body);
    }
    assert_eq!(run(&store), None);
}

#[test]
fn every_flipped_hash_byte_is_found() {
    let (store, reference) = build(&[300, 66_000]);
    let tiles: &[(u8, u64)] = &[(0, 0), (0, 1), (0, 257), (1, 0), (1, 1), (2, 0)];
    for &(level, index) in tiles {
        let body = reference.tile_body(level, index, 66_000).unwrap();
        for pos in (0..body.len()).step_by(61) {
            let mut bad = body.clone();
            bad[pos] ^= 0x01;
            store.corrupt_tile(level, index, bad);
            let problem = run(&store).unwrap_or_else(|| panic!("tile {level}/{index} byte {pos}"));
            // Level-0 damage shows as an entry mismatch; higher levels as a tile or root
            // mismatch.
            assert!(
                !matches!(
                    problem,
                    AuditProblem::Empty | AuditProblem::IndexMismatch { .. }
                ),
                "tile {level}/{index} byte {pos}: {problem:?}"
            );
        }
        // A truncated tile is reported as such.
        store.corrupt_tile(level, index, body[..body.len() - 1].to_vec());
        assert!(matches!(
            run(&store),
            Some(AuditProblem::BadTile { level: l, index: i, .. }) if l == level && i == index
        ));
        store.corrupt_tile(level, index, body);
    }
    assert_eq!(run(&store), None);
}

#[test]
fn a_mismatching_tile_is_located() {
    let (store, reference) = build(&[70_000]);
    // Replace level-1 hash 3 with another valid-looking hash.
    let mut body = reference.tile_body(1, 0, 70_000).unwrap();
    body[3 * 32] ^= 0xff;
    store.corrupt_tile(1, 0, body);
    assert_eq!(
        run(&store),
        Some(AuditProblem::TileMismatch {
            level: 1,
            index: 0,
            position: 3
        })
    );
}

#[test]
fn a_forged_checkpoint_is_found() {
    // The memory store refuses to rewrite checkpoints, so forge one through a new store whose
    // checkpoint names a different root for the same entries.
    let store = MemoryStore::new();
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    let mut batch = reference.grow(vec![b"a".to_vec(), b"b".to_vec()]);
    batch.checkpoint = format!("test/log\n2\n{}\n", Hash::empty_root().to_base64()).into_bytes();
    store.integrate(&batch).unwrap();
    assert!(matches!(
        run(&store),
        Some(AuditProblem::RootMismatch { size: 2, .. })
    ));

    let store = MemoryStore::new();
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    let mut batch = reference.grow(vec![b"a".to_vec()]);
    batch.checkpoint = b"test/log\n1\nnot base64\n".to_vec();
    store.integrate(&batch).unwrap();
    assert!(matches!(
        run(&store),
        Some(AuditProblem::BadCheckpoint { size: 1, .. })
    ));
}

#[test]
fn empty_store_is_reported() {
    assert_eq!(run(&MemoryStore::new()), Some(AuditProblem::Empty));
}

#[test]
fn a_leaf_missing_from_the_hash_index_is_found() {
    let (store, _) = build(&[300, 700]);
    let leaf = cairn_tree::leaf_hash(b"audit entry 412");
    // Dropped: dedup would log the entry again.
    store.corrupt_index(leaf, None);
    assert_eq!(
        run(&store),
        Some(AuditProblem::IndexMissing {
            index: 412,
            hash: leaf,
            found: None
        })
    );
    // Pointing at a later leaf (another leaf's index): not this leaf's first occurrence.
    store.corrupt_index(leaf, Some(500));
    assert_eq!(
        run(&store),
        Some(AuditProblem::IndexMissing {
            index: 412,
            hash: leaf,
            found: Some(500)
        })
    );
    // Pointing at an earlier leaf that holds another hash: caught by the entry check.
    store.corrupt_index(leaf, Some(3));
    assert_eq!(
        run(&store),
        Some(AuditProblem::IndexMismatch {
            hash: leaf,
            index: 3
        })
    );
    store.corrupt_index(leaf, Some(412));
    assert_eq!(run(&store), None);
}

/// The cosigned copies the read port serves are checked too: each must open with the log's
/// key, under its own size, and match the stored hashes.
#[test]
fn a_forged_cosigned_checkpoint_is_found() {
    let (store, reference) = build(&[300, 700]);
    store
        .put_cosigned(300, &reference.checkpoint_text(300))
        .unwrap();
    store
        .put_cosigned(700, &reference.checkpoint_text(700))
        .unwrap();
    let report = audit(&store, &open, &mut |_| {}).unwrap();
    assert_eq!(report.problem, None);
    assert_eq!(report.cosigned_checked, 2);

    // Another root under a cosigned size.
    let forged = format!("test/log\n300\n{}\n", Hash::empty_root().to_base64());
    store.put_cosigned(300, forged.as_bytes()).unwrap();
    assert!(matches!(
        run(&store),
        Some(AuditProblem::RootMismatch { size: 300, .. })
    ));
    // A note that does not open, and one stored under another size.
    store.put_cosigned(300, b"not a checkpoint").unwrap();
    assert!(matches!(
        run(&store),
        Some(AuditProblem::BadCosigned { size: 300, .. })
    ));
    store
        .put_cosigned(300, &reference.checkpoint_text(299))
        .unwrap();
    assert!(matches!(
        run(&store),
        Some(AuditProblem::BadCosigned { size: 300, .. })
    ));
    store
        .put_cosigned(300, &reference.checkpoint_text(300))
        .unwrap();
    assert_eq!(run(&store), None);
}
