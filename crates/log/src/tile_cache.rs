//! The interior nodes of full upper-level hash tiles, kept in a bounded cache for proofs.
//!
//! A proof at a random index needs, in each tile level it crosses, the siblings of its path
//! inside one tile: about 250 node hashes rebuilt from that tile's 256 stored hashes. Tiles of
//! level 1 and up are few (one per 65,536 entries) and every proof crosses them, so their
//! interiors are computed once and kept; level-0 tiles (one per 256 entries) are too many to
//! keep and are rebuilt per proof. Entries are keyed by tile *and width*: a stored tile never
//! changes except by growing, so a (tile, width) pair names the same hashes forever, and the
//! partial top tile that every proof crosses is cached too until the tree grows past it.

use std::sync::Arc;

use cairn_storage::LogStore;
use cairn_tree::{
    node_hash, parse_hash_tile, Hash, HashSource, NodeId, TreeError, TILE_HEIGHT, TILE_WIDTH,
};

/// Tiles kept at most: each holds 510 hashes (≈ 16 KiB), so 16 MiB in all. A 10M-entry log has
/// 153 full level-1 tiles; 1,024 cover 67M entries before anything is evicted.
pub(crate) const UPPER_TILE_CACHE_TILES: usize = 1024;

/// The perfect nodes of one tile at heights 0..8 inside it: `rows[r]` holds `width >> r`
/// hashes.
struct Interior {
    rows: Vec<Vec<Hash>>,
}

impl Interior {
    fn build(leaves: Vec<Hash>) -> Interior {
        let mut rows = vec![leaves];
        for _ in 1..TILE_HEIGHT {
            let below = rows.last().expect("row 0 exists");
            let row = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            rows.push(row);
        }
        Interior { rows }
    }
}

/// Interiors of tiles at tile level ≥ 1, keyed by (tile level, tile index, width).
pub(crate) struct UpperTileCache {
    tiles: quick_cache::sync::Cache<(u8, u64, u16), Arc<Interior>>,
}

impl UpperTileCache {
    pub(crate) fn new(capacity: usize) -> Self {
        UpperTileCache {
            tiles: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The hash of `id` if it lies in a tile of level ≥ 1 of a tree of `size` leaves
    /// (computing and keeping that tile's interior on first use); `None` for any other node.
    fn node(
        &self,
        store: &(impl LogStore + ?Sized),
        size: u64,
        id: NodeId,
    ) -> Result<Option<Hash>, TreeError> {
        let level = id.level / TILE_HEIGHT;
        let r = id.level % TILE_HEIGHT;
        if level == 0 {
            return Ok(None);
        }
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let stored = size.checked_shr(shift).unwrap_or(0);
        let Some(first) = id
            .index
            .checked_shl(r.into())
            .filter(|f| f >> r == id.index)
        else {
            return Ok(None);
        };
        let tile = first / TILE_WIDTH;
        let Some(in_tile) = stored.checked_sub(tile * TILE_WIDTH).filter(|&w| w > 0) else {
            return Ok(None);
        };
        let width = in_tile.min(TILE_WIDTH) as u16;
        let interior = self.tiles.get_or_insert_with(&(level, tile, width), || {
            let body = store
                .tile(level, tile)
                .map_err(|e| TreeError::Source(Box::new(e)))?
                .ok_or(TreeError::MissingNode(id))?;
            // A stored partial tile may already be wider than `width`: take its prefix.
            let want = usize::from(width) * cairn_tree::HASH_LEN;
            let body = body.get(..want).ok_or(TreeError::MissingNode(id))?;
            let leaves = parse_hash_tile(body, width)?;
            Ok::<_, TreeError>(Arc::new(Interior::build(leaves)))
        })?;
        let offset = ((first % TILE_WIDTH) >> r) as usize;
        Ok(interior.rows[usize::from(r)].get(offset).copied())
    }
}

/// Reads nodes from the cache where it can and from `fallback` (tiles) otherwise.
pub(crate) struct CachedTiles<'a, S: ?Sized, F> {
    pub cache: &'a UpperTileCache,
    pub store: &'a S,
    pub size: u64,
    pub fallback: F,
}

impl<S: LogStore + ?Sized, F: HashSource> HashSource for CachedTiles<'_, S, F> {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let mut out = Vec::with_capacity(nodes.len());
        let mut rest = Vec::new();
        for &id in nodes {
            if id.end_leaf().is_none_or(|end| end > self.size) {
                return Err(TreeError::MissingNode(id));
            }
            let hash = self.cache.node(self.store, self.size, id)?;
            if hash.is_none() {
                rest.push(id);
            }
            out.push(hash);
        }
        let mut fetched = if rest.is_empty() {
            Vec::new()
        } else {
            self.fallback.read_nodes(&rest)?
        }
        .into_iter();
        if fetched.len() != rest.len() {
            return Err(TreeError::SourceReturnedWrongCount {
                asked: rest.len(),
                got: fetched.len(),
            });
        }
        Ok(out
            .into_iter()
            .map(|h| h.or_else(|| fetched.next()).expect("counted above"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::TreeState;
    use cairn_storage::{MemoryStore, StoreTiles};
    use cairn_tree::{inclusion_proof, leaf_hash, TileHashSource};

    /// Every node the cache answers equals what the tiles give, for full and partial upper
    /// tiles, on the first (computing) and second (cached) read, and after the tree grew.
    #[test]
    fn cached_nodes_equal_tile_nodes() {
        let store = MemoryStore::new();
        let mut state = TreeState::empty();
        // Two full level-1 tiles and a partial third.
        let size = 2 * TILE_WIDTH * TILE_WIDTH + 3 * TILE_WIDTH + 17;
        let entries: Vec<Vec<u8>> = (0..size).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut appended = state
            .append(entries.iter().map(|e| (e.as_slice(), leaf_hash(e), false)))
            .unwrap();
        appended.integration.checkpoint = b"checkpoint".to_vec();
        store.integrate(&appended.integration).unwrap();
        state = appended.state;
        assert_eq!(state.size(), size);

        let cache = UpperTileCache::new(8);
        let plain = TileHashSource::new(size, StoreTiles(&store));
        let cached = CachedTiles {
            cache: &cache,
            store: &store,
            size,
            fallback: TileHashSource::new(size, StoreTiles(&store)),
        };
        let mut ids = Vec::new();
        for level in 0..=17u8 {
            let count = size >> level;
            for index in [
                0,
                1,
                count / 3,
                count / 2,
                count.saturating_sub(2),
                count - 1,
            ] {
                if index < count {
                    ids.push(NodeId::new(level, index));
                }
            }
        }
        let want = plain.read_nodes(&ids).unwrap();
        assert_eq!(cached.read_nodes(&ids).unwrap(), want, "first read");
        assert!(cache.tiles.len() >= 2, "full level-1 tiles were cached");
        assert_eq!(cached.read_nodes(&ids).unwrap(), want, "cached read");
        // Whole proofs, and nodes beyond the tree are refused.
        for index in [0, 70_000, size / 2, size - 1] {
            assert_eq!(
                inclusion_proof(index, size, &cached).unwrap(),
                inclusion_proof(index, size, &plain).unwrap()
            );
        }
        assert!(matches!(
            cached.read_nodes(&[NodeId::new(0, size)]),
            Err(TreeError::MissingNode(_))
        ));

        // The tree grows by another level-1 tile: the partial tile's old interior must not be
        // used for the new, wider one (and the old size still reads the same).
        let more: Vec<Vec<u8>> = (size..size + TILE_WIDTH * TILE_WIDTH)
            .map(|i| i.to_be_bytes().to_vec())
            .collect();
        let mut appended = state
            .append(more.iter().map(|e| (e.as_slice(), leaf_hash(e), false)))
            .unwrap();
        appended.integration.checkpoint = b"checkpoint 2".to_vec();
        store.integrate(&appended.integration).unwrap();
        let bigger = appended.state.size();
        let plain_big = TileHashSource::new(bigger, StoreTiles(&store));
        let cached_big = CachedTiles {
            cache: &cache,
            store: &store,
            size: bigger,
            fallback: TileHashSource::new(bigger, StoreTiles(&store)),
        };
        let top: Vec<NodeId> = (0..=8u8)
            .map(|r| NodeId::new(8 + r, (bigger >> (8 + r)) - 1))
            .collect();
        assert_eq!(
            cached_big.read_nodes(&top).unwrap(),
            plain_big.read_nodes(&top).unwrap()
        );
        assert_eq!(
            cached.read_nodes(&ids).unwrap(),
            want,
            "old size after growth"
        );
    }
}
