//! Every backend through the same conformance suite, plus what only a disk store can show:
//! data survives closing and reopening.

use cairn_storage::conformance::{run_all, ReferenceLog};
use cairn_storage::{FjallOptions, FjallStore, LogStore, MemoryStore, SledOptions, SledStore};

#[test]
fn memory_store_conforms() {
    run_all(MemoryStore::new);
}

#[test]
fn sled_store_conforms() {
    let dirs = std::cell::RefCell::new(Vec::new());
    run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        dirs.borrow_mut().push(dir);
        store
    });
}

#[test]
fn fjall_store_conforms() {
    let dirs = std::cell::RefCell::new(Vec::new());
    run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path(), &FjallOptions::default()).unwrap();
        dirs.borrow_mut().push(dir);
        store
    });
}

/// Tiny memtables force fjall to flush tables (and compact) during the suite, so reads are
/// served from tables and not only from the memtables and the journal.
fn tiny_fjall() -> FjallOptions {
    FjallOptions {
        max_memtable_size: 64 * 1024,
        cache_size: 1024 * 1024,
        ..FjallOptions::default()
    }
}

#[test]
fn fjall_store_conforms_with_tiny_memtables() {
    let dirs = std::cell::RefCell::new(Vec::new());
    run_all(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = FjallStore::open(dir.path(), &tiny_fjall()).unwrap();
        dirs.borrow_mut().push(dir);
        store
    });
}

/// Grows a log in batches of very different sizes, reopening the directory after each, and
/// checks that every tile and bundle (the partial ones above all) and the head came back.
fn survives_reopen<S: LogStore>(open: impl Fn(&std::path::Path) -> S) {
    let dir = tempfile::tempdir().unwrap();
    let mut reference = ReferenceLog::new();
    open(dir.path())
        .integrate(&reference.grow(Vec::new()))
        .unwrap();
    let mut size = 0u64;
    for batch in [700u64, 1, 3, 50, 300, 2, 256, 90] {
        {
            let store = open(dir.path());
            let entries = (size..size + batch)
                .map(|i| (i as u32).to_be_bytes().to_vec())
                .collect();
            store.integrate(&reference.grow(entries)).unwrap();
        }
        size += batch;
        let store = open(dir.path());
        let head = store.head().unwrap().unwrap();
        assert_eq!(head.size, size);
        assert_eq!(head.checkpoint, reference.checkpoint_text(size));
        for index in 0..size.div_ceil(256) {
            assert_eq!(
                store.bundle(index).unwrap().unwrap(),
                reference.bundle_body(index, size),
                "bundle {index} at {size}"
            );
        }
        for level in 0..2u8 {
            for index in 0..=(size >> (8 * level)) / 256 {
                assert_eq!(
                    store.tile(level, index).unwrap(),
                    reference.tile_body(level, index, size),
                    "tile {level}/{index} at {size}"
                );
            }
        }
        assert_eq!(
            store
                .find_leaf(&cairn_tree::leaf_hash(&((size - 1) as u32).to_be_bytes()))
                .unwrap(),
            Some(size - 1)
        );
    }
}

#[test]
fn sled_store_survives_reopen() {
    survives_reopen(|p| SledStore::open(p, &SledOptions::default()).unwrap());
}

#[test]
fn fjall_store_survives_reopen() {
    survives_reopen(|p| FjallStore::open(p, &FjallOptions::default()).unwrap());
    survives_reopen(|p| FjallStore::open(p, &tiny_fjall()).unwrap());
}

#[test]
fn sled_refuses_a_foreign_format() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"F", b"something-else").unwrap();
        db.flush().unwrap();
    }
    assert!(SledStore::open(dir.path(), &SledOptions::default()).is_err());
}

/// A directory another live handle holds is refused with a message that says so (after the
/// short retry that covers sled's lingering lock), and a closed one reopens at once.
#[test]
fn sled_reports_a_locked_directory_and_reopens_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let first = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let err = match SledStore::open(dir.path(), &SledOptions::default()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a second handle opened a locked directory"),
    };
    assert!(err.contains("data directory is locked"), "{err}");
    drop(first);
    SledStore::open(dir.path(), &SledOptions::default()).unwrap();
}

#[test]
fn fjall_refuses_another_backends_directory() {
    // A sled data directory opened as fjall must not become a fresh, empty log beside it.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        store
            .integrate(&ReferenceLog::new().grow(Vec::new()))
            .unwrap();
    }
    assert!(FjallStore::open(dir.path(), &FjallOptions::default()).is_err());
}
