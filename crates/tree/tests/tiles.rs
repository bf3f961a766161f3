//! C2SP tlog-tiles geometry: tile paths, which tiles a tree has and which change as it grows,
//! tile bodies and entry bundles, and proofs read back out of tiles (`TileHashSource`).
//!
//! Tiles are the public, cacheable face of the log: a client that fetches
//! `tile/1/x001/234.p/17` must get exactly the bytes the spec defines, and a log that accepts a
//! non-canonical path would serve one resource under many URLs. So this file checks:
//!
//! * path encoding against the spec's examples and a reject list, plus properties: every tile
//!   round-trips, and no string ever panics the parsers or parses unless it is canonical;
//! * `new_tiles` against the spec's height-8 examples and against a brute-force definition
//!   ("the tiles whose width changed"), at small and huge sizes;
//! * tile bodies, entry bundles and roots of the `leaf <i>` tree of size 70000 against the
//!   SHA-256 digests in specs §10.1.8 (copied here), and that every bundle entry hashes to the
//!   matching level-0 tile hash and every full tile hashes to its slot in the tile above;
//! * `TileHashSource` gives the same roots and proofs as the stored nodes, refuses bodies of the
//!   wrong length, and a tampered tile can only ever yield proofs that fail verification;
//! * `rs_merkle_root` against `root_of_hashes` and a naive MTH; entry-bundle encoding limits and
//!   strict parsing; `hash_tile_width` / `entry_bundle_width` spot checks.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use cairn_tree::{
    consistency_proof, encode_bundle, entry_bundle_width, hash_tile_body, hash_tile_width,
    inclusion_proof, leaf_hash, new_tiles, node_hash, parse_bundle, parse_hash_tile,
    push_bundle_entry, root_at, root_of_hashes, rs_merkle_root, verify_consistency,
    verify_inclusion, Frontier, Hash, HashSource, MemoryHashes, NodeId, Tile, TileHashSource,
    TileKind, TileReader, TreeError, VerifyError, MAX_ENTRY_LEN,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hx(text: &str) -> Hash {
    Hash::from_hex(text).unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

/// SplitMix64: a tiny deterministic generator, so failures reproduce exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn hash(&mut self) -> Hash {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        Hash(out)
    }
}

const LEAF_TREE_SIZE: u64 = 70_000;

/// The stored nodes of the `leaf <i>` tree of size 70000 (specs §10.1.8), built once.
fn leaf_tree() -> &'static MemoryHashes {
    static TREE: OnceLock<MemoryHashes> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut frontier = Frontier::new();
        let mut store = MemoryHashes::new();
        let mut out = Vec::new();
        for i in 0..LEAF_TREE_SIZE {
            frontier.append(leaf_hash(&entry(i)), &mut out).unwrap();
            store.store(&out);
            out.clear();
        }
        store
    })
}

/// Roots of the `leaf <i>` tree (specs §10.1.8).
const LEAF_TREE_ROOTS: &[(u64, &str)] = &[
    (
        1,
        "1bb97dcc21635d47e2663efdfd0a174686d98dd701352dd2cd06e8b43fd3d305",
    ),
    (
        2,
        "fc5f6b88ff8554f75bb2f9e6f39c31b1936d44b69276edf7b1205a955b9761e3",
    ),
    (
        3,
        "d4f92c8fbb89720eb3b55677c7d7efaddfeb10d11a1a84a0ba8f1a23337faa95",
    ),
    (
        7,
        "5a61fc2b54f9cfa71774f2432143dd40c6cb2b11947faf65a7d3da5cb65199c8",
    ),
    (
        8,
        "c5c2c820ed342fdda8ce896b6b9cf5b8c00a21cc4b20714cc6e5d3c05c35240b",
    ),
    (
        255,
        "d71592a219d4067663eede247f9b54c3f9e0290682d55de09b495b07f1de41c9",
    ),
    (
        256,
        "cf5effdb11d0927a2edf53b0e73c7837f659414e00537da5d90eb5c4c49ff274",
    ),
    (
        257,
        "855b936aa00cb98b5114484249ad39d78a6be93623e26c01e8e487dc02184a5a",
    ),
    (
        511,
        "ca6b4f3db2b4e8d03a833ca7381f1a667728338c6d1641f0e6d0b2da4ec4a934",
    ),
    (
        512,
        "d9579873166aa59bc8d37da864923bf63dacf0fff19ea2caba63b20cab82cd30",
    ),
    (
        65535,
        "b592480df20f0dd456e39db9cdb0a1fa85f3617ec2d30cffc52760c38776f393",
    ),
    (
        65536,
        "e100ba54d69a91012fc13b7890feac78d6996a097268b6f735d17311c7402a60",
    ),
    (
        65537,
        "689b22742cab2adeb36ba622ff2736336464858f5de4a2c02f33bf163e7dca5f",
    ),
    (
        70000,
        "da0532ff7b2ee56f4067110fc964e9f27b5959f9527bfff3fa501aa7584deaf3",
    ),
];

fn tile(path: &str) -> Tile {
    Tile::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (level, index, width) of a hash tile.
fn lnw(t: &Tile) -> (u8, u64, u16) {
    match t.kind {
        TileKind::Hashes { level } => (level, t.index, t.width),
        TileKind::Entries => panic!("expected a hash tile, got {t}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.
// ---------------------------------------------------------------------------------------------

#[test]
fn index_encoding_vectors() {
    let cases: &[(u64, &str)] = &[
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1001, "x001/001"),
        (999_999, "x999/999"),
        (1_000_000, "x001/x000/000"),
        (1_234_067, "x001/x234/067"),
        (123_456_789, "x123/x456/789"),
        (u64::MAX, "x018/x446/x744/x073/x709/x551/615"),
    ];
    for &(index, encoded) in cases {
        let full = Tile::hashes(0, index, 256).unwrap();
        assert_eq!(full.path(), format!("tile/0/{encoded}"));
        assert_eq!(full.to_string(), full.path());
        assert_eq!(tile(&full.path()), full);

        let partial = Tile::hashes(5, index, 17).unwrap();
        assert_eq!(partial.path(), format!("tile/5/{encoded}.p/17"));
        assert_eq!(tile(&partial.path()), partial);

        let bundle = Tile::entries(index, 256).unwrap();
        assert_eq!(bundle.path(), format!("tile/entries/{encoded}"));
        assert_eq!(tile(&bundle.path()), bundle);
        assert_eq!(Tile::parse_any(&bundle.path()).unwrap(), bundle);
    }
}

#[test]
fn path_vectors() {
    let cases: &[(&str, TileKind, u64, u16)] = &[
        ("tile/0/000", TileKind::Hashes { level: 0 }, 0, 256),
        (
            "tile/0/x001/x234/067",
            TileKind::Hashes { level: 0 },
            1_234_067,
            256,
        ),
        (
            "tile/1/x001/x234/067.p/17",
            TileKind::Hashes { level: 1 },
            1_234_067,
            17,
        ),
        ("tile/0/273.p/112", TileKind::Hashes { level: 0 }, 273, 112),
        ("tile/2/000.p/1", TileKind::Hashes { level: 2 }, 0, 1),
        ("tile/0/000.p/255", TileKind::Hashes { level: 0 }, 0, 255),
        ("tile/63/000", TileKind::Hashes { level: 63 }, 0, 256),
        (
            "tile/10/x001/000",
            TileKind::Hashes { level: 10 },
            1000,
            256,
        ),
        (
            "tile/entries/x123/x456/789",
            TileKind::Entries,
            123_456_789,
            256,
        ),
        ("tile/entries/000.p/112", TileKind::Entries, 0, 112),
        ("tile/entries/273.p/112", TileKind::Entries, 273, 112),
        (
            "tile/entries/x018/x446/x744/x073/x709/x551/615.p/1",
            TileKind::Entries,
            u64::MAX,
            1,
        ),
    ];
    for &(path, kind, index, width) in cases {
        let t = tile(path);
        assert_eq!(t, Tile { kind, index, width }, "{path}");
        assert_eq!(t.path(), path);
        assert_eq!(Tile::parse_any(path).unwrap(), t);
        assert_eq!(t.is_full(), width == 256);
        let level = match kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        };
        assert_eq!(t.level(), level);
    }
    // The Go sumdb spelling of a hash tile is accepted by parse_any only.
    assert!(Tile::parse("tile/8/1/x001/x234/067.p/17").is_err());
    assert_eq!(
        Tile::parse_any("tile/8/1/x001/x234/067.p/17").unwrap(),
        Tile::hashes(1, 1_234_067, 17).unwrap()
    );
    assert_eq!(
        Tile::parse_any("tile/8/8/000").unwrap(),
        Tile::hashes(8, 0, 256).unwrap()
    );
    // In C2SP, `tile/8/...` is simply level 8.
    assert_eq!(tile("tile/8/000"), Tile::hashes(8, 0, 256).unwrap());
}

#[test]
fn constructors_check_ranges() {
    assert!(Tile::hashes(63, 0, 1).is_ok());
    assert!(matches!(
        Tile::hashes(64, 0, 256),
        Err(TreeError::BadTile(_))
    ));
    assert!(matches!(Tile::hashes(0, 0, 0), Err(TreeError::BadTile(_))));
    assert!(matches!(
        Tile::hashes(0, 0, 257),
        Err(TreeError::BadTile(_))
    ));
    assert!(matches!(Tile::entries(0, 0), Err(TreeError::BadTile(_))));
    assert!(matches!(Tile::entries(0, 300), Err(TreeError::BadTile(_))));
    assert_eq!(Tile::entries(5, 3).unwrap().level(), 0);

    let t = Tile::hashes(1, 2, 3).unwrap();
    assert_eq!(
        t.node_ids().unwrap(),
        vec![
            NodeId::new(8, 512),
            NodeId::new(8, 513),
            NodeId::new(8, 514)
        ]
    );
    assert_eq!(
        Tile::hashes(0, 1, 256).unwrap().node_ids().unwrap().len(),
        256
    );
    assert_eq!(
        Tile::hashes(0, 1, 256).unwrap().node_ids().unwrap()[255],
        NodeId::leaf(511)
    );
    assert!(Tile::entries(0, 256)
        .unwrap()
        .node_ids()
        .unwrap()
        .is_empty());
    assert!(matches!(
        hash_tile_body(&Tile::entries(0, 1).unwrap(), leaf_tree()),
        Err(TreeError::BadTile(_))
    ));
}

const REJECTED: &[&str] = &[
    "tile/0/00",
    "tile/0/0000",
    "tile/0/x000/615.p/1",
    "tile/0/x000/000",
    "tile/0/x13/x4/5",
    "tile/0/000.p/0",
    "tile/0/000.p/256",
    "tile/0/000.p/01",
    "tile/0/000.p/+1",
    "tile/0/000.p/1000",
    "tile/64/000",
    "tile/100/000",
    "tile/01/000",
    "tile/00/000",
    "tile/-1/000",
    "tile/+1/000",
    "tile//000",
    "tile/0//000",
    "tile/0/123/456",
    "tile/0/x123/x456",
    "tile/0/x018/x446/x744/x073/x709/x551/616",
    "tile/0/x099/x999/x999/x999/x999/x999/999",
    "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
    "tile/0/000.p/",
    "tile/0/000.p",
    "tile/0/000.P/1",
    "tile/0/000.p/1.p/1",
    "tile/0/000/",
    "tile/0/",
    "tile/0",
    "tile/",
    "tile",
    "/tile/0/000",
    "tile/0/000 ",
    " tile/0/000",
    "tile/0/000\n",
    "Tile/0/000",
    "tile/0/٠٠٠",
    "tile/data/000",
    "tile/entries/000.p/256",
    "tile/entries/000.p/0",
    "tile/entries/00",
    "tile/entries/",
    "tile/entries",
    "tile/entry/000",
    "tile/8/data/000",
    "tile/8/entries/000",
    "tile/8/0/000.p/256",
    "tile/8/64/000",
    "tile/8/0/00",
    "tile/8/000/000",
    "tile/16/0/000",
    "tile/4/0/001",
    "",
];

#[test]
fn non_canonical_paths_are_rejected() {
    for path in REJECTED {
        assert!(
            matches!(Tile::parse(path), Err(TreeError::BadTilePath(_))),
            "parse accepted {path:?}"
        );
        assert!(
            matches!(Tile::parse_any(path), Err(TreeError::BadTilePath(_))),
            "parse_any accepted {path:?}"
        );
    }
}

#[test]
fn long_garbage_paths_are_rejected_without_trouble() {
    let long = format!("tile/0/{}", "x001/".repeat(10_000));
    assert!(Tile::parse(&long).is_err());
    let long = format!("tile/8/0/{}000", "x001/".repeat(10_000));
    assert!(Tile::parse_any(&long).is_err());
    // The error carries a bounded excerpt of the path, not the whole thing.
    let Err(TreeError::BadTilePath(excerpt)) = Tile::parse(&long) else {
        panic!("expected BadTilePath");
    };
    assert!(excerpt.len() <= 200);
}

/// Characters a mutation may insert or substitute: the path alphabet plus near misses.
const MUTATION_CHARS: &[char] = &[
    '0', '1', '2', '5', '8', '9', 'x', 'X', '/', '.', 'p', '-', '+', ' ', 'e', 'a',
];

fn any_tile() -> impl Strategy<Value = Tile> {
    prop_oneof![
        (0u8..=63, any::<u64>(), 1u16..=256).prop_map(|(l, n, w)| Tile::hashes(l, n, w).unwrap()),
        (0u8..=3, 0u64..5_000_000, 1u16..=256).prop_map(|(l, n, w)| Tile::hashes(l, n, w).unwrap()),
        (any::<u64>(), 1u16..=256).prop_map(|(n, w)| Tile::entries(n, w).unwrap()),
        (0u64..5_000_000, 1u16..=256).prop_map(|(n, w)| Tile::entries(n, w).unwrap()),
    ]
}

/// `parse_any` may only accept a path that is the canonical C2SP path of what it returns, or
/// (for hash tiles) the canonical Go sumdb height-8 spelling of it.
fn check_canonical(s: &str) -> Result<(), TestCaseError> {
    if let Ok(t) = Tile::parse(s) {
        prop_assert_eq!(t.path(), s);
    }
    if let Ok(t) = Tile::parse_any(s) {
        let c2sp = t.path();
        let sumdb = format!("tile/8/{}", &c2sp["tile/".len()..]);
        prop_assert!(
            s == c2sp || (s == sumdb && matches!(t.kind, TileKind::Hashes { .. })),
            "parse_any({:?}) gave {}",
            s,
            c2sp
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_hash_tile_round_trips(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256) {
        let t = Tile::hashes(level, index, width).unwrap();
        let path = t.path();
        prop_assert_eq!(Tile::parse(&path).unwrap(), t);
        prop_assert_eq!(Tile::parse_any(&path).unwrap(), t);
        let suffix = format!(".p/{width}");
        let prefix = format!("tile/{level}/");
        prop_assert_eq!(path.ends_with(&suffix), width != 256);
        prop_assert!(path.starts_with(&prefix));
    }

    #[test]
    fn every_bundle_round_trips(index in any::<u64>(), width in 1u16..=256) {
        let t = Tile::entries(index, width).unwrap();
        prop_assert_eq!(Tile::parse(&t.path()).unwrap(), t);
        prop_assert_eq!(Tile::parse_any(&t.path()).unwrap(), t);
    }

    #[test]
    fn arbitrary_strings_never_panic_and_parse_only_if_canonical(s in any::<String>()) {
        check_canonical(&s)?;
    }

    #[test]
    fn path_like_strings_parse_only_if_canonical(
        s in "(/?tile/)?(8/)?(entries/|data/|[0-9x+-]{0,3}/)?(x?[0-9]{1,4}/){0,8}[0-9x]{0,4}(\\.p/[0-9]{0,4})?/?"
    ) {
        check_canonical(&s)?;
    }

    /// One to three character edits of a valid path: whatever still parses must be canonical.
    #[test]
    fn mutated_paths_parse_only_if_canonical(
        t in any_tile(),
        sumdb in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(MUTATION_CHARS)), 1..=3),
    ) {
        let mut s = t.path();
        if sumdb && matches!(t.kind, TileKind::Hashes { .. }) {
            s = format!("tile/8/{}", &s["tile/".len()..]);
        }
        let mut chars: Vec<char> = s.chars().collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => { chars.remove(i); }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        let mutated: String = chars.into_iter().collect();
        check_canonical(&mutated)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Which tiles exist, and which change.
// ---------------------------------------------------------------------------------------------

#[test]
fn new_tiles_vectors() {
    let all = new_tiles(0, 70_000);
    assert_eq!(all.len(), 277);
    for (i, t) in all[..273].iter().enumerate() {
        assert_eq!(lnw(t), (0, i as u64, 256));
    }
    let tail: Vec<_> = all[273..].iter().map(lnw).collect();
    assert_eq!(
        tail,
        vec![(0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)]
    );
    let paths: Vec<String> = all[273..].iter().map(Tile::path).collect();
    assert_eq!(
        paths,
        [
            "tile/0/273.p/112",
            "tile/1/000",
            "tile/1/001.p/17",
            "tile/2/000.p/1"
        ]
    );

    let at_256 = vec![(0, 0, 256), (1, 0, 1)];
    assert_eq!(
        new_tiles(0, 256).iter().map(lnw).collect::<Vec<_>>(),
        at_256
    );
    assert_eq!(
        new_tiles(255, 256).iter().map(lnw).collect::<Vec<_>>(),
        at_256
    );
    assert_eq!(
        new_tiles(256, 257).iter().map(lnw).collect::<Vec<_>>(),
        vec![(0, 1, 1)]
    );
    assert_eq!(
        new_tiles(0, 1).iter().map(lnw).collect::<Vec<_>>(),
        vec![(0, 0, 1)]
    );
    assert_eq!(
        new_tiles(65535, 65536).iter().map(lnw).collect::<Vec<_>>(),
        vec![(0, 255, 256), (1, 0, 256), (2, 0, 1)]
    );
    for n in [0, 1, 255, 256, 257, 70_000, 1 << 40, u64::MAX - 1, u64::MAX] {
        assert!(new_tiles(n, n).is_empty(), "new_tiles({n}, {n})");
    }
    // The top of the u64 range: seven tile levels, and level 7 holds 255 hashes.
    assert_eq!(
        new_tiles(u64::MAX - 1, u64::MAX)
            .iter()
            .map(lnw)
            .collect::<Vec<_>>(),
        vec![(0, (1 << 56) - 1, 255)]
    );
    // One leaf that completes a tile at every level below 7 and grows level 7 to 255.
    let top: Vec<_> = new_tiles(0xfeff_ffff_ffff_ffff, 0xff00_0000_0000_0000)
        .iter()
        .map(lnw)
        .collect();
    let mut expected: Vec<(u8, u64, u16)> = (0..7u8)
        .map(|level| {
            (
                level,
                0xfeff_ffff_ffff_ffff >> (8 * (u32::from(level) + 1)),
                256,
            )
        })
        .collect();
    expected.push((7, 0, 255));
    assert_eq!(top, expected);
}

/// Brute force: every tile at size `new` (levels while nodes exist, every index up to the last
/// one plus a margin, or only the window `[lo, hi]` of indices per level for huge sizes), kept if
/// its width differs from its width at size `old`.
fn changed_tiles(old: u64, new: u64, window: bool) -> BTreeSet<(u8, u64, u16)> {
    let mut out = BTreeSet::new();
    for level in 0u8..=63 {
        let nodes = new.checked_shr(8 * u32::from(level)).unwrap_or(0);
        if nodes == 0 {
            break;
        }
        let old_nodes = old.checked_shr(8 * u32::from(level)).unwrap_or(0);
        let first = if window {
            (old_nodes >> 8).saturating_sub(3)
        } else {
            0
        };
        let last = (nodes >> 8).saturating_add(3);
        for index in first..=last {
            let w_new = hash_tile_width(level, index, new);
            let w_old = hash_tile_width(level, index, old);
            assert!(w_old <= w_new, "tiles only grow");
            if w_new > 0 && w_new != w_old {
                out.insert((level, index, w_new));
            }
        }
    }
    out
}

fn check_new_tiles(old: u64, new: u64, window: bool) -> Result<(), TestCaseError> {
    let listed: Vec<(u8, u64, u16)> = new_tiles(old, new).iter().map(lnw).collect();
    // Ordered by level, then index, with no duplicates.
    prop_assert!(listed
        .windows(2)
        .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
    let set: BTreeSet<_> = listed.iter().copied().collect();
    prop_assert_eq!(
        set,
        changed_tiles(old, new, window),
        "new_tiles({}, {})",
        old,
        new
    );
    Ok(())
}

proptest! {
    #[test]
    fn new_tiles_lists_exactly_the_tiles_that_changed(a in 0u64..(1 << 20), b in 0u64..(1 << 20)) {
        check_new_tiles(a.min(b), a.max(b), false)?;
    }

    #[test]
    fn new_tiles_lists_exactly_the_tiles_that_changed_at_huge_sizes(
        old in any::<u64>(),
        grow in 0u64..(1 << 18),
    ) {
        let old = old.min(u64::MAX - grow);
        check_new_tiles(old, old + grow, true)?;
    }
}

#[test]
fn tile_widths_spot_checks() {
    let n = 70_000;
    assert_eq!(hash_tile_width(0, 0, n), 256);
    assert_eq!(hash_tile_width(0, 272, n), 256);
    assert_eq!(hash_tile_width(0, 273, n), 112);
    assert_eq!(hash_tile_width(0, 274, n), 0);
    assert_eq!(hash_tile_width(1, 0, n), 256);
    assert_eq!(hash_tile_width(1, 1, n), 17);
    assert_eq!(hash_tile_width(1, 2, n), 0);
    assert_eq!(hash_tile_width(2, 0, n), 1);
    assert_eq!(hash_tile_width(2, 1, n), 0);
    assert_eq!(hash_tile_width(3, 0, n), 0);
    assert_eq!(hash_tile_width(63, 0, n), 0);
    assert_eq!(entry_bundle_width(0, n), 256);
    assert_eq!(entry_bundle_width(273, n), 112);
    assert_eq!(entry_bundle_width(274, n), 0);
    assert_eq!(entry_bundle_width(u64::MAX, n), 0);

    assert_eq!(hash_tile_width(0, 0, 0), 0);
    assert_eq!(hash_tile_width(1, 0, 256), 1);
    assert_eq!(hash_tile_width(1, 0, 255), 0);
    // Near the top of the u64 range nothing overflows.
    assert_eq!(hash_tile_width(7, 0, u64::MAX), 255);
    assert_eq!(hash_tile_width(8, 0, u64::MAX), 0);
    assert_eq!(hash_tile_width(255, 0, u64::MAX), 0);
    assert_eq!(hash_tile_width(0, (1 << 56) - 1, u64::MAX), 255);
    assert_eq!(hash_tile_width(0, (1 << 56) - 2, u64::MAX), 256);
    assert_eq!(hash_tile_width(0, 1 << 56, u64::MAX), 0);
    assert_eq!(hash_tile_width(0, u64::MAX, u64::MAX), 0);
}

// ---------------------------------------------------------------------------------------------
// Tile bodies and entry bundles of the `leaf <i>` tree (specs §10.1.8).
// ---------------------------------------------------------------------------------------------

#[test]
fn leaf_tree_tile_bodies_match_published_digests() {
    let store = leaf_tree();
    assert_eq!(
        root_at(LEAF_TREE_SIZE, store).unwrap(),
        hx("da0532ff7b2ee56f4067110fc964e9f27b5959f9527bfff3fa501aa7584deaf3")
    );
    let digests: &[(&str, usize, &str)] = &[
        (
            "tile/0/000",
            8192,
            "3658d44ebeb979b996b87ac966392dffbe9a628e34cb70bbff0ba844e74c31c6",
        ),
        (
            "tile/0/273.p/112",
            3584,
            "a8e4ee4e4f31c2fac9bb546b9b57c22f6c92e15c11adee487d09ebc926ab3ad7",
        ),
        (
            "tile/1/000",
            8192,
            "7b8fc3b25031a7c9b1a317c9453f6f293b414e958d0e80a765be6f00930c3984",
        ),
        (
            "tile/1/001.p/17",
            544,
            "f1b11556adcce30fcd3fca6ef542ccf6a4319ab92143fb7c8f6c8f1d2e08209e",
        ),
    ];
    for &(path, len, digest) in digests {
        let body = hash_tile_body(&tile(path), store).unwrap();
        assert_eq!(body.len(), len, "{path}");
        assert_eq!(sha256_hex(&body), digest, "{path}");
    }
    // tile/2/000.p/1 is the single hash of the first 65536 leaves.
    let body = hash_tile_body(&tile("tile/2/000.p/1"), store).unwrap();
    assert_eq!(
        hex::encode(&body),
        "e100ba54d69a91012fc13b7890feac78d6996a097268b6f735d17311c7402a60"
    );
    // At size 256, tile/1/000.p/1 holds the size-256 root.
    let body = hash_tile_body(&tile("tile/1/000.p/1"), store).unwrap();
    assert_eq!(
        hex::encode(&body),
        "cf5effdb11d0927a2edf53b0e73c7837f659414e00537da5d90eb5c4c49ff274"
    );
    // A partial tile is the prefix of the full tile it grows into.
    let full = hash_tile_body(&tile("tile/0/000"), store).unwrap();
    let partial = hash_tile_body(&tile("tile/0/000.p/100"), store).unwrap();
    assert_eq!(&full[..3200], &partial[..]);
}

#[test]
fn leaf_tree_entry_bundles_match_published_digests() {
    let bundle0: Vec<Vec<u8>> = (0..256).map(entry).collect();
    let body = encode_bundle(bundle0.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(body.len(), 2450);
    assert_eq!(
        sha256_hex(&body),
        "a14c635e736c61c708522df30dabd9606ebc7bc14b9de94ead044c9530e2fac5"
    );
    let last: Vec<Vec<u8>> = (273 * 256..LEAF_TREE_SIZE).map(entry).collect();
    assert_eq!(last.len(), 112);
    let body = encode_bundle(last.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(body.len(), 1344);
    assert_eq!(
        sha256_hex(&body),
        "c215abb6d6970b8c5b6f800aaa1de5eaae049fe9c81341ceba8c00b1078a649f"
    );
    assert_eq!(tile("tile/entries/273.p/112").width as usize, last.len());
}

/// Every entry of every bundle hashes to the matching hash of the level-0 tile, and every full
/// tile hashes (RFC 9162 over its 256 hashes) to its slot in the tile above.
#[test]
fn leaf_tree_bundles_and_tiles_are_linked() {
    let store = leaf_tree();
    let n = LEAF_TREE_SIZE;
    for index in 0..=(n / 256) {
        let width = entry_bundle_width(index, n);
        assert!(width > 0);
        let entries: Vec<Vec<u8>> = (index * 256..index * 256 + u64::from(width))
            .map(entry)
            .collect();
        let body = encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
        let parsed = parse_bundle(&body, width).unwrap();
        let tile_body = hash_tile_body(&Tile::hashes(0, index, width).unwrap(), store).unwrap();
        let hashes = parse_hash_tile(&tile_body, width).unwrap();
        assert_eq!(parsed.len(), hashes.len());
        for (i, (e, h)) in parsed.iter().zip(&hashes).enumerate() {
            assert_eq!(*e, entries[i].as_slice());
            assert_eq!(leaf_hash(e), *h, "entry {i} of bundle {index}");
        }
    }

    let tiles = new_tiles(0, n);
    let mut linked = 0;
    for t in &tiles {
        let (level, index, width) = lnw(t);
        let hashes = parse_hash_tile(&hash_tile_body(t, store).unwrap(), width).unwrap();
        assert_eq!(hashes.len(), usize::from(width));
        if !t.is_full() {
            continue;
        }
        let parent_width = hash_tile_width(level + 1, index / 256, n);
        let parent = Tile::hashes(level + 1, index / 256, parent_width).unwrap();
        let parent_hashes =
            parse_hash_tile(&hash_tile_body(&parent, store).unwrap(), parent_width).unwrap();
        assert_eq!(
            root_of_hashes(&hashes),
            parent_hashes[(index % 256) as usize],
            "{t} in {parent}"
        );
        linked += 1;
    }
    assert_eq!(linked, 273 + 1);
    // Partial tiles are not hashed into the level above: tile/1/001.p/17 covers only the 17
    // full level-0 tiles 256..=272, not 273.p/112.
    assert_eq!(hash_tile_width(1, 1, n), 17);
}

#[test]
fn parse_hash_tile_is_strict() {
    let body = vec![0u8; 5 * 32];
    assert_eq!(parse_hash_tile(&body, 5).unwrap().len(), 5);
    for (len, width) in [
        (5 * 32 - 1, 5),
        (5 * 32 + 1, 5),
        (4 * 32, 5),
        (6 * 32, 5),
        (0, 1),
    ] {
        assert!(
            matches!(
                parse_hash_tile(&vec![0; len], width),
                Err(TreeError::BadTile(_))
            ),
            "{len} bytes for width {width}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Proofs read from tiles.
// ---------------------------------------------------------------------------------------------

/// How a test reader corrupts what it serves.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    DropLastByte,
    DropLastHash,
    Empty,
    ExtraByte,
    ExtraHash,
    /// Flip a bit of hash `pos` in the hash tile (level, index).
    Flip {
        level: u8,
        index: u64,
        pos: usize,
    },
    Fail,
}

/// A `TileReader` over stored nodes, asserting it is only asked for tiles that exist at
/// `size`, with their exact width at that size.
struct MemTiles<'a> {
    store: &'a MemoryHashes,
    size: u64,
    fault: Fault,
    reads: Cell<u64>,
}

impl<'a> MemTiles<'a> {
    fn new(store: &'a MemoryHashes, size: u64, fault: Fault) -> Self {
        MemTiles {
            store,
            size,
            fault,
            reads: Cell::new(0),
        }
    }
}

impl TileReader for MemTiles<'_> {
    fn read_tile(&self, t: &Tile) -> Result<Vec<u8>, TreeError> {
        let (level, index, width) = lnw(t);
        assert_eq!(
            width,
            hash_tile_width(level, index, self.size),
            "{t} requested at size {}",
            self.size
        );
        self.reads.set(self.reads.get() + 1);
        let mut body = hash_tile_body(t, self.store)?;
        match self.fault {
            Fault::None => {}
            Fault::DropLastByte => {
                body.pop();
            }
            Fault::DropLastHash => body.truncate(body.len() - 32),
            Fault::Empty => body.clear(),
            Fault::ExtraByte => body.push(0),
            Fault::ExtraHash => body.extend_from_slice(&[0xab; 32]),
            Fault::Flip {
                level: l,
                index: i,
                pos,
            } => {
                if (l, i) == (level, index) && pos < usize::from(width) {
                    body[pos * 32 + 7] ^= 0x10;
                }
            }
            Fault::Fail => {
                return Err(TreeError::Source("tile server unavailable".into()));
            }
        }
        Ok(body)
    }
}

fn leaf_tree_sizes(rng: &mut Rng) -> Vec<u64> {
    let mut sizes: Vec<u64> = LEAF_TREE_ROOTS.iter().map(|&(n, _)| n).collect();
    sizes.extend([
        4, 5, 6, 9, 15, 16, 17, 100, 383, 384, 1023, 1024, 1025, 4096, 32768, 69999,
    ]);
    sizes.extend((0..20).map(|_| rng.range(1, LEAF_TREE_SIZE)));
    sizes
}

/// Roots at the published sizes, computed only from tiles.
#[test]
fn roots_from_tiles_match_published_roots() {
    let store = leaf_tree();
    for &(size, root) in LEAF_TREE_ROOTS {
        let tiles = TileHashSource::new(size, MemTiles::new(store, size, Fault::None));
        assert_eq!(
            root_at(size, &tiles).unwrap(),
            hx(root),
            "root at {size} from tiles"
        );
        assert!(tiles.into_inner().reads.get() > 0);
    }
    let tiles = TileHashSource::new(0, MemTiles::new(store, 0, Fault::None));
    assert_eq!(root_at(0, &tiles).unwrap(), Hash::empty_root());
}

/// Inclusion and consistency proofs and roots from tiles equal those from stored nodes.
#[test]
fn proofs_from_tiles_equal_proofs_from_stored_nodes() {
    let store = leaf_tree();
    let mut rng = Rng(2024);
    let mut checked = 0;
    for size in leaf_tree_sizes(&mut rng) {
        let tiles = TileHashSource::new(size, MemTiles::new(store, size, Fault::None));
        let root = root_at(size, store).unwrap();
        assert_eq!(root_at(size, &tiles).unwrap(), root, "root at {size}");
        for _ in 0..5 {
            let m = rng.range(0, size);
            assert_eq!(root_at(m, &tiles).unwrap(), root_at(m, store).unwrap());
        }

        let mut indices = vec![0, size - 1, size / 2];
        indices.extend((0..15).map(|_| rng.range(0, size - 1)));
        for i in indices {
            let proof = inclusion_proof(i, size, &tiles).unwrap();
            assert_eq!(
                proof,
                inclusion_proof(i, size, store).unwrap(),
                "PATH({i}, {size})"
            );
            verify_inclusion(i, size, &leaf_hash(&entry(i)), &proof, &root).unwrap();
            checked += 1;
        }
        let mut olds = vec![1, size, size.div_ceil(2)];
        olds.extend((0..15).map(|_| rng.range(1, size)));
        for old in olds {
            let proof = consistency_proof(old, size, &tiles).unwrap();
            assert_eq!(
                proof,
                consistency_proof(old, size, store).unwrap(),
                "PROOF({old}, {size})"
            );
            let old_root = root_at(old, store).unwrap();
            verify_consistency(old, size, &old_root, &root, &proof).unwrap();
            checked += 1;
        }
        // Single node reads, including every node on the right edge.
        for id in Frontier::node_ids(size) {
            assert_eq!(
                tiles.read_nodes(&[id]).unwrap(),
                store.read_nodes(&[id]).unwrap()
            );
        }
    }
    assert!(checked > 1000);
}

#[test]
fn tile_source_refuses_nodes_outside_the_tree() {
    let store = leaf_tree();
    for size in [1u64, 5, 256, 257, 65537] {
        let tiles = TileHashSource::new(size, MemTiles::new(store, size, Fault::None));
        let outside = [
            NodeId::leaf(size),
            NodeId::new(1, size / 2),
            NodeId::new(8, size / 256),
            NodeId::new(64, 0),
            NodeId::new(255, 0),
            NodeId::new(0, u64::MAX),
            NodeId::new(63, 1),
        ];
        for id in outside {
            if id.end_leaf().is_some_and(|end| end <= size) {
                continue;
            }
            assert!(
                matches!(tiles.read_nodes(&[id]), Err(TreeError::MissingNode(got)) if got == id),
                "{id:?} at size {size}"
            );
        }
        assert!(matches!(
            inclusion_proof(size, size, &tiles),
            Err(TreeError::IndexOutOfRange { .. })
        ));
    }
}

#[test]
fn wrong_length_tile_bodies_are_errors() {
    let store = leaf_tree();
    for fault in [
        Fault::DropLastByte,
        Fault::DropLastHash,
        Fault::Empty,
        Fault::ExtraByte,
        Fault::ExtraHash,
    ] {
        for size in [1u64, 300, 65536, LEAF_TREE_SIZE] {
            let tiles = TileHashSource::new(size, MemTiles::new(store, size, fault));
            assert!(
                matches!(root_at(size, &tiles), Err(TreeError::BadTile(_))),
                "root at {size} with {fault:?}"
            );
            assert!(
                matches!(inclusion_proof(0, size, &tiles), Err(TreeError::BadTile(_))) || size == 1,
                "PATH(0, {size}) with {fault:?}"
            );
            if size > 1 {
                assert!(
                    matches!(
                        consistency_proof(1, size, &tiles),
                        Err(TreeError::BadTile(_))
                    ),
                    "PROOF(1, {size}) with {fault:?}"
                );
            }
        }
    }
    let tiles = TileHashSource::new(300, MemTiles::new(store, 300, Fault::Fail));
    assert!(matches!(
        inclusion_proof(7, 300, &tiles),
        Err(TreeError::Source(_))
    ));
}

/// A tampered tile never yields a proof that verifies against the true root, unless the proof
/// did not use the tampered hash at all (and is then the true proof).
#[test]
fn tampered_tiles_never_yield_accepted_proofs() {
    let store = leaf_tree();
    let size = LEAF_TREE_SIZE;
    let root = root_at(size, store).unwrap();
    let leaf4 = leaf_hash(&entry(4));

    // The sibling of leaf 4 is leaf 5, in tile/0/000.
    let flip5 = Fault::Flip {
        level: 0,
        index: 0,
        pos: 5,
    };
    let tiles = TileHashSource::new(size, MemTiles::new(store, size, flip5));
    let bad = inclusion_proof(4, size, &tiles).unwrap();
    assert_ne!(bad, inclusion_proof(4, size, store).unwrap());
    assert_eq!(
        verify_inclusion(4, size, &leaf4, &bad, &root),
        Err(VerifyError::RootMismatch)
    );

    let mut rng = Rng(31337);
    let mut faults = vec![
        flip5,
        Fault::Flip {
            level: 0,
            index: 273,
            pos: 111,
        },
        Fault::Flip {
            level: 1,
            index: 0,
            pos: 0,
        },
        Fault::Flip {
            level: 1,
            index: 1,
            pos: 16,
        },
        Fault::Flip {
            level: 2,
            index: 0,
            pos: 0,
        },
    ];
    faults.extend((0..10).map(|_| {
        let index = rng.range(0, 273);
        Fault::Flip {
            level: 0,
            index,
            pos: rng.range(0, u64::from(hash_tile_width(0, index, size)) - 1) as usize,
        }
    }));

    let (mut changed, mut unchanged) = (0, 0);
    for fault in faults {
        let tiles = TileHashSource::new(size, MemTiles::new(store, size, fault));
        let mut indices: Vec<u64> = (0..60).map(|_| rng.range(0, size - 1)).collect();
        if let Fault::Flip {
            level: 0,
            index,
            pos,
        } = fault
        {
            // Neighbours of the flipped leaf, whose proofs surely use it.
            let at = index * 256 + pos as u64;
            indices.extend(
                [at ^ 1, at ^ 2, at ^ 4, at ^ 128]
                    .into_iter()
                    .filter(|&i| i < size),
            );
        }
        for i in indices {
            let proof = inclusion_proof(i, size, &tiles).unwrap();
            let verdict = verify_inclusion(i, size, &leaf_hash(&entry(i)), &proof, &root);
            if proof == inclusion_proof(i, size, store).unwrap() {
                assert_eq!(verdict, Ok(()));
                unchanged += 1;
            } else {
                assert_eq!(
                    verdict,
                    Err(VerifyError::RootMismatch),
                    "{fault:?}, PATH({i})"
                );
                changed += 1;
            }
        }
        for _ in 0..30 {
            let old = rng.range(1, size - 1);
            let proof = consistency_proof(old, size, &tiles).unwrap();
            let old_root = root_at(old, store).unwrap();
            let verdict = verify_consistency(old, size, &old_root, &root, &proof);
            if proof == consistency_proof(old, size, store).unwrap() {
                assert_eq!(verdict, Ok(()));
                unchanged += 1;
            } else {
                assert!(verdict.is_err(), "{fault:?}, PROOF({old})");
                changed += 1;
            }
        }
    }
    assert!(
        changed > 50,
        "only {changed} proofs were affected by tampering"
    );
    assert!(unchanged > 50);
}

/// Tile levels ≥ 8 and indexes ≥ 2^56 are valid in a C2SP path but name nodes beyond 2^64
/// leaves. Computing their node IDs once overflowed (wrapping onto `tile/0/000` in release
/// builds, so the wrong body was served); they must be an error, never a panic or another body.
#[test]
fn hash_tile_body_of_impossible_tiles_is_an_error() {
    let store = leaf_tree();
    for path in [
        "tile/32/000",
        "tile/63/000.p/1",
        "tile/0/x072/x057/x594/x037/x927/936",
        "tile/1/x018/x446/x744/x073/x709/x551/615",
    ] {
        let t = tile(path);
        let result = std::panic::catch_unwind(|| hash_tile_body(&t, store));
        assert!(
            matches!(result, Ok(Err(_))),
            "hash_tile_body({path}) should be an error, got {:?}",
            result.map(|r| r.map(|b| b.len()))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// rs_merkle as an independent tile hash.
// ---------------------------------------------------------------------------------------------

fn naive_mth(hashes: &[Hash]) -> Hash {
    match hashes.len() {
        0 => Hash::empty_root(),
        1 => hashes[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_mth(&hashes[..k]), &naive_mth(&hashes[k..]))
        }
    }
}

#[test]
fn rs_merkle_root_equals_root_of_hashes_for_every_count_up_to_256() {
    let mut rng = Rng(256);
    for count in 0..=256usize {
        let hashes: Vec<Hash> = (0..count).map(|_| rng.hash()).collect();
        let expected = naive_mth(&hashes);
        assert_eq!(
            root_of_hashes(&hashes),
            expected,
            "root_of_hashes of {count}"
        );
        assert_eq!(
            rs_merkle_root(&hashes).unwrap(),
            expected,
            "rs_merkle of {count}"
        );
    }
    assert_eq!(rs_merkle_root(&[]).unwrap(), Hash::empty_root());
    let one = rng.hash();
    assert_eq!(rs_merkle_root(&[one]).unwrap(), one);
    let too_many: Vec<Hash> = (0..257).map(|_| rng.hash()).collect();
    assert!(matches!(
        rs_merkle_root(&too_many),
        Err(TreeError::BadTile(_))
    ));
    let many: Vec<Hash> = (0..5000).map(|_| rng.hash()).collect();
    assert!(rs_merkle_root(&many).is_err());
}

// ---------------------------------------------------------------------------------------------
// Entry bundles.
// ---------------------------------------------------------------------------------------------

#[test]
fn bundles_round_trip() {
    let big = vec![0x5a; MAX_ENTRY_LEN];
    assert_eq!(MAX_ENTRY_LEN, 65_535);
    let entries: Vec<&[u8]> = vec![
        &b""[..],
        &b"a"[..],
        &big[..],
        &b""[..],
        &b"leaf 1"[..],
        &[0, 0, 0][..],
    ];
    let body = encode_bundle(entries.iter().copied()).unwrap();
    assert_eq!(
        body.len(),
        entries.iter().map(|e| 2 + e.len()).sum::<usize>()
    );
    assert_eq!(&body[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(&body[5..7], &[0xff, 0xff]);
    assert_eq!(parse_bundle(&body, entries.len() as u16).unwrap(), entries);

    // Empty bundle body for zero entries; empty entries only.
    assert_eq!(encode_bundle(std::iter::empty()).unwrap(), Vec::<u8>::new());
    let empties = encode_bundle([&b""[..]; 256]).unwrap();
    assert_eq!(empties, vec![0u8; 512]);
    assert_eq!(parse_bundle(&empties, 256).unwrap(), vec![&b""[..]; 256]);

    // push_bundle_entry builds the same bytes.
    let mut pushed = Vec::new();
    for e in &entries {
        push_bundle_entry(&mut pushed, e).unwrap();
    }
    assert_eq!(pushed, body);
}

#[test]
fn oversized_entries_are_refused() {
    let huge = vec![1u8; MAX_ENTRY_LEN + 1];
    assert!(matches!(
        encode_bundle([&b"ok"[..], &huge[..]]),
        Err(TreeError::EntryTooLarge(65_536))
    ));
    let mut bundle = encode_bundle([&b"ok"[..]]).unwrap();
    let before = bundle.clone();
    assert!(matches!(
        push_bundle_entry(&mut bundle, &huge),
        Err(TreeError::EntryTooLarge(65_536))
    ));
    assert_eq!(
        bundle, before,
        "a refused entry leaves the bundle untouched"
    );
    assert!(matches!(
        push_bundle_entry(&mut bundle, &vec![0; 1 << 20]),
        Err(TreeError::EntryTooLarge(1_048_576))
    ));
}

#[test]
fn malformed_bundles_are_refused() {
    let two = encode_bundle([&b"ab"[..], b"xyz"]).unwrap();
    assert_eq!(two, [0, 2, b'a', b'b', 0, 3, b'x', b'y', b'z']);
    assert_eq!(parse_bundle(&two, 2).unwrap(), vec![&b"ab"[..], b"xyz"]);

    let mut trailing_byte = two.clone();
    trailing_byte.push(0);
    let mut trailing_entry = two.clone();
    trailing_entry.extend_from_slice(&[0, 0]);
    let empties_257 = vec![0u8; 2 * 257];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("truncated length prefix", vec![0], 1),
        (
            "truncated length prefix after an entry",
            vec![0, 1, b'a', 0],
            2,
        ),
        ("truncated entry", vec![0, 3, b'a', b'b'], 1),
        ("length prefix only", vec![0, 1], 1),
        ("entry longer than the body", vec![0xff, 0xff, 1, 2, 3], 1),
        ("last entry truncated", two[..two.len() - 1].to_vec(), 2),
        ("trailing byte", trailing_byte, 2),
        ("trailing empty entry", trailing_entry, 2),
        ("more entries than the width", two.clone(), 1),
        ("fewer entries than the width", two.clone(), 3),
        ("empty body for one entry", Vec::new(), 1),
        ("empty body for a full bundle", Vec::new(), 256),
        // No bundle is empty or wider than 256 entries, whatever the body.
        ("width 0", Vec::new(), 0),
        ("width 257", empties_257, 257),
    ];
    for (what, body, width) in cases {
        assert!(
            matches!(parse_bundle(&body, width), Err(TreeError::BadBundle(_))),
            "{what}: {body:?} as width {width}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_parse_bundle(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        width in 0u16..=300,
    ) {
        if let Ok(entries) = parse_bundle(&body, width) {
            prop_assert_eq!(entries.len(), usize::from(width));
            // Whatever parses is canonical: it re-encodes to the same bytes.
            prop_assert_eq!(encode_bundle(entries.iter().copied()).unwrap(), body);
        }
    }

    #[test]
    fn small_length_prefixes_never_panic_parse_bundle(
        parts in proptest::collection::vec((0u8..4, proptest::collection::vec(any::<u8>(), 0..6)), 0..40),
        width in 0u16..=40,
    ) {
        // Bodies built from short length prefixes, so that many of them almost parse.
        let mut body = Vec::new();
        for (len, bytes) in &parts {
            body.extend_from_slice(&[0, *len]);
            body.extend_from_slice(bytes);
        }
        if let Ok(entries) = parse_bundle(&body, width) {
            prop_assert_eq!(entries.len(), usize::from(width));
            prop_assert_eq!(encode_bundle(entries.iter().copied()).unwrap(), body);
        }
    }

    #[test]
    fn bundles_round_trip_for_any_entries(
        entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..=256),
    ) {
        let body = encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
        let parsed = parse_bundle(&body, entries.len() as u16).unwrap();
        prop_assert_eq!(parsed.len(), entries.len());
        for (p, e) in parsed.iter().zip(&entries) {
            prop_assert_eq!(*p, e.as_slice());
        }
        prop_assert!(parse_bundle(&body, entries.len() as u16 - 1).is_err());
        prop_assert!(parse_bundle(&body, entries.len() as u16 + 1).is_err());
    }
}
