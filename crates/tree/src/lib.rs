//! The Merkle core of Cairn: RFC 9162 hashing, an append-only tree over stored node hashes,
//! inclusion and consistency proofs and their strict verification, and C2SP tlog-tiles
//! geometry.
//!
//! Pure by design: no I/O, no async, no storage format. Storage implements [`HashSource`];
//! the appender ([`Frontier`]) hands back the node hashes to persist. See
//! `docs/architecture.md` for how the pieces fit.

mod error;
mod frontier;
mod hash;
mod independent;
mod node;
mod prove;
mod tiles;
mod verify;

pub use error::TreeError;
pub use frontier::Frontier;
pub use hash::{leaf_hash, node_hash, Hash, HASH_LEN};
pub use independent::{rs_merkle_root, Rfc6962Hasher};
pub use node::{HashSource, MemoryHashes, NodeId};
pub use prove::{consistency_proof, inclusion_proof, root_at, Prover};
pub use tiles::{
    bundle_prefix, encode_bundle, entry_bundle_width, hash_tile_body, hash_tile_width, new_tiles,
    parse_bundle, parse_hash_tile, push_bundle_entry, root_of_hashes, Tile, TileHashSource,
    TileKind, TileReader, MAX_ENTRY_LEN, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};
pub use verify::{
    consistency_proof_len, inclusion_proof_len, root_from_inclusion_proof, verify_consistency,
    verify_inclusion, VerifyError,
};
