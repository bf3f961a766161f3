//! The C2SP tlog-witness wire formats, pure: the `add-checkpoint` request body, the `409`
//! `text/x.tlog.size` body, the `200` body of cosignature lines, and the monitoring path.
//!
//! ```text
//! old <N>\n                 N: canonical decimal, the size the client believes the witness has
//! <base64 hash>\n           0 to 63 consistency-proof lines, 32 bytes each
//! \n                        the first empty line ends the control block
//! <signed checkpoint note>  everything after it
//! ```
//!
//! Parsing is strict in the same way as `cairn-note` (canonical decimal, strict padded base64,
//! the note re-parsed as a checkpoint), so a request the witness accepts has exactly one
//! encoding. Every refusal here is a `400 Bad Request` (row 1 of specs.md §6.2).

use cairn_note::{Checkpoint, Note, NoteError, NoteSignature, MAX_NOTE_SIZE, MAX_TREE_SIZE};
use cairn_tree::Hash;
use sha2::{Digest, Sha256};

use crate::error::ProtocolError;

/// Most consistency-proof lines in a request (the spec's limit: a proof between two trees of
/// at most 2^63 leaves never needs more).
pub const MAX_PROOF_LINES: usize = 63;

/// Media type of the `409 Conflict` body that carries the witness's current size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Largest request body worth reading: the longest control block (a 19-digit `old` line and
/// 63 proof lines of 44 base64 characters) plus the largest note. Anything bigger cannot
/// parse, so servers can refuse it before buffering it.
pub const MAX_REQUEST_SIZE: usize = (4 + 19 + 1) + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_SIZE;

/// Largest `200` body a client reads: one line per signature a note may carry, each far
/// below 1 KiB for any real key type. Bounds what a hostile witness can make a log buffer.
pub const MAX_RESPONSE_SIZE: usize = 64 * 1024;

/// A parsed `add-checkpoint` request. The note is parsed structurally and as a checkpoint;
/// its signatures are not verified here (that needs the configured log keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// The size the client believes the witness last cosigned (0: none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    pub note: Note,
    pub checkpoint: Checkpoint,
}

impl AddCheckpointRequest {
    /// Parses a request body (specs.md §6.1).
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        if body.len() > MAX_REQUEST_SIZE {
            return Err(ProtocolError::TooLarge {
                size: body.len(),
                limit: MAX_REQUEST_SIZE,
            });
        }
        let mut rest = body;
        let first = take_line(&mut rest).ok_or(ProtocolError::UnterminatedLine)?;
        let old_text = first
            .strip_prefix(b"old ")
            .ok_or(ProtocolError::MissingOldLine)?;
        let old_size = parse_decimal(old_text).ok_or(ProtocolError::InvalidOldSize)?;
        let mut proof = Vec::new();
        loop {
            let line = take_line(&mut rest).ok_or(ProtocolError::MissingBlankLine)?;
            if line.is_empty() {
                break;
            }
            // Counted before decoding, so hostile input costs at most 63 decodes.
            if proof.len() == MAX_PROOF_LINES {
                return Err(ProtocolError::TooManyProofLines {
                    limit: MAX_PROOF_LINES,
                });
            }
            let hash = std::str::from_utf8(line)
                .ok()
                .and_then(|text| Hash::from_base64(text).ok())
                .ok_or(ProtocolError::BadProofLine {
                    line: proof.len() + 2,
                })?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(ProtocolError::Note)?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(ProtocolError::Note)?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            note,
            checkpoint,
        })
    }

    /// The canonical body of this request.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_request(self.old_size, &self.proof, &self.note.to_bytes())
    }
}

/// Builds a request body from its parts; `note` is the signed checkpoint, sent verbatim.
pub fn encode_request(old_size: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + proof.len() * 45 + 1 + note.len());
    out.extend_from_slice(format!("old {old_size}\n").as_bytes());
    for hash in proof {
        out.extend_from_slice(hash.to_base64().as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(note);
    out
}

/// The `409` body: the witness's size in decimal and a newline.
pub fn encode_size_body(size: u64) -> String {
    format!("{size}\n")
}

/// Parses a `409` body: exactly canonical decimal and one newline, nothing else.
pub fn parse_size_body(body: &[u8]) -> Result<u64, ProtocolError> {
    body.strip_suffix(b"\n")
        .and_then(parse_decimal)
        .ok_or(ProtocolError::InvalidSizeBody)
}

/// The `200` body: one signature line per cosignature.
pub fn encode_signature_lines(signatures: &[NoteSignature]) -> String {
    signatures.iter().map(NoteSignature::to_line).collect()
}

/// Parses a `200` body into signature lines (unverified). The body must be non-empty,
/// newline-terminated, and every line a well-formed note signature line.
pub fn parse_signature_lines(body: &[u8]) -> Result<Vec<NoteSignature>, ProtocolError> {
    if body.len() > MAX_RESPONSE_SIZE {
        return Err(ProtocolError::TooLarge {
            size: body.len(),
            limit: MAX_RESPONSE_SIZE,
        });
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ProtocolError::BadSignatureLine(NoteError::InvalidUtf8))?;
    let text = text
        .strip_suffix('\n')
        .ok_or(ProtocolError::BadSignatureLine(
            NoteError::UnterminatedSignatureBlock,
        ))?;
    if text.is_empty() {
        return Err(ProtocolError::BadSignatureLine(
            NoteError::EmptySignatureBlock,
        ));
    }
    text.split('\n')
        .map(|line| NoteSignature::parse_line(line).map_err(ProtocolError::BadSignatureLine))
        .collect()
}

/// SHA-256 of the origin, the key of the monitoring path.
pub fn origin_hash(origin: &str) -> [u8; 32] {
    Sha256::digest(origin.as_bytes()).into()
}

/// `<lowercase hex SHA-256(origin)>/checkpoint`, relative to the monitoring prefix.
pub fn checkpoint_path(origin: &str) -> String {
    format!("{}/checkpoint", hex::encode(origin_hash(origin)))
}

/// Splits off one `\n`-terminated line (without its newline); `None` when no newline is left.
fn take_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let at = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..at];
    *rest = &rest[at + 1..];
    Some(line)
}

/// ASCII digits, no sign, no leading zero (but "0"), at most 2^63-1 (Go's int64 sizes).
fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty()
        || text.len() > 19
        || !text.iter().all(u8::is_ascii_digit)
        || (text.len() > 1 && text[0] == b'0')
    {
        return None;
    }
    let n: u64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (n <= MAX_TREE_SIZE).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_canonical() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"9223372036854775807"), Some(MAX_TREE_SIZE));
        for bad in [
            &b""[..],
            b"00",
            b"01",
            b"+1",
            b"-1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn request_size_limit_covers_the_largest_valid_request() {
        let proof = vec![Hash([0xff; 32]); MAX_PROOF_LINES];
        let control = encode_request(MAX_TREE_SIZE, &proof, b"");
        assert_eq!(control.len() + MAX_NOTE_SIZE, MAX_REQUEST_SIZE);
    }
}
