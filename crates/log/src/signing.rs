//! The log's own checkpoint key: signs each new tree head and re-opens stored ones.
//!
//! The key's name is the log's origin (C2SP tlog-checkpoint recommends they match, and
//! witnesses look the log up by origin), and it is always an Ed25519 (0x01) note key because
//! that is the only kind Go's `sumdb/note` verifies.

use cairn_note::{sign_note, Checkpoint, KeyAlgorithm, Note, SignerKey, VerifierKey, Verifiers};
use cairn_tree::Hash;

use crate::LogError;

/// A checkpoint note the log signed, with the two fields everyone needs parsed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The full signed note: checkpoint text, blank line, signature lines.
    pub note: Vec<u8>,
}

impl SignedCheckpoint {
    /// The note as text (notes are UTF-8 by construction).
    pub fn note_text(&self) -> &str {
        std::str::from_utf8(&self.note).expect("signed notes are UTF-8")
    }
}

/// The log's signing key and the verifier set that trusts exactly it.
#[derive(Debug)]
pub struct LogSigner {
    key: SignerKey,
    verifier: VerifierKey,
    verifiers: Verifiers,
}

impl LogSigner {
    /// A fresh random key whose name is `origin`.
    pub fn generate(origin: &str) -> Result<LogSigner, LogError> {
        LogSigner::new(SignerKey::generate(origin, KeyAlgorithm::Ed25519).map_err(note_error)?)
    }

    /// Loads a key from its `PRIVATE+KEY+…` text.
    pub fn from_signer_key(text: &str) -> Result<LogSigner, LogError> {
        LogSigner::new(SignerKey::parse(text).map_err(note_error)?)
    }

    pub fn new(key: SignerKey) -> Result<LogSigner, LogError> {
        if key.algorithm() != KeyAlgorithm::Ed25519 {
            return Err(LogError::Note(
                "a log key must be an Ed25519 note key (algorithm 0x01), not a witness key".into(),
            ));
        }
        let verifier = key.verifier();
        let mut verifiers = Verifiers::new();
        verifiers.add(verifier.clone()).map_err(note_error)?;
        Ok(LogSigner {
            key,
            verifier,
            verifiers,
        })
    }

    /// The log's origin, which is also its key name.
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// The secret key text. Only for writing the key file; never log it.
    pub fn signer_key_text(&self) -> String {
        self.key.to_text()
    }

    pub fn verifier_key(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The public `<name>+<id>+<key>` text clients configure.
    pub fn verifier_key_text(&self) -> String {
        self.verifier.to_text()
    }

    /// Signs the checkpoint for a tree of `size` leaves with root `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<SignedCheckpoint, LogError> {
        let checkpoint = Checkpoint::new(self.origin(), size, root).map_err(note_error)?;
        let note = sign_note(&checkpoint.to_text(), &[&self.key]).map_err(note_error)?;
        Ok(SignedCheckpoint {
            size,
            root,
            note: note.to_bytes(),
        })
    }

    /// Verifies a stored checkpoint note against this key and checks its origin, so a data
    /// directory is never resumed under a different log's key.
    pub fn open(&self, note: &[u8]) -> Result<SignedCheckpoint, LogError> {
        let parsed = Note::parse(note).map_err(note_error)?;
        parsed.verify(&self.verifiers).map_err(note_error)?;
        let checkpoint = Checkpoint::parse(parsed.text()).map_err(note_error)?;
        if checkpoint.origin != self.origin() {
            return Err(LogError::Note(format!(
                "checkpoint origin {:?} is not this log's origin {:?}",
                checkpoint.origin,
                self.origin()
            )));
        }
        Ok(SignedCheckpoint {
            size: checkpoint.size,
            root: checkpoint.root,
            note: note.to_vec(),
        })
    }
}

fn note_error(e: cairn_note::NoteError) -> LogError {
    LogError::Note(e.to_string())
}
