//! Storage for a Cairn log, behind one trait ([`LogStore`]) with three backends: `sled` (the
//! embedded default, [`SledStore`]), `fjall` (an LSM tree for higher ingest rates,
//! [`FjallStore`]) and memory ([`MemoryStore`], for tests).
//!
//! What is stored is exactly what the C2SP tlog-tiles API serves: entry bundles and hash tiles,
//! so reads need no translation, plus the signed checkpoints, witness cosignatures and the
//! dedup index. Every integration is one atomic, durable write, and the trait offers no way
//! to change a stored leaf, hash or checkpoint: only the rightmost partial tile or bundle may
//! be replaced, and only by an extension of itself ([`validate_integration`] enforces this for
//! every backend).

mod audit;
pub mod conformance;
mod error;
mod fjall_store;
mod integration;
mod memory;
mod sled_store;
mod sled_sync;
mod tiles;

pub use audit::{audit, AuditProblem, AuditReport, CheckpointCheck};
pub use error::StorageError;
pub use fjall_store::{FjallOptions, FjallStore};
pub use integration::{validate_integration, Head, Integration};
pub use memory::MemoryStore;
pub use sled_store::{is_sled_lock_error, open_sled_retrying_lock, SledOptions, SledStore};
pub use sled_sync::SledSync;
pub use tiles::StoreTiles;

use cairn_tree::Hash;

/// The hash index's entries, `(leaf hash, index)`, as the store iterates them.
pub type IndexEntries<'a> = Box<dyn Iterator<Item = Result<(Hash, u64), StorageError>> + 'a>;

/// Everything a log keeps. Implementations must make [`LogStore::integrate`] atomic (all or
/// nothing) and durable before it returns, and must run [`validate_integration`] first. When
/// `integrate` fails, a store must not let `head` or `find_leaf` show a batch that may not be
/// durable: the engine resumes from them, and would publish it (the sled store refuses both
/// until it is reopened; fjall never applies a batch whose journal write failed).
pub trait LogStore: Send + Sync {
    /// The current tree size and its checkpoint, or `None` for a store never written to.
    fn head(&self) -> Result<Option<Head>, StorageError>;

    /// Appends one batch: bundles, tiles, dedup entries and the new checkpoint, atomically
    /// and durably.
    fn integrate(&self, batch: &Integration) -> Result<(), StorageError>;

    /// The stored body of hash tile (`level`, `index`): full, or the current partial one.
    fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// The stored body of entry bundle `index`: full, or the current partial one.
    fn bundle(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// The index of the first leaf with this hash, if any (the dedup index).
    fn find_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StorageError>;

    /// The signed checkpoint published at tree size `size`, if one was.
    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// All tree sizes that have a stored checkpoint, ascending.
    fn checkpoint_sizes(&self) -> Result<Vec<u64>, StorageError>;

    /// Records the cosigned form of the checkpoint at `size` (the signed note with witness
    /// cosignatures appended). Replacing it is allowed: cosignatures accumulate.
    fn put_cosigned(&self, size: u64, note: &[u8]) -> Result<(), StorageError>;

    /// The cosigned checkpoint at `size`, if witnesses have cosigned it.
    fn cosigned(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError>;

    /// The cosigned checkpoint with the largest size at most `at_most`, as `(size, note)`.
    /// A restarting log walks down from its head with this to find the newest checkpoint its
    /// witnesses cosigned, without reading every checkpoint (one per batch) it ever published.
    fn latest_cosigned(&self, at_most: u64) -> Result<Option<(u64, Vec<u8>)>, StorageError>;

    /// The dedup index entries, for the audit: `(leaf hash, index)` in any order.
    fn dedup_entries(&self) -> Result<IndexEntries<'_>, StorageError>;
}
