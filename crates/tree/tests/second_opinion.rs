//! A second opinion from two independent implementations used as dev-dependencies:
//! `tlog_tiles` 0.2 (Cloudflare's port of Go's `golang.org/x/mod/sumdb/tlog`) and `ct-merkle` 0.3.
//!
//! Our own reference tests can only show that the crate agrees with *our* reading of RFC 9162.
//! These tests show that it agrees with other people's code, byte for byte:
//!
//! * the nodes our appender emits are exactly the hashes Go's `StoredHashes` stores, at the same
//!   positions of Go's stored-hash index layout, and every root equals `tlog_tiles::tree_hash`
//!   and ct-merkle's root;
//! * our inclusion and consistency proofs are byte-identical to `prove_record`/`prove_tree` and
//!   to ct-merkle's `prove_inclusion`/`prove_consistency`; ours verify with `check_record`,
//!   `check_tree` and ct-merkle's verifiers, theirs verify with ours, and tampered, truncated or
//!   extended proofs are refused by all three;
//! * old size 0 and out-of-range inputs are refused by all three;
//! * our hash tiles are what Go reads (`Tile::read_data`), Go's `TileHashReader` authenticates
//!   them against our roots and builds the same proofs from them, full-tile hashes agree with
//!   `Tile::subtree_hash` and rs_merkle, and Go's `NewTiles` lists the same tiles;
//! * Go sumdb tile paths (`tile/8/L/N[.p/W]`) map onto our C2SP tiles exactly.
//!
//! Sizes: every tree size 1..=300 exhaustively (every index, every old size), and a sample of
//! indices and old sizes at chosen and random sizes up to 5000. Tiles use a 70000-leaf tree.

use cairn_tree::{
    consistency_proof, consistency_proof_len, hash_tile_body, inclusion_proof, inclusion_proof_len,
    leaf_hash, new_tiles, parse_hash_tile, root_at, root_of_hashes, rs_merkle_root,
    verify_consistency, verify_inclusion, Frontier, Hash, HashSource, MemoryHashes, NodeId, Tile,
    TileKind, TreeError, VerifyError,
};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{
    ConsistencyProof, ConsistencyVerifError, InclusionProof, InclusionVerifError, RootHash,
};
use proptest::prelude::*;
use sha2_011::Sha256 as CtSha256;
use tlog_tiles as go;

// ---------------------------------------------------------------------------------------------
// Plumbing between the three hash types.
// ---------------------------------------------------------------------------------------------

type CtTree = MemoryBackedTree<CtSha256, Vec<u8>>;
type CtDigest = ct_merkle::digest::Output<CtSha256>;

fn to_go(h: &Hash) -> go::Hash {
    go::Hash(h.0)
}

fn to_go_vec(p: &[Hash]) -> Vec<go::Hash> {
    p.iter().map(to_go).collect()
}

fn from_go_vec(p: &[go::Hash]) -> Vec<Hash> {
    p.iter().map(|h| Hash(h.0)).collect()
}

fn to_ct(h: &Hash) -> CtDigest {
    CtDigest::from(h.0)
}

fn concat(p: &[Hash]) -> Vec<u8> {
    p.iter().flat_map(|h| h.0).collect()
}

fn split_bytes(bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(bytes.len() % 32, 0, "proof bytes are whole hashes");
    bytes
        .chunks_exact(32)
        .map(|c| Hash::from_slice(c).unwrap())
        .collect()
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut out = *h;
    out.0[(bit / 8) % 32] ^= 1 << (bit % 8);
    out
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

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Go's hash storage: a flat vector addressed by `stored_hash_index(level, n)`, filled only by
/// `tlog_tiles::stored_hashes`, so everything Go computes from it is Go's own work.
struct GoStorage(Vec<go::Hash>);

impl go::HashReader for GoStorage {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<go::Hash>, go::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(usize::try_from(i).unwrap())
                    .copied()
                    .ok_or(go::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Our stored nodes seen through Go's stored-hash index layout.
struct OursAsGo<'a>(&'a MemoryHashes);

impl go::HashReader for OursAsGo<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<go::Hash>, go::Error> {
        let ids: Vec<NodeId> = indexes
            .iter()
            .map(|&i| {
                let (level, n) = go::split_stored_hash_index(i);
                NodeId::new(level, n)
            })
            .collect();
        let hashes = self
            .0
            .read_nodes(&ids)
            .map_err(|_| go::Error::IndexesNotInTree)?;
        Ok(to_go_vec(&hashes))
    }
}

/// Go's tile reader (height 8) served from our tile bodies (`hash_tile_body`).
struct OurTiles<'a>(&'a MemoryHashes);

impl go::TileReader for OurTiles<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[go::Tile]) -> Result<Vec<Vec<u8>>, go::Error> {
        tiles
            .iter()
            .map(|t| {
                assert!(!t.is_data() && t.height() == 8);
                let ours = Tile::hashes(t.level(), t.level_index(), t.width() as u16).unwrap();
                hash_tile_body(&ours, self.0).map_err(|_| go::Error::InvalidTile)
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[go::Tile], _data: &[Vec<u8>]) {}
}

// ---------------------------------------------------------------------------------------------
// Three trees grown in lock step.
// ---------------------------------------------------------------------------------------------

struct Trees {
    values: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    frontier: Frontier,
    ours: MemoryHashes,
    go: GoStorage,
    ct: Option<CtTree>,
    /// `roots[n]` is our appender's root at size n.
    roots: Vec<Hash>,
}

impl Trees {
    fn new(with_ct: bool) -> Self {
        Trees {
            values: Vec::new(),
            leaves: Vec::new(),
            frontier: Frontier::new(),
            ours: MemoryHashes::new(),
            go: GoStorage(Vec::new()),
            ct: with_ct.then(CtTree::new),
            roots: vec![Hash::empty_root()],
        }
    }

    fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Appends one entry to all trees, checking that the nodes we emit are exactly the hashes Go
    /// stores for that record, in the same order, at the same stored-hash indexes.
    fn push(&mut self, value: Vec<u8>) {
        let n = self.size();
        let leaf = leaf_hash(&value);
        assert_eq!(
            to_go(&leaf),
            go::record_hash(&value),
            "leaf hash of record {n}"
        );
        let mut emitted = Vec::new();
        self.frontier.append(leaf, &mut emitted).unwrap();
        let theirs = go::stored_hashes(n, &value, &self.go).unwrap();
        let base = go::stored_hash_index(0, n);
        assert_eq!(self.go.0.len() as u64, base);
        assert_eq!(emitted.len(), theirs.len(), "nodes completed by record {n}");
        for (k, ((id, h), g)) in emitted.iter().zip(&theirs).enumerate() {
            assert_eq!(
                go::stored_hash_index(id.level, id.index),
                base + k as u64,
                "position of {id:?} in Go's layout"
            );
            assert_eq!(to_go(h), *g, "hash of {id:?}");
        }
        self.go.0.extend(theirs);
        self.ours.store(&emitted);
        if let Some(ct) = &mut self.ct {
            ct.push(value.clone());
        }
        self.values.push(value);
        self.leaves.push(leaf);
        self.roots.push(self.frontier.root());
    }

    fn root(&self) -> Hash {
        *self.roots.last().unwrap()
    }

    fn ct(&self) -> &CtTree {
        self.ct.as_ref().expect("built with ct-merkle")
    }

    fn ct_root(&self) -> RootHash<CtSha256> {
        self.ct().root()
    }

    /// The root at size `m` (at most the current size) agrees across every computation.
    fn check_root(&self, m: u64) {
        let expected = self.roots[m as usize];
        assert_eq!(root_at(m, &self.ours).unwrap(), expected, "root_at({m})");
        assert_eq!(
            go::tree_hash(m, &self.go).unwrap(),
            to_go(&expected),
            "tlog_tiles::tree_hash({m})"
        );
        assert_eq!(
            go::tree_hash(m, &OursAsGo(&self.ours)).unwrap(),
            to_go(&expected),
            "tlog_tiles::tree_hash({m}) over our stored nodes"
        );
        if m == self.size() {
            assert_eq!(self.frontier.root(), expected);
            if self.ct.is_some() {
                let ct_root = self.ct_root();
                assert_eq!(ct_root.num_leaves(), m);
                assert_eq!(
                    ct_root.as_bytes().as_slice(),
                    &expected.0,
                    "ct-merkle root({m})"
                );
            }
        }
    }

    /// Inclusion of leaf `i` at the current size: identical proofs, cross-verified; with
    /// `tamper`, also that all three verifiers refuse the same broken proofs.
    fn check_inclusion(&self, i: u64, tamper: bool) {
        let n = self.size();
        let root = self.root();
        let leaf = self.leaves[i as usize];
        let value = &self.values[i as usize];
        let ct_root = self.ct_root();

        let ours = inclusion_proof(i, n, &self.ours).unwrap();
        assert_eq!(
            ours.len(),
            inclusion_proof_len(i, n),
            "length of PATH({i}, {n})"
        );
        let go_proof = go::prove_record(n, i, &self.go).unwrap();
        assert_eq!(from_go_vec(&go_proof), ours, "prove_record({n}, {i})");
        let ct_proof = self.ct().prove_inclusion(i as usize);
        assert_eq!(
            ct_proof.as_bytes(),
            concat(&ours),
            "ct prove_inclusion({i}) at {n}"
        );

        // Ours verify there.
        go::check_record(&to_go_vec(&ours), n, to_go(&root), i, to_go(&leaf))
            .unwrap_or_else(|e| panic!("check_record refused PATH({i}, {n}): {e}"));
        let ours_for_ct = InclusionProof::<CtSha256>::try_from_bytes(concat(&ours)).unwrap();
        ct_root
            .verify_inclusion(value, i, &ours_for_ct)
            .unwrap_or_else(|e| panic!("ct-merkle refused PATH({i}, {n}): {e}"));
        // Theirs verify here.
        verify_inclusion(i, n, &leaf, &from_go_vec(&go_proof), &root).unwrap();
        verify_inclusion(i, n, &leaf, &split_bytes(ct_proof.as_bytes()), &root).unwrap();

        if !tamper {
            return;
        }
        let mut broken: Vec<(String, Vec<Hash>)> = Vec::new();
        for (j, h) in ours.iter().enumerate() {
            let mut p = ours.clone();
            p[j] = flip(h, i as usize + j);
            broken.push((format!("element {j} flipped"), p));
        }
        let mut longer = ours.clone();
        longer.push(root);
        broken.push(("extra hash".into(), longer));
        if let Some((_, shorter)) = ours.split_last() {
            broken.push(("last hash dropped".into(), shorter.to_vec()));
        }
        for (what, p) in &broken {
            assert!(
                verify_inclusion(i, n, &leaf, p, &root).is_err(),
                "ours accepted PATH({i}, {n}) with {what}"
            );
            assert!(
                go::check_record(&to_go_vec(p), n, to_go(&root), i, to_go(&leaf)).is_err(),
                "tlog_tiles accepted PATH({i}, {n}) with {what}"
            );
            let ct_p = InclusionProof::<CtSha256>::try_from_bytes(concat(p)).unwrap();
            assert!(
                ct_root.verify_inclusion(value, i, &ct_p).is_err(),
                "ct-merkle accepted PATH({i}, {n}) with {what}"
            );
        }
        // A wrong leaf value is refused by all three.
        let other = leaf_hash(b"not this leaf");
        assert_eq!(
            verify_inclusion(i, n, &other, &ours, &root),
            Err(VerifyError::RootMismatch)
        );
        assert!(go::check_record(&to_go_vec(&ours), n, to_go(&root), i, to_go(&other)).is_err());
        assert!(matches!(
            ct_root.verify_inclusion(&b"not this leaf".to_vec(), i, &ours_for_ct),
            Err(InclusionVerifError::IncorrectHash)
        ));
    }

    /// Consistency from `old` (1..=n) to the current size.
    fn check_consistency(&self, old: u64, tamper: bool) {
        let n = self.size();
        let root = self.root();
        let old_root = self.roots[old as usize];
        let ct_root = self.ct_root();
        let ct_old = RootHash::<CtSha256>::new(to_ct(&old_root), old);

        let ours = consistency_proof(old, n, &self.ours).unwrap();
        assert_eq!(
            ours.len(),
            consistency_proof_len(old, n),
            "length of PROOF({old}, {n})"
        );
        let go_proof = go::prove_tree(n, old, &self.go).unwrap();
        assert_eq!(from_go_vec(&go_proof), ours, "prove_tree({n}, {old})");
        let ct_proof = self.ct().prove_consistency((n - old) as usize);
        assert_eq!(
            ct_proof.as_bytes(),
            concat(&ours),
            "ct prove_consistency {old} -> {n}"
        );

        // Ours verify there.
        go::check_tree(&to_go_vec(&ours), n, to_go(&root), old, to_go(&old_root))
            .unwrap_or_else(|e| panic!("check_tree refused PROOF({old}, {n}): {e}"));
        let ours_for_ct = ConsistencyProof::<CtSha256>::try_from_bytes(concat(&ours)).unwrap();
        ct_root
            .verify_consistency(&ct_old, &ours_for_ct)
            .unwrap_or_else(|e| panic!("ct-merkle refused PROOF({old}, {n}): {e}"));
        // Theirs verify here.
        verify_consistency(old, n, &old_root, &root, &from_go_vec(&go_proof)).unwrap();
        verify_consistency(old, n, &old_root, &root, &split_bytes(ct_proof.as_bytes())).unwrap();

        if !tamper {
            return;
        }
        let mut broken: Vec<(String, Vec<Hash>, Hash, Hash)> = Vec::new();
        for (j, h) in ours.iter().enumerate() {
            let mut p = ours.clone();
            p[j] = flip(h, old as usize + j);
            broken.push((format!("element {j} flipped"), p, old_root, root));
        }
        let mut longer = ours.clone();
        longer.push(root);
        broken.push(("extra hash".into(), longer, old_root, root));
        if let Some((_, shorter)) = ours.split_last() {
            broken.push(("last hash dropped".into(), shorter.to_vec(), old_root, root));
        }
        broken.push((
            "wrong old root".into(),
            ours.clone(),
            flip(&old_root, 3),
            root,
        ));
        broken.push((
            "wrong new root".into(),
            ours.clone(),
            old_root,
            flip(&root, 9),
        ));
        for (what, p, o, r) in &broken {
            assert!(
                verify_consistency(old, n, o, r, p).is_err(),
                "ours accepted PROOF({old}, {n}) with {what}"
            );
            assert!(
                go::check_tree(&to_go_vec(p), n, to_go(r), old, to_go(o)).is_err(),
                "tlog_tiles accepted PROOF({old}, {n}) with {what}"
            );
            let ct_p = ConsistencyProof::<CtSha256>::try_from_bytes(concat(p)).unwrap();
            let ct_new = RootHash::<CtSha256>::new(to_ct(r), n);
            let ct_o = RootHash::<CtSha256>::new(to_ct(o), old);
            assert!(
                ct_new.verify_consistency(&ct_o, &ct_p).is_err(),
                "ct-merkle accepted PROOF({old}, {n}) with {what}"
            );
        }
    }

    /// Inputs that have no proof are refused by all three.
    fn check_refusals(&self) {
        let n = self.size();
        let root = self.root();
        let ct_root = self.ct_root();
        let empty = Hash::empty_root();
        assert_eq!(to_go(&empty), go::EMPTY_HASH);

        // Old size 0.
        assert!(matches!(
            consistency_proof(0, n, &self.ours),
            Err(TreeError::OldSizeZero)
        ));
        assert_eq!(
            verify_consistency(0, n, &empty, &root, &[]),
            Err(VerifyError::OldSizeZero)
        );
        assert!(go::prove_tree(n, 0, &self.go).is_err());
        assert!(go::check_tree(&vec![], n, to_go(&root), 0, go::EMPTY_HASH).is_err());
        let ct_empty = RootHash::<CtSha256>::new(to_ct(&empty), 0);
        let no_proof = ConsistencyProof::<CtSha256>::try_from_bytes(Vec::new()).unwrap();
        assert!(matches!(
            ct_root.verify_consistency(&ct_empty, &no_proof),
            Err(ConsistencyVerifError::OldTreeEmpty)
        ));

        // Old size above the new size.
        assert!(matches!(
            consistency_proof(n + 1, n, &self.ours),
            Err(TreeError::OldSizeGreater { .. })
        ));
        assert!(matches!(
            verify_consistency(n + 1, n, &root, &root, &[]),
            Err(VerifyError::OldSizeGreater { .. })
        ));
        assert!(go::prove_tree(n, n + 1, &self.go).is_err());
        assert!(go::check_tree(&vec![], n, to_go(&root), n + 1, to_go(&root)).is_err());
        let ct_bigger = RootHash::<CtSha256>::new(to_ct(&root), n + 1);
        assert!(matches!(
            ct_root.verify_consistency(&ct_bigger, &no_proof),
            Err(ConsistencyVerifError::OldTreeLarger)
        ));

        // Leaf index at or past the size.
        let leaf = self.leaves[0];
        assert!(matches!(
            inclusion_proof(n, n, &self.ours),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            verify_inclusion(n, n, &leaf, &[], &root),
            Err(VerifyError::IndexOutOfRange { .. })
        ));
        assert!(go::prove_record(n, n, &self.go).is_err());
        assert!(go::check_record(&vec![], n, to_go(&root), n, to_go(&leaf)).is_err());
        let none = InclusionProof::<CtSha256>::try_from_bytes(Vec::new()).unwrap();
        assert!(matches!(
            ct_root.verify_inclusion(&self.values[0], n, &none),
            Err(InclusionVerifError::IndexOutOfRange)
        ));
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Roots and proofs.
// ---------------------------------------------------------------------------------------------

/// Every size 1..=300: every root, every inclusion proof and every consistency proof.
#[test]
fn every_proof_up_to_300_agrees_with_tlog_tiles_and_ct_merkle() {
    let mut trees = Trees::new(true);
    trees.check_root(0);
    let (mut inclusions, mut consistencies) = (0u64, 0u64);
    for n in 1..=300u64 {
        trees.push(entry(n - 1));
        trees.check_root(n);
        trees.check_refusals();
        for i in 0..n {
            trees.check_inclusion(i, (i + n) % 5 == 0);
            inclusions += 1;
        }
        for old in 1..=n {
            trees.check_consistency(old, (old + n) % 5 == 0);
            consistencies += 1;
        }
    }
    assert_eq!(inclusions, 45_150);
    assert_eq!(consistencies, 45_150);
}

/// Chosen edge sizes and random sizes up to 5000, with random entries, a sample of indices
/// and old sizes at each.
#[test]
fn sampled_proofs_up_to_5000_agree_with_tlog_tiles_and_ct_merkle() {
    let mut rng = Rng(0x5ec0_4d0b_1a10);
    let mut checkpoints: Vec<u64> = vec![
        301, 383, 384, 511, 512, 513, 1000, 1023, 1024, 1025, 1536, 2047, 2048, 2049, 4095, 4096,
        4097, 5000,
    ];
    checkpoints.extend((0..12).map(|_| rng.range(302, 4999)));
    checkpoints.sort_unstable();
    checkpoints.dedup();

    let mut trees = Trees::new(true);
    for n in 1..=300 {
        trees.push(rng.bytes((n % 97) as usize));
    }
    for &n in &checkpoints {
        while trees.size() < n {
            let len = rng.range(0, 120) as usize;
            trees.push(rng.bytes(len));
        }
        trees.check_root(n);
        trees.check_refusals();
        for _ in 0..40 {
            trees.check_root(rng.range(0, n));
        }

        let mut indices = vec![0, 1, n / 2, n - 2, n - 1];
        indices.extend((0..12).map(|k| (1u64 << k).min(n - 1)));
        indices.extend((0..120).map(|_| rng.range(0, n - 1)));
        for (k, &i) in indices.iter().enumerate() {
            trees.check_inclusion(i, k % 4 == 0);
        }

        let mut olds = vec![1, 2, 3, n / 2, n - 1, n];
        for k in 1..13 {
            let p = 1u64 << k;
            olds.extend([p - 1, p, p + 1].into_iter().filter(|&o| o >= 1 && o <= n));
        }
        olds.extend((0..120).map(|_| rng.range(1, n)));
        for (k, &old) in olds.iter().enumerate() {
            trees.check_consistency(old, k % 4 == 0);
        }
    }
    assert_eq!(trees.size(), 5000);
}

// ---------------------------------------------------------------------------------------------
// Tiles.
// ---------------------------------------------------------------------------------------------

fn go_tile_of(t: &Tile) -> go::Tile {
    match t.kind {
        TileKind::Hashes { level } => go::Tile::new(8, level, t.index, u32::from(t.width), false),
        TileKind::Entries => go::Tile::new(8, 0, t.index, u32::from(t.width), true),
    }
}

fn hashes_of(seed: u64, count: usize) -> Vec<Hash> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| Hash::from_slice(&rng.bytes(32)).unwrap())
        .collect()
}

/// `Tile::subtree_hash` of a full tile (and of every power-of-two prefix) equals
/// `root_of_hashes` and rs_merkle.
#[test]
fn tile_subtree_hash_agrees_with_root_of_hashes_and_rs_merkle() {
    for seed in 0..40u64 {
        let hashes = hashes_of(seed, 256);
        for k in 0..=8 {
            let part = &hashes[..1 << k];
            let theirs = go::Tile::subtree_hash(&concat(part));
            let ours = root_of_hashes(part);
            assert_eq!(to_go(&ours), theirs, "seed {seed}, {} hashes", part.len());
            assert_eq!(rs_merkle_root(part).unwrap(), ours);
        }
    }
    // A tile of all-equal hashes still hashes level by level (no shortcut on equal children).
    let same = vec![Hash([7; 32]); 256];
    assert_eq!(
        to_go(&root_of_hashes(&same)),
        go::Tile::subtree_hash(&concat(&same))
    );
    assert_ne!(root_of_hashes(&same), Hash([7; 32]));
}

/// On a 70000-leaf tree: Go's `NewTiles` lists our tiles, Go reads the same bodies from its own
/// storage, full tiles hash to the node above them, and Go's `hash_at_index` finds every node we
/// store inside our tile bodies.
#[test]
fn tiles_of_a_70000_leaf_tree_agree_with_tlog_tiles() {
    const N: u64 = 70_000;
    let mut trees = Trees::new(false);
    for i in 0..N {
        trees.push(entry(i));
    }
    assert_eq!(
        trees.root(),
        Hash::from_hex("da0532ff7b2ee56f4067110fc964e9f27b5959f9527bfff3fa501aa7584deaf3").unwrap()
    );
    trees.check_root(N);

    let ours = new_tiles(0, N);
    let theirs = go::Tile::new_tiles(8, 0, N);
    assert_eq!(ours.len(), 277);
    assert_eq!(ours.iter().map(go_tile_of).collect::<Vec<_>>(), theirs);

    for tile in &ours {
        let TileKind::Hashes { level } = tile.kind else {
            panic!("new_tiles lists only hash tiles");
        };
        let body = hash_tile_body(tile, &trees.ours).unwrap();
        assert_eq!(body.len(), usize::from(tile.width) * 32);
        assert_eq!(
            go_tile_of(tile).read_data(&trees.go).unwrap(),
            body,
            "body of {tile}"
        );
        let hashes = parse_hash_tile(&body, tile.width).unwrap();
        if tile.is_full() {
            let above = trees
                .ours
                .get(NodeId::new(level * 8 + 8, tile.index))
                .expect("a full tile's root is stored");
            let theirs = go::Tile::subtree_hash(&body);
            assert_eq!(to_go(&above), theirs, "subtree hash of {tile}");
            assert_eq!(root_of_hashes(&hashes), above);
            assert_eq!(rs_merkle_root(&hashes).unwrap(), above);
        }
        // Every stored node inside this tile (levels 8L..8L+7) as Go finds it in our body.
        let gt = go_tile_of(tile);
        for r in 0..8u8 {
            let count = u64::from(tile.width) >> r;
            for j in (0..count).step_by(7) {
                let id = NodeId::new(level * 8 + r, (tile.index << (8 - r)) + j);
                let index = go::stored_hash_index(id.level, id.index);
                let found = gt.hash_at_index(&body, index).unwrap();
                assert_eq!(
                    found,
                    to_go(&trees.ours.get(id).unwrap()),
                    "{id:?} in {tile}"
                );
            }
        }
    }

    // Go's NewTiles for growth steps, including no growth.
    let mut rng = Rng(77);
    let mut pairs: Vec<(u64, u64)> = vec![(0, 1), (0, 256), (255, 256), (256, 257), (65535, 65536)];
    pairs.extend((0..300).map(|_| {
        let a = rng.range(0, N);
        let b = rng.range(0, N);
        (a.min(b), a.max(b))
    }));
    pairs.extend((0..100).map(|_| {
        let a = rng.range(0, 1 << 50);
        let span = 1u64 << rng.range(0, 20);
        (a, a + rng.range(0, span))
    }));
    for (old, new) in pairs {
        let ours: Vec<go::Tile> = new_tiles(old, new).iter().map(go_tile_of).collect();
        assert_eq!(
            ours,
            go::Tile::new_tiles(8, old, new),
            "new_tiles({old}, {new})"
        );
    }
}

/// Go's `TileHashReader` authenticates our tile bodies against our root and builds, from them,
/// the same roots and proofs as we do; with a wrong root it refuses them.
#[test]
fn tlog_tiles_tile_hash_reader_accepts_our_tiles() {
    const N: u64 = 70_000;
    let mut trees = Trees::new(false);
    for i in 0..N {
        trees.push(entry(i));
    }
    let tiles = OurTiles(&trees.ours);
    let mut rng = Rng(99);
    let mut sizes = vec![
        1, 2, 255, 256, 257, 511, 4096, 65535, 65536, 65537, 69999, N,
    ];
    sizes.extend((0..8).map(|_| rng.range(1, N)));
    for size in sizes {
        let root = root_at(size, &trees.ours).unwrap();
        assert_eq!(root, trees.roots[size as usize]);
        let reader = go::TileHashReader::new(size, to_go(&root), &tiles);
        assert_eq!(go::tree_hash(size, &reader).unwrap(), to_go(&root));
        let mut indices = vec![0, size - 1];
        indices.extend((0..10).map(|_| rng.range(0, size - 1)));
        for i in indices {
            let theirs = go::prove_record(size, i, &reader).unwrap();
            let ours = inclusion_proof(i, size, &trees.ours).unwrap();
            assert_eq!(from_go_vec(&theirs), ours, "PATH({i}, {size}) from tiles");
        }
        let mut olds = vec![1, size];
        olds.extend((0..10).map(|_| rng.range(1, size)));
        for old in olds {
            let theirs = go::prove_tree(size, old, &reader).unwrap();
            let ours = consistency_proof(old, size, &trees.ours).unwrap();
            assert_eq!(
                from_go_vec(&theirs),
                ours,
                "PROOF({old}, {size}) from tiles"
            );
        }
        let wrong = go::TileHashReader::new(size, to_go(&flip(&root, 0)), &tiles);
        assert!(
            matches!(
                go::tree_hash(size, &wrong),
                Err(go::Error::InconsistentTile)
            ),
            "TileHashReader took our tiles of size {size} against a wrong root"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Paths: Go sumdb layout (height 8) against C2SP.
// ---------------------------------------------------------------------------------------------

/// Fixed examples of the two layouts.
#[test]
fn sumdb_paths_map_to_c2sp_paths() {
    let cases: &[(u8, u64, u16, &str)] = &[
        (0, 0, 256, "tile/8/0/000"),
        (0, 273, 112, "tile/8/0/273.p/112"),
        (1, 1, 17, "tile/8/1/001.p/17"),
        (2, 0, 1, "tile/8/2/000.p/1"),
        (0, 1234067, 256, "tile/8/0/x001/x234/067"),
        (1, 1234067, 17, "tile/8/1/x001/x234/067.p/17"),
        (
            63,
            u64::MAX,
            255,
            "tile/8/63/x018/x446/x744/x073/x709/x551/615.p/255",
        ),
    ];
    for &(level, index, width, sumdb) in cases {
        let ours = Tile::hashes(level, index, width).unwrap();
        let theirs = go_tile_of(&ours);
        assert_eq!(theirs.path(), sumdb);
        assert_eq!(Tile::parse_any(sumdb).unwrap(), ours);
        assert_eq!(ours.path(), sumdb.replacen("tile/8/", "tile/", 1));
        assert!(Tile::parse(sumdb).is_err(), "{sumdb} is not a C2SP path");
        assert!(
            go::Tile::from_path(&ours.path()).is_err(),
            "{ours} is not a sumdb path"
        );
    }
    // Go's data tiles are a different format: never accepted as anything of ours.
    let data = go::Tile::new(8, 0, 3, 256, true);
    assert_eq!(data.path(), "tile/8/data/003");
    assert!(Tile::parse_any(&data.path()).is_err());
    let data = go::Tile::new(8, 0, 3, 5, true);
    assert!(Tile::parse_any(&data.path()).is_err());
    // Other heights are not ours either.
    let h4 = go::Tile::new(4, 0, 1, 16, false);
    assert_eq!(h4.path(), "tile/4/0/001");
    assert!(Tile::parse_any(&h4.path()).is_err());
}

/// Path-shaped noise in the Go layout.
const SUMDB_LIKE: &str =
    "tile/(8|08|16|)/([0-9+]{1,3}|data|entries)/(x?[0-9]{1,4}/){0,7}x?[0-9]{1,4}(\\.p/[0-9+]{1,4})?/?";

/// A valid Go height-8 path (a data tile one time in five) with up to two single-character
/// edits.
fn edited_sumdb_path() -> impl Strategy<Value = String> {
    let tile = prop_oneof![
        (0u8..=63, any::<u64>(), 1u32..=256),
        (0u8..=3, 0u64..3_000_000, 1u32..=256),
    ];
    let chars = prop::sample::select(&['0', '1', '8', '9', 'x', '/', '.', 'p', '+', ' '][..]);
    // Zero edits sometimes, so that valid paths (and digit-for-digit edits of them) are common.
    let edits = proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, chars), 0..=2);
    (tile, prop::bool::weighted(0.2), edits).prop_map(|((l, n, w), data, edits)| {
        let mut chars: Vec<char> = go::Tile::new(8, l, n, w, data).path().chars().collect();
        for (at, op, c) in edits {
            let i = at.index(chars.len() + 1);
            match op {
                0 => chars.insert(i, c),
                1 if i < chars.len() => {
                    chars.remove(i);
                }
                _ if i < chars.len() => chars[i] = c,
                _ => chars.push(c),
            }
        }
        chars.into_iter().collect()
    })
}

/// `tlog_tiles::Tile::from_path`, treating as rejected the two inputs on which tlog_tiles 0.2
/// panics instead of returning an error (its `Tile::new` asserts): a level of 64..=255 and a
/// partial width of 0 (`tile/8/64/000`, `tile/8/0/000.p/0`).
fn go_parse(s: &str) -> Option<go::Tile> {
    let parts: Vec<&str> = s.split('/').collect();
    let level_too_big = parts
        .get(2)
        .and_then(|l| l.parse::<u8>().ok())
        .is_some_and(|l| l >= 64);
    let width_zero = parts.len() >= 5
        && parts[parts.len() - 2].ends_with(".p")
        && parts[parts.len() - 1].parse::<u32>() == Ok(0);
    if level_too_big || width_zero {
        return None;
    }
    go::Tile::from_path(s).ok()
}

proptest! {
    /// For every height-8 hash tile: our `parse_any` accepts exactly Go's path and maps it to
    /// the same (L, N, W); dropping `8/` gives our C2SP path; neither parser takes the other's.
    #[test]
    fn sumdb_path_of_any_hash_tile_parses_to_the_same_tile(
        level in 0u8..=63,
        index in any::<u64>(),
        width in 1u16..=256,
    ) {
        let theirs = go::Tile::new(8, level, index, u32::from(width), false);
        let sumdb = theirs.path();
        let ours = Tile::parse_any(&sumdb).unwrap();
        prop_assert_eq!(ours.kind, TileKind::Hashes { level });
        prop_assert_eq!(ours.index, index);
        prop_assert_eq!(ours.width, width);
        prop_assert_eq!(ours, Tile::hashes(level, index, width).unwrap());
        prop_assert_eq!(ours.path(), sumdb.replacen("tile/8/", "tile/", 1));
        prop_assert!(Tile::parse(&sumdb).is_err());
        prop_assert!(go::Tile::from_path(&ours.path()).is_err());
        prop_assert_eq!(go::Tile::from_path(&sumdb).unwrap(), theirs);
    }

    /// On strings that are not C2SP paths, `parse_any` accepts exactly the strings that
    /// `tlog_tiles::Tile::from_path` accepts as height-8 hash tiles, with the same (L, N, W):
    /// checked on edited Go paths and on path-shaped noise.
    #[test]
    fn parse_any_accepts_exactly_the_height_8_paths_tlog_tiles_accepts(
        s in prop_oneof![edited_sumdb_path(), SUMDB_LIKE],
    ) {
        if Tile::parse(&s).is_ok() {
            // A C2SP path (e.g. `tile/8/000` is C2SP level 8); Go's grammar has no such path.
            prop_assert!(go_parse(&s).is_none());
            return Ok(());
        }
        let ours = Tile::parse_any(&s).ok().map(|t| go_tile_of(&t));
        let theirs = go_parse(&s).filter(|t| t.height() == 8 && !t.is_data());
        prop_assert_eq!(ours, theirs, "{:?}", s);
    }

    /// Go's data tile paths (`tile/8/data/N`) are refused by `parse_any`.
    #[test]
    fn sumdb_data_paths_are_refused(index in any::<u64>(), width in 1u16..=256) {
        let data = go::Tile::new(8, 0, index, u32::from(width), true);
        prop_assert!(Tile::parse_any(&data.path()).is_err());
    }
}
