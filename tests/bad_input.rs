//! Bad input against the real `cairn serve`: a table of malformed requests (empty and oversized
//! entries, malformed batches and base64, out-of-range indexes and sizes, old > new, malformed
//! tile paths, huge and non-canonical numbers, wrong methods), each of which must get a clear
//! 4xx with a stable JSON error code while the server keeps serving and stores nothing; and slow
//! clients (headers that never finish, a body that never finishes, a silent connection) that
//! are cut off by the timeouts while everyone else is still served.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use reqwest::{Method, StatusCode};

const MAX_ENTRY: usize = 1000;
const MAX_BODY: usize = 20_000;
const MAX_BATCH: usize = 100;

#[derive(Clone, Copy, Debug)]
enum Port {
    Public,
    Internal,
}

struct Row {
    port: Port,
    method: Method,
    path: String,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn row(port: Port, method: Method, path: &str, body: impl Into<Vec<u8>>) -> RowBuilder {
    RowBuilder {
        port,
        method,
        path: path.to_string(),
        body: body.into(),
    }
}

struct RowBuilder {
    port: Port,
    method: Method,
    path: String,
    body: Vec<u8>,
}

impl RowBuilder {
    fn expect(self, status: u16, code: &'static str) -> Row {
        Row {
            port: self.port,
            method: self.method,
            path: self.path,
            body: self.body,
            status: StatusCode::from_u16(status).unwrap(),
            code,
        }
    }
}

fn get(path: &str) -> RowBuilder {
    row(Port::Public, Method::GET, path, Vec::new())
}

fn post(path: &str, body: impl Into<Vec<u8>>) -> RowBuilder {
    row(Port::Internal, Method::POST, path, body)
}

fn batch(entries: &[&str]) -> String {
    serde_json::json!({ "entries": entries }).to_string()
}

#[test]
fn malformed_requests_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--max-entry-bytes",
            &MAX_ENTRY.to_string(),
            "--max-body-bytes",
            &MAX_BODY.to_string(),
            "--max-batch",
            &MAX_BATCH.to_string(),
        ],
    );
    // A small tree: one single (size 1), then a batch of five integrated as one (size 6), so
    // sizes 2..=5 were never published.
    server.submit(b"first");
    let receipts = server.submit_batch(&(0..5).map(|i| entry("seed", i)).collect::<Vec<_>>());
    assert!(receipts.iter().all(|r| r.tree_size == 6), "{receipts:?}");
    let before = server.checkpoint();
    assert_eq!(before.size, 6);

    let big = vec![b'x'; MAX_ENTRY + 1];
    let ok_b64 = STANDARD.encode(b"valid entry in a bad batch");
    let big_b64 = STANDARD.encode(&big);
    let leaf_not_in_log = hex::encode(tlog_tiles::record_hash(b"never submitted").0);
    let u64_max = u64::MAX.to_string();
    let too_big = "18446744073709551616"; // 2^64
    let huge = "9".repeat(400);

    let rows = vec![
        // --- submissions ---
        post("/v1/entries", "").expect(400, "empty_entry"),
        post("/v1/entries", big.clone()).expect(413, "entry_too_large"),
        post("/v1/entries", vec![b'y'; MAX_BODY + 1]).expect(413, "body_too_large"),
        post("/v1/entries/batch", "").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "{\"entries\": [").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "not json").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "[\"aGVsbG8=\"]").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "{\"entries\": \"aGVsbG8=\"}").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "{\"entries\": [1, 2]}").expect(400, "malformed_batch"),
        post("/v1/entries/batch", "{\"entry\": [\"aGVsbG8=\"]}").expect(400, "malformed_batch"),
        post(
            "/v1/entries/batch",
            "{\"entries\": [\"aGVsbG8=\"], \"extra\": 1}",
        )
        .expect(400, "malformed_batch"),
        post("/v1/entries/batch", batch(&[])).expect(400, "empty_batch"),
        post("/v1/entries/batch", batch(&[&ok_b64, "!!!!"])).expect(400, "bad_base64"),
        post("/v1/entries/batch", batch(&[&ok_b64, "aGVsbG8"])).expect(400, "bad_base64"),
        post("/v1/entries/batch", batch(&[&ok_b64, "aGVsbG9="])).expect(400, "bad_base64"),
        post("/v1/entries/batch", batch(&[&ok_b64, "aGVs bG8="])).expect(400, "bad_base64"),
        post("/v1/entries/batch", batch(&[&ok_b64, "aGVsbG8-"])).expect(400, "bad_base64"),
        post("/v1/entries/batch", batch(&[&ok_b64, &big_b64])).expect(413, "entry_too_large"),
        post("/v1/entries/batch", batch(&[&ok_b64, ""])).expect(400, "empty_entry"),
        // One request is one integration: at most max_batch entries.
        post("/v1/entries/batch", batch(&vec!["AA=="; MAX_BATCH + 1]))
            .expect(413, "too_many_entries"),
        post(
            "/v1/entries/batch",
            batch(&vec![ok_b64.as_str(); MAX_BODY / ok_b64.len() + 1]),
        )
        .expect(413, "body_too_large"),
        // --- inclusion proofs ---
        get("/v1/proof/inclusion?index=6").expect(400, "index_beyond_tree"),
        get(&format!("/v1/proof/inclusion?index={u64_max}")).expect(400, "index_beyond_tree"),
        get("/v1/proof/inclusion?index=1&size=1").expect(400, "index_beyond_tree"),
        get(&format!("/v1/proof/inclusion?index={too_big}")).expect(400, "bad_parameter"),
        get(&format!("/v1/proof/inclusion?index={huge}")).expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=-1").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=+1").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=01").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=0x1").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=1e2").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=%201").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=").expect(400, "bad_parameter"),
        get("/v1/proof/inclusion").expect(400, "bad_parameter"),
        get(&format!(
            "/v1/proof/inclusion?index=0&hash={leaf_not_in_log}"
        ))
        .expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?hash=zz").expect(400, "bad_parameter"),
        get(&format!(
            "/v1/proof/inclusion?hash={}",
            &leaf_not_in_log[2..]
        ))
        .expect(400, "bad_parameter"),
        get(&format!("/v1/proof/inclusion?hash={leaf_not_in_log}")).expect(404, "leaf_not_found"),
        get("/v1/proof/inclusion?index=0&size=7").expect(400, "size_beyond_tree"),
        get(&format!("/v1/proof/inclusion?index=0&size={u64_max}")).expect(400, "size_beyond_tree"),
        get(&format!("/v1/proof/inclusion?index=0&size={too_big}")).expect(400, "bad_parameter"),
        get("/v1/proof/inclusion?index=0&size=3").expect(404, "no_checkpoint_at_size"),
        get("/v1/proof/inclusion?index=0&size=0").expect(400, "index_beyond_tree"),
        // --- consistency proofs ---
        get("/v1/proof/consistency?old=6&new=1").expect(400, "old_beyond_new"),
        get("/v1/proof/consistency?old=7").expect(400, "old_beyond_new"),
        get(&format!("/v1/proof/consistency?old={u64_max}")).expect(400, "old_beyond_new"),
        get("/v1/proof/consistency?old=0").expect(400, "old_size_zero"),
        get("/v1/proof/consistency").expect(400, "bad_parameter"),
        get("/v1/proof/consistency?new=6").expect(400, "bad_parameter"),
        get(&format!("/v1/proof/consistency?old={too_big}")).expect(400, "bad_parameter"),
        get(&format!("/v1/proof/consistency?old=1&new={huge}")).expect(400, "bad_parameter"),
        get("/v1/proof/consistency?old=1&new=7").expect(400, "size_beyond_tree"),
        get("/v1/proof/consistency?old=1&new=4").expect(404, "no_checkpoint_at_size"),
        get("/v1/proof/consistency?old=abc").expect(400, "bad_parameter"),
        // --- entries ---
        get("/v1/entries/6").expect(404, "entry_not_found"),
        get(&format!("/v1/entries/{u64_max}")).expect(404, "entry_not_found"),
        get(&format!("/v1/entries/{too_big}")).expect(400, "bad_parameter"),
        get(&format!("/v1/entries/{huge}")).expect(400, "bad_parameter"),
        get("/v1/entries/00").expect(400, "bad_parameter"),
        get("/v1/entries/-1").expect(400, "bad_parameter"),
        get("/v1/entries/abc").expect(400, "bad_parameter"),
        // --- tile paths ---
        get("/tile/0/0").expect(400, "malformed_tile_path"),
        get("/tile/0/00").expect(400, "malformed_tile_path"),
        get("/tile/0/0000").expect(400, "malformed_tile_path"),
        get("/tile/0/x000/000").expect(400, "malformed_tile_path"),
        get("/tile/0/x001/00").expect(400, "malformed_tile_path"),
        get("/tile/0/001/000").expect(400, "malformed_tile_path"),
        get("/tile/00/000").expect(400, "malformed_tile_path"),
        get("/tile/01/000").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/256").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/0").expect(400, "malformed_tile_path"),
        // Percent-encoded forms of existing tiles: one name per tile.
        get("/tile/0%2F000").expect(400, "malformed_tile_path"),
        get("/tile/0/000%2Ep%2F5").expect(400, "malformed_tile_path"),
        get("/tile/entries/%30%30%30").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/06").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/6/1").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/1000000000000").expect(400, "malformed_tile_path"),
        get("/tile/entries/000.p/256").expect(400, "malformed_tile_path"),
        get("/tile/entries/000.p/0").expect(400, "malformed_tile_path"),
        get("/tile/entries/0").expect(400, "malformed_tile_path"),
        get("/tile/8/0/000.p/256").expect(400, "malformed_tile_path"),
        get("/tile/8/entries/000.p/6").expect(400, "malformed_tile_path"),
        get("/tile/8/data/000.p/6").expect(400, "malformed_tile_path"),
        get("/tile/64/000").expect(400, "malformed_tile_path"),
        get("/tile/255/000").expect(400, "malformed_tile_path"),
        get("/tile/-1/000").expect(400, "malformed_tile_path"),
        // N = 2^64 does not fit; 2^64 - 1 parses but lies far beyond any tree.
        get("/tile/0/x018/x446/x744/x073/x709/x551/616").expect(400, "malformed_tile_path"),
        get(&format!("/tile/0/{}", "x999/".repeat(30) + "999")).expect(400, "malformed_tile_path"),
        get("/tile/0/x018/x446/x744/x073/x709/x551/615").expect(404, "tile_not_found"),
        get("/tile/63/x018/x446/x744/x073/x709/x551/615.p/255").expect(404, "tile_not_found"),
        get("/tile/entries/x018/x446/x744/x073/x709/x551/615").expect(404, "tile_not_found"),
        get("/tile/0/000.p/7").expect(404, "tile_not_found"),
        get("/tile/").expect(404, "no_such_resource"),
        get("/tile/0").expect(400, "malformed_tile_path"),
        get("/tile/0/").expect(400, "malformed_tile_path"),
        get("/tile/0/abc").expect(400, "malformed_tile_path"),
        get("/tile/0/000/").expect(400, "malformed_tile_path"),
        get("/tile/0/000.P/6").expect(400, "malformed_tile_path"),
        get("/tile/0/000.p/6.p/5").expect(400, "malformed_tile_path"),
        get("/tile/garbage").expect(400, "malformed_tile_path"),
        get(&format!("/tile/{}", "a/".repeat(500))).expect(400, "malformed_tile_path"),
        // --- wrong methods ---
        row(Port::Public, Method::POST, "/checkpoint", "x").expect(405, "method_not_allowed"),
        row(Port::Public, Method::POST, "/v1/entries", "x").expect(405, "method_not_allowed"),
        row(Port::Public, Method::DELETE, "/tile/0/000.p/6", "").expect(405, "method_not_allowed"),
        row(Port::Internal, Method::GET, "/v1/entries", "").expect(405, "method_not_allowed"),
        row(Port::Internal, Method::PUT, "/v1/entries", "x").expect(405, "method_not_allowed"),
        row(Port::Internal, Method::DELETE, "/v1/entries/batch", "")
            .expect(405, "method_not_allowed"),
        row(Port::Internal, Method::POST, "/metrics", "").expect(405, "method_not_allowed"),
    ];

    let mut wrong = Vec::new();
    for r in &rows {
        let base = match r.port {
            Port::Public => &server.public,
            Port::Internal => &server.internal,
        };
        let what = format!("{} {:?}{}", r.method, r.port, r.path);
        let mut req = server
            .client()
            .request(r.method.clone(), format!("{base}{}", r.path))
            .body(r.body.clone());
        if let Port::Internal = r.port {
            req = req.bearer_auth(server.token());
        }
        let resp = req.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        if let Err(e) = check_error(resp, r.status, r.code) {
            wrong.push(format!("{what}: {e}"));
        }
        // Still serving after every row.
        assert_eq!(server.get_ok("/healthz"), b"ok\n", "after {what}");
    }
    assert!(
        wrong.is_empty(),
        "{} of {} bad requests were not answered as expected:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );

    // Nothing was stored: same signed tree head, and good requests still work.
    let after = server.checkpoint();
    assert_eq!((after.size, after.root), (before.size, before.root));
    let r = server.submit(b"a good entry after all that");
    assert_eq!(r.index, 6);
}

/// Opens a raw connection to `base` (an `http://host:port` URL).
fn connect(base: &str) -> TcpStream {
    let addr = base.strip_prefix("http://").unwrap();
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Waits until the server answers or drops the connection; returns the answer if any and
/// how long it took.
fn cut_off(mut stream: TcpStream, started: Instant) -> (Option<(String, Vec<u8>)>, Duration) {
    let answer = read_response(&mut stream);
    (answer, started.elapsed())
}

fn is_408(answer: &Option<(String, Vec<u8>)>) -> bool {
    answer.as_ref().is_some_and(|(status, body)| {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        status.starts_with("HTTP/1.1 408") && json["error"]["code"] == "request_timeout"
    })
}

#[test]
fn slow_clients_are_cut_off_and_others_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--request-timeout-ms", "1500"]);
    let token = server.token();
    let before = server.checkpoint();

    let started = Instant::now();
    // 1. A body that never finishes: the request timeout answers 408.
    let mut body = connect(&server.internal);
    write!(
        body,
        "POST /v1/entries HTTP/1.1\r\nHost: cairn\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 100\r\n\r\nonly ten b"
    )
    .unwrap();
    // 2. Headers that never finish (a slowloris), on both ports: on the public one, a new
    //    header line every 200 ms, for as long as the server keeps listening (at most 45 s).
    let mut headers_public = connect(&server.public);
    headers_public
        .write_all(b"GET /checkpoint HTTP/1.1\r\nHost: cairn\r\n")
        .unwrap();
    let mut dribble = headers_public.try_clone().unwrap();
    let mut headers_internal = connect(&server.internal);
    headers_internal
        .write_all(b"POST /v1/entries HTTP/1.1\r\nHost: cai")
        .unwrap();
    // 3. A connection that never says anything.
    let silent = connect(&server.public);

    let waits = std::thread::scope(|s| {
        s.spawn(move || {
            for n in 0..225 {
                std::thread::sleep(Duration::from_millis(200));
                if write!(dribble, "X-Slow-{n}: still typing\r\n").is_err() {
                    break;
                }
            }
        });
        let handles = [
            s.spawn(move || cut_off(body, started)),
            s.spawn(move || cut_off(headers_public, started)),
            s.spawn(move || cut_off(headers_internal, started)),
            s.spawn(move || cut_off(silent, started)),
        ];
        // Meanwhile everyone else is served promptly.
        for i in 0..5 {
            let t = Instant::now();
            let r = server.submit(&entry("while slow clients wait", i));
            assert!(!r.duplicate);
            server.checkpoint();
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "a normal client waited {:?}",
                t.elapsed()
            );
        }
        handles.map(|h| h.join().unwrap())
    });

    let (answer, took) = &waits[0];
    assert!(
        is_408(answer),
        "unfinished body: expected a JSON 408, got {answer:?} after {took:?}"
    );
    assert!(
        *took < Duration::from_secs(30),
        "unfinished body held {took:?}"
    );
    for (what, (answer, took)) in [
        ("slow headers (public)", &waits[1]),
        ("slow headers (internal)", &waits[2]),
        ("silent connection", &waits[3]),
    ] {
        // Cut off: either a 408 or the connection simply closed.
        assert!(answer.is_none() || is_408(answer), "{what}: got {answer:?}");
        // By a timeout (seconds), not at once, and well before our own patience ran out.
        assert!(
            *took > Duration::from_secs(1) && *took < Duration::from_secs(40),
            "{what} was cut off after {took:?}"
        );
    }

    // Only the five good entries were stored; the half-sent one was not.
    let after = server.checkpoint();
    assert_eq!(after.size, before.size + 5);
    assert_eq!(server.get_ok("/healthz"), b"ok\n");
}
