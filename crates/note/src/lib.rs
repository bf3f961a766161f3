//! C2SP signed notes, tlog checkpoints, `cosignature/v1` witness cosignatures and
//! `tlog-proof@v1` offline proofs for Cairn.
//!
//! Pure by design: no I/O, no async, no clock (callers pass timestamps). The formats are
//! byte-compatible with Go's `golang.org/x/mod/sumdb/note` and the C2SP specs
//! (`signed-note`, `tlog-checkpoint`, `tlog-cosignature`), with deliberate tightenings that
//! can only refuse inputs, never accept more: strict canonical base64, `verify_strict`,
//! tree sizes and timestamps capped at 2^63-1, names capped at 255 bytes, and every line
//! from a trusted key must verify.
//!
//! Typical log-side flow: [`Checkpoint::new`] → [`Checkpoint::sign`] → collect witness lines
//! ([`cosign`] on the witness side) → [`Note::add_signature`] → [`Note::to_bytes`].
//! Client side: [`open_checkpoint`] with the log key, then [`WitnessPolicy::check`].

mod checkpoint;
mod cosignature;
mod error;
mod key;
mod note;
mod tlog_proof;

pub use checkpoint::{open_checkpoint, Checkpoint, MAX_TREE_SIZE};
pub use cosignature::{
    cosign, cosignature_message, verify_cosignature, PolicyReport, WitnessPolicy,
    COSIGNATURE_PAYLOAD_LEN, MAX_TIMESTAMP,
};
pub use error::{NameError, NoteError};
pub use key::{key_id, validate_name, KeyAlgorithm, SignerKey, VerifierKey, Verifiers};
pub use note::{sign_note, Note, NoteSignature, Verified, VerifiedSignature};
pub use tlog_proof::{
    TlogProof, TlogProofError, MAX_PROOF_HASHES, MAX_TLOG_PROOF_SIZE, TLOG_PROOF_HEADER,
};

/// Largest note (text and signatures) accepted or produced, as in Go, azul and torchwood.
pub const MAX_NOTE_SIZE: usize = 1_000_000;
/// Most signature lines per note (Go and azul; the spec only demands at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Longest key name in bytes (fits the one-byte length of `subtree/v1` messages).
pub const MAX_NAME_LEN: usize = 255;
