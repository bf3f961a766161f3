//! The single error type of this crate.
//!
//! Every malformed input has its own variant so that callers (the HTTP layer, the witness
//! client, tests) can map cases to status codes or assert on the exact reason without
//! matching on strings. No variant ever carries secret key material.

use thiserror::Error;

use crate::KeyAlgorithm;

/// Why a key name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// Longer than [`crate::MAX_NAME_LEN`] bytes.
    TooLong,
    /// Contains a Unicode white-space character (Go's `unicode.IsSpace`).
    Whitespace,
    /// Contains `+`, the field separator of key texts.
    Plus,
    /// Contains a control character, which no note may carry.
    Control,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameError::Empty => "empty",
            NameError::TooLong => "longer than 255 bytes",
            NameError::Whitespace => "contains white space",
            NameError::Plus => "contains '+'",
            NameError::Control => "contains a control character",
        })
    }
}

/// Everything that can go wrong while parsing, signing or verifying notes, keys,
/// checkpoints and cosignatures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoteError {
    // ---- note and checkpoint text -------------------------------------------------------
    #[error("input is {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("input is not valid UTF-8")]
    InvalidUtf8,
    #[error("control character 0x{byte:02x} at byte offset {offset}")]
    ControlCharacter { offset: usize, byte: u8 },
    #[error("note has no empty line separating text and signatures")]
    MissingSeparator,
    #[error("note has no signature lines")]
    EmptySignatureBlock,
    #[error("signature block does not end with a newline")]
    UnterminatedSignatureBlock,
    #[error("signature line {line} does not start with an em dash and a space")]
    BadSignaturePrefix { line: usize },
    #[error("signature line {line} has no space between key name and signature")]
    MissingSignatureField { line: usize },
    #[error("signature line has an empty signature field")]
    EmptySignature,
    #[error("signature decodes to {len} bytes; at least 5 (key ID and one byte) are required")]
    SignatureTooShort { len: usize },
    #[error("more than {limit} signatures")]
    TooManySignatures { limit: usize },
    #[error("note text must be non-empty and end with a newline")]
    TextNotTerminated,
    #[error("invalid key name: {0}")]
    InvalidName(NameError),
    #[error("invalid base64 (standard alphabet, padded, canonical)")]
    InvalidBase64,

    // ---- keys ---------------------------------------------------------------------------
    #[error("malformed key text (wrong number of '+'-separated fields or missing PRIVATE+KEY)")]
    MalformedKey,
    #[error("key ID must be exactly 8 hex digits")]
    InvalidKeyId,
    #[error("key ID {found:08x} does not match the key (expected {expected:08x})")]
    KeyIdMismatch { expected: u32, found: u32 },
    #[error("unknown key algorithm byte 0x{0:02x}")]
    UnknownAlgorithm(u8),
    #[error("key material is {actual} bytes, expected {expected}")]
    BadKeyLength { expected: usize, actual: usize },
    #[error("public key is not a valid Ed25519 point")]
    InvalidPublicKey,
    #[error("public key has small order and can never verify strictly")]
    WeakKey,
    #[error("key algorithm {actual:?} cannot be used here (need {expected:?})")]
    WrongAlgorithm {
        expected: KeyAlgorithm,
        actual: KeyAlgorithm,
    },
    #[error("operating system randomness unavailable")]
    RandomnessUnavailable,

    // ---- signing and verification -------------------------------------------------------
    #[error("no signer keys given")]
    NoSigners,
    #[error("ambiguous key {name}+{key_id:08x}: given twice")]
    AmbiguousKey { name: String, key_id: u32 },
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature { name: String, key_id: u32 },
    #[error("signature for key {name}+{key_id:08x} is {actual} bytes after the key ID, expected {expected}")]
    SignatureLength {
        name: String,
        key_id: u32,
        expected: usize,
        actual: usize,
    },
    #[error("note has no verifiable signatures")]
    NoVerifiedSignatures,
    #[error("note carries no signature by {name}+{key_id:08x}")]
    MissingSignature { name: String, key_id: u32 },
    #[error(
        "signature is by {found_name}+{found_id:08x}, not by the given key {name}+{key_id:08x}"
    )]
    KeyMismatch {
        name: String,
        key_id: u32,
        found_name: String,
        found_id: u32,
    },
    #[error("cosignature timestamp {0} exceeds 2^63-1")]
    TimestampOutOfRange(u64),

    // ---- checkpoints --------------------------------------------------------------------
    #[error("checkpoint text does not end with a newline")]
    CheckpointNotTerminated,
    #[error("checkpoint has fewer than three lines")]
    CheckpointTooFewLines,
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error("tree size is not canonical decimal")]
    InvalidTreeSize,
    #[error("tree size exceeds 2^63-1")]
    TreeSizeTooLarge,
    #[error("root hash is not padded standard base64 of exactly 32 bytes")]
    InvalidRootHash,
    #[error("checkpoint extension line {line} is empty")]
    EmptyExtensionLine { line: usize },
    #[error("checkpoint origin or extension line contains a newline")]
    EmbeddedNewline,

    // ---- witness policy -----------------------------------------------------------------
    #[error("invalid witness policy: {0}")]
    InvalidPolicy(&'static str),
}
