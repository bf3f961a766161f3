//! The embedded default backend, on `sled`.
//!
//! One sled tree holds everything under one-byte key prefixes, so an integration is a single
//! `apply_batch` (atomic within a tree) followed by a flush made durable by [`SledSync`]
//! (sled's own flush does not fsync on Linux, nor sync its blob files). sled's background
//! flusher is never relied on: measurements (docs/architecture.md) showed unflushed writes
//! lost on a process kill.
//!
//! sled applies a batch in memory before its flush, so a failed flush leaves the batch
//! readable but perhaps not on disk. The store then refuses every later integration and the
//! reads the engine resumes from (`head`, `find_leaf`) until it is reopened: otherwise the
//! engine would publish that batch and answer retries of its entries as duplicates, with
//! receipts for entries a power cut could still take back.
//!
//! Keys: `H` head size · `T level index` hash tile · `E index` entry bundle · `D leafhash`
//! dedup index · `C size` checkpoint · `W size` cosigned checkpoint. Integers are big-endian
//! so tiles, bundles and checkpoints sort in log order.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use cairn_tree::Hash;

use crate::sled_sync::SledSync;
use crate::{validate_integration, Head, IndexEntries, Integration, LogStore, StorageError};

const HEAD: &[u8] = b"H";
const FORMAT_KEY: &[u8] = b"F";
const FORMAT: &[u8] = b"cairn-sled-v1";

/// Tuning for the sled backend.
#[derive(Clone, Debug)]
pub struct SledOptions {
    /// sled's page cache in bytes. sled's default (1 GiB) is far above Cairn's memory budget.
    pub cache_capacity: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions {
            cache_capacity: 64 * 1024 * 1024,
        }
    }
}

pub struct SledStore {
    db: sled::Db,
    sync: SledSync,
    /// Serialises integrations: validation reads the current partial tiles, and nothing may
    /// change them between that read and the batch.
    writer: Mutex<()>,
    /// A write failed after sled may have applied it in memory (see the module doc).
    failed: AtomicBool,
    #[cfg(test)]
    fail_next_flush: AtomicBool,
}

fn tile_key(level: u8, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = b'T';
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

fn u64_key(prefix: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

fn dedup_key(hash: &Hash) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = b'D';
    k[1..].copy_from_slice(&hash.0);
    k
}

fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} is {} bytes, not 8", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// sled 0.34 releases its directory lock from background threads some time after the last
/// handle is dropped (spacejam/sled#1234), so an immediate reopen in the same process (a
/// restart test, a supervisor restarting quickly) can see the lock still held. This retries
/// that one error for up to two seconds; a lock really held by another live process outlasts
/// the budget and comes back as the error, which [`is_sled_lock_error`] recognises. Shared by
/// every sled database Cairn opens (the log's store, the witness's state).
pub fn open_sled_retrying_lock(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let mut attempt = 0;
    loop {
        match config.open() {
            Err(e) if is_sled_lock_error(&e) && attempt < 40 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Whether opening failed because another handle holds the directory's lock.
pub fn is_sled_lock_error(e: &sled::Error) -> bool {
    // sled reports the failed flock as ErrorKind::Other with this text (config.rs).
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn open_with_lock_retry(config: &sled::Config) -> Result<sled::Db, StorageError> {
    open_sled_retrying_lock(config).map_err(|e| {
        if is_sled_lock_error(&e) {
            StorageError::Backend(format!(
                "the data directory is locked (is another Cairn process using it?): {e}"
            ))
        } else {
            e.into()
        }
    })
}

impl SledStore {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: &SledOptions) -> Result<Self, StorageError> {
        let config = sled::Config::new()
            .path(path.as_ref())
            .cache_capacity(options.cache_capacity)
            // Every write is flushed explicitly before it is acknowledged; sled's periodic
            // flusher would add nothing but a thread.
            .flush_every_ms(None);
        let db = open_with_lock_retry(&config)?;
        let sync = SledSync::open(path.as_ref()).map_err(|e| {
            StorageError::Backend(format!("syncing the sled store's files at open: {e}"))
        })?;
        match db.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) => {
                return Err(StorageError::Corrupt(format!(
                    "unknown storage format {:?}",
                    String::from_utf8_lossy(&v)
                )))
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT)?;
                sync.flush(&db)?;
            }
        }
        Ok(SledStore {
            db,
            sync,
            writer: Mutex::new(()),
            failed: AtomicBool::new(false),
            #[cfg(test)]
            fail_next_flush: AtomicBool::new(false),
        })
    }

    /// Refuses once a write has failed: what sled reads may not be what is on disk.
    fn usable(&self) -> Result<(), StorageError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(StorageError::Backend(
                "an earlier write to the sled store failed after sled may have applied it in \
                 memory, so what it reads may not be on disk; restart Cairn to reopen the \
                 store from disk"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Applies `write` and makes it durable; on any failure, marks the store unusable.
    fn write_durably(
        &self,
        write: impl FnOnce() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let result = write().and_then(|()| {
            #[cfg(test)]
            if self.fail_next_flush.swap(false, Ordering::AcqRel) {
                return Err(StorageError::Backend("injected flush failure".into()));
            }
            self.sync.flush(&self.db)
        });
        if result.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        result
    }

    /// Bytes sled reports on disk (for the benchmarks' bytes-per-entry figure).
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.size_on_disk()?)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }
}

impl LogStore for SledStore {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        self.usable()?;
        let Some(size) = self.db.get(HEAD)? else {
            return Ok(None);
        };
        let size = be_u64(&size, "head size")?;
        let checkpoint = self
            .checkpoint(size)?
            .ok_or_else(|| StorageError::Corrupt(format!("head size {size} has no checkpoint")))?;
        Ok(Some(Head { size, checkpoint }))
    }

    fn integrate(&self, batch: &Integration) -> Result<(), StorageError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head()?;
        validate_integration(
            head.as_ref(),
            batch,
            |l, n| self.get(&tile_key(l, n)),
            |n| self.get(&u64_key(b'E', n)),
        )?;
        let mut b = sled::Batch::default();
        for (l, n, body) in &batch.tiles {
            b.insert(&tile_key(*l, *n)[..], body.as_slice());
        }
        for (n, body) in &batch.bundles {
            b.insert(&u64_key(b'E', *n)[..], body.as_slice());
        }
        for (hash, index) in &batch.dedup {
            b.insert(&dedup_key(hash)[..], &index.to_be_bytes()[..]);
        }
        b.insert(
            &u64_key(b'C', batch.new_size)[..],
            batch.checkpoint.as_slice(),
        );
        b.insert(HEAD, &batch.new_size.to_be_bytes()[..]);
        // Durable before anyone is told: sled's periodic flusher is not a guarantee.
        self.write_durably(|| Ok(self.db.apply_batch(b)?))
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(&tile_key(level, index))
    }

    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(&u64_key(b'E', index))
    }

    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        self.usable()?;
        self.db
            .get(dedup_key(leaf))?
            .map(|v| be_u64(&v, "dedup index entry"))
            .transpose()
    }

    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(&u64_key(b'C', size))
    }

    fn checkpoint_sizes(&self) -> Result<Vec<u64>, StorageError> {
        self.db
            .scan_prefix(b"C")
            .keys()
            .map(|k| be_u64(&k?[1..], "checkpoint key"))
            .collect()
    }

    fn put_cosigned(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        if self.checkpoint(size)?.is_none() {
            return Err(StorageError::Refused(format!(
                "no checkpoint at size {size} to cosign"
            )));
        }
        self.usable()?;
        self.write_durably(|| {
            self.db.insert(u64_key(b'W', size), note)?;
            Ok(())
        })
    }

    fn cosigned(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(&u64_key(b'W', size))
    }

    fn latest_cosigned(&self, at_most: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        // Big-endian sizes sort numerically, so the last key of the range is the newest.
        self.db
            .range(u64_key(b'W', 0)..=u64_key(b'W', at_most))
            .next_back()
            .transpose()?
            .map(|(k, v)| Ok((be_u64(&k[1..], "cosigned key")?, v.to_vec())))
            .transpose()
    }

    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError> {
        Ok(Box::new(self.db.scan_prefix(b"D").map(|kv| {
            let (k, v) = kv?;
            let hash = Hash::from_slice(&k[1..])
                .map_err(|_| StorageError::Corrupt("dedup key is not a hash".into()))?;
            Ok((hash, be_u64(&v, "dedup index entry")?))
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::ReferenceLog;
    use std::collections::HashSet;

    fn entries(tag: u8, count: usize, len: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let mut e = vec![tag; len];
                e[..8].copy_from_slice(&(i as u64).to_be_bytes());
                e
            })
            .collect()
    }

    #[test]
    fn a_failed_flush_stops_the_store_until_it_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        let mut reference = ReferenceLog::new();
        store.integrate(&reference.grow(entries(1, 3, 40))).unwrap();
        let first = store.head().unwrap().unwrap();
        // The flush of the next batch fails after sled applied it in memory.
        let second = entries(2, 4, 40);
        let batch = reference.grow(second.clone());
        store.fail_next_flush.store(true, Ordering::Release);
        assert!(store.integrate(&batch).is_err());
        // Its head and leaves would be readable: the store refuses rather than show them.
        let leaf = cairn_tree::leaf_hash(&second[0]);
        assert!(store.head().is_err());
        assert!(store.find_leaf(&leaf).is_err());
        assert!(store.put_cosigned(3, b"note").is_err());
        let again = store.integrate(&batch).unwrap_err();
        assert!(again.to_string().contains("restart Cairn"), "{again}");
        drop(store);
        // Reopened: whatever reached the disk, a whole batch or none of it.
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        let head = store.head().unwrap().unwrap();
        assert!(head == first || head.size == 7, "{}", head.size);
        assert_eq!(store.find_leaf(&leaf).unwrap().is_some(), head.size == 7);
    }

    #[test]
    fn blobs_sled_writes_are_synced_by_the_flush() {
        // A bundle of 1 KiB entries is over sled's blob threshold (a quarter segment):
        // sled writes it to a file of its own under blobs/ and never syncs it itself.
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), &SledOptions::default()).unwrap();
        let mut reference = ReferenceLog::new();
        store
            .integrate(&reference.grow(entries(3, 300, 1024)))
            .unwrap();
        let on_disk: HashSet<_> = std::fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            !on_disk.is_empty(),
            "the set-up must make sled write a blob"
        );
        let synced = store.sync.synced_blobs();
        assert!(
            on_disk.is_subset(&synced),
            "{on_disk:?} not all in {synced:?}"
        );
    }
}
