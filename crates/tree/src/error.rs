//! Errors from building, reading and encoding trees (verification has its own
//! [`crate::VerifyError`], since a failed proof is an answer, not a malfunction).

use crate::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("hash must be 32 bytes, got {0}")]
    InvalidHashLength(usize),
    #[error("hash is not valid hex")]
    InvalidHex,
    #[error("hash is not valid padded standard base64")]
    InvalidBase64,
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeGreater { old: u64, new: u64 },
    #[error("no consistency proof exists from the empty tree")]
    OldSizeZero,
    #[error("the tree is full (2^64 - 1 leaves)")]
    TreeFull,
    #[error("stored hash missing for node (level {}, index {})", .0.level, .0.index)]
    MissingNode(NodeId),
    #[error("hash source returned {got} hashes for {asked} requested")]
    SourceReturnedWrongCount { asked: usize, got: usize },
    #[error("hash source failed: {0}")]
    Source(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("malformed tile path {0:?}")]
    BadTilePath(String),
    #[error("bad tile: {0}")]
    BadTile(String),
    #[error("bad entry bundle: {0}")]
    BadBundle(String),
    #[error("entry of {0} bytes exceeds the 65535-byte entry bundle limit")]
    EntryTooLarge(usize),
}
