//! Ed25519 signer and verifier keys in the signed-note text encodings, key IDs, and the
//! set of trusted verifiers used to open notes.
//!
//! One 32-byte Ed25519 key can act under two algorithm bytes: 0x01 (plain note signatures,
//! what a log uses) and 0x04 (`cosignature/v1`, what witnesses use). The algorithm byte is
//! hashed into the key ID, so the same key has two different IDs and can never be confused
//! between the two roles.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest, Sha256};

use crate::cosignature::{cosignature_message_into, COSIGNATURE_PAYLOAD_LEN, MAX_TIMESTAMP};
use crate::error::{NameError, NoteError};
use crate::note::NoteSignature;
use crate::MAX_NAME_LEN;

/// Length of an Ed25519 seed, public key (both 32) and signature (64).
const KEY_LEN: usize = 32;
pub(crate) const SIGNATURE_LEN: usize = 64;

/// The signature type byte that prefixes key material and is hashed into the key ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// 0x01: Ed25519 over the note text (logs; the only type Go's `x/mod/sumdb/note` knows).
    Ed25519,
    /// 0x04: timestamped Ed25519 `cosignature/v1` over a checkpoint (witnesses).
    Cosignature,
}

impl KeyAlgorithm {
    pub const fn byte(self) -> u8 {
        match self {
            KeyAlgorithm::Ed25519 => 0x01,
            KeyAlgorithm::Cosignature => 0x04,
        }
    }

    pub fn from_byte(byte: u8) -> Result<Self, NoteError> {
        match byte {
            0x01 => Ok(KeyAlgorithm::Ed25519),
            0x04 => Ok(KeyAlgorithm::Cosignature),
            other => Err(NoteError::UnknownAlgorithm(other)),
        }
    }

    /// Bytes that follow the key ID in a signature line made with this algorithm.
    pub const fn payload_len(self) -> usize {
        match self {
            KeyAlgorithm::Ed25519 => SIGNATURE_LEN,
            KeyAlgorithm::Cosignature => COSIGNATURE_PAYLOAD_LEN,
        }
    }
}

/// `big_endian_u32(SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[0..4])`.
pub fn key_id(name: &str, alg: KeyAlgorithm, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg.byte()]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Checks the signed-note name rules: non-empty, at most 255 bytes (so a name fits the
/// one-byte length of `subtree/v1` messages), no white space, no `+`, no control characters.
pub fn validate_name(name: &str) -> Result<(), NoteError> {
    if name.len() > MAX_NAME_LEN {
        return Err(NoteError::InvalidName(NameError::TooLong));
    }
    validate_signature_name(name)
}

/// The name rules a signature line's name must follow: [`validate_name`]'s without its
/// length cap. The cap is for keys (Cairn's own, and those it verifies with); Go's note
/// package has none, so a third party's long-named line in a note must not make the whole
/// note unreadable here. Such a line can never match a key, and is ignored like any line by
/// an unknown key.
pub fn validate_signature_name(name: &str) -> Result<(), NoteError> {
    let err = |e| Err(NoteError::InvalidName(e));
    if name.is_empty() {
        return err(NameError::Empty);
    }
    for c in name.chars() {
        if c.is_whitespace() {
            return err(NameError::Whitespace);
        }
        // Only what a note itself forbids (below U+0020), so a name Go accepts in a
        // third party's signature line never makes a whole note unreadable here.
        if c < ' ' {
            return err(NameError::Control);
        }
        if c == '+' {
            return err(NameError::Plus);
        }
    }
    Ok(())
}

/// Exactly 8 hex digits, either case (Go accepts both; we only ever emit lowercase).
fn parse_key_id(hex: &str) -> Result<u32, NoteError> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::InvalidKeyId);
    }
    u32::from_str_radix(hex, 16).map_err(|_| NoteError::InvalidKeyId)
}

/// Decodes `base64(alg ‖ 32 bytes)`; the algorithm is checked before the length so an
/// unknown type is reported as such whatever its key size.
fn decode_key_material(b64: &str) -> Result<(KeyAlgorithm, [u8; KEY_LEN]), NoteError> {
    let raw = STANDARD.decode(b64).map_err(|_| NoteError::InvalidBase64)?;
    let (&alg, key) = raw.split_first().ok_or(NoteError::BadKeyLength {
        expected: KEY_LEN,
        actual: 0,
    })?;
    let alg = KeyAlgorithm::from_byte(alg)?;
    let key: [u8; KEY_LEN] = key.try_into().map_err(|_| NoteError::BadKeyLength {
        expected: KEY_LEN,
        actual: key.len(),
    })?;
    Ok((alg, key))
}

fn encode_key_material(alg: KeyAlgorithm, key: &[u8; KEY_LEN]) -> String {
    let mut buf = [0u8; 1 + KEY_LEN];
    buf[0] = alg.byte();
    buf[1..].copy_from_slice(key);
    STANDARD.encode(buf)
}

/// Files and environment variables usually end in a newline; nothing else is forgiven.
fn trim_key_text(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_ascii_whitespace())
}

/// A named Ed25519 signing key. Holds the secret seed, so it has no `Display`, no `Clone`,
/// and its `Debug` shows only the name, algorithm and key ID. The underlying
/// `ed25519_dalek::SigningKey` zeroizes the seed on drop.
pub struct SignerKey {
    signing: SigningKey,
    verifier: VerifierKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.verifier.name)
            .field("algorithm", &self.verifier.alg)
            .field("key_id", &format_args!("{:08x}", self.verifier.key_id))
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate(name: &str, alg: KeyAlgorithm) -> Result<Self, NoteError> {
        let mut seed = [0u8; KEY_LEN];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| NoteError::RandomnessUnavailable)?;
        Self::from_seed(name, alg, seed)
    }

    /// Deterministic construction from a 32-byte RFC 8032 seed.
    pub fn from_seed(
        name: &str,
        alg: KeyAlgorithm,
        seed: [u8; KEY_LEN],
    ) -> Result<Self, NoteError> {
        validate_name(name)?;
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key();
        let verifier = VerifierKey {
            name: name.to_owned(),
            alg,
            key_id: key_id(name, alg, public.as_bytes()),
            key: public,
        };
        Ok(SignerKey { signing, verifier })
    }

    /// Parses `PRIVATE+KEY+<name>+<key ID hex>+<base64(alg ‖ seed)>` (trailing white space
    /// ignored). The key ID must match the public key derived from the seed. Algorithm 0x04
    /// is accepted too (a Cairn extension of Go's 0x01-only format) so witness keys can be
    /// stored the same way.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = trim_key_text(text)
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey)?;
        // base64 may contain '+', so only the first two remaining separators are fields.
        let mut fields = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(NoteError::MalformedKey);
        };
        validate_name(name)?;
        let id = parse_key_id(id_hex)?;
        let (alg, seed) = decode_key_material(b64)?;
        let key = Self::from_seed(name, alg, seed)?;
        if key.key_id() != id {
            return Err(NoteError::KeyIdMismatch {
                expected: key.key_id(),
                found: id,
            });
        }
        Ok(key)
    }

    /// The secret text form. Treat the result as a secret: never log it.
    pub fn to_text(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.key_id,
            encode_key_material(self.verifier.alg, self.signing.as_bytes())
        )
    }

    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    pub fn key_id(&self) -> u32 {
        self.verifier.key_id
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.verifier.alg
    }

    pub fn verifier(&self) -> VerifierKey {
        self.verifier.clone()
    }

    /// Raw RFC 8032 Ed25519 signature of `msg`; callers decide what `msg` is.
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(msg).to_bytes()
    }
}

/// A named Ed25519 public key with its algorithm byte and key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    alg: KeyAlgorithm,
    key_id: u32,
    // Decompressed once at parse time so verification does not repeat it per signature.
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({})", self.to_text())
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        VerifierKey::parse(s)
    }
}

impl VerifierKey {
    /// Builds a key from its parts, refusing points that are invalid or of small order
    /// (those can never pass `verify_strict`, so accepting them would only hide a
    /// configuration mistake).
    pub fn new(
        name: &str,
        alg: KeyAlgorithm,
        public_key: [u8; KEY_LEN],
    ) -> Result<Self, NoteError> {
        validate_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| NoteError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(NoteError::WeakKey);
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            alg,
            key_id: key_id(name, alg, &public_key),
            key,
        })
    }

    /// Parses `<name>+<key ID hex>+<base64(alg ‖ public key)>` (trailing white space
    /// ignored). The key ID is recomputed and must match.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        // base64 may contain '+', so split at the first two only.
        let mut fields = trim_key_text(text).splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(NoteError::MalformedKey);
        };
        validate_name(name)?;
        let id = parse_key_id(id_hex)?;
        let (alg, public) = decode_key_material(b64)?;
        let expected = key_id(name, alg, &public);
        if expected != id {
            return Err(NoteError::KeyIdMismatch {
                expected,
                found: id,
            });
        }
        Self::new(name, alg, public)
    }

    pub fn to_text(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_key_material(self.alg, self.key.as_bytes())
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    pub fn public_key(&self) -> &[u8; KEY_LEN] {
        self.key.as_bytes()
    }

    /// Whether a signature line claims to be from this key (name and ID both match).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        self.key_id == sig.key_id && self.name == sig.name
    }

    /// Verifies one signature line over a note text with this key's algorithm. Returns the
    /// cosignature timestamp for 0x04 keys and `None` for 0x01 keys.
    pub fn verify_signature(
        &self,
        text: &str,
        sig: &NoteSignature,
    ) -> Result<Option<u64>, NoteError> {
        if !self.matches(sig) {
            return Err(NoteError::KeyMismatch {
                name: self.name.clone(),
                key_id: self.key_id,
                found_name: sig.name.clone(),
                found_id: sig.key_id,
            });
        }
        self.verify_payload(text.as_bytes(), &sig.payload, &mut Vec::new())
    }

    /// The shared core of every verification path. `scratch` lets one `Note::verify` call
    /// build all its cosignature messages in a single reused buffer.
    pub(crate) fn verify_payload(
        &self,
        text: &[u8],
        payload: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<Option<u64>, NoteError> {
        let expected = self.alg.payload_len();
        if payload.len() != expected {
            return Err(NoteError::SignatureLength {
                name: self.name.clone(),
                key_id: self.key_id,
                expected,
                actual: payload.len(),
            });
        }
        let invalid = || NoteError::InvalidSignature {
            name: self.name.clone(),
            key_id: self.key_id,
        };
        match self.alg {
            KeyAlgorithm::Ed25519 => {
                let sig: &[u8; SIGNATURE_LEN] = payload.try_into().map_err(|_| invalid())?;
                self.key
                    .verify_strict(text, &Signature::from_bytes(sig))
                    .map_err(|_| invalid())?;
                Ok(None)
            }
            KeyAlgorithm::Cosignature => {
                let (ts, sig) = payload.split_at(8);
                let ts = u64::from_be_bytes(ts.try_into().map_err(|_| invalid())?);
                if ts > MAX_TIMESTAMP {
                    return Err(NoteError::TimestampOutOfRange(ts));
                }
                let sig: &[u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| invalid())?;
                cosignature_message_into(scratch, ts, text);
                self.key
                    .verify_strict(scratch, &Signature::from_bytes(sig))
                    .map_err(|_| invalid())?;
                Ok(Some(ts))
            }
        }
    }
}

/// The trusted keys for opening notes. No two keys may share a (name, key ID) pair: with
/// only 32 bits of ID, such a pair would make a signature line's key ambiguous.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verifiers {
    // A linear scan beats hashing for the handful of keys a log or client trusts, and it
    // looks up by borrowed name without allocating.
    keys: Vec<VerifierKey>,
}

impl Verifiers {
    pub fn new() -> Self {
        Verifiers::default()
    }

    /// Collects keys, failing on the first ambiguous one.
    pub fn from_keys<I: IntoIterator<Item = VerifierKey>>(keys: I) -> Result<Self, NoteError> {
        let mut set = Verifiers::new();
        for key in keys {
            set.add(key)?;
        }
        Ok(set)
    }

    /// Adds a key; a second key with the same name and ID (even the identical key) is
    /// refused, as Go's `note.VerifierList` would report it ambiguous at use.
    pub fn add(&mut self, key: VerifierKey) -> Result<(), NoteError> {
        if self.get(&key.name, key.key_id).is_some() {
            return Err(NoteError::AmbiguousKey {
                name: key.name,
                key_id: key.key_id,
            });
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn get(&self, name: &str, key_id: u32) -> Option<&VerifierKey> {
        self.keys
            .iter()
            .find(|k| k.key_id == key_id && k.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &VerifierKey> {
        self.keys.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
