//! C2SP tlog-tiles geometry: which tile holds a node, path encoding and parsing, tile bodies
//! built from stored hashes, entry bundles, and reading proof hashes back out of tiles.
//!
//! Tiles have height 8: a hash tile at tile level `L` holds up to 256 consecutive nodes of tree
//! level `8·L`. Nodes at the seven tree levels between two tile levels are not stored in any
//! tile; they are rehashed from the level below, at most 128 hashes apart.

use std::collections::HashMap;
use std::fmt;

use crate::{Hash, HashSource, NodeId, TreeError, HASH_LEN};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile (or bundle).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// The highest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 63;
/// The largest entry an entry bundle can hold: its length prefix is a big-endian u16.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hashes of tree level `8 · level`.
    Hashes { level: u8 },
    /// An entry bundle: the entries under level-0 tile `index`.
    Entries,
}

/// One tile or entry bundle, full (`width == 256`) or partial (`1..=255`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub kind: TileKind,
    pub index: u64,
    pub width: u16,
}

impl Tile {
    /// A hash tile; `width` must be 1..=256 and `level` at most 63.
    pub fn hashes(level: u8, index: u64, width: u16) -> Result<Tile, TreeError> {
        if level > MAX_TILE_LEVEL {
            return Err(TreeError::BadTile(format!("level {level} is above 63")));
        }
        Tile::checked(TileKind::Hashes { level }, index, width)
    }

    /// An entry bundle; `width` must be 1..=256.
    pub fn entries(index: u64, width: u16) -> Result<Tile, TreeError> {
        Tile::checked(TileKind::Entries, index, width)
    }

    fn checked(kind: TileKind, index: u64, width: u16) -> Result<Tile, TreeError> {
        if width == 0 || u64::from(width) > TILE_WIDTH {
            return Err(TreeError::BadTile(format!("width {width} is not 1..=256")));
        }
        Ok(Tile { kind, index, width })
    }

    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tile level: 0 for entry bundles, which sit beside level-0 hash tiles.
    pub fn level(&self) -> u8 {
        match self.kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        }
    }

    /// The C2SP path, e.g. `tile/1/x001/234.p/17` or `tile/entries/000`.
    pub fn path(&self) -> String {
        let mut p = match self.kind {
            TileKind::Hashes { level } => format!("tile/{level}/"),
            TileKind::Entries => "tile/entries/".to_string(),
        };
        push_index(&mut p, self.index);
        if !self.is_full() {
            p.push_str(&format!(".p/{}", self.width));
        }
        p
    }

    /// Parses a C2SP tile path (`tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`),
    /// accepting only the canonical form.
    pub fn parse(path: &str) -> Result<Tile, TreeError> {
        let bad = || TreeError::BadTilePath(truncate(path));
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (head, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if head == "entries" {
            TileKind::Entries
        } else {
            TileKind::Hashes {
                level: parse_small(head, MAX_TILE_LEVEL.into()).ok_or_else(bad)? as u8,
            }
        };
        let (index, width) = parse_index_and_width(rest).ok_or_else(bad)?;
        let tile = Tile::checked(kind, index, width).map_err(|_| bad())?;
        // Re-encoding catches every non-canonical spelling (leading x000, missing x, ...).
        if tile.path() != path {
            return Err(bad());
        }
        Ok(tile)
    }

    /// Parses either a C2SP path or a Go sumdb-style hash tile path with an explicit height
    /// of 8 (`tile/8/<L>/<N>[.p/<W>]`), which Go's `tlog.Tile.Path` produces. The two forms
    /// never overlap: each is invalid in the other's grammar.
    pub fn parse_any(path: &str) -> Result<Tile, TreeError> {
        if let Ok(tile) = Tile::parse(path) {
            return Ok(tile);
        }
        let rest = path
            .strip_prefix("tile/8/")
            .ok_or_else(|| TreeError::BadTilePath(truncate(path)))?;
        let tile = Tile::parse(&format!("tile/{rest}"))
            .map_err(|_| TreeError::BadTilePath(truncate(path)))?;
        match tile.kind {
            TileKind::Hashes { .. } => Ok(tile),
            // Go's data tiles are a different format; Cairn serves only C2SP bundles.
            TileKind::Entries => Err(TreeError::BadTilePath(truncate(path))),
        }
    }

    /// The tree nodes whose hashes make up this hash tile's body (none for bundles).
    pub fn node_ids(&self) -> Result<Vec<NodeId>, TreeError> {
        match self.kind {
            TileKind::Hashes { level } => {
                // A path may name any level up to 63 and any index below 2^64, but only nodes
                // that fit under 2^64 leaves exist; refuse the rest instead of wrapping around.
                let impossible =
                    || TreeError::BadTile(format!("{self} names nodes beyond 2^64 leaves"));
                let tree_level = level
                    .checked_mul(TILE_HEIGHT)
                    .filter(|l| *l < 64)
                    .ok_or_else(impossible)?;
                let first = self.index.checked_mul(TILE_WIDTH).ok_or_else(impossible)?;
                let last = first
                    .checked_add(u64::from(self.width) - 1)
                    .ok_or_else(impossible)?;
                if NodeId::new(tree_level, last).end_leaf().is_none() {
                    return Err(impossible());
                }
                Ok((first..=last).map(|i| NodeId::new(tree_level, i)).collect())
            }
            TileKind::Entries => Ok(Vec::new()),
        }
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn truncate(path: &str) -> String {
    path.chars().take(120).collect()
}

/// Writes `n` as base-1000 groups of three digits, every group but the last prefixed `x`.
fn push_index(out: &mut String, n: u64) {
    let mut groups = Vec::with_capacity(7);
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{g:03}/"));
        } else {
            out.push_str(&format!("{g:03}"));
        }
    }
}

/// A decimal without sign or leading zeros, at most `max`.
fn parse_small(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    let v: u64 = s.parse().ok()?;
    (v <= max).then_some(v)
}

fn parse_index_and_width(s: &str) -> Option<(u64, u16)> {
    let (index_part, width) = match s.split_once(".p/") {
        Some((idx, w)) => (idx, parse_small(w, TILE_WIDTH - 1)?.try_into().ok()?),
        None => (s, TILE_WIDTH as u16),
    };
    let mut n: u64 = 0;
    let groups: Vec<&str> = index_part.split('/').collect();
    if groups.len() > 7 {
        return None;
    }
    for (i, g) in groups.iter().enumerate() {
        let digits = if i + 1 < groups.len() {
            g.strip_prefix('x')?
        } else {
            g
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let d: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(d)?;
    }
    Some((n, width))
}

/// How many hashes tile `index` at tile `level` holds in a tree of `size` leaves (0 if none).
pub fn hash_tile_width(level: u8, index: u64, size: u64) -> u16 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    let nodes = size.checked_shr(shift).unwrap_or(0);
    let start = index.saturating_mul(TILE_WIDTH);
    nodes.saturating_sub(start).min(TILE_WIDTH) as u16
}

/// How many entries bundle `index` holds in a tree of `size` leaves (0 if none).
pub fn entry_bundle_width(index: u64, size: u64) -> u16 {
    hash_tile_width(0, index, size)
}

/// The hash tiles that are new or grew when the tree grows from `old` to `new` leaves (Go's
/// `tlog.NewTiles` with height 8): the tiles to publish for a new checkpoint.
pub fn new_tiles(old: u64, new: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let n = new.checked_shr(shift).unwrap_or(0);
        if n == 0 {
            break;
        }
        let o = old.checked_shr(shift).unwrap_or(0);
        if o == n {
            continue;
        }
        for t in (o >> TILE_HEIGHT)..(n >> TILE_HEIGHT) {
            tiles.push(Tile {
                kind: TileKind::Hashes { level },
                index: t,
                width: TILE_WIDTH as u16,
            });
        }
        let w = n % TILE_WIDTH;
        if w > 0 {
            tiles.push(Tile {
                kind: TileKind::Hashes { level },
                index: n >> TILE_HEIGHT,
                width: w as u16,
            });
        }
    }
    tiles
}

/// The body of a hash tile: its hashes concatenated, read from stored nodes.
pub fn hash_tile_body(tile: &Tile, source: &impl HashSource) -> Result<Vec<u8>, TreeError> {
    let ids = tile.node_ids()?;
    if ids.is_empty() {
        return Err(TreeError::BadTile("entry bundles have no hash body".into()));
    }
    let hashes = source.read_nodes(&ids)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::SourceReturnedWrongCount {
            asked: ids.len(),
            got: hashes.len(),
        });
    }
    let mut body = Vec::with_capacity(hashes.len() * HASH_LEN);
    for h in &hashes {
        body.extend_from_slice(&h.0);
    }
    Ok(body)
}

/// Splits a hash tile body into hashes, refusing any length other than `width · 32`.
pub fn parse_hash_tile(body: &[u8], width: u16) -> Result<Vec<Hash>, TreeError> {
    if body.len() != usize::from(width) * HASH_LEN {
        return Err(TreeError::BadTile(format!(
            "tile body is {} bytes, expected {} for width {width}",
            body.len(),
            usize::from(width) * HASH_LEN
        )));
    }
    Ok(body
        .chunks_exact(HASH_LEN)
        .map(|c| Hash::from_slice(c).expect("exact chunk"))
        .collect())
}

/// The RFC 9162 root of a list of hashes taken as leaves of a tree (the stack of RFC 9162
/// §2.1.2). For a power-of-two count this is the perfect subtree above them.
pub fn root_of_hashes(hashes: &[Hash]) -> Hash {
    let mut frontier = crate::Frontier::new();
    let mut sink = Vec::new();
    for h in hashes {
        frontier.append(*h, &mut sink).expect("far below 2^64");
        sink.clear();
    }
    frontier.root()
}

/// Appends one entry to an entry bundle body: a big-endian u16 length and the bytes.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), TreeError> {
    let len = u16::try_from(entry.len()).map_err(|_| TreeError::EntryTooLarge(entry.len()))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// Encodes entries as a C2SP entry bundle.
pub fn encode_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TreeError> {
    let mut out = Vec::new();
    for e in entries {
        push_bundle_entry(&mut out, e)?;
    }
    Ok(out)
}

/// Parses an entry bundle holding exactly `width` entries: truncated data, trailing bytes and
/// the wrong count are errors.
pub fn parse_bundle(body: &[u8], width: u16) -> Result<Vec<&[u8]>, TreeError> {
    if width == 0 || u64::from(width) > TILE_WIDTH {
        return Err(TreeError::BadBundle(format!(
            "a bundle holds 1 to {TILE_WIDTH} entries, not {width}"
        )));
    }
    let mut entries = Vec::with_capacity(width.into());
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(TreeError::BadBundle("truncated length prefix".into()));
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let entry = rest
            .get(2..2 + len)
            .ok_or_else(|| TreeError::BadBundle(format!("entry {} is truncated", entries.len())))?;
        entries.push(entry);
        rest = &rest[2 + len..];
        if entries.len() > usize::from(width) {
            return Err(TreeError::BadBundle(format!(
                "more than {width} entries (trailing bytes)"
            )));
        }
    }
    if entries.len() != usize::from(width) {
        return Err(TreeError::BadBundle(format!(
            "{} entries, expected {width}",
            entries.len()
        )));
    }
    Ok(entries)
}

/// The first `count` entries of a bundle body, as bytes: how a log serves `N.p/W` from a
/// stored bundle that has since grown. Errors if the body holds fewer entries.
pub fn bundle_prefix(body: &[u8], count: u16) -> Result<&[u8], TreeError> {
    let mut at = 0usize;
    for i in 0..count {
        let len = body
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| TreeError::BadBundle(format!("only {i} entries, wanted {count}")))?;
        at += 2 + len;
        if at > body.len() {
            return Err(TreeError::BadBundle(format!("entry {i} is truncated")));
        }
    }
    Ok(&body[..at])
}

/// Fetches tile bodies: from storage on the server, over HTTP in a client.
pub trait TileReader {
    /// Returns the body of `tile` exactly as served (`width · 32` bytes for hash tiles).
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TreeError>;
}

/// Answers node reads for a tree of a known size from hash tiles, so proofs can be built from
/// a tiled log exactly as from a database. It does not authenticate the tiles: a proof built
/// from wrong tiles fails verification against a signed root, which is the check that counts.
pub struct TileHashSource<R> {
    size: u64,
    reader: R,
}

impl<R: TileReader> TileHashSource<R> {
    pub fn new(size: u64, reader: R) -> Self {
        TileHashSource { size, reader }
    }

    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: TileReader> HashSource for TileHashSource<R> {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        let mut tiles: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
        let mut out = Vec::with_capacity(nodes.len());
        for &id in nodes {
            if id.end_leaf().is_none_or(|end| end > self.size) {
                return Err(TreeError::MissingNode(id));
            }
            let level = id.level / TILE_HEIGHT;
            let r = id.level % TILE_HEIGHT;
            // The node is the perfect subtree over 2^r consecutive hashes of tile level `level`.
            let first = id.index << r;
            let tile_index = first / TILE_WIDTH;
            let offset = (first % TILE_WIDTH) as usize;
            let hashes = match tiles.entry((level, tile_index)) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let width = hash_tile_width(level, tile_index, self.size);
                    let tile = Tile::hashes(level, tile_index, width)
                        .map_err(|_| TreeError::MissingNode(id))?;
                    let body = self.reader.read_tile(&tile)?;
                    e.insert(parse_hash_tile(&body, width)?)
                }
            };
            let span = hashes
                .get(offset..offset + (1 << r))
                .ok_or(TreeError::MissingNode(id))?;
            out.push(root_of_hashes(span));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_prefix_cuts_at_entry_boundaries() {
        let body = encode_bundle([&b"ab"[..], b"", b"xyz"]).unwrap();
        assert_eq!(bundle_prefix(&body, 0).unwrap(), b"");
        assert_eq!(bundle_prefix(&body, 1).unwrap(), &body[..4]);
        assert_eq!(bundle_prefix(&body, 2).unwrap(), &body[..6]);
        assert_eq!(bundle_prefix(&body, 3).unwrap(), &body[..]);
        assert!(bundle_prefix(&body, 4).is_err());
        assert!(bundle_prefix(&body[..8], 3).is_err());
    }
}
