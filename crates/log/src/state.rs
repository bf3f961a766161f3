//! The in-memory right edge of a stored log, and turning appended entries into one
//! [`Integration`].
//!
//! Only O(log n) state lives here: the tree's frontier (≤ 64 hashes), the rightmost partial
//! hash tile of each tile level, the rightmost partial entry bundle, and the most recent nodes
//! per tree level, which is all that receipts for the newest entries need.

use std::collections::BTreeMap;

use cairn_storage::{Integration, LogStore, StorageError, StoreTiles};

use crate::tile_cache::{CachedTiles, UpperTileCache};
use cairn_tree::{
    entry_bundle_width, hash_tile_width, push_bundle_entry, Frontier, Hash, HashSource, NodeId,
    TileHashSource, TreeError, HASH_LEN, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};

/// Nodes kept per tree level between batches: the last completed node at each level is the
/// left sibling every newer leaf's proof needs from the old tree.
const KEEP_PER_LEVEL: usize = 2;

/// The most recently completed nodes at each tree level.
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentNodes {
    /// Per level: index of the first kept node, and the kept hashes in index order.
    levels: Vec<(u64, Vec<Hash>)>,
}

impl RecentNodes {
    fn push(&mut self, id: NodeId, hash: Hash) {
        let level = usize::from(id.level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, || (0, Vec::new()));
        }
        let (first, row) = &mut self.levels[level];
        if row.is_empty() || *first + row.len() as u64 != id.index {
            *first = id.index;
            row.clear();
        }
        row.push(hash);
    }

    fn trim(&mut self) {
        for (first, row) in &mut self.levels {
            if row.len() > KEEP_PER_LEVEL {
                let drop = row.len() - KEEP_PER_LEVEL;
                row.drain(..drop);
                *first += drop as u64;
            }
        }
    }

    pub(crate) fn get(&self, id: NodeId) -> Option<Hash> {
        let (first, row) = self.levels.get(usize::from(id.level))?;
        let offset = id.index.checked_sub(*first)?;
        row.get(usize::try_from(offset).ok()?).copied()
    }
}

/// Reads recent nodes from memory and everything else from the store's tiles.
pub(crate) struct LayeredSource<'a, S: ?Sized> {
    pub recent: &'a RecentNodes,
    pub store: &'a S,
    pub size: u64,
    pub cache: &'a UpperTileCache,
}

impl<S: LogStore + ?Sized> HashSource for LayeredSource<'_, S> {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let mut out: Vec<Option<Hash>> = nodes.iter().map(|id| self.recent.get(*id)).collect();
        let missing: Vec<NodeId> = nodes
            .iter()
            .zip(&out)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            let fetched = CachedTiles {
                cache: self.cache,
                store: self.store,
                size: self.size,
                fallback: TileHashSource::new(self.size, StoreTiles(self.store)),
            }
            .read_nodes(&missing)?;
            let mut fetched = fetched.into_iter();
            for slot in out.iter_mut().filter(|h| h.is_none()) {
                *slot = fetched.next();
            }
        }
        out.into_iter()
            .zip(nodes)
            .map(|(h, id)| h.ok_or(TreeError::MissingNode(*id)))
            .collect()
    }
}

/// The right edge of the log as stored at `size`.
#[derive(Clone, Debug)]
pub(crate) struct TreeState {
    pub frontier: Frontier,
    /// Tile level → body of its rightmost partial tile (absent when that level has none).
    partial_tiles: BTreeMap<u8, Vec<u8>>,
    /// Body of the rightmost partial entry bundle (empty when there is none).
    partial_bundle: Vec<u8>,
    pub recent: RecentNodes,
}

/// What appending a batch produced, before it is durable.
pub(crate) struct Appended {
    pub state: TreeState,
    pub integration: Integration,
    pub root: Hash,
}

fn storage_err(e: TreeError) -> StorageError {
    StorageError::Tree(e)
}

impl TreeState {
    pub fn empty() -> Self {
        TreeState {
            frontier: Frontier::new(),
            partial_tiles: BTreeMap::new(),
            partial_bundle: Vec::new(),
            recent: RecentNodes::default(),
        }
    }

    /// Rebuilds the right edge from storage in O(log n) reads: no replay.
    pub fn load(store: &(impl LogStore + ?Sized), size: u64) -> Result<Self, StorageError> {
        let tiles = TileHashSource::new(size, StoreTiles(store));
        let frontier = Frontier::load(size, &tiles).map_err(storage_err)?;
        // The last completed node of every level: the left siblings that receipts for the
        // next entries need. Without them each receipt would rebuild them from tiles (up to
        // 127 hashes per level) until every level had completed a new node, which for the
        // top levels of a large log takes millions of entries.
        let last: Vec<NodeId> = (0..64u8)
            .filter_map(|level| {
                let nodes = size.checked_shr(level.into()).unwrap_or(0);
                (nodes > 0).then(|| NodeId::new(level, nodes - 1))
            })
            .collect();
        let mut recent = RecentNodes::default();
        for (id, hash) in last
            .iter()
            .zip(tiles.read_nodes(&last).map_err(storage_err)?)
        {
            recent.push(*id, hash);
        }
        let mut partial_tiles = BTreeMap::new();
        for level in 0..=MAX_TILE_LEVEL {
            let shift = u32::from(level) * u32::from(TILE_HEIGHT);
            let nodes = size.checked_shr(shift).unwrap_or(0);
            if nodes == 0 {
                break;
            }
            let index = nodes / TILE_WIDTH;
            let width = usize::from(hash_tile_width(level, index, size));
            if width > 0 {
                let body = store.tile(level, index)?.unwrap_or_default();
                if body.len() != width * HASH_LEN {
                    return Err(StorageError::Corrupt(format!(
                        "partial tile {level}/{index} is {} bytes, expected {}",
                        body.len(),
                        width * HASH_LEN
                    )));
                }
                partial_tiles.insert(level, body);
            }
        }
        let bundle_index = size / TILE_WIDTH;
        let partial_bundle = if entry_bundle_width(bundle_index, size) > 0 {
            store.bundle(bundle_index)?.ok_or_else(|| {
                StorageError::Corrupt(format!("partial bundle {bundle_index} is missing"))
            })?
        } else {
            Vec::new()
        };
        Ok(TreeState {
            frontier,
            partial_tiles,
            partial_bundle,
            recent,
        })
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends `entries` (already length-checked) with their leaf hashes, returning the new
    /// state and the integration that makes it durable. `self` is untouched, so a failed
    /// write leaves the in-memory state matching storage.
    /// Each item is (entry, leaf hash, whether to add the leaf to the hash index: only the
    /// first occurrence of a hash is indexed).
    pub fn append<'e>(
        &self,
        entries: impl IntoIterator<Item = (&'e [u8], Hash, bool)>,
    ) -> Result<Appended, StorageError> {
        let old_size = self.size();
        let mut state = self.clone();
        state.recent.trim();
        let mut integration = Integration {
            old_size,
            ..Default::default()
        };
        let mut nodes = Vec::with_capacity(64);
        let mut full_tiles = Vec::new();
        let mut full_bundles = Vec::new();
        for (entry, leaf, index_leaf) in entries {
            let index = state.frontier.size();
            push_bundle_entry(&mut state.partial_bundle, entry).map_err(storage_err)?;
            if (index + 1).is_multiple_of(TILE_WIDTH) {
                full_bundles.push((
                    index / TILE_WIDTH,
                    std::mem::take(&mut state.partial_bundle),
                ));
            }
            if index_leaf {
                integration.dedup.push((leaf, index));
            }
            nodes.clear();
            state
                .frontier
                .append(leaf, &mut nodes)
                .map_err(storage_err)?;
            for &(id, hash) in &nodes {
                state.recent.push(id, hash);
                if id.level % TILE_HEIGHT != 0 {
                    continue;
                }
                let level = id.level / TILE_HEIGHT;
                let body = state.partial_tiles.entry(level).or_default();
                body.extend_from_slice(&hash.0);
                if id.index % TILE_WIDTH == TILE_WIDTH - 1 {
                    full_tiles.push((level, id.index / TILE_WIDTH, std::mem::take(body)));
                    state.partial_tiles.remove(&level);
                }
            }
        }
        let new_size = state.frontier.size();
        integration.new_size = new_size;
        integration.tiles = full_tiles;
        integration.bundles = full_bundles;
        if new_size > old_size {
            // The partial tiles and bundle that grew in this batch.
            for (&level, body) in &state.partial_tiles {
                let shift = u32::from(level) * u32::from(TILE_HEIGHT);
                if old_size >> shift != new_size >> shift {
                    let index = (new_size >> shift) / TILE_WIDTH;
                    integration.tiles.push((level, index, body.clone()));
                }
            }
            if !state.partial_bundle.is_empty() {
                integration
                    .bundles
                    .push((new_size / TILE_WIDTH, state.partial_bundle.clone()));
            }
        }
        let root = state.frontier.root();
        Ok(Appended {
            state,
            integration,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_storage::MemoryStore;
    use cairn_tree::leaf_hash;

    /// A reloaded state must hold the last completed node of every level, like a state that
    /// never restarted, so receipts after a restart need no tile reads.
    #[test]
    fn load_restores_the_last_node_of_every_level() {
        let store = MemoryStore::new();
        let mut state = TreeState::empty();
        for (batch, first) in [(1u64, 0u64), (700, 1), (3000, 701), (37, 3701)] {
            let entries: Vec<Vec<u8>> = (first..first + batch)
                .map(|i| i.to_be_bytes().to_vec())
                .collect();
            let mut appended = state
                .append(entries.iter().map(|e| (e.as_slice(), leaf_hash(e), true)))
                .unwrap();
            appended.integration.checkpoint = b"checkpoint".to_vec();
            store.integrate(&appended.integration).unwrap();
            state = appended.state;
            let size = state.size();
            let loaded = TreeState::load(&store, size).unwrap();
            for level in 0..64u8 {
                let nodes = size >> level;
                if nodes == 0 {
                    break;
                }
                let id = NodeId::new(level, nodes - 1);
                let want = TileHashSource::new(size, StoreTiles(&store))
                    .read_nodes(&[id])
                    .unwrap()[0];
                assert_eq!(loaded.recent.get(id), Some(want), "{id:?} at size {size}");
            }
        }
    }
}
