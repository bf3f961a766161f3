//! C2SP tlog-cosignature `cosignature/v1` (key type 0x04): producing and verifying witness
//! cosignatures, and checking a "k of n witnesses" policy over a cosigned checkpoint.
//!
//! The signed message is `cosignature/v1\ntime <ts>\n` followed by the *whole* checkpoint
//! text, extension lines included (spec v1.0.0 and later; older torchwood dropped them).

use std::io::Write as _;

use crate::checkpoint::Checkpoint;
use crate::error::NoteError;
use crate::key::{KeyAlgorithm, SignerKey, VerifierKey};
use crate::note::{Note, NoteSignature};

/// Timestamp (8) and Ed25519 signature (64) after the key ID.
pub const COSIGNATURE_PAYLOAD_LEN: usize = 8 + 64;

/// Timestamps above 2^63-1 are invalid per the spec (they would be negative in Go).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

pub(crate) fn cosignature_message_into(buf: &mut Vec<u8>, timestamp: u64, text: &[u8]) {
    buf.clear();
    buf.reserve(36 + text.len());
    buf.extend_from_slice(b"cosignature/v1\ntime ");
    // Writing to a Vec cannot fail.
    let _ = write!(buf, "{timestamp}");
    buf.push(b'\n');
    buf.extend_from_slice(text);
}

/// The exact bytes a `cosignature/v1` signature covers.
pub fn cosignature_message(checkpoint_note_text: &str, timestamp: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    cosignature_message_into(&mut buf, timestamp, checkpoint_note_text.as_bytes());
    buf
}

fn require_cosignature_key(alg: KeyAlgorithm) -> Result<(), NoteError> {
    if alg != KeyAlgorithm::Cosignature {
        return Err(NoteError::WrongAlgorithm {
            expected: KeyAlgorithm::Cosignature,
            actual: alg,
        });
    }
    Ok(())
}

/// Cosigns a checkpoint text (as a witness would, after its own consistency checks). The
/// text must be a valid checkpoint: a witness key signs nothing else.
pub fn cosign(
    checkpoint_note_text: &str,
    witness: &SignerKey,
    timestamp: u64,
) -> Result<NoteSignature, NoteError> {
    require_cosignature_key(witness.algorithm())?;
    if timestamp > MAX_TIMESTAMP {
        return Err(NoteError::TimestampOutOfRange(timestamp));
    }
    Checkpoint::parse(checkpoint_note_text)?;
    let sig = witness.sign_raw(&cosignature_message(checkpoint_note_text, timestamp));
    let mut payload = Vec::with_capacity(COSIGNATURE_PAYLOAD_LEN);
    payload.extend_from_slice(&timestamp.to_be_bytes());
    payload.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: witness.name().to_owned(),
        key_id: witness.key_id(),
        payload,
    })
}

/// Verifies one cosignature line by `witness` over the checkpoint text and returns its
/// timestamp. The line's name and key ID must be the witness's.
pub fn verify_cosignature(
    checkpoint_note_text: &str,
    witness: &VerifierKey,
    sig: &NoteSignature,
) -> Result<u64, NoteError> {
    require_cosignature_key(witness.algorithm())?;
    let ts = witness.verify_signature(checkpoint_note_text, sig)?;
    // A 0x04 key always yields a timestamp; the fallback is unreachable but not a panic.
    ts.ok_or(NoteError::InvalidSignature {
        name: witness.name().to_owned(),
        key_id: witness.key_id(),
    })
}

/// "At least `threshold` of these `witnesses` cosigned." Witness keys are type 0x04.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    pub witnesses: Vec<VerifierKey>,
    pub threshold: usize,
}

/// Which listed witnesses validly cosigned (name, timestamp), in policy order, and whether
/// that reaches the threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyReport {
    pub signed: Vec<(String, u64)>,
    pub satisfied: bool,
}

impl WitnessPolicy {
    pub fn new(witnesses: Vec<VerifierKey>, threshold: usize) -> Result<Self, NoteError> {
        let policy = WitnessPolicy {
            witnesses,
            threshold,
        };
        policy.validate()?;
        Ok(policy)
    }

    /// A threshold of 0 would silently disable witnessing and one above the number of
    /// witnesses could never be met; both are configuration mistakes.
    pub fn validate(&self) -> Result<(), NoteError> {
        if self.threshold == 0 {
            return Err(NoteError::InvalidPolicy("threshold is 0"));
        }
        if self.threshold > self.witnesses.len() {
            return Err(NoteError::InvalidPolicy(
                "threshold exceeds the number of witnesses",
            ));
        }
        for (i, w) in self.witnesses.iter().enumerate() {
            require_cosignature_key(w.algorithm())?;
            if self.witnesses[..i]
                .iter()
                .any(|o| o.key_id() == w.key_id() && o.name() == w.name())
            {
                return Err(NoteError::AmbiguousKey {
                    name: w.name().to_owned(),
                    key_id: w.key_id(),
                });
            }
            // A cosignature's message does not name the cosigner, so one key listed under
            // two names would let a copy of its line, renamed, count twice.
            if self.witnesses[..i]
                .iter()
                .any(|o| o.public_key() == w.public_key())
            {
                return Err(NoteError::InvalidPolicy(
                    "two witnesses share a public key (one witness cannot count twice)",
                ));
            }
        }
        Ok(())
    }

    /// Checks the cosignatures on a note (normally a checkpoint already opened with the
    /// log key). Every line from a listed witness must verify, or the whole note is
    /// rejected; lines from anyone else are ignored. When a witness has several valid
    /// lines, the first one's timestamp is reported.
    pub fn check(&self, note: &Note) -> Result<PolicyReport, NoteError> {
        self.validate()?;
        let text = note.text().as_bytes();
        let mut scratch = Vec::new();
        let mut signed = Vec::new();
        for witness in &self.witnesses {
            let mut first = None;
            for sig in note.signatures().iter().filter(|s| witness.matches(s)) {
                let ts = witness.verify_payload(text, &sig.payload, &mut scratch)?;
                first = first.or(ts);
            }
            if let Some(ts) = first {
                signed.push((witness.name().to_owned(), ts));
            }
        }
        let satisfied = signed.len() >= self.threshold;
        Ok(PolicyReport { signed, satisfied })
    }
}
