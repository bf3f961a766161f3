//! Both backends through the same conformance suite, plus what only a disk store can show:
//! data survives closing and reopening.

use cairn_storage::conformance::{run_all, ReferenceLog};
use cairn_storage::{LogStore, MemoryStore, SledOptions, SledStore};

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
fn sled_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference = ReferenceLog::new();
    {
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        store.integrate(&reference.grow(Vec::new())).unwrap();
        let batch = reference.grow((0..700u32).map(|i| i.to_be_bytes().to_vec()).collect());
        store.integrate(&batch).unwrap();
    }
    let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
    let head = store.head().unwrap().unwrap();
    assert_eq!(head.size, 700);
    assert_eq!(head.checkpoint, reference.checkpoint_text(700));
    assert_eq!(
        store.bundle(2).unwrap().unwrap(),
        reference.bundle_body(2, 700)
    );
    assert_eq!(store.tile(0, 2).unwrap(), reference.tile_body(0, 2, 700));
    assert_eq!(store.checkpoint_sizes().unwrap(), vec![0, 700]);
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
