//! A second durable backend, on `fjall` (an LSM tree), for logs whose ingest rate sled cannot
//! sustain.
//!
//! Why an LSM: the dedup index is keyed by leaf hash, i.e. uniformly random keys, which is the
//! worst case for sled's B-tree (page cache churn, node clones) and for redb's copy-on-write
//! pages, and the best case for an LSM's sorted runs and bloom filters (most lookups during
//! ingest are misses). Everything else Cairn stores is keyed in log order.
//!
//! Layout: one keyspace per kind of data, all in one fjall database, so one integration is a
//! single cross-keyspace `WriteBatch` (fjall journals the whole batch as one unit and replays
//! it all or not at all). Keys are big-endian integers so tiles, bundles and checkpoints sort
//! in log order:
//!
//! | keyspace      | key                         | value                      |
//! |---------------|-----------------------------|----------------------------|
//! | `meta`        | `head` / `format`           | size (u64 BE) / format tag |
//! | `tiles`       | level (u8) · index (u64 BE) | tile body                  |
//! | `bundles`     | index (u64 BE)              | entry bundle body          |
//! | `dedup`       | leaf hash (32 bytes)        | first index (u64 BE)       |
//! | `checkpoints` | size (u64 BE)               | signed checkpoint          |
//! | `cosigned`    | size (u64 BE)               | cosigned checkpoint        |
//!
//! Durability: the batch is committed with `PersistMode::SyncAll`, which fsyncs the journal
//! *before* the batch is applied to the memtables, so a reader can never see data that a
//! crash could take back, and `integrate` returns only once the batch is on disk. A failed
//! journal write or fsync poisons the database: fjall refuses every later write until it is
//! reopened (and replays its journal), which the engine sees as storage errors, not as a
//! silent loss.
//!
//! Memory and start-up are bounded by [`FjallOptions`]: the block cache, the memtable size per
//! keyspace, and the total journal size (the journal is what a restart replays; beyond the
//! limit fjall flushes memtables so older journals can be dropped).

use std::path::Path;
use std::sync::Mutex;

use cairn_tree::Hash;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use crate::{validate_integration, Head, IndexEntries, Integration, LogStore, StorageError};

const HEAD: &[u8] = b"head";
const FORMAT_KEY: &[u8] = b"format";
const FORMAT: &[u8] = b"cairn-fjall-v1";

/// Tuning for the fjall backend. The defaults keep the process well under Cairn's 256 MiB
/// budget at 10M entries while leaving fjall room to batch its flushes.
#[derive(Clone, Debug)]
pub struct FjallOptions {
    /// Block cache shared by all keyspaces, in bytes (fjall's default is 32 MiB).
    pub cache_size: u64,
    /// Largest memtable per keyspace before it is sealed and flushed to a table, in bytes.
    /// fjall's default (64 MiB) times the two busy keyspaces, plus sealed memtables awaiting
    /// their flush, would take most of the memory budget. fjall records it when a keyspace is
    /// created, so it takes effect for new stores only.
    pub max_memtable_size: u64,
    /// Largest total size of the journal, in bytes (at least 64 MiB, fjall's minimum). A
    /// restart replays what the journal holds, so this bounds start-up time; beyond it fjall
    /// flushes the memtables that pin old journal files.
    pub max_journal_size: u64,
    /// fjall's background flush and compaction threads (`None`: fjall's default, min(cores, 4)).
    pub worker_threads: Option<usize>,
}

impl Default for FjallOptions {
    fn default() -> Self {
        FjallOptions {
            cache_size: 32 * 1024 * 1024,
            max_memtable_size: 16 * 1024 * 1024,
            max_journal_size: 64 * 1024 * 1024,
            worker_threads: None,
        }
    }
}

pub struct FjallStore {
    db: Database,
    meta: Keyspace,
    tiles: Keyspace,
    bundles: Keyspace,
    dedup: Keyspace,
    checkpoints: Keyspace,
    cosigned: Keyspace,
    /// Serialises integrations: validation reads the current partial tiles, and nothing may
    /// change them between that read and the batch.
    writer: Mutex<()>,
}

impl From<fjall::Error> for StorageError {
    fn from(e: fjall::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}

fn tile_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} is {} bytes, not 8", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// fjall creates a fresh database in any directory without its `version` marker. Opening the
/// wrong directory (say a sled data directory) must not silently start a new, empty log next
/// to the old one, so a directory without the marker may hold only what fjall itself creates
/// before writing it (an interrupted creation).
fn refuse_foreign_directory(path: &Path) -> Result<(), StorageError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StorageError::Backend(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut foreign = None;
    for entry in entries {
        let name = entry
            .map_err(|e| StorageError::Backend(e.to_string()))?
            .file_name();
        if name == "version" {
            return Ok(());
        }
        let fjall_own =
            name == "lock" || name == "keyspaces" || name.to_string_lossy().ends_with(".jnl");
        if !fjall_own {
            foreign = Some(name);
        }
    }
    match foreign {
        None => Ok(()),
        Some(name) => Err(StorageError::Corrupt(format!(
            "{} holds {name:?} but no fjall database (is it another backend's data directory?)",
            path.display()
        ))),
    }
}

impl FjallStore {
    /// Opens (or creates) the store in directory `path`.
    pub fn open(path: impl AsRef<Path>, options: &FjallOptions) -> Result<Self, StorageError> {
        let path = path.as_ref();
        refuse_foreign_directory(path)?;
        let mut builder = Database::builder(path)
            .cache_size(options.cache_size)
            // Every batch is persisted explicitly (SyncAll) before it is acknowledged; the
            // implicit flush to OS buffers on each write would only add a syscall.
            .manual_journal_persist(true)
            .max_journaling_size(options.max_journal_size.max(64 * 1024 * 1024));
        if let Some(n) = options.worker_threads {
            builder = builder.worker_threads(n.max(1));
        }
        let db = builder.open()?;
        let memtable = options.max_memtable_size;
        // Point reads of tiles, bundles and checkpoints almost always hit, so their last
        // level needs no bloom filter (fjall: ~90% less filter memory). The dedup index is the
        // opposite: most lookups during ingest are misses, which the filters answer.
        let hits = move || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable)
                .manual_journal_persist(true)
                .expect_point_read_hits(true)
        };
        let meta = db.keyspace("meta", hits)?;
        let tiles = db.keyspace("tiles", hits)?;
        let bundles = db.keyspace("bundles", hits)?;
        let checkpoints = db.keyspace("checkpoints", hits)?;
        let cosigned = db.keyspace("cosigned", hits)?;
        let dedup = db.keyspace("dedup", move || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable)
                .manual_journal_persist(true)
        })?;
        match meta.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) => {
                return Err(StorageError::Corrupt(format!(
                    "unknown storage format {:?}",
                    String::from_utf8_lossy(&v)
                )))
            }
            None => {
                let mut b = db.batch().durability(Some(PersistMode::SyncAll));
                b.insert(&meta, FORMAT_KEY, FORMAT);
                b.commit()?;
            }
        }
        Ok(FjallStore {
            db,
            meta,
            tiles,
            bundles,
            dedup,
            checkpoints,
            cosigned,
            writer: Mutex::new(()),
        })
    }

    /// Bytes fjall reports on disk: tables plus journal (for the benchmarks' bytes-per-entry).
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.disk_space()?)
    }

    fn get(ks: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(ks.get(key)?.map(|v| v.to_vec()))
    }
}

impl LogStore for FjallStore {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        // One snapshot for both reads, so the head and its checkpoint come from the same batch.
        let snapshot = self.db.snapshot();
        let Some(size) = snapshot.get(&self.meta, HEAD)? else {
            return Ok(None);
        };
        let size = be_u64(&size, "head size")?;
        let checkpoint = snapshot
            .get(&self.checkpoints, size.to_be_bytes())?
            .ok_or_else(|| StorageError::Corrupt(format!("head size {size} has no checkpoint")))?
            .to_vec();
        Ok(Some(Head { size, checkpoint }))
    }

    fn integrate(&self, batch: &Integration) -> Result<(), StorageError> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let head = self.head()?;
        validate_integration(
            head.as_ref(),
            batch,
            |l, n| Self::get(&self.tiles, &tile_key(l, n)),
            |n| Self::get(&self.bundles, &n.to_be_bytes()),
        )?;
        // SyncAll inside the commit: the journal is fsynced before the batch reaches the
        // memtables, so nothing is readable (or acknowledged) before it is durable.
        let mut b = fjall::OwnedWriteBatch::with_capacity(
            self.db.clone(),
            batch.tiles.len() + batch.bundles.len() + batch.dedup.len() + 2,
        )
        .durability(Some(PersistMode::SyncAll));
        for (l, n, body) in &batch.tiles {
            b.insert(&self.tiles, tile_key(*l, *n), body.as_slice());
        }
        for (n, body) in &batch.bundles {
            b.insert(&self.bundles, n.to_be_bytes(), body.as_slice());
        }
        for (hash, index) in &batch.dedup {
            b.insert(&self.dedup, hash.0, index.to_be_bytes());
        }
        b.insert(
            &self.checkpoints,
            batch.new_size.to_be_bytes(),
            batch.checkpoint.as_slice(),
        );
        // Last, so a reader without a snapshot that sees the new head sees its data too.
        b.insert(&self.meta, HEAD, batch.new_size.to_be_bytes());
        b.commit()?;
        Ok(())
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Self::get(&self.tiles, &tile_key(level, index))
    }

    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Self::get(&self.bundles, &index.to_be_bytes())
    }

    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        self.dedup
            .get(leaf.0)?
            .map(|v| be_u64(&v, "dedup index entry"))
            .transpose()
    }

    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Self::get(&self.checkpoints, &size.to_be_bytes())
    }

    fn checkpoint_sizes(&self) -> Result<Vec<u64>, StorageError> {
        self.checkpoints
            .iter()
            .map(|g| be_u64(&g.key()?, "checkpoint key"))
            .collect()
    }

    fn put_cosigned(&self, size: u64, note: &[u8]) -> Result<(), StorageError> {
        if self.checkpoint(size)?.is_none() {
            return Err(StorageError::Refused(format!(
                "no checkpoint at size {size} to cosign"
            )));
        }
        let mut b = self.db.batch().durability(Some(PersistMode::SyncAll));
        b.insert(&self.cosigned, size.to_be_bytes(), note);
        b.commit()?;
        Ok(())
    }

    fn cosigned(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Self::get(&self.cosigned, &size.to_be_bytes())
    }

    fn latest_cosigned(&self, at_most: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError> {
        // Big-endian sizes sort numerically, so the last key of the range is the newest.
        self.cosigned
            .range(..=at_most.to_be_bytes())
            .next_back()
            .map(|g| {
                let (k, v) = g.into_inner()?;
                Ok((be_u64(&k, "cosigned key")?, v.to_vec()))
            })
            .transpose()
    }

    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError> {
        Ok(Box::new(self.dedup.iter().map(|g| {
            let (k, v) = g.into_inner()?;
            let hash = Hash::from_slice(&k)
                .map_err(|_| StorageError::Corrupt("dedup key is not a hash".into()))?;
            Ok((hash, be_u64(&v, "dedup index entry")?))
        })))
    }
}
