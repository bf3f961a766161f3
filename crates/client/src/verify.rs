//! Offline verification: checkpoints and receipts, with one precise reason per failure.
//!
//! Pure (no I/O): the HTTP client runs every answer through these same functions, so a
//! receipt is accepted online exactly when it would verify offline years later.
//!
//! A Cairn receipt is a `c2sp.org/tlog-proof@v1` text ([`TlogProof`]) whose `extra` line
//! carries the entry itself when it is at most [`ENTRY_IN_EXTRA_MAX`] bytes; a larger entry
//! travels beside the receipt. The `extra` line is unauthenticated, which is harmless here:
//! the entry is what the inclusion proof authenticates.

use cairn_note::{
    open_checkpoint, Checkpoint, Note, NoteError, TlogProof, TlogProofError, VerifierKey,
    WitnessPolicy,
};
use cairn_tree::{leaf_hash, verify_inclusion, Hash, VerifyError};
use thiserror::Error;

/// Entries up to this size travel inside the receipt (in its `extra` line, as base64).
/// Larger ones would make receipts unwieldy to paste, mail or store in a database column.
pub const ENTRY_IN_EXTRA_MAX: usize = 4096;

/// Why a checkpoint or receipt does not verify. Each variant is one distinct failure, so
/// callers (and `cairn verify --json`) can act on the reason without parsing messages.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    #[error("malformed receipt: {0}")]
    Malformed(TlogProofError),
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(NoteError),
    #[error("no entry to verify: the receipt does not carry it and none was given")]
    MissingEntry,
    #[error(
        "the entry (leaf hash {given}) is not the one this receipt was issued for (leaf hash {expected})"
    )]
    EntryMismatch { given: Hash, expected: Hash },
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("the checkpoint is not validly signed by the log key: {0}")]
    BadSignature(NoteError),
    #[error("a witness cosignature is invalid: {0}")]
    BadCosignature(NoteError),
    #[error(
        "witness quorum not met: {} cosigned ({}), {required} required",
        .signed.len(),
        names(.signed)
    )]
    QuorumNotMet {
        required: usize,
        signed: Vec<String>,
    },
    #[error("the inclusion proof does not lead from the entry to the signed root (the entry or the proof was altered): {0}")]
    ProofInvalid(VerifyError),
    #[error("the log signed a checkpoint of the empty tree with root {root}, not the empty tree's root (SHA-256 of nothing)")]
    WrongEmptyRoot { root: Hash },
}

fn names(signed: &[String]) -> String {
    if signed.is_empty() {
        "none".to_owned()
    } else {
        signed.join(", ")
    }
}

impl VerifyFailure {
    /// A stable, machine-readable name for the reason.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyFailure::Malformed(_) => "malformed_receipt",
            VerifyFailure::MalformedCheckpoint(_) => "malformed_checkpoint",
            VerifyFailure::MissingEntry => "missing_entry",
            VerifyFailure::EntryMismatch { .. } => "entry_mismatch",
            VerifyFailure::WrongOrigin { .. } => "wrong_origin",
            VerifyFailure::BadSignature(_) => "bad_signature",
            VerifyFailure::BadCosignature(_) => "bad_cosignature",
            VerifyFailure::QuorumNotMet { .. } => "quorum_not_met",
            VerifyFailure::ProofInvalid(_) => "proof_invalid",
            VerifyFailure::WrongEmptyRoot { .. } => "wrong_empty_root",
        }
    }
}

/// A checkpoint signed by the log key (and cosigned as the policy demands, if one was given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    /// The signed note as received, cosignatures included.
    pub note: Note,
    /// The policy's witnesses that validly cosigned, with their timestamps; empty without a
    /// policy.
    pub witnesses: Vec<(String, u64)>,
}

impl VerifiedCheckpoint {
    pub fn size(&self) -> u64 {
        self.checkpoint.size
    }

    pub fn root(&self) -> Hash {
        self.checkpoint.root
    }

    pub fn origin(&self) -> &str {
        &self.checkpoint.origin
    }

    /// The signed note's bytes, to store or forward.
    pub fn note_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}

/// Opens a signed checkpoint: well-formed, for the log named by `log_key` (a Cairn log's
/// key name is its origin), signed by that key, and cosigned by a quorum when a policy is
/// given.
pub fn verify_checkpoint(
    note_bytes: &[u8],
    log_key: &VerifierKey,
    policy: Option<&WitnessPolicy>,
) -> Result<VerifiedCheckpoint, VerifyFailure> {
    let note = Note::parse(note_bytes).map_err(VerifyFailure::MalformedCheckpoint)?;
    verify_checkpoint_note(&note, log_key, policy)
}

fn verify_checkpoint_note(
    note: &Note,
    log_key: &VerifierKey,
    policy: Option<&WitnessPolicy>,
) -> Result<VerifiedCheckpoint, VerifyFailure> {
    let checkpoint = Checkpoint::parse(note.text()).map_err(VerifyFailure::MalformedCheckpoint)?;
    // The origin is checked before the signature so that a receipt from another log is
    // reported as such, not as a signature failure.
    if checkpoint.origin != log_key.name() {
        return Err(VerifyFailure::WrongOrigin {
            expected: log_key.name().to_owned(),
            found: checkpoint.origin,
        });
    }
    open_checkpoint(&note.to_bytes(), log_key).map_err(VerifyFailure::BadSignature)?;
    // Every other size's root is checked against proofs; the empty tree has none, so its
    // root is checked here (two signed size-0 checkpoints could otherwise differ unnoticed).
    if checkpoint.size == 0 && checkpoint.root != Hash::empty_root() {
        return Err(VerifyFailure::WrongEmptyRoot {
            root: checkpoint.root,
        });
    }
    let mut witnesses = Vec::new();
    if let Some(policy) = policy {
        let report = policy.check(note).map_err(VerifyFailure::BadCosignature)?;
        if !report.satisfied {
            return Err(VerifyFailure::QuorumNotMet {
                required: policy.threshold,
                signed: report.signed.into_iter().map(|(name, _)| name).collect(),
            });
        }
        witnesses = report.signed;
    }
    Ok(VerifiedCheckpoint {
        checkpoint,
        note: note.clone(),
        witnesses,
    })
}

/// An entry proven to be in the log: its index, the audit path and the verified checkpoint
/// the path leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub index: u64,
    pub leaf_hash: Hash,
    pub entry: Vec<u8>,
    pub proof: Vec<Hash>,
    pub checkpoint: VerifiedCheckpoint,
    /// For submissions: the entry was already logged and the receipt names its first index.
    pub duplicate: bool,
}

impl VerifiedReceipt {
    /// True when the entry travels inside the receipt's `extra` line.
    pub fn entry_in_receipt(&self) -> bool {
        self.entry.len() <= ENTRY_IN_EXTRA_MAX
    }

    /// The receipt file: `c2sp.org/tlog-proof@v1` with the entry in `extra` when small.
    pub fn to_tlog_proof(&self) -> TlogProof {
        make_receipt(
            self.index,
            self.proof.clone(),
            self.checkpoint.note.clone(),
            &self.entry,
        )
    }
}

/// Builds a receipt, putting the entry in `extra` when it is at most [`ENTRY_IN_EXTRA_MAX`].
pub fn make_receipt(index: u64, proof: Vec<Hash>, checkpoint: Note, entry: &[u8]) -> TlogProof {
    TlogProof {
        extra: (entry.len() <= ENTRY_IN_EXTRA_MAX).then(|| entry.to_vec()),
        index,
        proof,
        checkpoint,
    }
}

/// Verifies a receipt offline.
///
/// The entry is `entry` when given, else the one the receipt carries. When both exist they
/// must be equal: that is how a changed entry is told apart from a changed proof (with only
/// one copy of the entry, both show as [`VerifyFailure::ProofInvalid`]). Then the checkpoint
/// must verify as in [`verify_checkpoint`], and the inclusion proof must lead from the
/// entry's leaf hash at the receipt's index to the checkpoint's root.
pub fn verify_receipt(
    receipt: &TlogProof,
    entry: Option<&[u8]>,
    log_key: &VerifierKey,
    policy: Option<&WitnessPolicy>,
) -> Result<VerifiedReceipt, VerifyFailure> {
    let entry = match (entry, receipt.extra.as_deref()) {
        (Some(given), Some(carried)) if given != carried => {
            return Err(VerifyFailure::EntryMismatch {
                given: leaf_hash(given),
                expected: leaf_hash(carried),
            })
        }
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => return Err(VerifyFailure::MissingEntry),
    };
    let checkpoint = verify_checkpoint_note(&receipt.checkpoint, log_key, policy)?;
    let leaf = leaf_hash(entry);
    verify_inclusion(
        receipt.index,
        checkpoint.size(),
        &leaf,
        &receipt.proof,
        &checkpoint.root(),
    )
    .map_err(VerifyFailure::ProofInvalid)?;
    Ok(VerifiedReceipt {
        index: receipt.index,
        leaf_hash: leaf,
        entry: entry.to_vec(),
        proof: receipt.proof.clone(),
        checkpoint,
        duplicate: false,
    })
}

/// Parses and verifies a receipt file's bytes; see [`verify_receipt`].
pub fn verify_receipt_bytes(
    receipt: &[u8],
    entry: Option<&[u8]>,
    log_key: &VerifierKey,
    policy: Option<&WitnessPolicy>,
) -> Result<VerifiedReceipt, VerifyFailure> {
    let parsed = TlogProof::parse(receipt).map_err(VerifyFailure::Malformed)?;
    verify_receipt(&parsed, entry, log_key, policy)
}
