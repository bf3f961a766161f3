//! C2SP `c2sp.org/tlog-proof@v1`: an offline-verifiable inclusion proof ("spicy signature").
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>          (optional, unauthenticated application data)
//! index <decimal>         (no leading zeros)
//! <base64 hash>           (0 or more: the RFC 9162 audit path, leaf sibling first)
//!
//! <signed checkpoint note, possibly with witness cosignatures>
//! ```
//!
//! Structure only: this module parses and formats, it verifies nothing (the entry's leaf
//! hash, the proof and the signatures are the verifier's job). Parsing is strict, like the
//! rest of this crate, so every accepted text is the one serialisation of its value:
//! `TlogProof::parse(&p.to_bytes()) == Ok(p)`. Go's `transparency-dev/formats` parser accepts
//! a superset (it is lenient about leading zeros and a missing blank line); every proof it
//! writes, we read.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_tree::Hash;
use thiserror::Error;

use crate::error::NoteError;
use crate::note::Note;
use crate::MAX_NOTE_SIZE;

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An inclusion proof in a tree below 2^64 leaves has at most 64 hashes; more can only be
/// junk, and counting first bounds the work spent on hostile input.
pub const MAX_PROOF_HASHES: usize = 64;

/// Largest proof text accepted: a maximal note plus room for a 64 KiB entry in `extra` (as
/// base64) and the hash lines.
pub const MAX_TLOG_PROOF_SIZE: usize = MAX_NOTE_SIZE + 128 * 1024;

/// Why a proof text was refused. Line numbers count from 1.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TlogProofError {
    #[error("proof is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("proof is not valid UTF-8")]
    InvalidUtf8,
    #[error("first line is not exactly {TLOG_PROOF_HEADER:?}")]
    MissingHeader,
    #[error("line 2: `extra` data is not padded, canonical standard base64")]
    BadExtra,
    #[error("line {line}: expected `index <decimal>`")]
    MissingIndex { line: usize },
    #[error(
        "line {line}: index is not a canonical decimal below 2^64 (no sign, no leading zeros)"
    )]
    BadIndex { line: usize },
    #[error("line {line}: proof hash is not padded standard base64 of exactly 32 bytes")]
    BadHash { line: usize },
    #[error("more than {MAX_PROOF_HASHES} proof hashes")]
    TooManyHashes,
    #[error("no empty line between the proof hashes and the checkpoint")]
    MissingBlankLine,
    #[error("checkpoint: {0}")]
    Checkpoint(NoteError),
}

/// One parsed proof. The checkpoint is structurally a signed note; whether it is a valid
/// checkpoint signed by the right log is for the verifier to establish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: Note,
}

/// ASCII digits only, no sign, no leading zero (except "0" itself), fits u64.
fn parse_index(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    text.parse().ok()
}

/// Splits off one `\n`-terminated line.
fn next_line(rest: &str) -> Option<(&str, &str)> {
    rest.split_once('\n')
}

impl TlogProof {
    /// Strict parse; see the module documentation for the grammar.
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_TLOG_PROOF_SIZE {
            return Err(TlogProofError::TooLarge {
                size: bytes.len(),
                limit: MAX_TLOG_PROOF_SIZE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| TlogProofError::InvalidUtf8)?;
        let (header, mut rest) = next_line(text).ok_or(TlogProofError::MissingHeader)?;
        if header != TLOG_PROOF_HEADER {
            return Err(TlogProofError::MissingHeader);
        }
        let mut line_no = 2;
        let (mut line, after) = next_line(rest).ok_or(TlogProofError::MissingIndex { line: 2 })?;
        rest = after;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(b64).map_err(|_| TlogProofError::BadExtra)?);
            line_no += 1;
            (line, rest) = next_line(rest).ok_or(TlogProofError::MissingIndex { line: line_no })?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(TlogProofError::MissingIndex { line: line_no })?;
        let index = parse_index(index).ok_or(TlogProofError::BadIndex { line: line_no })?;
        let mut proof = Vec::new();
        loop {
            line_no += 1;
            let (line, after) = next_line(rest).ok_or(TlogProofError::MissingBlankLine)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes);
            }
            proof.push(
                Hash::from_base64(line).map_err(|_| TlogProofError::BadHash { line: line_no })?,
            );
        }
        let checkpoint = Note::parse(rest.as_bytes()).map_err(TlogProofError::Checkpoint)?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// The canonical text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            STANDARD.encode_string(extra, &mut out);
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint.to_bytes());
        bytes
    }
}
