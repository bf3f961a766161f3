//! Submissions and everything a client verifies, checked against the real `cairn serve` with
//! the independent crates only (`signed_note` for signatures, `tlog_tiles` for proofs and
//! tiles): receipts of single and batch submissions (JSON and `c2sp.org/tlog-proof@v1`),
//! inclusion proofs by index and by hash (JSON and text), consistency proofs between two
//! checkpoints, checkpoint signatures against `/vkey` and `log.vkey`, the tlog-tiles API (hash
//! tiles hash to the signed root, entry bundles hash to the leaves, the `tile/8/...` alias gives
//! the same bytes, partial `.p/W` tiles), and the entries API.

mod common;

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::StatusCode;
use tlog_tiles::{record_hash, stored_hash_index, HashReader, TileHashReader};

/// Checks one receipt completely and returns its verified checkpoint.
fn check_receipt(r: &Receipt, entry: &[u8], vkey: &str) -> Verified {
    let leaf = record_hash(entry);
    assert_eq!(hex_hash(&r.leaf_hash), leaf, "receipt leaf hash");
    let cp = open_checkpoint(&r.checkpoint, vkey);
    assert_eq!(cp.size, r.tree_size);
    assert_eq!(b64_hash(&r.root_hash), cp.root);
    assert!(r.index < cp.size);
    check_inclusion(&b64_hashes(&r.inclusion_proof), &cp, r.index, leaf);
    // The same receipt as a tlog-proof document.
    let text = parse_tlog_proof(&r.tlog_proof);
    assert_eq!(text.index, r.index);
    assert_eq!(text.proof, b64_hashes(&r.inclusion_proof));
    assert_eq!(text.checkpoint, r.checkpoint);
    assert!(text.extra.is_none());
    let cp2 = open_checkpoint(&text.checkpoint, vkey);
    check_inclusion(&text.proof, &cp2, text.index, leaf);
    cp
}

#[test]
fn receipts_proofs_tiles_and_entries_verify_independently() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let vkey = server.file_vkey();
    assert_eq!(
        String::from_utf8(server.get_ok("/vkey")).unwrap().trim(),
        vkey,
        "/vkey and log.vkey differ"
    );

    // The empty log has a signed checkpoint of the empty tree.
    let empty = server.checkpoint();
    assert_eq!(empty.size, 0);
    assert_eq!(empty.root, tlog_tiles::EMPTY_HASH);
    assert!(vkey.starts_with(&format!("{}+", empty.origin)));

    // Five single submissions: indexes 0..5, each with its own checkpoint.
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut small = None;
    for i in 0..5 {
        let e = entry("single", i);
        let r = server.submit(&e);
        assert_eq!((r.index, r.duplicate), (i as u64, false));
        let cp = check_receipt(&r, &e, &vkey);
        assert_eq!(
            cp.size,
            i as u64 + 1,
            "sequential singles are integrated alone"
        );
        entries.push(e);
        small = Some(cp);
    }
    let small = small.unwrap();

    // Two batches take the tree past two full tiles and into level 1 (605 leaves).
    for (tag, n) in [("batch-a", 300), ("batch-b", 300)] {
        let batch: Vec<Vec<u8>> = (0..n).map(|i| entry(tag, i)).collect();
        let receipts = server.submit_batch(&batch);
        assert_eq!(receipts.len(), n);
        for (i, (r, e)) in receipts.iter().zip(&batch).enumerate() {
            assert_eq!(
                r.index,
                (entries.len() + i) as u64,
                "batch indexes are in order"
            );
            assert!(!r.duplicate);
            check_receipt(r, e, &vkey);
        }
        entries.extend(batch);
    }
    let size = entries.len() as u64;
    assert_eq!(size, 605);

    // A repeated entry is a duplicate pointing at the original; nothing is appended.
    let dup = server.submit(&entries[3]);
    assert_eq!((dup.index, dup.duplicate), (3, true));
    check_receipt(&dup, &entries[3], &vkey);
    let dups = server.submit_batch(&[entries[0].clone(), entries[400].clone()]);
    assert_eq!(
        dups.iter()
            .map(|r| (r.index, r.duplicate))
            .collect::<Vec<_>>(),
        [(0, true), (400, true)]
    );

    let cp = server.checkpoint();
    assert_eq!(cp.size, size);
    assert_eq!(cp.origin, small.origin);
    assert_eq!(
        cp.note,
        String::from_utf8(server.get_ok("/checkpoint")).unwrap()
    );

    // A tampered checkpoint does not verify.
    let tampered = cp
        .note
        .replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
    assert_ne!(tampered, cp.note);
    assert!(try_open_checkpoint(&tampered, &vkey).is_err());

    // --- tiles: authenticate every hash tile against the signed root with tlog_tiles ---
    let tiles = HttpTiles::new(&server);
    let reader = TileHashReader::new(cp.size, cp.root, &tiles);
    assert_eq!(tlog_tiles::tree_hash(cp.size, &reader).unwrap(), cp.root);
    let leaf_indexes: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
    let leaves = reader
        .read_hashes(&leaf_indexes)
        .expect("level-0 tiles authenticate against the signed root");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(leaves[i], record_hash(e), "leaf {i} in the hash tiles");
    }
    let fetched: BTreeSet<String> = tiles.fetched.lock().unwrap().iter().cloned().collect();
    for path in [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/93",
        "tile/1/000.p/2",
        "tile/8/0/002.p/93",
        "tile/8/1/000.p/2",
    ] {
        assert!(
            fetched.contains(path),
            "{path} was not exercised: {fetched:?}"
        );
    }

    // --- entry bundles hash to the authenticated leaves ---
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let path = if width == 256 {
            format!("/tile/entries/{}", tile_index(n))
        } else {
            format!("/tile/entries/{}.p/{width}", tile_index(n))
        };
        let bundle = parse_bundle(&server.get_ok(&path));
        assert_eq!(bundle.len() as u64, width, "{path}");
        for (j, e) in bundle.iter().enumerate() {
            let i = (n * 256) as usize + j;
            assert_eq!(record_hash(e), leaves[i], "{path} entry {j}");
            assert_eq!(e, &entries[i]);
        }
    }

    // --- partial tiles ---
    // A narrower partial tile is a prefix of the wider one: what a client of an older
    // checkpoint fetched is still served, byte for byte.
    let p93 = server.get_ok("/tile/0/002.p/93");
    assert_eq!(server.get_ok("/tile/0/002.p/10"), p93[..320]);
    let b10 = parse_bundle(&server.get_ok("/tile/entries/002.p/10"));
    assert_eq!(b10, entries[512..522]);
    // The old checkpoint (size 5) still authenticates from tiles, via tile/0/000.p/5.
    let old_tiles = HttpTiles::new(&server);
    let old_reader = TileHashReader::new(small.size, small.root, &old_tiles);
    assert_eq!(
        tlog_tiles::tree_hash(small.size, &old_reader).unwrap(),
        small.root
    );
    assert!(old_tiles
        .fetched
        .lock()
        .unwrap()
        .contains(&"tile/0/000.p/5".to_string()));
    // Beyond the tree: the full version of the partial tile, a wider partial, the next tile.
    for path in [
        "/tile/0/002",
        "/tile/0/002.p/94",
        "/tile/0/003.p/1",
        "/tile/1/000",
        "/tile/2/000.p/1",
        "/tile/entries/002",
        "/tile/entries/003.p/1",
        "/tile/8/0/002",
    ] {
        assert_error(
            server.get(path),
            StatusCode::NOT_FOUND,
            "tile_not_found",
            path,
        );
    }
    // Tiles are immutable and binary; the checkpoint must not be cached.
    let resp = server.get("/tile/0/002.p/93");
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/octet-stream");
    assert!(resp.headers()[CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let resp = server.get("/checkpoint");
    assert!(resp.headers()[CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("no-store"));

    // --- inclusion proofs, by index and by hash, JSON and text, at the latest and an old size ---
    for i in [0u64, 1, 4, 5, 255, 256, 300, 511, 512, 604] {
        let leaf = record_hash(&entries[i as usize]);
        let expected = tlog_tiles::prove_record(cp.size, i, &reader).unwrap();
        for query in [
            format!("index={i}"),
            format!("hash={}", hex::encode(leaf.0)),
            format!("index={i}&size={size}"),
        ] {
            let p: InclusionResponse = server.get_json(&format!("/v1/proof/inclusion?{query}"));
            assert_eq!((p.index, p.tree_size), (i, size), "{query}");
            assert_eq!(hex_hash(&p.leaf_hash), leaf);
            let pcp = open_checkpoint(&p.checkpoint, &vkey);
            assert_eq!((pcp.size, pcp.root), (cp.size, cp.root));
            let proof = b64_hashes(&p.inclusion_proof);
            check_inclusion(&proof, &pcp, i, leaf);
            assert_eq!(proof, expected, "server proof differs from tlog_tiles' own");
        }
        // text/plain: a c2sp.org/tlog-proof@v1 document, by index and by hash.
        let mut docs = Vec::new();
        for query in [
            format!("index={i}"),
            format!("hash={}", hex::encode(leaf.0)),
        ] {
            let resp = server
                .client()
                .get(format!("{}/v1/proof/inclusion?{query}", server.public))
                .header(ACCEPT, "text/plain")
                .send()
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain"));
            docs.push(resp.text().unwrap());
        }
        assert_eq!(docs[0], docs[1], "by index and by hash differ");
        let doc = parse_tlog_proof(&docs[0]);
        assert_eq!(doc.index, i);
        assert_eq!(doc.proof, expected);
        let dcp = open_checkpoint(&doc.checkpoint, &vkey);
        assert_eq!((dcp.size, dcp.root), (cp.size, cp.root));
        check_inclusion(&doc.proof, &dcp, i, leaf);
        // A proof for the wrong leaf or index must not verify (the check can fail).
        let wrong = record_hash(b"not in the log");
        assert!(tlog_tiles::check_record(&doc.proof, dcp.size, dcp.root, i, wrong).is_err());
        if i + 1 < size {
            assert!(tlog_tiles::check_record(&doc.proof, dcp.size, dcp.root, i + 1, leaf).is_err());
        }
    }
    for i in 0..small.size {
        let leaf = record_hash(&entries[i as usize]);
        let p: InclusionResponse = server.get_json(&format!(
            "/v1/proof/inclusion?index={i}&size={}",
            small.size
        ));
        let pcp = open_checkpoint(&p.checkpoint, &vkey);
        assert_eq!((pcp.size, pcp.root), (small.size, small.root));
        check_inclusion(&b64_hashes(&p.inclusion_proof), &pcp, i, leaf);
        let by_hash: InclusionResponse = server.get_json(&format!(
            "/v1/proof/inclusion?hash={}&size={}",
            hex::encode(leaf.0),
            small.size
        ));
        assert_eq!(by_hash.index, i);
        assert_eq!(by_hash.inclusion_proof, p.inclusion_proof);
    }

    // --- consistency proofs between signed checkpoints ---
    let c: ConsistencyResponse =
        server.get_json(&format!("/v1/proof/consistency?old={}", small.size));
    assert_eq!((c.old_size, c.tree_size), (small.size, size));
    let ccp = open_checkpoint(&c.checkpoint, &vkey);
    let proof = b64_hashes(&c.consistency_proof);
    check_consistency(&proof, &small, &ccp);
    assert_eq!(
        proof,
        tlog_tiles::prove_tree(cp.size, small.size, &reader).unwrap(),
        "server proof differs from tlog_tiles' own"
    );
    // A proof from a different old tree does not verify.
    let other = Verified {
        root: record_hash(b"x"),
        ..open_checkpoint(&small.note, &vkey)
    };
    assert!(tlog_tiles::check_tree(&proof, ccp.size, ccp.root, other.size, other.root).is_err());
    // Every checkpoint published along the way is consistent with the latest one.
    for old in 1..=small.size {
        let c: ConsistencyResponse =
            server.get_json(&format!("/v1/proof/consistency?old={old}&new={size}"));
        let oldp: InclusionResponse =
            server.get_json(&format!("/v1/proof/inclusion?index=0&size={old}"));
        let ocp = open_checkpoint(&oldp.checkpoint, &vkey);
        assert_eq!(ocp.size, old);
        check_consistency(&b64_hashes(&c.consistency_proof), &ocp, &ccp);
    }
    // Old and new between two older checkpoints.
    let c: ConsistencyResponse = server.get_json("/v1/proof/consistency?old=2&new=5");
    assert_eq!(c.tree_size, 5);
    let two: InclusionResponse = server.get_json("/v1/proof/inclusion?index=0&size=2");
    check_consistency(
        &b64_hashes(&c.consistency_proof),
        &open_checkpoint(&two.checkpoint, &vkey),
        &open_checkpoint(&c.checkpoint, &vkey),
    );
    // old = new: the empty proof.
    let c: ConsistencyResponse = server.get_json(&format!("/v1/proof/consistency?old={size}"));
    assert!(c.consistency_proof.is_empty());
    // text/plain: one hash per line, the size in a header.
    let resp = server
        .client()
        .get(format!(
            "{}/v1/proof/consistency?old={}",
            server.public, small.size
        ))
        .header(ACCEPT, "text/plain")
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cairn-tree-size"], size.to_string().as_str());
    let lines: Vec<tlog_tiles::Hash> = resp.text().unwrap().lines().map(b64_hash).collect();
    check_consistency(&lines, &small, &cp);

    // --- the entries API ---
    for i in [0u64, 5, 256, 604] {
        let e: EntryResponse = server.get_json(&format!("/v1/entries/{i}"));
        assert_eq!((e.index, e.tree_size), (i, size));
        assert_eq!(STANDARD.decode(&e.entry).unwrap(), entries[i as usize]);
        assert_eq!(hex_hash(&e.leaf_hash), record_hash(&entries[i as usize]));
        open_checkpoint(&e.checkpoint, &vkey);
        let raw = server
            .client()
            .get(format!("{}/v1/entries/{i}", server.public))
            .header(ACCEPT, "application/octet-stream")
            .send()
            .unwrap();
        assert_eq!(raw.status(), StatusCode::OK);
        assert_eq!(raw.headers()["cairn-tree-size"], size.to_string().as_str());
        assert_eq!(
            raw.bytes().unwrap().as_ref(),
            entries[i as usize].as_slice()
        );
    }
    assert_eq!(server.get_ok("/healthz"), b"ok\n");
}

#[test]
fn concurrent_submitters_all_get_distinct_verifiable_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let vkey = server.file_vkey();
    let receipts: Vec<(Vec<u8>, Receipt)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let server = &server;
                s.spawn(move || {
                    (0..25)
                        .map(|i| {
                            let e = entry(&format!("thread-{t}"), i);
                            let r = server.submit(&e);
                            (e, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let indexes: BTreeSet<u64> = receipts.iter().map(|(_, r)| r.index).collect();
    assert_eq!(indexes, (0..100).collect(), "every entry got its own index");
    let cp = server.checkpoint();
    assert_eq!(cp.size, 100);
    let tiles = HttpTiles::new(&server);
    let reader = TileHashReader::new(cp.size, cp.root, &tiles);
    for (e, r) in &receipts {
        let rcp = check_receipt(r, e, &vkey);
        // Each receipt's checkpoint is a prefix of the final tree.
        if rcp.size < cp.size {
            let c: ConsistencyResponse =
                server.get_json(&format!("/v1/proof/consistency?old={}", rcp.size));
            check_consistency(&b64_hashes(&c.consistency_proof), &rcp, &cp);
        }
        let leaf = reader
            .read_hashes(&[stored_hash_index(0, r.index)])
            .unwrap()[0];
        assert_eq!(leaf, record_hash(e));
    }
}
