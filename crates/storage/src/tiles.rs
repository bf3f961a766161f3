//! Reading a stored log as tiles, so the tree crate can build proofs straight from storage.

use cairn_tree::{Tile, TileKind, TileReader, TreeError};

use crate::LogStore;

/// A [`TileReader`] over a store: serves `N.p/W` by truncating the stored tile, which is valid
/// because stored hashes never change (a partial tile is a prefix of its later self).
pub struct StoreTiles<'a, S: ?Sized>(pub &'a S);

impl<S: LogStore + ?Sized> TileReader for StoreTiles<'_, S> {
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TreeError> {
        let TileKind::Hashes { level } = tile.kind else {
            return Err(TreeError::BadTile("not a hash tile".into()));
        };
        let body = self
            .0
            .tile(level, tile.index)
            .map_err(|e| TreeError::Source(Box::new(e)))?
            .ok_or_else(|| TreeError::BadTile(format!("{} is not stored", tile.path())))?;
        let want = usize::from(tile.width) * cairn_tree::HASH_LEN;
        if body.len() < want {
            return Err(TreeError::BadTile(format!(
                "{} is not stored at that width",
                tile.path()
            )));
        }
        Ok(body[..want].to_vec())
    }
}
