//! Log engine errors.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("entry is {len} bytes; the maximum is {max}")]
    EntryTooLarge { len: usize, max: usize },
    #[error("{n} entries in one request; the most one request may carry is {max} (log.max_batch)")]
    TooManyEntries { n: usize, max: usize },
    #[error("the log is overloaded; retry after {retry_after:?}")]
    Overloaded { retry_after: Duration },
    #[error("the log is shutting down")]
    ShuttingDown,
    /// The sequencer (or lookup) thread died; the log integrates nothing until it is opened
    /// again.
    #[error("the log's sequencer stopped after an internal failure; nothing more is logged until the server is restarted")]
    SequencerFailed,
    #[error("storage failed: {0}")]
    Storage(#[from] cairn_storage::StorageError),
    #[error("tree error: {0}")]
    Tree(#[from] cairn_tree::TreeError),
    #[error("checkpoint error: {0}")]
    Note(String),
    #[error("stored log does not match its checkpoint: {0}")]
    Inconsistent(String),
    /// The entries are in the log (durable, in the published checkpoint of `size`), but their
    /// receipts could not be built; retrying with dedup on returns them.
    #[error(
        "the entries were logged (tree size {size}) but their receipts could not be built: \
         {reason}; submit them again for receipts (dedup answers with the same indices) or \
         fetch proofs by leaf hash"
    )]
    LoggedWithoutReceipt { size: u64, reason: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
}
