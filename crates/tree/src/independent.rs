//! rs_merkle with RFC 6962 domain separation: an independent second computation.
//!
//! rs_merkle builds trees layer by layer and promotes a lone last node unchanged, which yields
//! the same left-complete shape as RFC 9162, but its commits cost O(n) and its verifier accepts
//! trailing junk (see docs/architecture.md). So it never holds the log and never verifies on
//! its own; it recomputes a tile's subtree root by a code path that shares nothing with the
//! incremental appender, which is what the storage audit and the tests want.

use rs_merkle::{Hasher, MerkleTree};
use sha2::{Digest, Sha256};

use crate::{Hash, TreeError};

/// rs_merkle's `Hasher` for RFC 6962 interior nodes. Leaves are hashed by the caller with
/// [`crate::leaf_hash`]; rs_merkle itself never hashes leaf data.
#[derive(Clone, Copy, Debug)]
pub struct Rfc6962Hasher;

impl Hasher for Rfc6962Hasher {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => crate::node_hash(&Hash(*left), &Hash(*right)).0,
            // A lone node is promoted unchanged: RFC 9162 never pads the tree.
            None => *left,
        }
    }
}

/// The RFC 9162 root over `hashes` taken as leaves, computed by rs_merkle. Meant for one
/// tile (at most 256 hashes); it refuses more so nobody uses it to hold the log.
pub fn rs_merkle_root(hashes: &[Hash]) -> Result<Hash, TreeError> {
    if hashes.len() > 256 {
        return Err(TreeError::BadTile(format!(
            "rs_merkle recomputation is for one tile, got {} hashes",
            hashes.len()
        )));
    }
    if hashes.is_empty() {
        return Ok(Hash::empty_root());
    }
    let leaves: Vec<[u8; 32]> = hashes.iter().map(|h| h.0).collect();
    let tree = MerkleTree::<Rfc6962Hasher>::from_leaves(&leaves);
    Ok(Hash(tree.root().expect("non-empty tree has a root")))
}
