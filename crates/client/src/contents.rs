//! Auditing a log's contents over HTTP: download the entry bundles and hash tiles a tree
//! grew by, check that they agree with each other, and rebuild the signed root from the
//! entries themselves.
//!
//! Incremental by design: the caller keeps the [`Frontier`] (at most 64 hashes) of the last
//! tree it rebuilt and verified, so following a log costs only the new entries, never a
//! replay. The frontier is only as trustworthy as that earlier check; [`frontier_from_hashes`]
//! re-creates one from persisted hashes.

use std::collections::HashMap;

use cairn_tree::{
    entry_bundle_width, leaf_hash, new_tiles, parse_bundle, parse_hash_tile, root_of_hashes,
    Frontier, Hash, HashSource, NodeId, Tile, TileKind, TreeError, TILE_WIDTH,
};

use crate::error::{ClientError, ContentProblem};
use crate::verify::VerifiedCheckpoint;
use crate::Client;

/// Serves exactly the right-edge nodes of one tree, so [`Frontier::load`] can rebuild it.
struct EdgeHashes<'a>(&'a [Hash]);

impl HashSource for EdgeHashes<'_> {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        if nodes.len() != self.0.len() {
            return Err(TreeError::SourceReturnedWrongCount {
                asked: nodes.len(),
                got: self.0.len(),
            });
        }
        Ok(self.0.to_vec())
    }
}

/// Rebuilds the frontier of a tree of `size` leaves from its right-edge hashes (as returned
/// by [`Frontier::hashes`]). Fails when the number of hashes does not fit the size.
pub fn frontier_from_hashes(size: u64, hashes: &[Hash]) -> Result<Frontier, TreeError> {
    Frontier::load(size, &EdgeHashes(hashes))
}

impl Client {
    /// Downloads what the tree grew by from `verified.size()` to `target.size()`, checks it,
    /// and returns the frontier of `target`'s tree.
    ///
    /// Checked: every bundle parses with the right number of entries; every entry's leaf
    /// hash is the one its level-0 tile serves; every new hash of every higher tile is the
    /// root of the full tile below it; and the entries, appended to `verified`, give
    /// `target`'s signed root. `progress` gets the number of entries checked so far.
    ///
    /// `verified` must be the tree of a checkpoint that `target` was proven consistent with
    /// (or the empty tree): that is what makes the appended root comparable.
    pub async fn verify_contents(
        &self,
        verified: &Frontier,
        target: &VerifiedCheckpoint,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Frontier, ClientError> {
        let (old, size) = (verified.size(), target.size());
        if old > size {
            return Err(ClientError::Mismatch(format!(
                "the verified tree ({old} entries) is larger than the target ({size})"
            )));
        }
        let content = |p| Err(ClientError::Content(p));
        let mut frontier = verified.clone();
        let mut sink = Vec::new();
        // Roots of full tiles fetched at the level being checked, by tile index: the hashes
        // the next level's tiles must hold.
        let mut roots: HashMap<u64, Hash> = HashMap::new();
        let mut checked = 0u64;

        for bundle in old / TILE_WIDTH..size.div_ceil(TILE_WIDTH) {
            let width = entry_bundle_width(bundle, size);
            let bundle_tile = Tile::entries(bundle, width).expect("width 1..=256");
            let hash_tile = Tile::hashes(0, bundle, width).expect("width 1..=256");
            let (body, tile) = tokio::try_join!(self.tile(&bundle_tile), self.tile(&hash_tile))?;
            let entries = match parse_bundle(&body, width) {
                Ok(e) => e,
                Err(e) => {
                    return content(ContentProblem::BadBundle {
                        index: bundle,
                        reason: e.to_string(),
                    })
                }
            };
            let served = parse_hash_tile(&tile, width).expect("length checked by Client::tile");
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            if let Some(i) = (0..leaves.len()).find(|&i| leaves[i] != served[i]) {
                return content(ContentProblem::EntryNotInTile {
                    index: bundle * TILE_WIDTH + i as u64,
                });
            }
            // Entries below `old` are already in the frontier (the first bundle may be one
            // that was partial then); served again, they must still give it.
            let skip = old.saturating_sub(bundle * TILE_WIDTH) as usize;
            if skip > 0 {
                check_old_part(verified, 0, bundle, &leaves[..skip])?;
            }
            // Only a tree of 2^64 leaves could refuse, and no checkpoint can sign one.
            frontier
                .extend(leaves[skip..].iter().copied(), &mut sink)
                .map_err(|e| ClientError::Mismatch(e.to_string()))?;
            sink.clear();
            if u64::from(width) == TILE_WIDTH {
                roots.insert(bundle, root_of_hashes(&leaves));
            }
            checked += (leaves.len() - skip) as u64;
            progress(checked);
        }

        // Higher levels: the tiles that changed, each new hash against the tile below.
        let grown = new_tiles(old, size);
        for level in 1..=cairn_tree::MAX_TILE_LEVEL {
            let tiles: Vec<&Tile> = grown
                .iter()
                .filter(|t| t.kind == TileKind::Hashes { level })
                .collect();
            if tiles.is_empty() {
                break;
            }
            let mut next = HashMap::new();
            for tile in tiles {
                let body = self.tile(tile).await?;
                let hashes = parse_hash_tile(&body, tile.width).map_err(|e| {
                    ClientError::Content(ContentProblem::BadTile {
                        level,
                        index: tile.index,
                        reason: e.to_string(),
                    })
                })?;
                // The tile that was partial at `old` holds hashes of the old tree, which the
                // checks below skip (no new tile below them): they must give its frontier.
                let shift = 8 * u32::from(level);
                // (A shift of 64, at tile level 7, leaves nothing.)
                if tile.index == old.checked_shr(shift + 8).unwrap_or(0) {
                    let had = ((old >> shift) % TILE_WIDTH) as usize;
                    if had > 0 {
                        check_old_part(verified, level, tile.index, &hashes[..had])?;
                    }
                }
                for (position, hash) in hashes.iter().enumerate() {
                    // Hashes without an entry in `roots` existed before `old` and were
                    // checked when they were new.
                    let below = tile.index * TILE_WIDTH + position as u64;
                    if roots.get(&below).is_some_and(|r| r != hash) {
                        return content(ContentProblem::TileMismatch {
                            level,
                            index: tile.index,
                            position: position as u64,
                        });
                    }
                }
                if tile.is_full() {
                    next.insert(tile.index, root_of_hashes(&hashes));
                }
            }
            roots = next;
        }
        let computed = frontier.root();
        if computed != target.root() {
            return content(ContentProblem::RootMismatch {
                size,
                computed,
                signed: target.root(),
            });
        }
        Ok(frontier)
    }
}

/// Checks that `served`, the first hashes of tile (`level`, `index`) that `verified`'s tree
/// already had (all of them: the tile was partial at its size), give `verified`'s right-edge
/// nodes of that level. Those are the subtrees of 256^level to 256^level * 128 leaves in the
/// binary decomposition of its size, and they cover `served` exactly: a changed hash changes
/// one of them.
fn check_old_part(
    verified: &Frontier,
    level: u8,
    index: u64,
    served: &[Hash],
) -> Result<(), ClientError> {
    let old = verified.size();
    let shift = 8 * u32::from(level);
    let had = (old >> shift) % TILE_WIDTH;
    debug_assert_eq!(served.len() as u64, had);
    let edge = verified.hashes();
    // Right-edge nodes, largest first: one per set bit of `old`; this level's come after
    // those of the levels above.
    let first = old.checked_shr(shift + 8).unwrap_or(0).count_ones() as usize;
    let bits = (0..8u32).rev().filter(|b| had & (1 << b) != 0);
    for (node, bit) in (first..).zip(bits) {
        let start = (had >> (bit + 1) << (bit + 1)) as usize;
        let width = 1usize << bit;
        let expected = edge.get(node).copied();
        if Some(root_of_hashes(&served[start..start + width])) != expected {
            return Err(ClientError::Content(ContentProblem::Rewritten {
                level,
                index,
                position: start as u64,
            }));
        }
    }
    Ok(())
}
