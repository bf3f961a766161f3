//! The 32-byte hash type and RFC 9162 §2.1 hashing with domain separation.
//!
//! Leaves and interior nodes are hashed with different one-byte prefixes so that no
//! interior node can ever be passed off as a leaf (second-preimage resistance of the tree).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::TreeError;

/// Number of bytes in a SHA-256 hash.
pub const HASH_LEN: usize = 32;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The root of the empty tree: SHA-256 of no bytes.
    pub fn empty_root() -> Hash {
        Hash(Sha256::digest([]).into())
    }

    /// Accepts exactly 32 bytes; anything else is an error rather than a silent pad or cut.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, TreeError> {
        let arr: [u8; HASH_LEN] = bytes
            .try_into()
            .map_err(|_| TreeError::InvalidHashLength(bytes.len()))?;
        Ok(Hash(arr))
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Hash, TreeError> {
        let bytes = hex::decode(text).map_err(|_| TreeError::InvalidHex)?;
        Hash::from_slice(&bytes)
    }

    /// Parses strict, padded standard base64 (RFC 4648 §4) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Hash, TreeError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| TreeError::InvalidBase64)?;
        Hash::from_slice(&bytes)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Padded standard base64, the encoding used in checkpoints and proof texts.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_LEN]> for Hash {
    fn from(bytes: [u8; HASH_LEN]) -> Self {
        Hash(bytes)
    }
}

impl From<Hash> for [u8; HASH_LEN] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// `SHA-256(0x00 || data)`: the hash of one log entry.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    // One contiguous 65-byte buffer hashes measurably faster than three `update` calls.
    let mut buf = [0u8; 1 + 2 * HASH_LEN];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            Hash::empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Hash::empty_root().to_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn hello_world_leaf() {
        let h = leaf_hash(b"hello world");
        assert_eq!(
            h.to_hex(),
            "4eccf34608d31bac5c7becf6006df59005d828181056d092084e341e6bb005bd"
        );
        assert_eq!(
            h.to_base64(),
            "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
        );
    }

    #[test]
    fn node_hash_matches_streaming_form() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(a.0);
        h.update(b.0);
        assert_eq!(node_hash(&a, &b).0, <[u8; 32]>::from(h.finalize()));
        assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
    }

    #[test]
    fn parsing_is_strict() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()).unwrap(), h);
        assert_eq!(Hash::from_base64(&h.to_base64()).unwrap(), h);
        assert!(matches!(
            Hash::from_hex("abcd"),
            Err(TreeError::InvalidHashLength(2))
        ));
        assert!(Hash::from_hex("zz").is_err());
        // Unpadded, URL-safe and 33-byte inputs are all refused.
        let b64 = h.to_base64();
        assert!(Hash::from_base64(b64.trim_end_matches('=')).is_err());
        let with_both = "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=";
        assert!(Hash::from_base64(with_both).is_ok());
        assert!(Hash::from_base64(&with_both.replace('+', "-").replace('/', "_")).is_err());
        // Non-zero trailing bits in the last character are not canonical.
        assert!(Hash::from_base64("TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb1=").is_err());
        assert!(Hash::from_base64(&STANDARD.encode([0u8; 33])).is_err());
        assert!(Hash::from_slice(&[0u8; 31]).is_err());
    }
}
