//! Restarts of the real `cairn serve`: SIGTERM stops it with exit code 0 (also while
//! submissions are in flight); started again on the same data directory it serves the same
//! signed checkpoint under the same key, every entry acknowledged before the stop is still
//! there (entries, tiles, dedup index), and the log continues consistently: a consistency proof
//! from the checkpoint before the stop to one after more submissions verifies with `tlog_tiles`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use reqwest::StatusCode;
use tlog_tiles::{record_hash, stored_hash_index, HashReader, TileHashReader};

/// Every entry of the tree, read from the entry bundles and checked against hash tiles that
/// `tlog_tiles` authenticated against `cp`.
fn all_entries(server: &Server, cp: &Verified) -> Vec<Vec<u8>> {
    let tiles = HttpTiles::new(server);
    let reader = TileHashReader::new(cp.size, cp.root, &tiles);
    let indexes: Vec<u64> = (0..cp.size).map(|i| stored_hash_index(0, i)).collect();
    let leaves = reader.read_hashes(&indexes).expect("tiles authenticate");
    let mut entries = Vec::new();
    for n in 0..cp.size.div_ceil(256) {
        let width = (cp.size - n * 256).min(256);
        let path = if width == 256 {
            format!("/tile/entries/{}", tile_index(n))
        } else {
            format!("/tile/entries/{}.p/{width}", tile_index(n))
        };
        entries.extend(parse_bundle(&server.get_ok(&path)));
    }
    assert_eq!(entries.len() as u64, cp.size);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            record_hash(e),
            leaves[i],
            "entry {i} does not hash to its leaf"
        );
    }
    entries
}

#[test]
fn restart_resumes_the_same_log_and_continues_consistently() {
    restart_resumes_the_same_log(&[]);
}

/// The same on fjall, which `cairn serve` runs with lookahead (dedup lookups on their own
/// thread): duplicates within a request, across requests and across the restart.
#[test]
fn restart_resumes_the_same_log_on_fjall() {
    restart_resumes_the_same_log(&["--storage", "fjall"]);
}

fn restart_resumes_the_same_log(storage: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), storage);
    let vkey = server.file_vkey();
    let mut entries: Vec<Vec<u8>> = (0..10).map(|i| entry("before", i)).collect();
    for e in &entries {
        server.submit(e);
    }
    let batch: Vec<Vec<u8>> = (10..290).map(|i| entry("before", i)).collect();
    server.submit_batch(&batch);
    entries.extend(batch);
    // Duplicates of a request's own entries and of earlier ones get the first index.
    let again = server.submit_batch(&[entries[3].clone(), entry("new", 0), entry("new", 0)]);
    let got: Vec<(u64, bool)> = again.iter().map(|r| (r.index, r.duplicate)).collect();
    assert_eq!(got, [(3, true), (290, false), (290, true)]);
    entries.push(entry("new", 0));
    for i in (10..290).step_by(40) {
        let r = server.submit(&entries[i]);
        assert_eq!((r.index, r.duplicate), (i as u64, true));
    }
    let before = server.checkpoint();
    assert_eq!(before.size, 291);

    let status = server.stop();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM must stop cairn cleanly: {status:?}"
    );
    assert!(server.stderr().contains("SIGTERM"), "{}", server.stderr());
    drop(server);

    let server = Server::start(dir.path(), storage);
    assert_eq!(server.file_vkey(), vkey, "the key changed across a restart");
    assert_eq!(
        String::from_utf8(server.get_ok("/vkey")).unwrap().trim(),
        vkey
    );
    // The same signed tree head, byte for byte.
    let resumed = server.checkpoint();
    assert_eq!(resumed.note, before.note);
    assert_eq!(all_entries(&server, &resumed), entries);
    // The dedup index survived too.
    let dup = server.submit(&entries[7]);
    assert_eq!((dup.index, dup.duplicate), (7, true));

    // More entries continue the same tree.
    for i in 291..300 {
        let e = entry("after", i);
        let r = server.submit(&e);
        assert_eq!((r.index, r.duplicate), (i as u64, false));
        entries.push(e);
    }
    let more: Vec<Vec<u8>> = (300..600).map(|i| entry("after", i)).collect();
    let receipts = server.submit_batch(&more);
    assert_eq!(receipts[0].index, 300);
    entries.extend(more);
    let after = server.checkpoint();
    assert_eq!(after.size, 600);
    assert_eq!(after.origin, before.origin);

    let c: ConsistencyResponse =
        server.get_json(&format!("/v1/proof/consistency?old={}", before.size));
    assert_eq!(c.tree_size, after.size);
    let ccp = open_checkpoint(&c.checkpoint, &vkey);
    assert_eq!((ccp.size, ccp.root), (after.size, after.root));
    check_consistency(&b64_hashes(&c.consistency_proof), &before, &after);
    // Old entries are provably in the new tree.
    for i in [0u64, 9, 10, 255, 289] {
        let p: InclusionResponse = server.get_json(&format!("/v1/proof/inclusion?index={i}"));
        check_inclusion(
            &b64_hashes(&p.inclusion_proof),
            &after,
            i,
            record_hash(&entries[i as usize]),
        );
    }
    // Proofs against the pre-restart checkpoint are still served.
    let p: InclusionResponse = server.get_json(&format!(
        "/v1/proof/inclusion?index=100&size={}",
        before.size
    ));
    check_inclusion(
        &b64_hashes(&p.inclusion_proof),
        &before,
        100,
        record_hash(&entries[100]),
    );
    assert_eq!(all_entries(&server, &after), entries);
}

/// One submission that may fail (the server is being stopped).
fn try_submit(server: &Server, url: &str, token: &str, e: &[u8]) -> Option<Receipt> {
    let resp = server
        .client()
        .post(url)
        .bearer_auth(token)
        .body(e.to_vec())
        .send()
        .ok()?;
    if resp.status() != StatusCode::OK {
        // Refusals while stopping must be the documented ones.
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        return None;
    }
    Some(resp.json().expect("a receipt"))
}

/// The graceful stop waits for in-flight requests (up to the request timeout); a second
/// SIGTERM during it exits at once, and what was acknowledged is still there.
#[test]
fn a_second_sigterm_during_the_graceful_stop_exits_at_once() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--request-timeout-ms", "60000"]);
    let token = server.token();
    let url = format!("{}/v1/entries", server.internal);
    let before = entry("before", 0);
    let receipt = try_submit(&server, &url, &token, &before).expect("a receipt");
    // A submission whose body never finishes: an in-flight request the stop waits for.
    let addr = server.internal.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /v1/entries HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 100\r\n\r\nonly ten b"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.sigterm();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        server.is_running(),
        "the graceful stop did not wait for the in-flight request"
    );
    let second = Instant::now();
    server.sigterm();
    let status = server.wait_exit();
    assert!(
        second.elapsed() < Duration::from_secs(10),
        "took {:?} after the second SIGTERM",
        second.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(slow);
    let server = Server::start(dir.path(), &[]);
    let got: EntryResponse = server.get_json(&format!("/v1/entries/{}", receipt.index));
    assert_eq!(STANDARD.decode(&got.entry).unwrap(), before);
}

#[test]
fn entries_acknowledged_before_sigterm_survive_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let vkey = server.file_vkey();
    let token = server.token();
    let url = format!("{}/v1/entries", server.internal);
    let acked_count = AtomicUsize::new(0);

    // Four writers submit as fast as they can; SIGTERM arrives while they are busy.
    let acked: Vec<(Vec<u8>, Receipt)> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (server, url, token, acked_count) = (&server, &url, &token, &acked_count);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..2000 {
                        let e = entry(&format!("writer {t}"), i);
                        match try_submit(server, url, token, &e) {
                            Some(r) => {
                                mine.push((e, r));
                                acked_count.fetch_add(1, Ordering::SeqCst);
                            }
                            None => break,
                        }
                    }
                    mine
                })
            })
            .collect();
        poll("40 acknowledged entries", || {
            (acked_count.load(Ordering::SeqCst) >= 40).then_some(())
        });
        server.sigterm();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let status = server.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "graceful stop under load: {status:?}"
    );
    drop(server);
    assert!(acked.len() >= 40);
    assert!(acked.len() < 8000, "the writers were never stopped");

    let server = Server::start(dir.path(), &[]);
    let cp = server.checkpoint();
    for (e, r) in &acked {
        assert!(r.index < cp.size, "acknowledged entry {} was lost", r.index);
        let got: EntryResponse = server.get_json(&format!("/v1/entries/{}", r.index));
        assert_eq!(
            &STANDARD.decode(&got.entry).unwrap(),
            e,
            "entry {}",
            r.index
        );
        // The receipt's checkpoint is a prefix of the restarted log.
        let rcp = open_checkpoint(&r.checkpoint, &vkey);
        check_inclusion(
            &b64_hashes(&r.inclusion_proof),
            &rcp,
            r.index,
            record_hash(e),
        );
        if rcp.size < cp.size {
            let c: ConsistencyResponse =
                server.get_json(&format!("/v1/proof/consistency?old={}", rcp.size));
            check_consistency(&b64_hashes(&c.consistency_proof), &rcp, &cp);
        } else {
            assert_eq!((rcp.size, rcp.root), (cp.size, cp.root));
        }
    }
    all_entries(&server, &cp);
}
