//! Storage errors.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage backend failed: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("integration refused: {0}")]
    Refused(String),
    /// The store cannot take a write now but nothing is wrong with it (its background work
    /// is behind); nothing of the refused write was stored, and a retry later may succeed.
    #[error("storage is busy: {0}")]
    Busy(String),
    #[error(transparent)]
    Tree(#[from] cairn_tree::TreeError),
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::Backend(e.to_string())
    }
}
