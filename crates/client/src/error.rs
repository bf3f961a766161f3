//! The client's error type.
//!
//! Failures of the network or of the server's manners (transport, status codes, malformed
//! bodies) are kept apart from proof that the log misbehaved ([`ClientError::Verify`],
//! [`ClientError::Inconsistent`], [`ClientError::Content`]): the first kind is retried, the
//! second kind is evidence and must reach a human.

use std::time::Duration;

use cairn_tree::{Hash, VerifyError};
use thiserror::Error;

use crate::verify::VerifyFailure;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid base URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// A CA certificate, client certificate or key file that cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::TlsError),
    /// Displayed without its source (reqwest's error), which follows in the error chain.
    #[error(
        "request to {url} failed{}",
        hint.map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
        /// What the failure most likely means, when it is recognisably about TLS trust or
        /// client certificates (see [`TlsOptions`](crate::TlsOptions)).
        hint: Option<&'static str>,
    },
    #[error("{url}: HTTP {status} {code}: {message}")]
    Status {
        url: String,
        status: u16,
        /// The server's stable error code (`overloaded`, `entry_too_large`, ...), or
        /// `unknown` when the body was not Cairn's JSON error.
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{url}: response body is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: malformed response: {reason}")]
    MalformedResponse { url: String, reason: String },
    /// The server's answer contradicts the request (another index, another entry, a
    /// different number of receipts).
    #[error("the server's answer does not match the request: {0}")]
    Mismatch(String),
    /// A signature, receipt or inclusion proof from the server failed verification.
    #[error("{0}")]
    Verify(#[from] VerifyFailure),
    /// Two validly signed checkpoints that no consistency proof reconciles: the log forked
    /// or rewrote its history (or served a proof that is wrong, which is as bad).
    #[error("the checkpoint at size {new_size} is not consistent with the one at size {old_size}: {reason}")]
    Inconsistent {
        old_size: u64,
        new_size: u64,
        /// The proof the server gave (empty when none was needed, e.g. equal sizes).
        proof: Vec<Hash>,
        reason: VerifyError,
    },
    /// A receipt cannot be upgraded: the checkpoint the log serves (with witnesses, the
    /// latest cosigned one) is older than the receipt's own. Not misbehaviour; retry once
    /// the witnesses have cosigned a newer checkpoint.
    #[error(
        "nothing to upgrade to yet: the log serves a checkpoint of size {served_size}, older than the receipt's size {receipt_size} (with witnesses: wait until they cosign a newer checkpoint)"
    )]
    NotNewer { receipt_size: u64, served_size: u64 },
    /// Downloaded tiles or entries do not rebuild the signed tree.
    #[error("the log's contents do not match its checkpoint: {0}")]
    Content(ContentProblem),
}

impl ClientError {
    /// True when the error proves that the log (or whoever answers for it) misbehaved, as
    /// opposed to being unreachable or broken.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            ClientError::Verify(_) | ClientError::Inconsistent { .. } | ClientError::Content(_)
        )
    }
}

/// What the full download found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentProblem {
    /// An entry bundle is truncated or holds the wrong number of entries.
    BadBundle { index: u64, reason: String },
    /// A hash tile has the wrong length.
    BadTile {
        level: u8,
        index: u64,
        reason: String,
    },
    /// Entry `index` does not hash to the leaf hash the level-0 tile serves for it.
    EntryNotInTile { index: u64 },
    /// Hash `position` of tile (`level`, `index`) is not the root of the tile below it.
    TileMismatch {
        level: u8,
        index: u64,
        position: u64,
    },
    /// The part of tile (`level`, `index`) from `position` on that existed in the tree
    /// verified before (the entries, for level 0) no longer gives that tree's hashes: served
    /// again, it was changed.
    Rewritten {
        level: u8,
        index: u64,
        position: u64,
    },
    /// The entries give a different root than the signed checkpoint.
    RootMismatch {
        size: u64,
        computed: Hash,
        signed: Hash,
    },
}

impl std::fmt::Display for ContentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentProblem::BadBundle { index, reason } => {
                write!(f, "entry bundle {index}: {reason}")
            }
            ContentProblem::BadTile {
                level,
                index,
                reason,
            } => write!(f, "hash tile {level}/{index}: {reason}"),
            ContentProblem::EntryNotInTile { index } => write!(
                f,
                "entry {index} does not hash to the leaf hash its level-0 tile serves"
            ),
            ContentProblem::TileMismatch {
                level,
                index,
                position,
            } => write!(
                f,
                "hash {position} of tile {level}/{index} is not the root of the tile below it"
            ),
            ContentProblem::Rewritten {
                level,
                index,
                position,
            } => write!(
                f,
                "tile {level}/{index} from position {position}, served again, no longer gives \
                 the tree verified before (its old part was rewritten)"
            ),
            ContentProblem::RootMismatch {
                size,
                computed,
                signed,
            } => write!(
                f,
                "the entries give root {computed} at size {size}, the checkpoint signs {signed}"
            ),
        }
    }
}
