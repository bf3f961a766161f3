//! The conformance suite every [`LogStore`] backend must pass. Each backend's tests call
//! [`run_all`] with a constructor for a fresh, empty store, so sled and memory are held to the
//! same behaviour.
//!
//! Integrations here are built the slow, obvious way (all hashes of a full in-memory tree), not
//! by the log engine's incremental code, so the suite also cross-checks that code's output
//! format.

use cairn_tree::{
    encode_bundle, entry_bundle_width, hash_tile_body, leaf_hash, new_tiles, Frontier, Hash,
    MemoryHashes, Tile, TileKind, TILE_WIDTH,
};

use crate::{Integration, LogStore, StorageError};

/// A log kept fully in memory, to build reference integrations from.
pub struct ReferenceLog {
    pub entries: Vec<Vec<u8>>,
    pub hashes: MemoryHashes,
    frontier: Frontier,
}

impl Default for ReferenceLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceLog {
    pub fn new() -> Self {
        ReferenceLog {
            entries: Vec::new(),
            hashes: MemoryHashes::new(),
            frontier: Frontier::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Appends entries and returns the integration that stores them, with a stand-in
    /// checkpoint naming the size and root (the store treats checkpoints as opaque bytes).
    pub fn grow(&mut self, entries: Vec<Vec<u8>>) -> Integration {
        let old = self.size();
        let mut out = Vec::new();
        let mut dedup = Vec::new();
        for e in entries {
            let leaf = leaf_hash(&e);
            dedup.push((leaf, self.size()));
            self.frontier.append(leaf, &mut out).unwrap();
            self.hashes.store(&out);
            out.clear();
            self.entries.push(e);
        }
        let new = self.size();
        Integration {
            old_size: old,
            new_size: new,
            tiles: self.tiles_between(old, new),
            bundles: if new > old {
                (old / TILE_WIDTH..new.div_ceil(TILE_WIDTH))
                    .map(|n| (n, self.bundle_body(n, new)))
                    .collect()
            } else {
                Vec::new()
            },
            dedup,
            checkpoint: self.checkpoint_text(new),
        }
    }

    pub fn checkpoint_text(&self, size: u64) -> Vec<u8> {
        let root = cairn_tree::root_at(size, &self.hashes).unwrap();
        format!("test/log\n{size}\n{}\n", root.to_base64()).into_bytes()
    }

    fn tiles_between(&self, old: u64, new: u64) -> Vec<(u8, u64, Vec<u8>)> {
        new_tiles(old, new)
            .into_iter()
            .map(|t| match t.kind {
                TileKind::Hashes { level } => {
                    (level, t.index, hash_tile_body(&t, &self.hashes).unwrap())
                }
                TileKind::Entries => unreachable!(),
            })
            .collect()
    }

    pub fn bundle_body(&self, index: u64, size: u64) -> Vec<u8> {
        let width = u64::from(entry_bundle_width(index, size));
        let start = (index * TILE_WIDTH) as usize;
        encode_bundle(
            self.entries[start..start + width as usize]
                .iter()
                .map(|e| e.as_slice()),
        )
        .unwrap()
    }

    /// The body a store must hold for hash tile (level, index) at `size`.
    pub fn tile_body(&self, level: u8, index: u64, size: u64) -> Option<Vec<u8>> {
        let width = cairn_tree::hash_tile_width(level, index, size);
        (width > 0).then(|| {
            hash_tile_body(&Tile::hashes(level, index, width).unwrap(), &self.hashes).unwrap()
        })
    }
}

fn entries(from: u64, count: u64) -> Vec<Vec<u8>> {
    (from..from + count)
        .map(|i| format!("entry {i}").into_bytes())
        .collect()
}

/// Checks everything a store holds against the reference at its current size.
fn assert_matches<S: LogStore>(store: &S, reference: &ReferenceLog) {
    let size = reference.size();
    let head = store.head().unwrap().expect("head after integration");
    assert_eq!(head.size, size);
    assert_eq!(head.checkpoint, reference.checkpoint_text(size));
    assert_eq!(store.checkpoint(size).unwrap().unwrap(), head.checkpoint);
    for level in 0..4u8 {
        for index in 0..=(size >> (8 * u32::from(level))) / TILE_WIDTH {
            assert_eq!(
                store.tile(level, index).unwrap(),
                reference.tile_body(level, index, size),
                "tile {level}/{index} at size {size}"
            );
        }
    }
    for index in 0..size.div_ceil(TILE_WIDTH) {
        assert_eq!(
            store.bundle(index).unwrap().unwrap(),
            reference.bundle_body(index, size),
            "bundle {index} at size {size}"
        );
    }
    assert_eq!(store.bundle(size.div_ceil(TILE_WIDTH)).unwrap(), None);
    for i in (0..size).step_by(97).chain(size.checked_sub(1)) {
        let leaf = leaf_hash(&reference.entries[i as usize]);
        assert_eq!(store.find_leaf(&leaf).unwrap(), Some(i));
    }
    assert_eq!(store.find_leaf(&leaf_hash(b"never logged")).unwrap(), None);
    // Proofs straight from stored tiles lead to the reference root.
    let source = cairn_tree::TileHashSource::new(size, crate::StoreTiles(store));
    assert_eq!(
        cairn_tree::root_at(size, &source).unwrap(),
        reference.root()
    );
}

/// The store's hash index entries, in index order.
fn index_entries_by_index<S: LogStore>(store: &S) -> Vec<(Hash, u64)> {
    let mut entries: Vec<(Hash, u64)> = store
        .dedup_entries()
        .unwrap()
        .collect::<Result<_, StorageError>>()
        .unwrap();
    entries.sort_by_key(|(_, i)| *i);
    entries
}

/// A fresh store: nothing in it.
pub fn check_empty<S: LogStore>(store: &S) {
    assert_eq!(store.head().unwrap(), None);
    assert_eq!(store.tile(0, 0).unwrap(), None);
    assert_eq!(store.bundle(0).unwrap(), None);
    assert_eq!(store.find_leaf(&leaf_hash(b"x")).unwrap(), None);
    assert!(store.checkpoint_sizes().unwrap().is_empty());
    assert_eq!(store.dedup_entries().unwrap().count(), 0);
}

/// Growth through every tile-boundary shape, checking the whole store after each batch.
pub fn check_growth<S: LogStore>(store: &S) {
    let mut reference = ReferenceLog::new();
    let first = reference.grow(Vec::new());
    store.integrate(&first).unwrap();
    assert_matches(store, &reference);
    let mut sizes = vec![0u64];
    for target in [1u64, 255, 256, 257, 511, 1000, 65_536 + 300] {
        let batch = reference.grow(entries(reference.size(), target - reference.size()));
        store.integrate(&batch).unwrap();
        assert_matches(store, &reference);
        sizes.push(target);
    }
    assert_eq!(store.checkpoint_sizes().unwrap(), sizes);
    let dedup = index_entries_by_index(store);
    assert_eq!(dedup.len() as u64, reference.size());
    assert!(dedup
        .iter()
        .all(|(h, i)| *h == leaf_hash(&reference.entries[*i as usize])));
    // An empty entry and a maximal one are stored as given.
    let batch = reference.grow(vec![Vec::new(), vec![0xab; cairn_tree::MAX_ENTRY_LEN]]);
    store.integrate(&batch).unwrap();
    assert_matches(store, &reference);
}

/// An integration may list its tiles and bundles in any order (validation accepts any): the
/// store must end up the same, and go on accepting batches, as with the order it was built in.
pub fn check_parts_in_any_order<S: LogStore>(store: &S) {
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    for (count, order) in [(200u64, 0), (100, 1), (300, 2), (65_536, 1), (57, 0)] {
        let mut batch = reference.grow(entries(reference.size(), count));
        match order {
            1 => {
                batch.tiles.reverse();
                batch.bundles.reverse();
            }
            2 => {
                // Upper levels first, and the bundles rotated.
                batch
                    .tiles
                    .sort_by_key(|(level, index, _)| (u8::MAX - level, *index));
                batch.bundles.rotate_left(1);
            }
            _ => {}
        }
        store.integrate(&batch).unwrap();
        assert_matches(store, &reference);
    }
}

/// Every malformed or rewriting integration is refused and changes nothing.
pub fn check_refusals<S: LogStore>(store: &S) {
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    store.integrate(&reference.grow(entries(0, 300))).unwrap();
    let snapshot = |s: &S| {
        (
            s.head().unwrap(),
            s.tile(0, 1).unwrap(),
            s.bundle(1).unwrap(),
        )
    };
    let before = snapshot(store);

    let mut next = ReferenceLog::new();
    next.grow(Vec::new());
    next.grow(entries(0, 300));
    let good = next.grow(entries(300, 20));

    let mut cases: Vec<(&str, Integration)> = Vec::new();
    let mut b = good.clone();
    b.old_size = 299;
    cases.push(("wrong old size", b));
    let mut b = good.clone();
    b.new_size = 319;
    cases.push(("new size disagrees with tiles", b));
    let mut b = good.clone();
    b.tiles.pop();
    cases.push(("missing tile", b));
    let mut b = good.clone();
    b.tiles.push((0, 7, vec![0; 32]));
    cases.push(("extra tile", b));
    let mut b = good.clone();
    b.tiles[0].2.pop();
    cases.push(("short tile", b));
    let mut b = good.clone();
    for t in &mut b.tiles {
        if t.0 == 0 {
            t.2[0] ^= 1; // rewrite a stored hash of the partial tile 0/1
        }
    }
    cases.push(("rewritten tile hash", b));
    let mut b = good.clone();
    b.bundles[0].1[3] ^= 1; // rewrite stored entry 256
    cases.push(("rewritten entry", b));
    let mut b = good.clone();
    b.bundles[0].1.extend_from_slice(&[0, 1, 7]);
    cases.push(("bundle with an extra entry", b));
    let mut b = good.clone();
    b.bundles.clear();
    cases.push(("missing bundle", b));
    let mut b = good.clone();
    b.dedup.push((leaf_hash(b"x"), 5));
    cases.push(("dedup entry outside the batch", b));
    let mut b = good.clone();
    b.dedup[3].0 = leaf_hash(b"x");
    cases.push((
        "dedup entry naming a leaf the batch does not store there",
        b,
    ));
    let mut b = good.clone();
    b.checkpoint.clear();
    cases.push(("no checkpoint", b));
    let mut b = reference.grow(Vec::new());
    b.checkpoint = b"another checkpoint for 300\n".to_vec();
    cases.push(("second checkpoint for a published size", b));
    let mut b = good.clone();
    b.old_size = 320;
    b.new_size = 300;
    cases.push(("shrinking", b));

    for (name, batch) in cases {
        match store.integrate(&batch) {
            Err(StorageError::Refused(_)) => {}
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
        assert_eq!(snapshot(store), before, "{name} changed the store");
    }
    // The good batch still applies afterwards.
    store.integrate(&good).unwrap();
    assert_matches(store, &next);
}

/// Cosigned checkpoints attach to published checkpoints only, and accumulate.
pub fn check_cosigned<S: LogStore>(store: &S) {
    let mut reference = ReferenceLog::new();
    store.integrate(&reference.grow(Vec::new())).unwrap();
    store.integrate(&reference.grow(entries(0, 3))).unwrap();
    assert!(matches!(
        store.put_cosigned(4, b"x"),
        Err(StorageError::Refused(_))
    ));
    assert_eq!(store.cosigned(3).unwrap(), None);
    store.put_cosigned(3, b"one cosignature").unwrap();
    assert_eq!(store.cosigned(3).unwrap().unwrap(), b"one cosignature");
    store.put_cosigned(3, b"two cosignatures").unwrap();
    assert_eq!(store.cosigned(3).unwrap().unwrap(), b"two cosignatures");

    // The newest cosigned checkpoint at or below a size, across several.
    assert_eq!(store.latest_cosigned(2).unwrap(), None);
    assert_eq!(
        store.latest_cosigned(u64::MAX).unwrap(),
        Some((3, b"two cosignatures".to_vec()))
    );
    store.integrate(&reference.grow(entries(3, 2))).unwrap();
    store.integrate(&reference.grow(entries(5, 300))).unwrap();
    assert_eq!(store.latest_cosigned(305).unwrap().unwrap().0, 3);
    store.put_cosigned(305, b"at 305").unwrap();
    store.put_cosigned(5, b"at 5").unwrap();
    for (at_most, want) in [
        (u64::MAX, Some(305)),
        (305, Some(305)),
        (304, Some(5)),
        (5, Some(5)),
        (4, Some(3)),
        (3, Some(3)),
        (0, None),
    ] {
        assert_eq!(
            store
                .latest_cosigned(at_most)
                .unwrap()
                .map(|(size, _)| size),
            want,
            "at most {at_most}"
        );
    }
    assert_eq!(
        store.latest_cosigned(4).unwrap().unwrap().1,
        b"two cosignatures"
    );
}

/// A log whose level-0 hashes are chosen by the caller rather than computed from its entries.
/// Stores never recompute leaf hashes, so crafted ones can share as many leading bytes as a
/// test needs: a backend that keys its hash index by a truncated hash must still find every
/// leaf at its own index, whatever the truncation. Upper tiles hold a filler hash, entries
/// are `crafted <index>`.
#[derive(Default)]
pub struct CraftedLog {
    pub leaves: Vec<Hash>,
}

impl CraftedLog {
    /// Appends `leaves` and returns the integration storing them (the hash index gets the
    /// first index of each distinct leaf, as the log engine does).
    pub fn grow(&mut self, leaves: &[Hash]) -> Integration {
        let old = self.leaves.len() as u64;
        self.leaves.extend_from_slice(leaves);
        let new = self.leaves.len() as u64;
        let tiles = new_tiles(old, new)
            .into_iter()
            .map(|t| match t.kind {
                TileKind::Hashes { level: 0 } => {
                    let start = (t.index * TILE_WIDTH) as usize;
                    let body = self.leaves[start..start + usize::from(t.width)]
                        .iter()
                        .flat_map(|h| h.0)
                        .collect();
                    (0, t.index, body)
                }
                TileKind::Hashes { level } => {
                    (level, t.index, [0x11; 32].repeat(usize::from(t.width)))
                }
                TileKind::Entries => unreachable!("new_tiles lists hash tiles"),
            })
            .collect();
        let bundles = (old / TILE_WIDTH..new.div_ceil(TILE_WIDTH))
            .map(|n| {
                let width = u64::from(entry_bundle_width(n, new));
                let entries: Vec<Vec<u8>> = (n * TILE_WIDTH..n * TILE_WIDTH + width)
                    .map(|i| format!("crafted {i}").into_bytes())
                    .collect();
                (
                    n,
                    encode_bundle(entries.iter().map(|e| e.as_slice())).unwrap(),
                )
            })
            .collect();
        let dedup = (old..new)
            .filter(|&i| self.first_index(&self.leaves[i as usize]) == Some(i))
            .map(|i| (self.leaves[i as usize], i))
            .collect();
        Integration {
            old_size: old,
            new_size: new,
            tiles,
            bundles,
            dedup,
            checkpoint: format!("crafted\n{new}\n").into_bytes(),
        }
    }

    pub fn first_index(&self, leaf: &Hash) -> Option<u64> {
        self.leaves.iter().position(|h| h == leaf).map(|i| i as u64)
    }
}

/// A hash sharing its first `shared` bytes with every other hash of `family`, then differing.
pub(crate) fn sharing(family: u8, shared: usize, member: u8) -> Hash {
    let mut h = [family; 32];
    h[shared..].fill(member);
    h[31] = member;
    Hash(h)
}

/// Leaves whose hashes share long prefixes (31 bytes, 8 bytes) are each found at their own
/// index, across batches and tiles, and hashes sharing those prefixes but never logged are
/// not found.
pub fn check_prefix_collisions<S: LogStore>(store: &S) {
    let mut log = CraftedLog::default();
    let filler = |i: u64| leaf_hash(format!("filler {i}").as_bytes());
    let mut family_members: Vec<Hash> = Vec::new();
    // Batch sizes chosen so members land in three level-0 tiles and several batches.
    let placements: &[(u64, &[(u64, Hash)])] = &[
        (0, &[]),
        (
            300,
            &[
                (3, sharing(0xa5, 31, 1)),
                (10, sharing(0xb6, 8, 1)),
                (200, sharing(0xa5, 31, 2)),
                (290, sharing(0xb6, 8, 2)),
            ],
        ),
        (5, &[(301, sharing(0xa5, 31, 3))]),
        // A repeat of the first leaf: indexed once, at its first index.
        (
            295,
            &[
                (400, sharing(0xa5, 31, 1)),
                (555, sharing(0xb6, 8, 3)),
                (599, sharing(0xa5, 31, 4)),
            ],
        ),
    ];
    for (count, members) in placements {
        let start = log.leaves.len() as u64;
        let leaves: Vec<Hash> = (start..start + count)
            .map(|i| {
                members
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map_or_else(|| filler(i), |(_, h)| *h)
            })
            .collect();
        family_members.extend(members.iter().map(|(_, h)| *h));
        store.integrate(&log.grow(&leaves)).unwrap();
        for member in &family_members {
            assert_eq!(
                store.find_leaf(member).unwrap(),
                log.first_index(member),
                "{member} at size {}",
                log.leaves.len()
            );
        }
        for stranger in [
            sharing(0xa5, 31, 9),
            sharing(0xb6, 8, 9),
            sharing(0xa5, 8, 9),
        ] {
            assert_eq!(store.find_leaf(&stranger).unwrap(), None, "{stranger}");
        }
    }
    let indexed = index_entries_by_index(store);
    let expected: Vec<(Hash, u64)> = (0..log.leaves.len() as u64)
        .filter(|&i| log.first_index(&log.leaves[i as usize]) == Some(i))
        .map(|i| (log.leaves[i as usize], i))
        .collect();
    assert_eq!(indexed, expected);
}

/// Opens the suite's stand-in checkpoints (`test/log\n<size>\n<root>\n`) as the audit's
/// checkpoint check, for tests that audit a store built here.
pub fn open_test_checkpoint(note: &[u8]) -> Result<(u64, Hash), String> {
    let text = std::str::from_utf8(note).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() != 4 || lines[0] != "test/log" || !lines[3].is_empty() {
        return Err(format!("malformed checkpoint {text:?}"));
    }
    let size = lines[1].parse().map_err(|_| "bad size".to_string())?;
    let root = Hash::from_base64(lines[2]).map_err(|e| e.to_string())?;
    Ok((size, root))
}

/// Runs the whole suite, each check on a fresh store from `make`.
pub fn run_all<S: LogStore>(make: impl Fn() -> S) {
    check_empty(&make());
    check_growth(&make());
    check_parts_in_any_order(&make());
    check_refusals(&make());
    check_cosigned(&make());
    check_prefix_collisions(&make());
}
