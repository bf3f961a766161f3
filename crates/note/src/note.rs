//! C2SP signed notes: strict parsing, canonical serialisation, Go-compatible signing and
//! opening against a set of trusted keys.
//!
//! Parsing checks structure only; [`Note::verify`] does the cryptography. A [`Note`] value
//! always serialises to bytes that parse back to an equal value: every constructor and
//! mutator re-checks the limits that [`Note::parse`] enforces.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::error::NoteError;
use crate::key::{validate_name, validate_signature_name, KeyAlgorithm, SignerKey, Verifiers};
use crate::{MAX_NOTE_SIZE, MAX_SIGNATURES};

/// U+2014 EM DASH and a space, the start of every signature line.
const SIG_PREFIX: &str = "— ";

/// One signature line: key name, key ID, and the bytes after the key ID (64 for type 0x01,
/// timestamp and signature — 72 — for type 0x04, anything non-empty for unknown types).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    pub payload: Vec<u8>,
}

impl NoteSignature {
    /// Checks the same rules a parsed line satisfies, so the result can be serialised.
    pub fn new(name: impl Into<String>, key_id: u32, payload: Vec<u8>) -> Result<Self, NoteError> {
        let sig = NoteSignature {
            name: name.into(),
            key_id,
            payload,
        };
        sig.validate()?;
        Ok(sig)
    }

    fn validate(&self) -> Result<(), NoteError> {
        validate_name(&self.name)?;
        if self.payload.is_empty() {
            return Err(NoteError::SignatureTooShort { len: 4 });
        }
        Ok(())
    }

    /// Parses one line, `— <name> <base64>`, given without its terminating newline (the
    /// form a witness returns lines in, after splitting its response body).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        if let Some((offset, byte)) = find_control(line.as_bytes(), false) {
            return Err(NoteError::ControlCharacter { offset, byte });
        }
        parse_line_numbered(line, 1)
    }

    /// `— <name> <base64(key ID ‖ payload)>\n`.
    pub fn to_line(&self) -> String {
        let mut out = String::with_capacity(self.line_len());
        self.write_line(&mut out);
        out
    }

    /// The timestamp of a `cosignature/v1`-shaped payload (72 bytes), unverified.
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        if self.payload.len() != KeyAlgorithm::Cosignature.payload_len() {
            return None;
        }
        let ts: [u8; 8] = self.payload[..8].try_into().ok()?;
        Some(u64::from_be_bytes(ts))
    }

    fn line_len(&self) -> usize {
        SIG_PREFIX.len() + self.name.len() + 1 + base64_len(4 + self.payload.len()) + 1
    }

    fn write_line(&self, out: &mut String) {
        out.push_str(SIG_PREFIX);
        out.push_str(&self.name);
        out.push(' ');
        let mut raw = Vec::with_capacity(4 + self.payload.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.payload);
        STANDARD.encode_string(&raw, out);
        out.push('\n');
    }
}

const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// First byte below U+0020, other than `\n` when `allow_newline`. UTF-8 continuation and
/// lead bytes are all ≥ 0x80, so a byte scan is exact.
pub(crate) fn find_control(bytes: &[u8], allow_newline: bool) -> Option<(usize, u8)> {
    bytes
        .iter()
        .position(|&b| b < 0x20 && !(allow_newline && b == b'\n'))
        .map(|i| (i, bytes[i]))
}

fn parse_line_numbered(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::BadSignaturePrefix { line: number })?;
    // Go splits at the first space; base64 never contains one, so any later space is
    // a decoding error rather than part of the name.
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::MissingSignatureField { line: number })?;
    validate_signature_name(name)?;
    if b64.is_empty() {
        return Err(NoteError::EmptySignature);
    }
    let raw = STANDARD.decode(b64).map_err(|_| NoteError::InvalidBase64)?;
    if raw.len() < 5 {
        return Err(NoteError::SignatureTooShort { len: raw.len() });
    }
    let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id,
        payload: raw[4..].to_vec(),
    })
}

/// Rules for text that is about to be signed or wrapped in a [`Note`].
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge {
            size: text.len(),
            limit: MAX_NOTE_SIZE,
        });
    }
    if let Some((offset, byte)) = find_control(text.as_bytes(), true) {
        return Err(NoteError::ControlCharacter { offset, byte });
    }
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotTerminated);
    }
    Ok(())
}

/// A note text with one or more signature lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// A signature that a trusted key verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedSignature<'a> {
    pub signature: &'a NoteSignature,
    pub algorithm: KeyAlgorithm,
    /// The cosignature time (POSIX seconds) for 0x04 keys; `None` for 0x01 keys.
    pub timestamp: Option<u64>,
}

/// The outcome of opening a note: at least one verified signature, in note order, one per
/// trusted key; and the lines from unknown keys, identical duplicates collapsed. Unverified
/// lines are kept for re-serialisation only and must never be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    pub verified: Vec<VerifiedSignature<'a>>,
    pub unverified: Vec<&'a NoteSignature>,
}

impl Verified<'_> {
    /// The verified signature by this (name, key ID), if any.
    pub fn by(&self, key: &crate::VerifierKey) -> Option<&VerifiedSignature<'_>> {
        self.verified.iter().find(|v| key.matches(v.signature))
    }
}

impl Note {
    /// Wraps already-made signatures around a text (for example a log's checkpoint plus
    /// cosignature lines returned by witnesses). At least one signature is required,
    /// because a note without signatures has no serialised form.
    pub fn new(text: &str, signatures: Vec<NoteSignature>) -> Result<Self, NoteError> {
        check_text(text)?;
        for sig in &signatures {
            sig.validate()?;
        }
        if signatures.is_empty() {
            return Err(NoteError::EmptySignatureBlock);
        }
        let note = Note {
            text: text.to_owned(),
            signatures,
        };
        note.check_limits(&note.signatures)?;
        Ok(note)
    }

    /// Structural parse (no cryptography), following Go's `note.Open` and the C2SP rules:
    /// size cap, UTF-8, no control characters but `\n`, the last `\n\n` separates text from
    /// a non-empty, newline-terminated block of at most [`MAX_SIGNATURES`] lines.
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size: bytes.len(),
                limit: MAX_NOTE_SIZE,
            });
        }
        let msg = std::str::from_utf8(bytes).map_err(|_| NoteError::InvalidUtf8)?;
        if let Some((offset, byte)) = find_control(bytes, true) {
            return Err(NoteError::ControlCharacter { offset, byte });
        }
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
        let text = &msg[..split + 1];
        let block = &msg[split + 2..];
        if block.is_empty() {
            return Err(NoteError::EmptySignatureBlock);
        }
        let block = block
            .strip_suffix('\n')
            .ok_or(NoteError::UnterminatedSignatureBlock)?;
        let mut signatures = Vec::new();
        for (i, line) in block.split('\n').enumerate() {
            // Counting before decoding bounds the work on hostile input.
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    limit: MAX_SIGNATURES,
                });
            }
            signatures.push(parse_line_numbered(line, i + 1)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text: every line with its `\n`, without the separating empty line.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    pub fn into_parts(self) -> (String, Vec<NoteSignature>) {
        (self.text, self.signatures)
    }

    /// Canonical bytes: text, `\n`, one line per signature in order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(Self::serialised_len(&self.text, &self.signatures));
        out.push_str(&self.text);
        out.push('\n');
        for sig in &self.signatures {
            sig.write_line(&mut out);
        }
        out.into_bytes()
    }

    fn serialised_len(text: &str, sigs: &[NoteSignature]) -> usize {
        text.len() + 1 + sigs.iter().map(NoteSignature::line_len).sum::<usize>()
    }

    fn check_limits(&self, sigs: &[NoteSignature]) -> Result<(), NoteError> {
        if sigs.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        let size = Self::serialised_len(&self.text, sigs);
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                size,
                limit: MAX_NOTE_SIZE,
            });
        }
        Ok(())
    }

    /// Opens the note as Go's `note.Open` does, with two deliberate tightenings: keys are
    /// checked with `verify_strict`, and every line from a trusted (name, ID) must verify,
    /// not only the first (Go skips later ones unverified).
    ///
    /// Lines from unknown keys are collected, never trusted. Any failing line from a trusted
    /// key rejects the whole note; so does the absence of any verified line.
    pub fn verify(&self, verifiers: &Verifiers) -> Result<Verified<'_>, NoteError> {
        let mut verified: Vec<VerifiedSignature<'_>> = Vec::new();
        let mut unverified: Vec<&NoteSignature> = Vec::new();
        let mut scratch = Vec::new();
        for sig in &self.signatures {
            let Some(key) = verifiers.get(&sig.name, sig.key_id) else {
                if !unverified.contains(&sig) {
                    unverified.push(sig);
                }
                continue;
            };
            let earlier = verified
                .iter()
                .find(|v| key.matches(v.signature))
                .map(|v| v.signature.payload == sig.payload);
            if earlier == Some(true) {
                continue;
            }
            let timestamp = key.verify_payload(self.text.as_bytes(), &sig.payload, &mut scratch)?;
            if earlier.is_none() {
                verified.push(VerifiedSignature {
                    signature: sig,
                    algorithm: key.algorithm(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignatures);
        }
        Ok(Verified {
            verified,
            unverified,
        })
    }

    /// Adds a line, first removing any line with the same (name, key ID): the new line
    /// goes last, as in Go's `note.Sign`.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<(), NoteError> {
        sig.validate()?;
        let mut sigs: Vec<NoteSignature> = self
            .signatures
            .iter()
            .filter(|s| !(s.key_id == sig.key_id && s.name == sig.name))
            .cloned()
            .collect();
        sigs.push(sig);
        self.check_limits(&sigs)?;
        self.signatures = sigs;
        Ok(())
    }

    /// Signs the text with Ed25519 (0x01) keys like Go's `note.Sign`: existing lines not
    /// from these keys are kept in order, then one new line per signer in signer order.
    pub fn sign(&mut self, signers: &[&SignerKey]) -> Result<(), NoteError> {
        if signers.is_empty() {
            return Err(NoteError::NoSigners);
        }
        let mut fresh: Vec<NoteSignature> = Vec::with_capacity(signers.len());
        for signer in signers {
            if signer.algorithm() != KeyAlgorithm::Ed25519 {
                return Err(NoteError::WrongAlgorithm {
                    expected: KeyAlgorithm::Ed25519,
                    actual: signer.algorithm(),
                });
            }
            if fresh
                .iter()
                .any(|s| s.key_id == signer.key_id() && s.name == signer.name())
            {
                return Err(NoteError::AmbiguousKey {
                    name: signer.name().to_owned(),
                    key_id: signer.key_id(),
                });
            }
            fresh.push(NoteSignature {
                name: signer.name().to_owned(),
                key_id: signer.key_id(),
                payload: signer.sign_raw(self.text.as_bytes()).to_vec(),
            });
        }
        let mut sigs: Vec<NoteSignature> = self
            .signatures
            .iter()
            .filter(|s| {
                !fresh
                    .iter()
                    .any(|f| f.key_id == s.key_id && f.name == s.name)
            })
            .cloned()
            .collect();
        sigs.extend(fresh);
        self.check_limits(&sigs)?;
        self.signatures = sigs;
        Ok(())
    }
}

/// Signs `text` (which must end in `\n`) with one or more Ed25519 (0x01) keys.
pub fn sign_note(text: &str, signers: &[&SignerKey]) -> Result<Note, NoteError> {
    check_text(text)?;
    let mut note = Note {
        text: text.to_owned(),
        signatures: Vec::new(),
    };
    note.sign(signers)?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_length_is_exact() {
        for len in 1..80 {
            let sig = NoteSignature::new("name", 7, vec![0xa5; len]).unwrap();
            assert_eq!(sig.to_line().len(), sig.line_len(), "payload {len}");
        }
    }

    #[test]
    fn control_scan() {
        assert_eq!(find_control(b"a\nb", true), None);
        assert_eq!(find_control(b"a\nb", false), Some((1, b'\n')));
        assert_eq!(find_control("é\u{7f}\t".as_bytes(), true), Some((3, b'\t')));
    }
}
