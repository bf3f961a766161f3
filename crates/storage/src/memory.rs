//! The in-memory backend: the reference the sled backend is tested against, and a fast store
//! for tests. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use cairn_tree::Hash;

use crate::{validate_integration, Head, IndexEntries, Integration, LogStore, StorageError};

#[derive(Default)]
struct Inner {
    head: Option<Head>,
    tiles: HashMap<(u8, u64), Vec<u8>>,
    bundles: HashMap<u64, Vec<u8>>,
    dedup: HashMap<Hash, u64>,
    checkpoints: BTreeMap<u64, Vec<u8>>,
    cosigned: BTreeMap<u64, Vec<u8>>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Test hook: overwrites a stored tile, bypassing every rule, to simulate corruption.
    pub fn corrupt_tile(&self, level: u8, index: u64, body: Vec<u8>) {
        self.inner
            .write()
            .unwrap()
            .tiles
            .insert((level, index), body);
    }

    /// Test hook: overwrites a stored bundle, bypassing every rule, to simulate corruption.
    pub fn corrupt_bundle(&self, index: u64, body: Vec<u8>) {
        self.inner.write().unwrap().bundles.insert(index, body);
    }

    /// Test hook: sets (or with `None`, drops) a hash index entry, bypassing every rule.
    pub fn corrupt_index(&self, leaf: Hash, index: Option<u64>) {
        let dedup = &mut self.inner.write().unwrap().dedup;
        match index {
            Some(i) => dedup.insert(leaf, i),
            None => dedup.remove(&leaf),
        };
    }
}

impl LogStore for MemoryStore {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        Ok(self.inner.read().unwrap().head.clone())
    }

    fn integrate(&self, batch: &Integration) -> Result<(), StorageError> {
        let mut inner = self.inner.write().unwrap();
        validate_integration(
            inner.head.as_ref(),
            batch,
            |l, n| Ok(inner.tiles.get(&(l, n)).cloned()),
            |n| Ok(inner.bundles.get(&n).cloned()),
        )?;
        for (l, n, body) in &batch.tiles {
            inner.tiles.insert((*l, *n), body.clone());
        }
        for (n, body) in &batch.bundles {
            inner.bundles.insert(*n, body.clone());
        }
        for (hash, index) in &batch.dedup {
            inner.dedup.entry(*hash).or_insert(*index);
        }
        inner
            .checkpoints
            .insert(batch.new_size, batch.checkpoint.clone());
        inner.head = Some(Head {
            size: batch.new_size,
            checkpoint: batch.checkpoint.clone(),
        });
        Ok(())
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .inner
            .read()
            .unwrap()
            .tiles
            .get(&(level, index))
            .cloned())
    }

    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner.read().unwrap().bundles.get(&index).cloned())
    }

    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        Ok(self.inner.read().unwrap().dedup.get(leaf).copied())
    }

    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner.read().unwrap().checkpoints.get(&size).cloned())
    }

    fn checkpoint_sizes(&self) -> Result<Vec<u64>, StorageError> {
        Ok(self
            .inner
            .read()
            .unwrap()
            .checkpoints
            .keys()
            .copied()
            .collect())
    }

    fn put_cosigned(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        let mut inner = self.inner.write().unwrap();
        if !inner.checkpoints.contains_key(&size) {
            return Err(StorageError::Refused(format!(
                "no checkpoint at size {size} to cosign"
            )));
        }
        inner.cosigned.insert(size, note.to_vec());
        Ok(())
    }

    fn cosigned(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.inner.read().unwrap().cosigned.get(&size).cloned())
    }

    fn latest_cosigned(&self, at_most: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        let inner = self.inner.read().unwrap();
        Ok(inner
            .cosigned
            .range(..=at_most)
            .next_back()
            .map(|(size, note)| (*size, note.clone())))
    }

    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError> {
        let entries: Vec<_> = self
            .inner
            .read()
            .unwrap()
            .dedup
            .iter()
            .map(|(h, i)| Ok((*h, *i)))
            .collect();
        Ok(Box::new(entries.into_iter()))
    }
}
