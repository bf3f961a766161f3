//! One batch of appends, and the rules every backend checks before writing it.
//!
//! The rules make the store write-once whatever the caller does: the batch must start at the
//! stored size, must carry exactly the tiles and bundles that growing the tree changes, and may
//! replace a stored tile or bundle only by an extension of its current bytes. Each hash index
//! entry must name the leaf hash the batch stores at its index, so a backend may key the index
//! by a truncated hash and confirm a hit against the level-0 tile.

use cairn_tree::{
    entry_bundle_width, hash_tile_width, new_tiles, parse_bundle, Hash, TileKind, HASH_LEN,
    TILE_WIDTH,
};

use crate::StorageError;

/// The stored tree size and the signed checkpoint for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    pub checkpoint: Vec<u8>,
}

/// Everything one integration writes.
#[derive(Clone, Debug, Default)]
pub struct Integration {
    /// The tree size the batch extends; must equal the stored size.
    pub old_size: u64,
    /// The tree size after the batch.
    pub new_size: u64,
    /// Hash tiles that are new or grew: (tile level, tile index, whole body at `new_size`).
    pub tiles: Vec<(u8, u64, Vec<u8>)>,
    /// Entry bundles that are new or grew: (bundle index, whole body at `new_size`).
    pub bundles: Vec<(u64, Vec<u8>)>,
    /// New dedup index entries: leaf hash → leaf index, for leaves in `old_size..new_size`.
    pub dedup: Vec<(Hash, u64)>,
    /// The signed checkpoint for `new_size`.
    pub checkpoint: Vec<u8>,
}

fn refuse(msg: String) -> StorageError {
    StorageError::Refused(msg)
}

/// Checks `batch` against the stored `head`, reading current partial tiles and bundles
/// through the two closures. Every backend calls this under its writer lock before writing.
/// The closures may hand out owned bodies or borrow them from a backend's own copy (anything
/// that is bytes), so a backend that keeps the partial bodies in memory copies nothing.
pub fn validate_integration<T: AsRef<[u8]>, B: AsRef<[u8]>>(
    head: Option<&Head>,
    batch: &Integration,
    read_tile: impl Fn(u8, u64) -> Result<Option<T>, StorageError>,
    read_bundle: impl Fn(u64) -> Result<Option<B>, StorageError>,
) -> Result<(), StorageError> {
    let stored = head.map_or(0, |h| h.size);
    let (old, new) = (batch.old_size, batch.new_size);
    if old != stored {
        return Err(refuse(format!(
            "batch starts at size {old} but the store holds {stored}"
        )));
    }
    if new < old {
        return Err(refuse(format!("new size {new} is below old size {old}")));
    }
    if batch.checkpoint.is_empty() {
        return Err(refuse("batch has no checkpoint".into()));
    }
    if head.is_some() && new == old {
        if let Some(h) = head {
            if h.checkpoint != batch.checkpoint {
                return Err(refuse(format!(
                    "a different checkpoint for the already published size {new}"
                )));
            }
        }
    }

    // Exactly the tiles growing the tree changes, each the right length, each extending
    // what is stored.
    let mut expected: Vec<(u8, u64)> = new_tiles(old, new)
        .into_iter()
        .map(|t| match t.kind {
            TileKind::Hashes { level } => (level, t.index),
            TileKind::Entries => unreachable!("new_tiles lists hash tiles"),
        })
        .collect();
    let mut given: Vec<(u8, u64)> = batch.tiles.iter().map(|(l, n, _)| (*l, *n)).collect();
    expected.sort_unstable();
    given.sort_unstable();
    if expected != given {
        return Err(refuse(format!(
            "tiles for {old}→{new} should be {expected:?}, got {given:?}"
        )));
    }
    for (level, index, body) in &batch.tiles {
        let width = usize::from(hash_tile_width(*level, *index, new));
        if body.len() != width * HASH_LEN {
            return Err(refuse(format!(
                "tile {level}/{index} is {} bytes, expected {}",
                body.len(),
                width * HASH_LEN
            )));
        }
        if hash_tile_width(*level, *index, old) > 0 {
            let current = read_tile(*level, *index)?;
            if !body.starts_with(current.as_ref().map_or(&[][..], |c| c.as_ref())) {
                return Err(refuse(format!(
                    "tile {level}/{index} would rewrite stored hashes"
                )));
            }
        }
    }

    let first_bundle = old / TILE_WIDTH;
    let end_bundle = new.div_ceil(TILE_WIDTH);
    let mut bundle_ids: Vec<u64> = batch.bundles.iter().map(|(n, _)| *n).collect();
    bundle_ids.sort_unstable();
    let expected_bundles: Vec<u64> = if new == old {
        Vec::new()
    } else {
        (first_bundle..end_bundle).collect()
    };
    if bundle_ids != expected_bundles {
        return Err(refuse(format!(
            "bundles for {old}→{new} should be {expected_bundles:?}, got {bundle_ids:?}"
        )));
    }
    for (index, body) in &batch.bundles {
        let width = entry_bundle_width(*index, new);
        parse_bundle(body, width)
            .map_err(|e| refuse(format!("bundle {index} at width {width}: {e}")))?;
        if entry_bundle_width(*index, old) > 0 {
            let current = read_bundle(*index)?;
            if !body.starts_with(current.as_ref().map_or(&[][..], |c| c.as_ref())) {
                return Err(refuse(format!(
                    "bundle {index} would rewrite stored entries"
                )));
            }
        }
    }

    // The level-0 tiles were checked above: one per bundle the batch touches, each covering
    // every index of the batch, so every in-range dedup entry finds its tile here.
    let level0: Vec<(u64, &[u8])> = batch
        .tiles
        .iter()
        .filter(|(level, _, _)| *level == 0)
        .map(|(_, index, body)| (*index, body.as_slice()))
        .collect();
    for (hash, index) in &batch.dedup {
        if *index < old || *index >= new {
            return Err(refuse(format!(
                "dedup entry for index {index} outside the batch {old}..{new}"
            )));
        }
        let at = (*index % TILE_WIDTH) as usize * HASH_LEN;
        let stored = level0
            .iter()
            .find(|(tile, _)| *tile == *index / TILE_WIDTH)
            .and_then(|(_, body)| body.get(at..at + HASH_LEN));
        if stored != Some(&hash.0[..]) {
            return Err(refuse(format!(
                "dedup entry {hash} for index {index} is not the leaf hash the batch stores there"
            )));
        }
    }
    Ok(())
}
