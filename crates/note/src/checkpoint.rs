//! C2SP tlog-checkpoint bodies: origin, tree size, root hash and optional extension lines.
//!
//! Parsing is strict (canonical decimal, padded canonical base64 of exactly 32 bytes,
//! non-empty newline-terminated lines) so that every accepted text is the one and only
//! serialisation of its value: `Checkpoint::parse(&c.to_text()) == Ok(c)`.

use cairn_tree::Hash;

use crate::error::NoteError;
use crate::key::{KeyAlgorithm, SignerKey, VerifierKey};
use crate::note::{find_control, sign_note, Note};
use crate::MAX_NOTE_SIZE;

/// Go's `tlog.Tree.N` is an `int64`: larger sizes would break Go verifiers, so they are
/// refused both when parsing and when constructing.
pub const MAX_TREE_SIZE: u64 = i64::MAX as u64;

/// A checkpoint body. Construct with [`Checkpoint::new`] (and
/// [`Checkpoint::with_extensions`]) or [`Checkpoint::parse`] to keep the fields valid;
/// Cairn itself emits no extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

fn check_line(line: &str) -> Result<(), NoteError> {
    if line.contains('\n') {
        return Err(NoteError::EmbeddedNewline);
    }
    if let Some((offset, byte)) = find_control(line.as_bytes(), false) {
        return Err(NoteError::ControlCharacter { offset, byte });
    }
    Ok(())
}

/// ASCII digits only, no sign, no leading zero (except "0" itself), at most 2^63-1.
fn parse_size(line: &str) -> Result<u64, NoteError> {
    let b = line.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return Err(NoteError::InvalidTreeSize);
    }
    let n: u64 = line.parse().map_err(|_| NoteError::TreeSizeTooLarge)?;
    if n > MAX_TREE_SIZE {
        return Err(NoteError::TreeSizeTooLarge);
    }
    Ok(n)
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, NoteError> {
        let cp = Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        };
        cp.validate()?;
        Ok(cp)
    }

    /// Replaces the extension lines. Allowed for completeness; logs should not emit them
    /// (cosigners make no statement about them and implementations disagree on coverage).
    pub fn with_extensions(mut self, extensions: Vec<String>) -> Result<Self, NoteError> {
        self.extensions = extensions;
        self.validate()?;
        Ok(self)
    }

    /// The invariants `parse` guarantees; useful after editing the public fields.
    pub fn validate(&self) -> Result<(), NoteError> {
        if self.origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        check_line(&self.origin)?;
        if self.size > MAX_TREE_SIZE {
            return Err(NoteError::TreeSizeTooLarge);
        }
        for (i, ext) in self.extensions.iter().enumerate() {
            if ext.is_empty() {
                return Err(NoteError::EmptyExtensionLine { line: 4 + i });
            }
            check_line(ext)?;
        }
        let len = self.text_len();
        if len > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: len,
                limit: MAX_NOTE_SIZE,
            });
        }
        Ok(())
    }

    fn text_len(&self) -> usize {
        // Exact, so `validate` and `parse` agree on the size limit to the byte.
        let digits = self.size.checked_ilog10().map_or(1, |d| d as usize + 1);
        self.origin.len()
            + 1
            + digits
            + 1
            + 45
            + self.extensions.iter().map(|e| e.len() + 1).sum::<usize>()
    }

    /// Strict parse of the note text of a checkpoint.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if text.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: text.len(),
                limit: MAX_NOTE_SIZE,
            });
        }
        if let Some((offset, byte)) = find_control(text.as_bytes(), true) {
            return Err(NoteError::ControlCharacter { offset, byte });
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::CheckpointNotTerminated)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::CheckpointTooFewLines);
        };
        if origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        let size = parse_size(size)?;
        // `Hash::from_base64` uses the strict STANDARD engine and demands exactly 32 bytes.
        let root = Hash::from_base64(root).map_err(|_| NoteError::InvalidRootHash)?;
        let mut extensions = Vec::new();
        for (i, ext) in lines.enumerate() {
            if ext.is_empty() {
                return Err(NoteError::EmptyExtensionLine { line: 4 + i });
            }
            extensions.push(ext.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Canonical text: `<origin>\n<size>\n<base64 root>\n` then each extension line.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.text_len());
        out.push_str(&self.origin);
        out.push('\n');
        out.push_str(&self.size.to_string());
        out.push('\n');
        out.push_str(&self.root.to_base64());
        out.push('\n');
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Signs the canonical text with the log's Ed25519 (0x01) key.
    pub fn sign(&self, log_key: &SignerKey) -> Result<Note, NoteError> {
        self.validate()?;
        sign_note(&self.to_text(), &[log_key])
    }
}

/// Parses a signed checkpoint and requires a valid signature by the log's Ed25519 (0x01)
/// key; every line by that key must verify. Other lines (witnesses, old keys) are left
/// for [`crate::WitnessPolicy::check`] or ignored.
pub fn open_checkpoint(
    note_bytes: &[u8],
    log_key: &VerifierKey,
) -> Result<(Note, Checkpoint), NoteError> {
    if log_key.algorithm() != KeyAlgorithm::Ed25519 {
        return Err(NoteError::WrongAlgorithm {
            expected: KeyAlgorithm::Ed25519,
            actual: log_key.algorithm(),
        });
    }
    let note = Note::parse(note_bytes)?;
    let checkpoint = Checkpoint::parse(note.text())?;
    let mut found = false;
    for sig in note.signatures().iter().filter(|s| log_key.matches(s)) {
        log_key.verify_signature(note.text(), sig)?;
        found = true;
    }
    if !found {
        return Err(NoteError::MissingSignature {
            name: log_key.name().to_owned(),
            key_id: log_key.key_id(),
        });
    }
    Ok((note, checkpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_canonical_decimal() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("9223372036854775807"), Ok(MAX_TREE_SIZE));
        for bad in ["", "00", "01", "+1", "-1", " 1", "1 ", "1e3", "0x1", "١"] {
            assert_eq!(parse_size(bad), Err(NoteError::InvalidTreeSize), "{bad:?}");
        }
        for big in [
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
        ] {
            assert_eq!(parse_size(big), Err(NoteError::TreeSizeTooLarge), "{big}");
        }
    }

    #[test]
    fn text_len_is_exact() {
        for size in [0, 1, 9, 10, 99, 100, 12345, MAX_TREE_SIZE] {
            let cp = Checkpoint::new("o", size, Hash::empty_root())
                .unwrap()
                .with_extensions(vec!["e".into(), "xyz".into()])
                .unwrap();
            assert_eq!(cp.to_text().len(), cp.text_len(), "{size}");
        }
    }
}
