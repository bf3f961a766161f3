//! The errors of this crate, one enum per layer so callers match on what they can act on:
//! [`ProtocolError`] (wire formats), [`StateError`] (the durable store), [`WitnessError`]
//! (why a witness refused a request; each maps to the status code of specs.md §6.2),
//! [`ClientError`] (what a witness answered the log) and [`ConfigError`] (set-up).

use cairn_note::NoteError;
use cairn_tree::VerifyError;
use thiserror::Error;

/// A malformed request or response body.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("body is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("body ends inside a line (every line ends in a newline)")]
    UnterminatedLine,
    #[error("the first line is not `old <size>`")]
    MissingOldLine,
    #[error("the old size is not canonical decimal of at most 2^63-1")]
    InvalidOldSize,
    #[error("more than {limit} consistency-proof lines")]
    TooManyProofLines { limit: usize },
    #[error("line {line} is not padded standard base64 of a 32-byte hash")]
    BadProofLine { line: usize },
    #[error("no empty line between the consistency proof and the checkpoint")]
    MissingBlankLine,
    #[error("malformed checkpoint note: {0}")]
    Note(NoteError),
    #[error("size body is not `<decimal>\\n`")]
    InvalidSizeBody,
    #[error("malformed cosignature line: {0}")]
    BadSignatureLine(NoteError),
}

/// The witness's durable state failed; the request is answered with 500 and changes nothing.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("witness state storage failed: {0}")]
    Backend(String),
    #[error("witness state is corrupt: {0}")]
    Corrupt(String),
    #[error("refusing to roll {origin:?} back from size {stored} to {proposed}")]
    Rollback {
        origin: String,
        stored: u64,
        proposed: u64,
    },
}

impl From<sled::Error> for StateError {
    fn from(e: sled::Error) -> Self {
        StateError::Backend(e.to_string())
    }
}

/// Why a witness did not cosign, in the check order of specs.md §6.2.
#[derive(Debug, Error)]
pub enum WitnessError {
    /// Row 1: the body does not parse.
    #[error("malformed request: {0}")]
    Malformed(#[from] ProtocolError),
    /// Row 2: the checkpoint's origin is not a configured log.
    #[error("unknown log {origin:?}")]
    UnknownLog { origin: String },
    /// Row 3: no valid signature by a configured key, or a failing one.
    #[error("checkpoint signature: {0}")]
    Forbidden(NoteError),
    /// Row 4.
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge { old: u64, size: u64 },
    /// Row 5: the client's idea of the witness's size is wrong; `size` is the stored one.
    #[error("the witness's latest cosigned size is {size}")]
    Conflict { size: u64 },
    /// Row 6.
    #[error("a checkpoint of size 0 must have the empty tree's root")]
    EmptyTreeRoot,
    /// Row 7.
    #[error("old size 0 needs no consistency proof, but one was sent")]
    ProofFromZero,
    /// Row 8: same size as the stored checkpoint, different root (a fork).
    #[error("size {size} was already cosigned with a different root")]
    RootMismatch { size: u64 },
    /// Row 9: the proof does not lead from the stored tree to the new one.
    #[error("consistency proof from the stored checkpoint failed: {0}")]
    InconsistentProof(VerifyError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot cosign: {0}")]
    Signing(NoteError),
}

impl WitnessError {
    /// The HTTP status the protocol prescribes for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_) | WitnessError::OldSizeTooLarge { .. } => 400,
            WitnessError::Forbidden(_) => 403,
            WitnessError::UnknownLog { .. } => 404,
            WitnessError::Conflict { .. } => 409,
            WitnessError::EmptyTreeRoot
            | WitnessError::ProofFromZero
            | WitnessError::RootMismatch { .. }
            | WitnessError::InconsistentProof(_) => 422,
            WitnessError::State(_) | WitnessError::Signing(_) => 500,
        }
    }
}

/// What went wrong asking one witness for a cosignature.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("invalid witness URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("cannot build the consistency proof from {old} to {new}: {reason}")]
    Proof { old: u64, new: u64, reason: String },
    /// The witness has cosigned a larger tree for our origin than we are asking about: our
    /// log was rolled back, or someone else holds our key. An alarm, never retried.
    #[error("the witness has cosigned size {witness_size}, beyond our size {our_size}: rollback or fork alarm")]
    WitnessAhead { witness_size: u64, our_size: u64 },
    #[error("the witness still disagrees about its size after a retry (it says {witness_size})")]
    Conflict { witness_size: u64 },
    /// 422: the witness stored a tree our checkpoint is not consistent with. An alarm.
    #[error("the witness refused our checkpoint as inconsistent (422): {body}")]
    Inconsistent { body: String },
    /// 403: the witness does not trust our key (misconfiguration or key rotation).
    #[error("the witness does not accept our signature (403): {body}")]
    Forbidden { body: String },
    /// 404: the witness does not know our origin.
    #[error("the witness does not know our log (404): {body}")]
    UnknownLog { body: String },
    #[error("unexpected answer {status}: {body}")]
    Status { status: u16, body: String },
    #[error("malformed answer: {0}")]
    BadResponse(#[from] ProtocolError),
    /// A line by the configured witness key that does not verify: never accepted.
    #[error("a cosignature by the witness's key does not verify: {0}")]
    BadCosignature(NoteError),
    #[error("the answer carries no cosignature by the configured witness key")]
    NoCosignature,
}

impl ClientError {
    /// A short stable name, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::InvalidUrl { .. } => "invalid_url",
            ClientError::Http(_) => "http",
            ClientError::Timeout(_) => "timeout",
            ClientError::Proof { .. } => "proof",
            ClientError::WitnessAhead { .. } => "witness_ahead",
            ClientError::Conflict { .. } => "conflict",
            ClientError::Inconsistent { .. } => "inconsistent",
            ClientError::Forbidden { .. } => "forbidden",
            ClientError::UnknownLog { .. } => "unknown_log",
            ClientError::Status { .. } => "status",
            ClientError::BadResponse(_) => "bad_response",
            ClientError::BadCosignature(_) => "bad_cosignature",
            ClientError::NoCosignature => "no_cosignature",
        }
    }

    /// Whether this answer means a split view may be under way (as opposed to an outage or
    /// a configuration mistake): the operator must look, and retrying will not help.
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            ClientError::WitnessAhead { .. }
                | ClientError::Inconsistent { .. }
                | ClientError::BadCosignature(_)
        )
    }
}

/// A configuration that cannot work.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("log {origin:?}: {reason}")]
    Log { origin: String, reason: String },
    #[error("witness key: {0}")]
    WitnessKey(String),
    #[error("witness {name}: {reason}")]
    Witness { name: String, reason: String },
    #[error("policy: {0}")]
    Policy(NoteError),
    /// The stored cosigned checkpoints could not be read back at start.
    #[error("{0}")]
    Restore(String),
}
