//! A second durable backend, on `fjall` (an LSM tree), for logs whose ingest rate sled cannot
//! sustain.
//!
//! Why an LSM: the hash index is keyed by leaf hash, i.e. uniformly random keys, which is the
//! worst case for sled's B-tree (page cache churn, node clones) and for redb's copy-on-write
//! pages, and the best case for an LSM's sorted runs and bloom filters (most lookups during
//! ingest are misses). Everything else Cairn stores is keyed in log order.
//!
//! Layout (format `cairn-fjall-v2`): one keyspace per kind of data, all in one fjall database,
//! so one integration is a single cross-keyspace `WriteBatch` (fjall journals the whole batch
//! as one unit and replays it all or not at all). Keys are big-endian integers so tiles,
//! bundles and checkpoints sort in log order:
//!
//! | keyspace      | key                                        | value                          |
//! |---------------|--------------------------------------------|--------------------------------|
//! | `meta`        | `head` / `format`                          | size (u64 BE) / format tag     |
//! | `tiles`       | level (u8) · index (u64 BE) [· start (u32 BE)] | tile body [piece]          |
//! | `bundles`     | index (u64 BE) [· start (u32 BE)]          | entry bundle body [piece]      |
//! | `leaf_index`  | leaf hash prefix (5 bytes)                 | first index (minimal BE bytes) |
//! |               | leaf hash prefix · index (u64 BE)          | empty (a prefix collision)     |
//! | `checkpoints` | size (u64 BE)                              | signed checkpoint              |
//! | `cosigned`    | size (u64 BE)                              | cosigned checkpoint            |
//!
//! **Pieces.** A tile or bundle is stored as a base (under its plain key) plus pieces (under
//! the plain key followed by the byte offset they start at): an integration writes only the
//! bytes the rightmost partial tile or bundle grew by. Rewriting the whole partial bundle (up
//! to 66 KB) and the partial tiles with every batch filled the journal and memtables with
//! copies of the same bytes. A read is a point read of the base, and only when the base is not
//! complete, a scan of the key's pieces in one snapshot. A tile that becomes full is written
//! once more whole as its base and its pieces are deleted in the same batch, so the tiles that
//! proofs read are single values. Bundles are left in pieces (a few per bundle at moderate
//! load): rewriting them would double the bytes journaled per entry, and without it the
//! `bundles` keyspace only ever receives increasing keys, which fjall moves down its levels
//! without rewriting. Any part with more than [`MAX_PIECES`] pieces (tiny batches) is
//! rewritten whole, which bounds a read to one short scan.
//!
//! **The writer's copy.** The store keeps the head and the current partial bodies in memory
//! under its writer lock (one bundle and one tile per level: tens of KB), loaded at open. That
//! is how an integration knows which bytes are new without reading anything, and how the
//! extension check of [`validate_integration`] stays a memory compare.
//!
//! **The leaf index** keys each leaf by the first [`LEAF_PREFIX`] bytes of its hash, and a hit
//! is confirmed by comparing the whole hash with the level-0 tile at the index it names, so a
//! prefix shared by two leaves can only cost a read, never give a wrong index. The first leaf
//! with a prefix gets the short key; a later leaf with the same prefix (a collision: about 45
//! at 10M entries) gets `prefix · index`, found by a prefix scan only after the short key's
//! leaf failed to match. Lookups stay point reads, which fjall's bloom filters answer for the
//! common miss; a key that carried the index always would need a scan per lookup, which bloom
//! filters cannot answer. An insert must know whether its prefix is taken; the engine has
//! just looked every new leaf up, so [`FjallStore::find_leaf`] remembers the prefixes it found
//! free and the insert reads only the rest. The engine looks a batch up while the batch before
//! it is being written, so a remembered miss outlives commits: each commit forgets exactly
//! the prefixes it inserted, and a miss whose lookup raced a commit is not remembered.
//!
//! **Format v1** (`cairn-fjall-v1`: partial bodies rewritten under the plain keys, a `dedup`
//! keyspace keyed by the full hash) opens unchanged: its bodies are bases with no pieces, and
//! its `dedup` keyspace is kept and consulted for the leaves written before the upgrade. Opening
//! marks the store v2, so an older Cairn refuses it ("unknown storage format") instead of
//! misreading pieces it does not know about.
//!
//! Durability: the batch is committed with `PersistMode::SyncAll`, which fsyncs the journal
//! *before* the batch is applied to the memtables, so a reader can never see data that a
//! crash could take back, and `integrate` returns only once the batch is on disk. A failed
//! journal write or fsync poisons the database: fjall refuses every later write until it is
//! reopened (and replays its journal), which the engine sees as storage errors, not as a
//! silent loss. The writer's copy is dropped on any failure and reloaded from disk.
//!
//! Memory and start-up are bounded by [`FjallOptions`]: the block cache, the memtable size per
//! keyspace, the total journal size (the journal is what a restart replays; beyond the limit
//! fjall flushes memtables so older journals can be dropped), and the unflushed memtables in
//! all: fjall's worker seals and flushes memtables only between its other jobs, so an
//! integration waits while they are over [`FjallOptions::max_unflushed`] (the engine's
//! bounded queue then refuses submitters) rather than letting them grow through a long
//! compaction.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_tree::{
    bundle_prefix, entry_bundle_width, hash_tile_width, parse_bundle, Hash, HASH_LEN,
    MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};
use fjall::{
    AbstractTree, Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable, Snapshot,
};

use crate::{validate_integration, Head, IndexEntries, Integration, LogStore, StorageError};

const HEAD: &[u8] = b"head";
const FORMAT_KEY: &[u8] = b"format";
const FORMAT: &[u8] = b"cairn-fjall-v2";
const FORMAT_V1: &[u8] = b"cairn-fjall-v1";
/// Marks a store whose keyspaces were created with fjall's own memtable sealing off (its size
/// limit at `u64::MAX`), so that only Cairn seals them (see `FjallStore::seal_full_memtables`).
const SEALING_KEY: &[u8] = b"memtable-sealing";
const SEALED_BY_CAIRN: &[u8] = b"cairn";
/// The v1 hash index (full leaf hash → index), kept read-only in upgraded stores.
const LEGACY_DEDUP: &str = "dedup";

/// Bytes of the leaf hash that key the leaf index. Five bytes keep the index small (the key
/// costs about 2 bytes on disk once fjall shares the leading bytes of sorted neighbours) while
/// collisions stay rare: about n²/2⁴¹ colliding keys (45 at 10M entries) and a false hit for
/// one lookup in 2⁴⁰/n (one in 110,000 at 10M), each costing one tile read.
pub const LEAF_PREFIX: usize = 5;

/// The most pieces a part is kept in before it is rewritten whole: bounds the scan a read of a
/// partial tile or bundle does, at the price of a rewrite every `MAX_PIECES` tiny batches.
pub const MAX_PIECES: usize = 64;

/// Most leaf prefixes remembered as free (a few MiB): the engine's lookups run up to its whole
/// queue (65,536 entries by default) ahead of its inserts. When the set fills (readers'
/// misses are never inserted, so they stay until then) it is emptied and starts again; that
/// costs index reads at insert, never correctness.
const MAX_REMEMBERED_MISSES: usize = 1 << 18;

const TILE_BYTES: usize = TILE_WIDTH as usize * HASH_LEN;

/// Tuning for the fjall backend. The defaults favour steady commit latency on a small machine:
/// what stalls a commit is fjall's background work writing tables, because the journal fsync
/// of every batch then waits behind those writes on the same disk, and a flush also fsyncs the
/// journal under the lock every commit needs. Small memtables and small tables keep each such
/// write short; one background thread keeps them from piling up on each other and from taking
/// both cores from the sequencer (measured in docs/benchmarks.md). Memtable size, table size
/// are recorded when a keyspace is created, so they take effect for new stores only.
#[derive(Clone, Debug)]
pub struct FjallOptions {
    /// Block cache shared by all keyspaces, in bytes (fjall's default is 32 MiB).
    pub cache_size: u64,
    /// Largest memtable per keyspace before it is sealed and flushed to a table, in bytes
    /// (fjall's default: 64 MiB). Also the size of each flush's write burst, and smaller
    /// memtables make the per-entry index lookups and inserts cheaper (shallower skip lists).
    pub max_memtable_size: u64,
    /// Size of the tables compaction writes, in bytes (fjall's default: 64 MiB, one write
    /// burst and fsync per table).
    pub table_target_size: u64,
    /// Largest total size of the journal, in bytes (at least 64 MiB, fjall's minimum). A
    /// restart replays what the journal holds, so this bounds start-up time; beyond it fjall
    /// flushes the memtables that pin old journal files.
    pub max_journal_size: u64,
    /// fjall's background flush and compaction threads (`None`: fjall's default, min(cores, 4)).
    pub worker_threads: Option<usize>,
    /// Most bytes the memtables may hold unflushed before an integration waits for fjall's
    /// worker to flush them (raised to at least [`MIN_UNFLUSHED_MEMTABLES`] memtables'
    /// worth, which normal operation holds). fjall 3.1 has no such bound: its worker seals a
    /// full memtable only between its other jobs, so during a long compaction every batch
    /// grows the memtables, and with them memory and the journal a restart replays (measured:
    /// 340 MB unflushed and a 4.1 s reopen after a steady run to 10M). The minimum is
    /// computed from `max_memtable_size` as given, which is the keyspaces' own size only for
    /// stores created with it.
    pub max_unflushed: u64,
    /// How long an integration waits for fjall's worker to bring the unflushed memtables under
    /// `max_unflushed` before refusing its batch as busy (nothing of it written; the engine
    /// answers "overloaded, retry"). Below the server's request timeout (30 s), so a client
    /// hears the refusal rather than a timeout.
    pub flush_patience: Duration,
}

/// The unflushed memtables [`FjallOptions::max_unflushed`] always allows, in memtables: one
/// filling and one sealed per keyspace.
pub const MIN_UNFLUSHED_MEMTABLES: u64 = 2 * KEYSPACES;

/// Keyspaces a store opens, counting an upgraded v1 store's `dedup`.
const KEYSPACES: u64 = 7;

/// How often a wait for flushes asks fjall again to seal the memtables for flushing.
const SEAL_EVERY: Duration = Duration::from_secs(1);

impl Default for FjallOptions {
    fn default() -> Self {
        FjallOptions {
            cache_size: 32 * 1024 * 1024,
            max_memtable_size: 2 * 1024 * 1024,
            table_target_size: 4 * 1024 * 1024,
            max_journal_size: 64 * 1024 * 1024,
            worker_threads: Some(1),
            max_unflushed: 64 * 1024 * 1024,
            flush_patience: Duration::from_secs(10),
        }
    }
}

/// A stored tile or bundle that is still growing: its body and where its pieces start.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Partial {
    index: u64,
    body: Vec<u8>,
    /// Start offsets of the pieces after the base (deleted when the part is rewritten whole).
    pieces: Vec<u32>,
}

/// What the writer knows without reading: the head and the rightmost partial bodies.
struct WriterState {
    head: Option<Head>,
    bundle: Option<Partial>,
    tiles: BTreeMap<u8, Partial>,
}

impl WriterState {
    /// The stored body of a partial tile validation asks about. It only asks about tiles that
    /// grow and held hashes before, i.e. the rightmost partial tile of their level, which
    /// this copy always has; anything else means the copy is wrong, and writing on would
    /// compute the wrong new bytes.
    fn tile_body(&self, level: u8, index: u64) -> Result<Option<&[u8]>, StorageError> {
        match self.tiles.get(&level) {
            Some(p) if p.index == index => Ok(Some(&p.body)),
            _ => Err(StorageError::Corrupt(format!(
                "the writer's copy has no partial tile {level}/{index}"
            ))),
        }
    }

    fn bundle_body(&self, index: u64) -> Result<Option<&[u8]>, StorageError> {
        match &self.bundle {
            Some(p) if p.index == index => Ok(Some(&p.body)),
            _ => Err(StorageError::Corrupt(format!(
                "the writer's copy has no partial bundle {index}"
            ))),
        }
    }
}

/// Leaf prefixes `find_leaf` found free. `generation` is the number of commits the set has
/// been kept up to date with (each removes the prefixes it inserts); a miss looked up in an
/// older generation may predate a commit that took its prefix, and is not added.
#[derive(Default)]
struct Misses {
    generation: u64,
    prefixes: HashSet<[u8; LEAF_PREFIX]>,
}

pub struct FjallStore {
    db: Database,
    meta: Keyspace,
    tiles: Keyspace,
    bundles: Keyspace,
    leaves: Keyspace,
    /// The v1 hash index of an upgraded store; `None` for stores created as v2.
    legacy_dedup: Option<Keyspace>,
    checkpoints: Keyspace,
    cosigned: Keyspace,
    /// Serialises integrations and holds the writer's copy (`None` after a failure: reloaded
    /// from disk before the next integration).
    writer: Mutex<Option<WriterState>>,
    /// Commits so far, advanced together with `misses.generation` under its lock; read
    /// before a lookup to tell whether a commit ran during it.
    commits: AtomicU64,
    misses: Mutex<Misses>,
    /// Reads of the leaf index made by inserts (the ones remembered misses save).
    #[cfg(test)]
    prefix_reads: AtomicU64,
    /// [`FjallOptions::max_unflushed`], raised to its minimum.
    max_unflushed: u64,
    /// Smallest active memtable a wait for flushes seals: half of
    /// [`FjallOptions::max_memtable_size`].
    seal_at: u64,
    /// A memtable this large is sealed before the next write: [`FjallOptions::max_memtable_size`]
    /// (see [`FjallStore::seal_full_memtables`]).
    full_at: u64,
    /// fjall's own sealing is off in this store's keyspaces (stores created since it was).
    sealed_by_cairn: bool,
    flush_patience: Duration,
    /// Integrations that had to wait for flushes, and their total wait in microseconds.
    flush_waits: AtomicU64,
    flush_wait_micros: AtomicU64,
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

fn piece_key(base: &[u8], start: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(base.len() + 4);
    k.extend_from_slice(base);
    k.extend_from_slice(&start.to_be_bytes());
    k
}

fn be_u64(bytes: &[u8], what: &str) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt(format!("{what} is {} bytes, not 8", bytes.len())))?;
    Ok(u64::from_be_bytes(arr))
}

/// Waits until `unflushed()` is at most `limit` bytes, or refuses after `patience`; returns
/// how long it waited (zero when under the limit at once). The wait is
/// backpressure: the engine's queue fills meanwhile and refuses submitters with "overloaded",
/// instead of memory and the journal growing with every batch while fjall's worker is busy.
/// `seal()` runs when the wait starts and every [`SEAL_EVERY`] after: fjall seals a full
/// memtable only when a write finds it full, and none comes while this waits (a reopen can
/// start over the limit, with a long journal replayed into memtables).
fn wait_for_flushes(
    limit: u64,
    patience: Duration,
    unflushed: impl Fn() -> u64,
    seal: impl Fn() -> Result<(), StorageError>,
) -> Result<Duration, StorageError> {
    let started = Instant::now();
    let mut sealed_at: Option<Instant> = None;
    loop {
        let bytes = unflushed();
        if bytes <= limit {
            return Ok(if sealed_at.is_some() {
                started.elapsed()
            } else {
                Duration::ZERO
            });
        }
        if sealed_at.is_none_or(|t| t.elapsed() >= SEAL_EVERY) {
            seal()?;
            sealed_at = Some(Instant::now());
        }
        if started.elapsed() >= patience {
            return Err(StorageError::Busy(format!(
                "fjall's memtables hold {bytes} unflushed bytes, over the {limit}-byte limit, \
                 and its background worker has not flushed them in {patience:?}; the batch \
                 was not written"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn leaf_prefix(leaf: &Hash) -> [u8; LEAF_PREFIX] {
    let mut p = [0u8; LEAF_PREFIX];
    p.copy_from_slice(&leaf.0[..LEAF_PREFIX]);
    p
}

/// An index as big-endian bytes without leading zeros (at least one byte): 3 bytes up to
/// 16.7M entries instead of 8.
fn encode_index(index: u64) -> Vec<u8> {
    let bytes = index.to_be_bytes();
    let skip = (index.leading_zeros() / 8).min(7) as usize;
    bytes[skip..].to_vec()
}

fn decode_index(bytes: &[u8]) -> Result<u64, StorageError> {
    if bytes.is_empty() || bytes.len() > 8 {
        return Err(StorageError::Corrupt(format!(
            "leaf index value is {} bytes, not 1 to 8",
            bytes.len()
        )));
    }
    Ok(bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
}

/// The index a `leaf_index` key names: the value of a short key, the suffix of a long one.
fn index_entry(key: &[u8], value: &[u8]) -> Result<u64, StorageError> {
    match key.len() {
        LEAF_PREFIX => decode_index(value),
        n if n == LEAF_PREFIX + 8 => be_u64(&key[LEAF_PREFIX..], "leaf index key suffix"),
        n => Err(StorageError::Corrupt(format!(
            "leaf index key {key:02x?} is {n} bytes"
        ))),
    }
}

/// The leaf-hash prefix a leaf index key starts with (keys are checked to be long enough by
/// [`index_entry`] first).
fn leaf_prefix_of_key(key: &[u8]) -> [u8; LEAF_PREFIX] {
    let mut prefix = [0u8; LEAF_PREFIX];
    prefix.copy_from_slice(&key[..LEAF_PREFIX]);
    prefix
}

fn is_full_tile(body: &[u8]) -> bool {
    body.len() == TILE_BYTES
}

fn is_full_bundle(body: &[u8]) -> bool {
    bundle_prefix(body, TILE_WIDTH as u16).is_ok_and(|p| p.len() == body.len())
}

/// A part as stored: its bytes joined, and the start offsets of its pieces after the base.
struct Pieced {
    body: Vec<u8>,
    pieces: Vec<u32>,
}

/// Reads a part (base and pieces) in one snapshot, or `None` if it has no base. Pieces must
/// follow each other exactly; a gap or overlap is corruption.
fn read_pieced(
    snapshot: &Snapshot,
    ks: &Keyspace,
    base: &[u8],
) -> Result<Option<Pieced>, StorageError> {
    let mut out: Option<Pieced> = None;
    // A key sorts before its extensions, so the base comes first, then pieces by offset.
    for guard in snapshot.prefix(ks, base) {
        let (key, value) = guard.into_inner()?;
        let key: &[u8] = &key;
        if key.len() == base.len() {
            out = Some(Pieced {
                body: value.to_vec(),
                pieces: Vec::new(),
            });
            continue;
        }
        let start = key
            .get(base.len()..)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| StorageError::Corrupt(format!("malformed piece key {key:02x?}")))?;
        let Some(Pieced { body, pieces }) = out.as_mut() else {
            return Err(StorageError::Corrupt(format!(
                "piece {key:02x?} has no base"
            )));
        };
        if start as usize != body.len() {
            return Err(StorageError::Corrupt(format!(
                "piece {key:02x?} starts at byte {start}, but the bytes before it end at {}",
                body.len()
            )));
        }
        body.extend_from_slice(&value);
        pieces.push(start);
    }
    Ok(out)
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

/// One part of an integration: where it lives and its whole body after the batch.
struct PartWrite<'a> {
    ks: &'a Keyspace,
    base: Vec<u8>,
    index: u64,
    body: &'a [u8],
    /// Whether the part is complete after the batch.
    full: bool,
    /// Whether a complete part is rewritten as one value (tiles) or left in pieces (bundles).
    join_when_full: bool,
}

impl PartWrite<'_> {
    /// Adds the part's new bytes to `batch` and returns the start offsets of its pieces
    /// after the commit. `current` is the stored state, which validation has checked `body`
    /// extends.
    fn stage(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        current: Option<&Partial>,
    ) -> Result<Vec<u32>, StorageError> {
        let stored = current.map_or(0, |p| p.body.len());
        let pieces = current.map_or(&[][..], |p| p.pieces.as_slice());
        if stored == 0 {
            batch.insert(self.ks, self.base.as_slice(), self.body);
            return Ok(Vec::new());
        }
        if (self.full && self.join_when_full) || pieces.len() >= MAX_PIECES {
            batch.insert(self.ks, self.base.as_slice(), self.body);
            for &start in pieces {
                batch.remove(self.ks, piece_key(&self.base, start));
            }
            return Ok(Vec::new());
        }
        let start = u32::try_from(stored).map_err(|_| {
            StorageError::Refused(format!("a part of {stored} bytes cannot grow further"))
        })?;
        batch.insert(self.ks, piece_key(&self.base, start), &self.body[stored..]);
        let mut next = pieces.to_vec();
        next.push(start);
        Ok(next)
    }

    /// The writer's copy of the part once the batch is committed: `None` when complete,
    /// else `current` extended in place (a bundle is tens of KB; copying it whole every batch
    /// would be waste).
    fn committed(&self, current: Option<Partial>, pieces: Vec<u32>) -> Option<Partial> {
        if self.full {
            return None;
        }
        Some(match current {
            Some(mut p) if p.index == self.index => {
                let stored = p.body.len();
                p.body.extend_from_slice(&self.body[stored..]);
                p.pieces = pieces;
                p
            }
            _ => Partial {
                index: self.index,
                body: self.body.to_vec(),
                pieces,
            },
        })
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
        let table_size = options.table_target_size;
        // fjall's own sealing off: the store seals memtables itself, before its writes (see
        // `seal_full_memtables`). fjall keeps a keyspace's options from its creation, so
        // stores created before this keep fjall's sealing at their memtable size.
        let keyspace = move || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(u64::MAX)
                .manual_journal_persist(true)
                .compaction_strategy(Arc::new(
                    fjall::compaction::Leveled::default().with_table_target_size(table_size),
                ))
        };
        // Point reads of tiles, bundles and checkpoints almost always hit, so their last
        // level needs no bloom filter (fjall: ~90% less filter memory). The leaf index is the
        // opposite: most lookups during ingest are misses, which the filters answer.
        let hits = move || keyspace().expect_point_read_hits(true);
        let misses = keyspace;
        // Checked before any keyspace is opened: only a v1 store has one.
        let legacy_dedup = if db.keyspace_exists(LEGACY_DEDUP) {
            Some(db.keyspace(LEGACY_DEDUP, misses)?)
        } else {
            None
        };
        let meta = db.keyspace("meta", hits)?;
        let tiles = db.keyspace("tiles", hits)?;
        let bundles = db.keyspace("bundles", hits)?;
        let checkpoints = db.keyspace("checkpoints", hits)?;
        let cosigned = db.keyspace("cosigned", hits)?;
        let leaves = db.keyspace("leaf_index", misses)?;
        match meta.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT => {}
            // v1 data reads as v2 (bases without pieces, the old index kept for lookups);
            // marking it v2 keeps an older Cairn from opening it and missing the pieces.
            Some(v) if v.as_ref() == FORMAT_V1 => {
                let mut b = db.batch().durability(Some(PersistMode::SyncAll));
                b.insert(&meta, FORMAT_KEY, FORMAT);
                b.commit()?;
            }
            Some(v) => {
                return Err(StorageError::Corrupt(format!(
                    "unknown storage format {:?} (this Cairn reads cairn-fjall-v1 and -v2)",
                    String::from_utf8_lossy(&v)
                )))
            }
            None => {
                let mut b = db.batch().durability(Some(PersistMode::SyncAll));
                b.insert(&meta, FORMAT_KEY, FORMAT);
                b.insert(&meta, SEALING_KEY, SEALED_BY_CAIRN);
                b.commit()?;
            }
        }
        let sealed_by_cairn = meta.get(SEALING_KEY)?.as_deref() == Some(SEALED_BY_CAIRN);
        let store = FjallStore {
            db,
            meta,
            tiles,
            bundles,
            leaves,
            legacy_dedup,
            checkpoints,
            cosigned,
            writer: Mutex::new(None),
            commits: AtomicU64::new(0),
            misses: Mutex::new(Misses::default()),
            #[cfg(test)]
            prefix_reads: AtomicU64::new(0),
            max_unflushed: options
                .max_unflushed
                .max(MIN_UNFLUSHED_MEMTABLES * options.max_memtable_size),
            seal_at: (options.max_memtable_size / 2).max(1),
            full_at: options.max_memtable_size.max(1),
            sealed_by_cairn,
            flush_patience: options.flush_patience,
            flush_waits: AtomicU64::new(0),
            flush_wait_micros: AtomicU64::new(0),
        };
        // A long journal replayed into memtables can start the store over the bound: have
        // fjall flush them now rather than at the first integration.
        if store.db.write_buffer_size() > store.max_unflushed {
            store.seal_memtables()?;
        }
        let state = store.load_writer_state()?;
        *store.writer.lock().unwrap() = Some(state);
        Ok(store)
    }

    /// Seals the keyspaces' active memtables that have reached their size, before a write.
    ///
    /// fjall 3.1 asks its worker to seal a memtable on *every* write that finds it over its
    /// size, with a message on the bounded queue (1,000) that its worker reads, and the worker
    /// sends a flush message on that same queue after sealing. While the worker runs a long
    /// compaction, the writes' requests fill the queue; the worker then takes one, seals, and
    /// blocks forever sending to its own full queue, and every later seal blocks with it (a
    /// steady 50k/s bench run hung so; fjall-rs/fjall#323). So fjall's own sealing is off in
    /// the keyspaces of a store created since (`sealed_by_cairn`) and the store seals here,
    /// asking the worker once per memtable. A memtable is sealed only once the previous one
    /// of its keyspace has been flushed: while the worker is busy it keeps filling instead
    /// (bounded by [`FjallOptions::max_unflushed`]), because fjall stalls writes in steps of
    /// 100 ms once a keyspace has four sealed memtables waiting (sealing every full memtable
    /// at once made the steady run's p99 631 ms). In an older store, fjall still asks at its
    /// size, so every full memtable is sealed at once, which keeps its requests to one per
    /// memtable.
    fn seal_full_memtables(&self) -> Result<(), StorageError> {
        for keyspace in self.keyspaces() {
            if keyspace.tree.active_memtable().size() >= self.full_at
                && (!self.sealed_by_cairn || keyspace.tree.sealed_memtable_count() == 0)
            {
                keyspace.rotate_memtable()?;
            }
        }
        Ok(())
    }

    fn keyspaces(&self) -> impl Iterator<Item = &Keyspace> {
        [
            &self.meta,
            &self.tiles,
            &self.bundles,
            &self.leaves,
            &self.checkpoints,
            &self.cosigned,
        ]
        .into_iter()
        .chain(self.legacy_dedup.as_ref())
    }

    /// Seals the keyspaces' active memtables that hold at least half a memtable's worth and
    /// queues them for flushing. The small ones (`meta`, `checkpoints`, `cosigned` take a few
    /// hundred bytes per batch) are left alone: sealing them would only add tiny tables, and a
    /// version rewrite each, while the worker is already behind. That is enough to get under
    /// [`FjallOptions::max_unflushed`]: it is at least two memtables per keyspace, so when the
    /// write buffer is over it and every active memtable is under half a memtable, sealed
    /// ones make up the rest, and those are already queued for the worker.
    ///
    /// `rotate_memtable` is public but hidden in fjall's docs; it is what fjall's own write
    /// path calls once a memtable is full, and fjall 3.1 offers no other way to ask. The
    /// active memtable's size is read through the keyspace's (also doc-hidden) tree.
    fn seal_memtables(&self) -> Result<(), StorageError> {
        for keyspace in self.keyspaces() {
            if keyspace.tree.active_memtable().size() >= self.seal_at {
                keyspace.rotate_memtable()?;
            }
        }
        // A database whose worker failed is poisoned and flushes nothing more: say so now
        // rather than wait out the patience (a cheap call otherwise: buffered, no fsync).
        self.db.persist(PersistMode::Buffer)?;
        Ok(())
    }

    /// Integrations so far that waited for fjall to flush (see [`FjallOptions::max_unflushed`]),
    /// and their total wait, refusals included.
    pub fn flush_waits(&self) -> (u64, Duration) {
        (
            self.flush_waits.load(Ordering::Relaxed),
            Duration::from_micros(self.flush_wait_micros.load(Ordering::Relaxed)),
        )
    }

    /// Bytes fjall reports on disk: tables plus journal (for the benchmarks' bytes-per-entry).
    pub fn size_on_disk(&self) -> Result<u64, StorageError> {
        Ok(self.db.disk_space()?)
    }

    /// Bytes on disk by keyspace, and the journal's: where [`FjallStore::size_on_disk`] goes.
    pub fn disk_usage(&self) -> Result<Vec<(&'static str, u64)>, StorageError> {
        let mut out = vec![
            ("journal", self.db.journal_disk_space()?),
            ("meta", self.meta.disk_space()),
            ("tiles", self.tiles.disk_space()),
            ("bundles", self.bundles.disk_space()),
            ("leaf_index", self.leaves.disk_space()),
            ("checkpoints", self.checkpoints.disk_space()),
            ("cosigned", self.cosigned.disk_space()),
        ];
        if let Some(ks) = &self.legacy_dedup {
            out.push((LEGACY_DEDUP, ks.disk_space()));
        }
        Ok(out)
    }

    fn get(ks: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(ks.get(key)?.map(|v| v.to_vec()))
    }

    /// A tile or bundle: its base if that is complete (one point read, the common case),
    /// else base and pieces from one snapshot.
    fn read_part(
        &self,
        ks: &Keyspace,
        base: &[u8],
        is_full: fn(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match ks.get(base)? {
            None => Ok(None),
            Some(v) if is_full(&v) => Ok(Some(v.to_vec())),
            Some(_) => Ok(read_pieced(&self.db.snapshot(), ks, base)?.map(|p| p.body)),
        }
    }

    /// The head and the rightmost partial tile of each level and bundle, as stored, each
    /// checked against the width the head implies.
    fn load_writer_state(&self) -> Result<WriterState, StorageError> {
        let snapshot = self.db.snapshot();
        let head = self.head_in(&snapshot)?;
        let size = head.as_ref().map_or(0, |h| h.size);
        let mut state = WriterState {
            head,
            bundle: None,
            tiles: BTreeMap::new(),
        };
        let bundle = size / TILE_WIDTH;
        let width = entry_bundle_width(bundle, size);
        if width > 0 && u64::from(width) < TILE_WIDTH {
            let Pieced { body, pieces } =
                read_pieced(&snapshot, &self.bundles, &bundle.to_be_bytes())?.ok_or_else(|| {
                    StorageError::Corrupt(format!("partial bundle {bundle} is missing"))
                })?;
            parse_bundle(&body, width).map_err(|e| {
                StorageError::Corrupt(format!("partial bundle {bundle} at width {width}: {e}"))
            })?;
            state.bundle = Some(Partial {
                index: bundle,
                body,
                pieces,
            });
        }
        for level in 0..=MAX_TILE_LEVEL {
            let nodes = size
                .checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
                .unwrap_or(0);
            if nodes == 0 {
                break;
            }
            let index = nodes / TILE_WIDTH;
            let width = usize::from(hash_tile_width(level, index, size));
            if width == 0 {
                continue;
            }
            let Pieced { body, pieces } =
                read_pieced(&snapshot, &self.tiles, &tile_key(level, index))?.ok_or_else(|| {
                    StorageError::Corrupt(format!("partial tile {level}/{index} is missing"))
                })?;
            if body.len() != width * HASH_LEN {
                return Err(StorageError::Corrupt(format!(
                    "partial tile {level}/{index} is {} bytes, the head says {}",
                    body.len(),
                    width * HASH_LEN
                )));
            }
            state.tiles.insert(
                level,
                Partial {
                    index,
                    body,
                    pieces,
                },
            );
        }
        Ok(state)
    }

    fn head_in(&self, snapshot: &Snapshot) -> Result<Option<Head>, StorageError> {
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

    /// The leaf hash stored at `index` (level-0 tile), read in `snapshot`.
    fn leaf_at(&self, snapshot: &Snapshot, index: u64) -> Result<Option<Hash>, StorageError> {
        let base = tile_key(0, index / TILE_WIDTH);
        let body = match snapshot.get(&self.tiles, base)? {
            Some(v) if is_full_tile(&v) => v.to_vec(),
            Some(_) => read_pieced(snapshot, &self.tiles, &base)?.map_or_else(Vec::new, |p| p.body),
            None => return Ok(None),
        };
        let at = (index % TILE_WIDTH) as usize * HASH_LEN;
        Ok(body
            .get(at..at + HASH_LEN)
            .map(|h| Hash::from_slice(h).expect("32 bytes")))
    }

    /// Whether `index` holds `leaf`; an index entry naming a leaf that is not stored is
    /// corruption, not a miss.
    fn confirm(&self, snapshot: &Snapshot, leaf: &Hash, index: u64) -> Result<bool, StorageError> {
        match self.leaf_at(snapshot, index)? {
            Some(stored) => Ok(stored == *leaf),
            None => Err(StorageError::Corrupt(format!(
                "the leaf index names index {index}, which has no stored leaf hash"
            ))),
        }
    }

    /// Records that no leaf with this prefix was stored when a lookup ran that began after
    /// `generation` commits; ignored if another commit has happened since.
    fn remember_miss(&self, prefix: [u8; LEAF_PREFIX], generation: u64) {
        let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if m.generation != generation {
            return;
        }
        if m.prefixes.len() >= MAX_REMEMBERED_MISSES {
            m.prefixes.clear();
        }
        m.prefixes.insert(prefix);
    }

    /// Ends a commit's generation: its prefixes are taken now (or, after a failed commit,
    /// may be: then nothing remembered is trusted).
    fn forget_misses(&self, batch: &Integration, committed: bool) {
        let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
        if committed {
            for (leaf, _) in &batch.dedup {
                m.prefixes.remove(&leaf_prefix(leaf));
            }
        } else {
            m.prefixes.clear();
        }
        m.generation += 1;
        self.commits.store(m.generation, Ordering::Release);
    }

    /// Whether the leaf index has the short key `prefix` (counted, for tests of the miss set).
    fn read_prefix(&self, prefix: [u8; LEAF_PREFIX]) -> Result<bool, StorageError> {
        #[cfg(test)]
        self.prefix_reads.fetch_add(1, Ordering::Relaxed);
        Ok(self.leaves.get(prefix)?.is_some())
    }

    /// Adds the leaf index entries of `batch` to `b`. Each prefix already taken (by the store
    /// or earlier in the batch) gets the long key, so nothing is ever overwritten.
    fn stage_leaf_index(
        &self,
        b: &mut fjall::OwnedWriteBatch,
        batch: &Integration,
    ) -> Result<(), StorageError> {
        // Every remembered miss holds for the store as it is now and until this batch
        // commits: this writer holds the writer lock, and the last commit removed the
        // prefixes it took. Copied out so lookups are not held up by the reads below.
        let known_free: Vec<bool> = {
            let misses = self.misses.lock().unwrap_or_else(|p| p.into_inner());
            let free = |(leaf, _): &(Hash, u64)| misses.prefixes.contains(&leaf_prefix(leaf));
            batch.dedup.iter().map(free).collect()
        };
        let mut taken_here: HashSet<[u8; LEAF_PREFIX]> = HashSet::with_capacity(batch.dedup.len());
        for ((leaf, index), known_free) in batch.dedup.iter().zip(known_free) {
            let prefix = leaf_prefix(leaf);
            let taken =
                taken_here.contains(&prefix) || (!known_free && self.read_prefix(prefix)?);
            if taken {
                let mut key = prefix.to_vec();
                key.extend_from_slice(&index.to_be_bytes());
                b.insert(&self.leaves, key, [0u8; 0]);
            } else {
                b.insert(&self.leaves, prefix, encode_index(*index));
                taken_here.insert(prefix);
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn raw_keyspace(&self, name: &str) -> &Keyspace {
        match name {
            "tiles" => &self.tiles,
            "bundles" => &self.bundles,
            "leaf_index" => &self.leaves,
            other => panic!("no keyspace {other}"),
        }
    }
}

impl LogStore for FjallStore {
    fn head(&self) -> Result<Option<Head>, StorageError> {
        // One snapshot for both reads, so the head and its checkpoint come from the same batch.
        self.head_in(&self.db.snapshot())
    }

    fn integrate(&self, batch: &Integration) -> Result<(), StorageError> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.load_writer_state()?);
        }
        let state = guard.as_mut().expect("loaded above");
        let valid = validate_integration(
            state.head.as_ref(),
            batch,
            |l, n| state.tile_body(l, n),
            |n| state.bundle_body(n),
        );
        if let Err(e) = valid {
            // A refused batch leaves the store as it was, but a refusal can also mean the
            // copy itself is wrong: reload it from disk rather than refuse every later batch.
            *guard = None;
            return Err(e);
        }
        // After validation (a refused batch should not wait) and before anything is written,
        // so a refusal as busy loses nothing.
        let started = Instant::now();
        let waited = wait_for_flushes(
            self.max_unflushed,
            self.flush_patience,
            || self.db.write_buffer_size(),
            || self.seal_memtables(),
        );
        // A refusal counts as a wait too, for as long as it actually waited.
        if !matches!(waited, Ok(d) if d.is_zero()) {
            let spent = started.elapsed();
            self.flush_waits.fetch_add(1, Ordering::Relaxed);
            self.flush_wait_micros
                .fetch_add(spent.as_micros() as u64, Ordering::Relaxed);
            metrics::counter!("cairn_storage_flush_waits_total").increment(1);
            metrics::histogram!("cairn_storage_flush_wait_seconds").record(spent.as_secs_f64());
        }
        waited?;
        self.seal_full_memtables()?;
        // SyncAll inside the commit: the journal is fsynced before the batch reaches the
        // memtables, so nothing is readable (or acknowledged) before it is durable.
        let mut b = fjall::OwnedWriteBatch::with_capacity(
            self.db.clone(),
            2 * batch.tiles.len() + 2 * batch.bundles.len() + batch.dedup.len() + 2,
        )
        .durability(Some(PersistMode::SyncAll));
        // Tiles and bundles go in before the index entries that point into them: fjall
        // applies a batch in order, and a reader without a snapshot that finds an index entry
        // then reads its tile.
        let mut parts = Vec::with_capacity(batch.tiles.len() + batch.bundles.len());
        // In log order, whatever order the batch lists them in (validation accepts any): the
        // writer's copy below is updated part by part, and a level's completed tile must be
        // retired before the partial tile that follows it becomes the copy.
        let mut tiles: Vec<_> = batch.tiles.iter().collect();
        tiles.sort_unstable_by_key(|(level, index, _)| (*level, *index));
        let mut bundles: Vec<_> = batch.bundles.iter().collect();
        bundles.sort_unstable_by_key(|(index, _)| *index);
        for (level, index, body) in tiles {
            let part = PartWrite {
                ks: &self.tiles,
                base: tile_key(*level, *index).to_vec(),
                index: *index,
                body,
                full: is_full_tile(body),
                join_when_full: true,
            };
            let current = state.tiles.get(level).filter(|p| p.index == *index);
            let pieces = part.stage(&mut b, current)?;
            parts.push((Some(*level), part, pieces));
        }
        for (index, body) in bundles {
            let part = PartWrite {
                ks: &self.bundles,
                base: index.to_be_bytes().to_vec(),
                index: *index,
                body,
                full: u64::from(entry_bundle_width(*index, batch.new_size)) == TILE_WIDTH,
                join_when_full: false,
            };
            let current = state.bundle.as_ref().filter(|p| p.index == *index);
            let pieces = part.stage(&mut b, current)?;
            parts.push((None, part, pieces));
        }
        self.stage_leaf_index(&mut b, batch)?;
        b.insert(
            &self.checkpoints,
            batch.new_size.to_be_bytes(),
            batch.checkpoint.as_slice(),
        );
        // Last, so a reader without a snapshot that sees the new head sees its data too.
        b.insert(&self.meta, HEAD, batch.new_size.to_be_bytes());
        let committed = b.commit();
        self.forget_misses(batch, committed.is_ok());
        if let Err(e) = committed {
            // The journal may or may not hold the batch: reload from disk before the next.
            *guard = None;
            return Err(e.into());
        }
        for (level, part, pieces) in parts {
            match level {
                Some(level) => {
                    let current = state.tiles.remove(&level);
                    if let Some(p) = part.committed(current, pieces) {
                        state.tiles.insert(level, p);
                    }
                }
                None => {
                    let current = state.bundle.take();
                    state.bundle = part.committed(current, pieces);
                }
            }
        }
        state.head = Some(Head {
            size: batch.new_size,
            checkpoint: batch.checkpoint.clone(),
        });
        Ok(())
    }

    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.read_part(&self.tiles, &tile_key(level, index), is_full_tile)
    }

    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.read_part(&self.bundles, &index.to_be_bytes(), is_full_bundle)
    }

    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        // Entries of a v1 store predate every v2 entry, so they are the first index.
        if let Some(legacy) = &self.legacy_dedup {
            if let Some(v) = legacy.get(leaf.0)? {
                return Ok(Some(be_u64(&v, "dedup index entry")?));
            }
        }
        let prefix = leaf_prefix(leaf);
        // The common case during ingest is a miss: one point read, no snapshot. The
        // generation is read first, so a commit racing the read makes the miss stale.
        let generation = self.commits.load(Ordering::Acquire);
        if self.leaves.get(prefix)?.is_none() {
            self.remember_miss(prefix, generation);
            return Ok(None);
        }
        // A hit is confirmed against the level-0 tile, in one snapshot so the tile read sees
        // at least what the index read saw.
        let snapshot = self.db.snapshot();
        let Some(v) = snapshot.get(&self.leaves, prefix)? else {
            return Ok(None); // written by a batch not yet visible to snapshots
        };
        let first = decode_index(&v)?;
        if self.confirm(&snapshot, leaf, first)? {
            return Ok(Some(first));
        }
        // Another leaf holds the short key: later leaves with this prefix carry their index
        // in the key, in index order.
        for guard in snapshot.prefix(&self.leaves, prefix) {
            let (key, value) = guard.into_inner()?;
            if key.len() == LEAF_PREFIX {
                continue;
            }
            let index = index_entry(&key, &value)?;
            if self.confirm(&snapshot, leaf, index)? {
                return Ok(Some(index));
            }
        }
        Ok(None)
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

    /// The v1 entries as stored, then each leaf index entry with the full leaf hash read from
    /// its level-0 tile. An entry whose prefix is not that leaf's is reported as corrupt.
    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError> {
        let legacy = self.legacy_dedup.iter().flat_map(|ks| {
            ks.iter().map(|g| {
                let (k, v) = g.into_inner()?;
                let hash = Hash::from_slice(&k)
                    .map_err(|_| StorageError::Corrupt("dedup key is not a hash".into()))?;
                Ok((hash, be_u64(&v, "dedup index entry")?))
            })
        });
        // One snapshot for the index and the tiles it names, so entries committed during the
        // scan cannot name tiles the scan does not see.
        let snapshot = self.db.snapshot();
        let keys = snapshot.iter(&self.leaves);
        // Keys sort by prefix, the short key first: a group is one prefix's entries.
        let mut group: Option<([u8; LEAF_PREFIX], bool, Vec<Hash>)> = None;
        let current = keys.map(move |g| {
            let (key, value) = g.into_inner()?;
            let index = index_entry(&key, &value)?;
            let prefix = leaf_prefix_of_key(&key);
            let (_, has_short, leaves) = match &mut group {
                Some(g) if g.0 == prefix => g,
                slot => slot.insert((prefix, false, Vec::new())),
            };
            if key.len() == LEAF_PREFIX {
                *has_short = true;
            } else if !*has_short {
                // Lookups read the short key first and scan the long ones only after it,
                // so without it these leaves could be logged again as new.
                return Err(StorageError::Corrupt(format!(
                    "leaf index key {prefix:02x?}·{index} has no short key {prefix:02x?}"
                )));
            }
            let leaf = self.leaf_at(&snapshot, index)?.ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "leaf index key {prefix:02x?} names index {index}, which has no stored leaf hash"
                ))
            })?;
            if leaf.0[..LEAF_PREFIX] != prefix {
                return Err(StorageError::Corrupt(format!(
                    "leaf index key {prefix:02x?} names index {index}, whose leaf hash is {leaf}"
                )));
            }
            // Each key of a prefix is a different leaf; two naming the same one means another
            // leaf lost its entry.
            if leaves.contains(&leaf) {
                return Err(StorageError::Corrupt(format!(
                    "two leaf index keys with prefix {prefix:02x?} name leaf {leaf}"
                )));
            }
            leaves.push(leaf);
            Ok((leaf, index))
        });
        Ok(Box::new(legacy.chain(current)))
    }
}

#[cfg(test)]
mod tests;
