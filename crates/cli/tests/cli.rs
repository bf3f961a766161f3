//! End to end: the `cairn` client commands against a real `cairn serve` on loopback ports,
//! the monitor against loopback fixtures that rewrite history with the log's own key or lack
//! witness cosignatures, and a witnessed log (`cairn witness init`/`serve` beside
//! `cairn serve --witness`) whose receipts are upgraded and verified with a quorum.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_note::{cosign, Checkpoint, KeyAlgorithm, Note, SignerKey};
use cairn_tree::{
    consistency_proof, encode_bundle, leaf_hash, Frontier, Hash, MemoryHashes, Tile, TileKind,
};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

fn cairn() -> Command {
    let mut cmd = Command::new(CAIRN);
    cmd.env("CAIRN_LOG", "warn").stdin(Stdio::null());
    // TLS settings of whoever runs the tests must not leak into them.
    for var in ["CAIRN_CA_CERT", "CAIRN_CLIENT_CERT", "CAIRN_CLIENT_KEY"] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cairn args…` to completion.
fn run(args: &[&str]) -> Output {
    cairn().args(args).output().expect("run cairn")
}

fn run_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = cairn()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a child to exit, killing it after `limit`.
fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a child's stdout lines on a thread, so a test can wait for one with a deadline.
fn line_reader(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A `cairn serve` on loopback ports with its own data directory; SIGTERM on drop.
struct Server {
    child: Option<Child>,
    data: PathBuf,
    public: String,
    internal: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        Server::start_with(data, &[])
    }

    /// A server with extra `cairn serve` flags.
    fn start_with(data: &Path, extra: &[&str]) -> Server {
        let log = fs::File::create(data.with_extension("serve.log")).unwrap();
        let mut child = cairn()
            .args(["serve", "--data-dir"])
            .arg(data)
            .args([
                "--public-listen",
                "127.0.0.1:0",
                "--internal-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let lines = line_reader(&mut child);
        // `cairn serve` prints the public port, then the internal one.
        let public = wait_for_line(&lines, "public port: ");
        let internal = wait_for_line(&lines, "internal port: ");
        Server {
            child: Some(child),
            data: data.to_owned(),
            public,
            internal,
        }
    }

    fn vkey(&self) -> String {
        self.data.join("log.vkey").display().to_string()
    }

    fn token(&self) -> String {
        self.data.join("submit.token").display().to_string()
    }

    /// `cairn submit` to this server, trusting its key, with `extra` arguments.
    fn submit_with(&self, extra: &[&str], stdin: &[u8]) -> Output {
        let (token, vkey) = (self.token(), self.vkey());
        let mut args = vec!["submit", "--url", &self.internal, "--token-file", &token];
        args.extend_from_slice(&["--vkey", &vkey]);
        args.extend_from_slice(extra);
        run_stdin(&args, stdin)
    }

    /// Submits one entry per line through `cairn submit --lines`; returns the NDJSON lines.
    fn submit_lines(&self, lines: &str) -> Vec<Value> {
        let out = self.submit_with(&["--lines"], lines.as_bytes());
        ok(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            sigterm(&child);
            let status = wait_for(&mut child, Duration::from_secs(20));
            assert!(status.success(), "cairn serve exited with {status:?}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

/// SIGTERM, then SIGKILL if the child has not exited within 10 s; for cleanup on drop.
fn terminate(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Waits for the line starting with `prefix` on a child's stdout; returns the rest of it.
fn wait_for_line(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// `cairn verify --json` on a receipt file; returns (success, reason code).
fn verify_json(vkey: &str, receipt: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["verify", "--json", "--vkey", vkey];
    args.extend_from_slice(extra);
    let receipt = receipt.display().to_string();
    args.push(&receipt);
    let out = run(&args);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON from verify: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.success(), json["ok"] == true);
    (
        out.status.success(),
        json["reason"].as_str().unwrap_or("").to_owned(),
    )
}

/// Writes `text` with the first `from` replaced by `to`.
fn tampered(dir: &Path, name: &str, text: &str, from: &str, to: &str) -> PathBuf {
    assert!(text.contains(from), "{from:?} not in {text}");
    let path = dir.join(name);
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
    path
}

/// Changes one character of a base64 string in the middle, where any character is canonical.
fn flip_char(b64: &str, at: usize) -> String {
    let mut chars: Vec<char> = b64.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn every_command_has_help() {
    for cmd in [
        "submit",
        "checkpoint",
        "prove",
        "verify",
        "upgrade-receipt",
        "monitor",
        "verify-store",
    ] {
        let out = ok(&run(&[cmd, "--help"]));
        assert!(out.contains("Usage: cairn"), "{cmd}: {out}");
    }
}

#[test]
fn submit_verify_prove_and_reject_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("data"));
    let vkey = server.vkey();

    fs::write(dir.join("small.txt"), b"user alice logged in").unwrap();
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(dir.join("big.bin"), &big).unwrap();
    let receipts = dir.join("receipts");
    let out = ok(&run(&[
        "submit",
        "--url",
        &server.internal,
        "--token-file",
        &server.token(),
        "--vkey",
        &vkey,
        "--receipts",
        &receipts.display().to_string(),
        &dir.join("small.txt").display().to_string(),
        &dir.join("big.bin").display().to_string(),
    ]));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(receipts.join("0.tlog-proof").is_file());
    assert!(receipts.join("1.tlog-proof").is_file());
    assert_eq!(fs::read(receipts.join("1.entry")).unwrap(), big);
    assert!(!receipts.join("0.entry").exists());

    // Lines from stdin, NDJSON receipts on stdout, a duplicate pointing at the original.
    let ndjson = server.submit_lines("alpha\n\nbeta\nuser alice logged in\n");
    assert_eq!(ndjson.len(), 3);
    assert_eq!(ndjson[0]["index"], 2);
    assert_eq!(ndjson[0]["source"], "stdin:1");
    assert_eq!(ndjson[1]["source"], "stdin:3");
    assert_eq!(
        (ndjson[2]["index"].clone(), ndjson[2]["duplicate"].clone()),
        (json!(0), json!(true))
    );
    let beta = dir.join("beta.tlog-proof");
    fs::write(&beta, ndjson[1]["receipt"].as_str().unwrap()).unwrap();

    // Offline verification: entry carried, entry beside the receipt, entry given.
    assert_eq!(
        verify_json(&vkey, &receipts.join("0.tlog-proof"), &[]),
        (true, String::new())
    );
    assert_eq!(
        verify_json(&vkey, &receipts.join("1.tlog-proof"), &[]),
        (true, String::new())
    );
    assert_eq!(verify_json(&vkey, &beta, &[]), (true, String::new()));
    let small = dir.join("small.txt").display().to_string();
    assert!(verify_json(&vkey, &receipts.join("0.tlog-proof"), &["--entry", &small]).0);
    let text = ok(&run(&[
        "verify",
        "--vkey",
        &vkey,
        &beta.display().to_string(),
    ]));
    assert!(text.starts_with("OK: entry 3 "), "{text}");
    // The key may also be given as text.
    let key_text = fs::read_to_string(&vkey).unwrap();
    ok(&run(&[
        "verify",
        "--vkey",
        key_text.trim(),
        &beta.display().to_string(),
    ]));

    // The latest checkpoint, and proofs by index and by hash against it.
    let cp: Value = serde_json::from_str(&ok(&run(&[
        "checkpoint",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--json",
    ])))
    .unwrap();
    assert_eq!(cp["tree_size"], 4);
    let proven = dir.join("proven.tlog-proof");
    ok(&run(&[
        "prove",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--index",
        "2",
        "--out",
        &proven.display().to_string(),
    ]));
    assert_eq!(verify_json(&vkey, &proven, &[]), (true, String::new()));
    let by_hash: Value = serde_json::from_str(&ok(&run(&[
        "prove",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--json",
        "--hash",
        &leaf_hash(b"beta").to_hex(),
    ])))
    .unwrap();
    assert_eq!(
        (by_hash["index"].clone(), by_hash["tree_size"].clone()),
        (json!(3), json!(4))
    );
    let big_proof = dir.join("big.tlog-proof");
    ok(&run(&[
        "prove",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--index",
        "1",
        "--out",
        &big_proof.display().to_string(),
    ]));
    assert_eq!(fs::read(dir.join("big.entry")).unwrap(), big);
    assert!(verify_json(&vkey, &big_proof, &[]).0);
    let missing = run(&[
        "prove",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--index",
        "9",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("index_beyond_tree"));

    // Tampering, each with its reason.
    let receipt = fs::read_to_string(&proven).unwrap();
    let lines: Vec<&str> = receipt.lines().collect();
    assert!(lines[1].starts_with("extra "), "{receipt}");
    let changed_entry = dir.join("changed.txt");
    fs::write(&changed_entry, b"alphA").unwrap();
    assert_eq!(
        verify_json(
            &vkey,
            &proven,
            &["--entry", &changed_entry.display().to_string()]
        ),
        (false, "entry_mismatch".into())
    );
    // The checkpoint starts after the blank line: origin, size, root.
    let blank = lines.iter().position(|l| l.is_empty()).unwrap();
    let (origin_line, size_line, root_line) =
        (lines[blank + 1], lines[blank + 2], lines[blank + 3]);
    assert_eq!(size_line, "4", "{receipt}");
    let cases = [
        (
            "proof.tlog-proof",
            lines[3].to_owned(),
            flip_char(lines[3], 10),
            "proof_invalid",
        ),
        (
            "extra.tlog-proof",
            lines[1].to_owned(),
            "extra YWxwaEE=".to_owned(),
            "proof_invalid",
        ),
        (
            "root.tlog-proof",
            root_line.to_owned(),
            flip_char(root_line, 10),
            "bad_signature",
        ),
        (
            "size.tlog-proof",
            format!("{origin_line}\n4\n"),
            format!("{origin_line}\n5\n"),
            "bad_signature",
        ),
        (
            "index.tlog-proof",
            "index 2".to_owned(),
            "index 02".to_owned(),
            "malformed_receipt",
        ),
    ];
    for (name, from, to, reason) in cases {
        let path = tampered(dir, name, &receipt, &from, &to);
        assert_eq!(
            verify_json(&vkey, &path, &[]),
            (false, reason.into()),
            "{name}"
        );
    }
    let sig_line = lines.last().unwrap();
    let sig = sig_line.rsplit(' ').next().unwrap();
    let path = tampered(dir, "sig.tlog-proof", &receipt, sig, &flip_char(sig, 40));
    assert_eq!(
        verify_json(&vkey, &path, &[]),
        (false, "bad_signature".into())
    );

    // The wrong trust: another key under the same origin, a witness quorum nobody met.
    let origin = key_text.split('+').next().unwrap();
    let stranger = SignerKey::from_seed(origin, KeyAlgorithm::Ed25519, [5; 32]).unwrap();
    assert_eq!(
        verify_json(&stranger.verifier().to_text(), &proven, &[]),
        (false, "bad_signature".into())
    );
    let witness = SignerKey::from_seed("w.example", KeyAlgorithm::Cosignature, [6; 32]).unwrap();
    assert_eq!(
        verify_json(
            &vkey,
            &proven,
            &["--witness-key", &witness.verifier().to_text()]
        ),
        (false, "quorum_not_met".into())
    );
    let human = run(&["verify", "--vkey", &vkey, &path.display().to_string()]);
    assert_eq!(human.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&human.stderr).starts_with("FAILED (bad_signature)"));
}

/// What a loopback fixture log serves: a signed checkpoint and the tree of `entries`.
struct FixtureLog {
    checkpoint: Vec<u8>,
    entries: Vec<Vec<u8>>,
    hashes: MemoryHashes,
}

impl FixtureLog {
    fn new(checkpoint: Vec<u8>, entries: Vec<Vec<u8>>) -> Arc<Self> {
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        frontier
            .extend(entries.iter().map(|e| leaf_hash(e)), &mut nodes)
            .unwrap();
        let mut hashes = MemoryHashes::new();
        hashes.store(&nodes);
        Arc::new(FixtureLog {
            checkpoint,
            entries,
            hashes,
        })
    }
}

/// The root of `entries` signed as a checkpoint with the log's own key from `data`.
fn signed_fork(data: &Path, entries: &[Vec<u8>]) -> Vec<u8> {
    let key = SignerKey::parse(fs::read_to_string(data.join("log.key")).unwrap().trim()).unwrap();
    let root =
        cairn_tree::root_of_hashes(&entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
    Checkpoint::new(key.name(), entries.len() as u64, root)
        .unwrap()
        .sign(&key)
        .unwrap()
        .to_bytes()
}

/// Serves a fixture log: `/checkpoint`, consistency proofs within its own tree, and the
/// tiles and bundles of its first 256 entries.
fn serve_fixture(rt: &Runtime, log: Arc<FixtureLog>) -> String {
    async fn checkpoint(State(log): State<Arc<FixtureLog>>) -> Vec<u8> {
        log.checkpoint.clone()
    }
    async fn consistency(
        State(log): State<Arc<FixtureLog>>,
        Query(q): Query<HashMap<String, u64>>,
    ) -> Json<Value> {
        let (old, new) = (q["old"], q["new"]);
        let proof = consistency_proof(old, new, &log.hashes).unwrap();
        Json(json!({
            "old_size": old,
            "tree_size": new,
            "consistency_proof": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
            "checkpoint": "",
        }))
    }
    async fn tile(State(log): State<Arc<FixtureLog>>, UrlPath(rest): UrlPath<String>) -> Vec<u8> {
        let tile = Tile::parse(&format!("tile/{rest}")).unwrap();
        let entries = &log.entries[..usize::from(tile.width)];
        match tile.kind {
            TileKind::Entries => encode_bundle(entries.iter().map(Vec::as_slice)).unwrap(),
            TileKind::Hashes { .. } => entries.iter().flat_map(|e| leaf_hash(e).0).collect(),
        }
    }
    let app = Router::new()
        .route("/checkpoint", get(checkpoint))
        .route("/v1/proof/consistency", get(consistency))
        .route("/tile/{*rest}", get(tile))
        .with_state(log);
    serve_app(rt, app)
}

fn serve_app(rt: &Runtime, app: Router) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A webhook receiver: every JSON body POSTed to `/hook`.
fn serve_webhook(rt: &Runtime) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push(body);
                },
            ),
        )
        .with_state(seen.clone());
    (format!("{}/hook", serve_app(rt, app)), seen)
}

fn evidence_files(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("evidence-")
    });
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_slice(&fs::read(p).unwrap()).unwrap())
        .collect()
}

fn state_size(state: &Path) -> u64 {
    let json: Value = serde_json::from_slice(&fs::read(state).unwrap()).unwrap();
    json["checkpoint"]
        .as_str()
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn monitor_catches_a_rewrite_and_remembers() {
    let rt = Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Server::start(&data);
    server.submit_lines("one\ntwo\nthree\nfour\nfive\n");
    let state = dir.join("state.json");
    let evidence = dir.join("evidence");
    let (vkey, state_arg, evidence_arg) = (
        server.vkey(),
        state.display().to_string(),
        evidence.display().to_string(),
    );
    let monitor = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "monitor", "--url", url, "--vkey", &vkey, "--state", &state_arg,
        ];
        args.extend_from_slice(&["--evidence-dir", &evidence_arg]);
        args.extend_from_slice(extra);
        run(&args)
    };
    let first = ok(&monitor(&server.public, &["--once"]));
    assert!(first.contains("size 5 verified"), "{first}");
    assert_eq!(state_size(&state), 5);

    // A history of 8 other entries, signed with the log's own key.
    let forked: Vec<Vec<u8>> = (0..8).map(|i| format!("forged {i}").into_bytes()).collect();
    let fork_note = signed_fork(&data, &forked);
    let fork = serve_fixture(&rt, FixtureLog::new(fork_note.clone(), forked.clone()));
    let (hook, posts) = serve_webhook(&rt);
    let out = monitor(&fork, &["--once", "--webhook", &hook]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALARM inconsistent"));
    let found = evidence_files(&evidence);
    assert_eq!(found.len(), 1);
    let e = &found[0];
    assert_eq!(e["kind"], "inconsistent");
    assert_eq!(
        e["served_checkpoint"],
        String::from_utf8(fork_note).unwrap()
    );
    assert_eq!(
        e["verified_checkpoint"].as_str().unwrap().lines().nth(1),
        Some("5")
    );
    assert_eq!(
        (
            e["proof"]["old_size"].clone(),
            e["proof"]["new_size"].clone()
        ),
        (json!(5), json!(8))
    );
    assert!(!e["proof"]["hashes"].as_array().unwrap().is_empty());
    assert_eq!(posts.lock().unwrap().as_slice(), std::slice::from_ref(e));
    assert_eq!(state_size(&state), 5, "a rewrite never advances the state");

    // A new monitor process, from the persisted state, against a same-size rewrite.
    let same_size = &forked[..5];
    let same = serve_fixture(
        &rt,
        FixtureLog::new(signed_fork(&data, same_size), same_size.to_vec()),
    );
    let out = monitor(&same, &["--once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("different root"));

    // Evidence that cannot be saved does not silence the alarm: it is printed, posted, and
    // the exit status still says "alarm".
    let posted = posts.lock().unwrap().len();
    let out = run(&[
        "monitor",
        "--url",
        &same,
        "--vkey",
        &vkey,
        "--state",
        &state_arg,
        "--evidence-dir",
        "/dev/null/evidence",
        "--once",
        "--webhook",
        &hook,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ALARM ") && text.contains("evidence NOT SAVED"),
        "{text}"
    );
    assert_eq!(posts.lock().unwrap().len(), posted + 1);

    // With --keep-going the daemon reports the fork once, keeps polling, and exits 0 on
    // SIGTERM; the honest log still checks out afterwards.
    let mut daemon = cairn()
        .args([
            "monitor",
            "--url",
            &fork,
            "--vkey",
            &server.vkey(),
            "--state",
        ])
        .arg(&state)
        .arg("--evidence-dir")
        .arg(&evidence)
        .args(["--interval", "100ms", "--keep-going", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_reader(&mut daemon);
    let alarm: Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(alarm["event"], "alarm");
    std::thread::sleep(Duration::from_millis(500));
    sigterm(&daemon);
    assert!(wait_for(&mut daemon, Duration::from_secs(10)).success());
    assert_eq!(
        lines.try_iter().count(),
        0,
        "the same fork is reported once"
    );
    assert_eq!(evidence_files(&evidence).len(), 3);
    ok(&monitor(&server.public, &["--once"]));
}

/// `note` with a `cosignature/v1` line by each of `witnesses` appended.
fn cosigned(note: &[u8], witnesses: &[&SignerKey]) -> Vec<u8> {
    let mut note = Note::parse(note).unwrap();
    for w in witnesses {
        let line = cosign(note.text(), w, 1_700_000_000).unwrap();
        note.add_signature(line).unwrap();
    }
    note.to_bytes()
}

#[test]
fn monitor_enforces_the_witness_quorum() {
    let rt = Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    ok(&run(&["init", "--data-dir", data.to_str().unwrap()]));
    let vkey = data.join("log.vkey").display().to_string();
    let state = dir.join("state.json");
    let state_arg = state.display().to_string();
    let w1 = SignerKey::from_seed("w1.example", KeyAlgorithm::Cosignature, [11; 32]).unwrap();
    let w2 = SignerKey::from_seed("w2.example", KeyAlgorithm::Cosignature, [12; 32]).unwrap();
    let (w1_vkey, w2_vkey) = (w1.verifier().to_text(), w2.verifier().to_text());
    let monitor = |url: &str, trust: &[&str]| {
        let mut args = vec!["monitor", "--once", "--url", url, "--vkey", &vkey];
        args.extend_from_slice(&["--state", &state_arg]);
        args.extend_from_slice(trust);
        run(&args)
    };
    let entries: Vec<Vec<u8>> = (0..6).map(|i| format!("entry {i}").into_bytes()).collect();
    let at_four = signed_fork(&data, &entries[..4]);
    let at_six = signed_fork(&data, &entries);
    let fixture =
        |note: Vec<u8>, n: usize| serve_fixture(&rt, FixtureLog::new(note, entries[..n].to_vec()));

    // The first checkpoint too must meet the quorum: a bare one is not trusted on first use.
    let bare = fixture(at_four.clone(), 4);
    let out = monitor(&bare, &["--witness-key", &w1_vkey, "--quorum", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("witness quorum not met: 0 cosigned (none), 1 required"),
        "{err}"
    );
    assert!(!state.exists(), "nothing was accepted");

    // Cosigned by w1: accepted with 1 of [w1].
    let four = fixture(cosigned(&at_four, &[&w1]), 4);
    let out = ok(&monitor(
        &four,
        &["--witness-key", &w1_vkey, "--quorum", "1"],
    ));
    assert!(out.contains("size 4 verified"), "{out}");
    assert_eq!(state_size(&state), 4);

    // Size 6 cosigned by w1 only: 2 of [w1, w2] refuses it and keeps the state.
    let six = fixture(cosigned(&at_six, &[&w1]), 6);
    let both = [
        "--witness-key",
        &w1_vkey,
        "--witness-key",
        &w2_vkey,
        "--quorum",
        "2",
    ];
    let out = monitor(&six, &both);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 cosigned (w1.example), 2 required"), "{err}");
    assert_eq!(state_size(&state), 4);
    // With both cosignatures it moves on, proving 4 → 6 consistent.
    let six_both = fixture(cosigned(&at_six, &[&w1, &w2]), 6);
    let out = ok(&monitor(&six_both, &both));
    assert!(
        out.contains("size 6 verified: consistent with size 4"),
        "{out}"
    );
    assert_eq!(state_size(&state), 6);

    // A line under w2's name and key ID that w2 did not sign is an alarm, not a shortfall.
    let impostor = SignerKey::from_seed("w2.example", KeyAlgorithm::Cosignature, [13; 32]).unwrap();
    let mut note = Note::parse(&at_six).unwrap();
    let mut line = cosign(note.text(), &impostor, 1_700_000_000).unwrap();
    line.key_id = w2.key_id();
    note.add_signature(line).unwrap();
    let forged = fixture(note.to_bytes(), 6);
    let out = monitor(&forged, &["--witness-key", &w2_vkey]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALARM invalid_checkpoint"), "{text}");
    assert!(text.contains("witness cosignature is invalid"), "{text}");
}

#[test]
fn monitor_full_rebuilds_contents_and_catches_a_mismatch() {
    let rt = Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("data"));
    server.submit_lines("a\nb\nc\n");
    // The log's real checkpoint served over entries that are not the log's.
    let real = http_get(&format!("{}/checkpoint", server.public));
    let liar = serve_fixture(
        &rt,
        FixtureLog::new(real, vec![b"a".to_vec(), b"B".to_vec(), b"c".to_vec()]),
    );
    let state = dir.join("state.json").display().to_string();
    let out = run(&[
        "monitor",
        "--url",
        &liar,
        "--vkey",
        &server.vkey(),
        "--state",
        &state,
        "--once",
        "--full",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = evidence_files(dir);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["kind"], "content_mismatch");
    assert!(
        found[0]["message"].as_str().unwrap().contains("root"),
        "{}",
        found[0]
    );
    assert!(
        !Path::new(&state).exists(),
        "nothing verified, nothing kept"
    );
}

/// A plain GET, from a test thread outside any runtime.
fn http_get(url: &str) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    })
}

#[test]
fn monitor_stays_quiet_on_an_honest_log_under_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let server = Server::start(&dir.join("data"));
    let state = dir.join("state.json");
    let mut daemon = cairn()
        .args([
            "monitor",
            "--url",
            &server.public,
            "--vkey",
            &server.vkey(),
            "--state",
        ])
        .arg(&state)
        .args([
            "--interval",
            "50ms",
            "--full",
            "--json",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_reader(&mut daemon);
    let first: Value =
        serde_json::from_str(&lines.recv_timeout(Duration::from_secs(20)).unwrap()).unwrap();
    assert_eq!(first["event"], "metrics");
    let metrics_url = first["url"].as_str().unwrap().to_owned();

    // Writers in parallel with the monitor: batches through the client library, lines
    // through the CLI.
    let rt = Runtime::new().unwrap();
    let key =
        cairn_note::VerifierKey::parse(fs::read_to_string(server.vkey()).unwrap().trim()).unwrap();
    let token = fs::read_to_string(server.token()).unwrap();
    let writer = cairn_client::Client::new(&server.internal, key)
        .unwrap()
        .with_token(token.trim());
    let load = rt.spawn(async move {
        for round in 0..30 {
            let batch: Vec<Vec<u8>> = (0..40)
                .map(|i| format!("load {round} {i}").into_bytes())
                .collect();
            writer.submit_batch(&batch).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let text: String = (0..50).map(|i| format!("cli {i}\n")).collect();
    server.submit_lines(&text);
    rt.block_on(load).unwrap();
    let total = 30 * 40 + 50;

    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.exists() || state_size(&state) < total {
        assert!(Instant::now() < deadline, "the monitor did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let metrics = http_get(&metrics_url);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(&format!("cairn_monitor_tree_size {total}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("cairn_monitor_entries_verified_total"),
        "{metrics}"
    );
    sigterm(&daemon);
    assert!(wait_for(&mut daemon, Duration::from_secs(10)).success());
    let events: Vec<Value> = lines
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    assert!(events.len() >= 2, "{events:?}");
    for e in &events {
        assert_eq!(e["event"], "verified", "{e}");
        assert_eq!(e["contents_rebuilt"], true);
    }
    assert!(evidence_files(dir).is_empty());
    let persisted: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(persisted["full"]["size"], total);
}

#[test]
fn verify_store_finds_a_flipped_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let text: String = (0..300).map(|i| format!("stored {i}\n")).collect();
    server.submit_lines(&text);
    server.stop();
    let data_arg = data.display().to_string();
    let clean = ok(&run(&["verify-store", "--data-dir", &data_arg]));
    assert!(clean.contains("checked 300 entries"), "{clean}");
    assert!(clean.contains("OK"), "{clean}");

    // Flip one byte of entry bundle 1 (entries 256..300) behind the store's back.
    {
        let db = sled::open(data.join("db")).unwrap();
        let mut key = vec![b'E'];
        key.extend_from_slice(&1u64.to_be_bytes());
        let mut bundle = db.get(&key).unwrap().expect("bundle 1").to_vec();
        bundle[5] ^= 0x01;
        db.insert(key, bundle).unwrap();
        db.flush().unwrap();
    }
    let out = run(&["verify-store", "--data-dir", &data_arg, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["problem"],
        "entry 256 does not match its stored leaf hash"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("PROBLEM: entry 256"));

    let missing = run(&[
        "verify-store",
        "--data-dir",
        &tmp.path().join("nothing").display().to_string(),
    ]);
    assert!(!missing.status.success());
}

/// A CA, and certificates it issues: PEM texts, as `cairn serve` and the client flags read them.
struct Pki {
    ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// Returns (certificate PEM, private key PEM).
    fn issue(&self, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "cairn cli test");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

#[track_caller]
fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn client_commands_speak_mutual_tls_with_a_private_ca() {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new("cairn cli test CA");
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (server_cert, server_key) = pki.issue(&["127.0.0.1", "localhost"], ServerAuth);
    let (client_cert, client_key) = pki.issue(&["writer.internal"], ClientAuth);
    let ca = file("ca.pem", &pki.ca_pem);
    let server_cert = file("server.pem", &server_cert);
    let server_key = file("server.key", &server_key);
    let client_cert = file("client.pem", &client_cert);
    let client_key = file("client.key", &client_key);

    // TLS on both ports; client certificates required on the internal one only.
    let server = Server::start_with(
        &dir.join("data"),
        &[
            "--internal-tls-cert",
            &server_cert,
            "--internal-tls-key",
            &server_key,
            "--internal-client-ca",
            &ca,
            "--public-tls-cert",
            &server_cert,
            "--public-tls-key",
            &server_key,
        ],
    );
    assert!(
        server.internal.starts_with("https://"),
        "{}",
        server.internal
    );
    assert!(server.public.starts_with("https://"), "{}", server.public);
    let (vkey, token) = (server.vkey(), server.token());
    let entry = file("entry.txt", "deploy v1.2.3 approved by carol");
    let receipts = dir.join("receipts").display().to_string();
    let submit = |tls: &[&str]| {
        let mut args = vec![
            "submit",
            "--url",
            &server.internal,
            "--token-file",
            &token,
            "--vkey",
            &vkey,
            "--receipts",
            &receipts,
        ];
        args.extend_from_slice(tls);
        args.push(&entry);
        run(&args)
    };

    // CA, client certificate and token: accepted, and the receipt verifies offline.
    let out = ok(&submit(&[
        "--ca-cert",
        &ca,
        "--client-cert",
        &client_cert,
        "--client-key",
        &client_key,
    ]));
    assert!(out.contains("index 0 in tree size 1"), "{out}");
    let receipt = dir.join("receipts/0.tlog-proof");
    assert_eq!(verify_json(&vkey, &receipt, &[]), (true, String::new()));

    // No client certificate: the write port refuses the handshake.
    let err = failed(&submit(&["--ca-cert", &ca]));
    assert!(err.contains("none of them is confirmed"), "{err}");
    // The server's alert may or may not reach the client before its request goes out: the
    // hint differs in confidence, not in substance.
    assert!(
        err.contains("the server requires a client certificate and none was given")
            || err.contains("if it requires a client certificate, none was given"),
        "{err}"
    );
    // The CA not trusted: the client refuses the server's certificate.
    let err = failed(&submit(&[
        "--client-cert",
        &client_cert,
        "--client-key",
        &client_key,
    ]));
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("not issued by a trusted CA"), "{err}");

    // A client certificate from another CA: refused.
    let (foreign_cert, foreign_key) =
        Pki::new("another CA").issue(&["writer.internal"], ClientAuth);
    let foreign_cert = file("foreign.pem", &foreign_cert);
    let foreign_key = file("foreign.key", &foreign_key);
    let err = failed(&submit(&[
        "--ca-cert",
        &ca,
        "--client-cert",
        &foreign_cert,
        "--client-key",
        &foreign_key,
    ]));
    assert!(
        err.contains("the server refused the client certificate")
            || err.contains("it may have refused the client certificate"),
        "{err}"
    );

    // Unusable files are named before anything is sent.
    let err = failed(&submit(&["--ca-cert", &client_key]));
    assert!(
        err.contains(&format!(
            "CA certificate file {client_key}: no PEM CERTIFICATE"
        )),
        "{err}"
    );
    let missing = dir.join("missing.pem").display().to_string();
    let err = failed(&submit(&["--ca-cert", &missing]));
    assert!(
        err.contains(&format!("cannot read CA certificate file {missing}")),
        "{err}"
    );
    let err = failed(&submit(&[
        "--ca-cert",
        &ca,
        "--client-cert",
        &client_cert,
        "--client-key",
        &server_key,
    ]));
    assert!(
        err.contains("does not belong to the client certificate"),
        "{err}"
    );
    let err = failed(&submit(&["--ca-cert", &ca, "--client-cert", &client_cert]));
    assert!(err.contains("--client-key"), "{err}");
    assert_eq!(
        fs::read_dir(dir.join("receipts")).unwrap().count(),
        1,
        "only the first submission was accepted"
    );

    // The load generator, on both ports.
    let report = ok(&run(&[
        "bench",
        "--url",
        &server.internal,
        "--public-url",
        &server.public,
        "--token-file",
        &token,
        "--vkey",
        &vkey,
        "--ca-cert",
        &ca,
        "--client-cert",
        &client_cert,
        "--client-key",
        &client_key,
        "--writers",
        "2",
        "--readers",
        "1",
        "--count",
        "20",
        "--quiet",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(report["entries"].as_u64().unwrap() >= 20, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["reads"].as_u64().unwrap() > 0, "{report}");

    // The read port needs only the CA; here from the environment.
    let with_ca_env = |args: &[&str]| {
        cairn()
            .env("CAIRN_CA_CERT", &ca)
            .args(args)
            .output()
            .unwrap()
    };
    let cp = ok(&with_ca_env(&[
        "checkpoint",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--json",
    ]));
    let cp: Value = serde_json::from_str(&cp).unwrap();
    assert!(cp["tree_size"].as_u64().unwrap() > 20, "{cp}");
    let proved = dir.join("proved.tlog-proof");
    ok(&with_ca_env(&[
        "prove",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--index",
        "0",
        "--out",
        &proved.display().to_string(),
    ]));
    assert_eq!(verify_json(&vkey, &proved, &[]), (true, String::new()));
    let state = dir.join("monitor.json").display().to_string();
    ok(&with_ca_env(&[
        "monitor",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--state",
        &state,
        "--once",
    ]));
    let err = failed(&run(&[
        "checkpoint",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
    ]));
    assert!(err.contains("UnknownIssuer"), "{err}");
}

/// A `cairn witness serve` on a loopback port, following one log; SIGTERM on drop.
struct WitnessServer {
    child: Option<Child>,
    url: String,
    /// The witness's verifier key text, as `cairn witness init` wrote it.
    vkey: String,
}

impl WitnessServer {
    /// `cairn witness init` in `dir`, then `cairn witness serve` with a configuration that
    /// knows the log whose verifier key is `log_vkey`.
    fn start(dir: &Path, name: &str, log_vkey: &str) -> WitnessServer {
        let init = ok(&run(&[
            "witness",
            "init",
            "--data-dir",
            dir.to_str().unwrap(),
            "--name",
            name,
        ]));
        assert!(init.contains("created witness key"), "{init}");
        let vkey = fs::read_to_string(dir.join("witness.vkey"))
            .unwrap()
            .trim()
            .to_owned();
        let origin = log_vkey.split('+').next().unwrap();
        let config = dir.join("witness.toml");
        fs::write(
            &config,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[logs]\n{origin:?} = {log_vkey:?}\n",
                dir.display().to_string()
            ),
        )
        .unwrap();
        let mut child = cairn()
            .args(["witness", "serve", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap();
        let lines = line_reader(&mut child);
        let url = wait_for_line(&lines, "witness port: ");
        WitnessServer {
            child: Some(child),
            url,
            vkey,
        }
    }

    /// The `--witness` flag of `cairn serve` for this witness.
    fn flag(&self) -> String {
        format!("{}={}", self.url, self.vkey)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            sigterm(&child);
            assert!(wait_for(&mut child, Duration::from_secs(20)).success());
        }
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}

/// `cairn checkpoint --json` with `trust`; the tree size, or None when it fails.
fn checkpoint_size(url: &str, vkey: &str, trust: &[&str]) -> Option<u64> {
    let mut args = vec!["checkpoint", "--json", "--url", url, "--vkey", vkey];
    args.extend_from_slice(trust);
    let out = run(&args);
    if !out.status.success() {
        return None;
    }
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["tree_size"].as_u64()
}

#[test]
fn witnessed_log_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("log");
    ok(&run(&["init", "--data-dir", data.to_str().unwrap()]));
    let vkey = data.join("log.vkey").display().to_string();
    let log_vkey = fs::read_to_string(&vkey).unwrap().trim().to_owned();
    let mut witness = WitnessServer::start(&dir.join("witness"), "w1.example", &log_vkey);
    let wkey = witness.vkey.clone();
    let serve_flags = [
        "--witness",
        &witness.flag(),
        "--witness-quorum",
        "1",
        "--witness-min-interval-ms",
        "50",
    ];
    let mut server = Server::start_with(&data, &serve_flags);
    let quorum_1 = ["--witness-key", wkey.as_str(), "--quorum", "1"];

    // Submit with receipts on disk; they carry their batches' bare checkpoints.
    let receipts = dir.join("receipts");
    ok(&server.submit_with(
        &["--lines", "--receipts", receipts.to_str().unwrap()],
        b"alpha\nbeta\ngamma\n",
    ));
    let receipt = |i: u64| receipts.join(format!("{i}.tlog-proof"));
    for i in 0..3 {
        assert!(verify_json(&vkey, &receipt(i), &[]).0, "receipt {i}");
    }
    assert_eq!(
        verify_json(&vkey, &receipt(0), &quorum_1),
        (false, "quorum_not_met".to_owned())
    );

    // The witness cosigns in the background: wait until /checkpoint is a cosigned checkpoint
    // holding all three entries.
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_size(&server.public, &vkey, &quorum_1) != Some(3) {
        assert!(
            Instant::now() < deadline,
            "no cosigned checkpoint of size 3; the log said:\n{}",
            fs::read_to_string(data.with_extension("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = ok(&run(&[
        "checkpoint",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
        "--witness-key",
        &wkey,
    ]));
    assert!(shown.contains("cosigned by: w1.example"), "{shown}");

    // Upgrade the receipts in place; then they verify with the quorum.
    let mut args = vec!["upgrade-receipt", "--url", &server.public, "--vkey", &vkey];
    args.extend_from_slice(&quorum_1);
    args.push("--in-place");
    let paths: Vec<String> = (0..3).map(|i| receipt(i).display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let upgraded = ok(&run(&args));
    assert_eq!(upgraded.lines().count(), 3, "{upgraded}");
    assert!(
        upgraded.contains("to 3, cosigned by w1.example; written to"),
        "{upgraded}"
    );
    for i in 0..3 {
        assert_eq!(
            verify_json(&vkey, &receipt(i), &quorum_1),
            (true, String::new()),
            "receipt {i}"
        );
    }
    // Printing instead of writing (one receipt), and what is refused.
    let upgrade = |extra: &[&str]| {
        let mut args = vec!["upgrade-receipt", "--url", &server.public, "--vkey", &vkey];
        args.extend_from_slice(&quorum_1);
        args.extend_from_slice(extra);
        run(&args)
    };
    let printed = ok(&upgrade(&[receipt(2).to_str().unwrap()]));
    assert_eq!(printed, fs::read_to_string(receipt(2)).unwrap());
    let out = upgrade(&[receipt(0).to_str().unwrap(), receipt(1).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only upgraded with --in-place"));
    let text = fs::read_to_string(receipt(0)).unwrap();
    let bad = tampered(dir, "bad.tlog-proof", &text, "index 0", "index 1");
    let out = upgrade(&["--json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["ok"].clone(), json["reason"].clone()),
        (json!(false), json!("proof_invalid"))
    );

    // `cairn verify` (text output) of receipt 1 with `trust`: (exit code, stdout, stderr).
    let verify_text = |trust: &[&str]| {
        let receipt_1 = receipt(1).display().to_string();
        let mut args = vec!["verify", "--vkey", &vkey];
        args.extend_from_slice(trust);
        args.push(&receipt_1);
        let out = run(&args);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, _) = verify_text(&quorum_1);
    assert_eq!(code, Some(0));
    assert!(out.contains("cosigned by w1.example"), "{out}");

    // Quorum 2 with one witness key can never be met, and says so.
    let (code, _, err) = verify_text(&["--witness-key", &wkey, "--quorum", "2"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--quorum 2 cannot be met with 1 --witness-key"),
        "{err}"
    );
    // Quorum 2 of two keys where only one witness cosigned: names who did.
    let absent = SignerKey::from_seed("w2.example", KeyAlgorithm::Cosignature, [21; 32])
        .unwrap()
        .verifier()
        .to_text();
    let (code, _, err) = verify_text(&[
        "--witness-key",
        &wkey,
        "--witness-key",
        &absent,
        "--quorum",
        "2",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(
            "FAILED (quorum_not_met): witness quorum not met: 1 cosigned (w1.example), 2 required"
        ),
        "{err}"
    );

    // `prove` and `monitor` against the cosigned checkpoint, with the quorum.
    let proved = dir.join("proved.tlog-proof");
    let mut args = vec!["prove", "--url", &server.public, "--vkey", &vkey];
    args.extend_from_slice(&quorum_1);
    args.extend_from_slice(&["--index", "2", "--out", proved.to_str().unwrap()]);
    ok(&run(&args));
    assert!(verify_json(&vkey, &proved, &quorum_1).0);
    let state = dir.join("monitor.json");
    let mut args = vec![
        "monitor",
        "--once",
        "--url",
        &server.public,
        "--vkey",
        &vkey,
    ];
    args.extend_from_slice(&quorum_1);
    args.extend_from_slice(&["--state", state.to_str().unwrap()]);
    let out = ok(&run(&args));
    assert!(out.contains("size 3 verified"), "{out}");

    // The witness goes away and the log restarts: the last cosigned checkpoint is served at
    // once from storage, and newer entries are not until a witness cosigns them.
    witness.stop();
    server.stop();
    let server = Server::start_with(&data, &serve_flags);
    assert_eq!(checkpoint_size(&server.public, &vkey, &quorum_1), Some(3));
    let late = server.submit_lines("delta\n");
    assert_eq!(late[0]["index"], 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(checkpoint_size(&server.public, &vkey, &quorum_1), Some(3));
    let late_receipt = dir.join("late.tlog-proof");
    fs::write(&late_receipt, late[0]["receipt"].as_str().unwrap()).unwrap();
    let mut args = vec!["upgrade-receipt", "--url", &server.public, "--vkey", &vkey];
    args.extend_from_slice(&quorum_1);
    args.push(late_receipt.to_str().unwrap());
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FAILED (not_upgraded)"), "{err}");
    assert!(err.contains("nothing to upgrade to yet"), "{err}");
}

/// `cairn bench --spawn` in one command, with readers of one kind at a time: proofs are
/// verified, tiles are not proofs.
#[test]
fn bench_spawn_with_each_read_mix() {
    let run_mix = |mix: &str| -> Value {
        let out = ok(&run(&[
            "bench",
            "--spawn",
            "--writers",
            "2",
            "--readers",
            "2",
            "--read-mix",
            mix,
            "--count",
            "200",
            "--duration",
            "20",
            "--quiet",
            "--json",
        ]));
        let report: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["entries"].as_u64().unwrap() >= 200, "{report}");
        assert!(report["reads"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["read_mix"], mix, "{report}");
        report
    };
    let proofs = run_mix("proofs");
    assert!(proofs["proofs_verified"].as_u64().unwrap() > 0, "{proofs}");
    let tiles = run_mix("tiles");
    assert_eq!(tiles["proofs_verified"], 0, "{tiles}");
    let err = failed(&run(&["bench", "--spawn", "--read-mix", "everything"]));
    assert!(err.contains("--read-mix"), "{err}");
    // Refused before anything runs: a rate of 0 used to mean a writer asleep for days, a
    // NaN duration a panic, and an unreadable key file was parsed as key text.
    let err = failed(&run(&["bench", "--spawn", "--rate", "0"]));
    assert!(err.contains("--rate"), "{err}");
    let err = failed(&run(&["bench", "--spawn", "--duration", "NaN"]));
    assert!(err.contains("--duration"), "{err}");
    let err = failed(&run(&[
        "bench",
        "--url",
        "http://127.0.0.1:9",
        "--public-url",
        "http://127.0.0.1:9",
        "--token-file",
        "/dev/null",
        "--vkey",
        "/no/such/log.vkey",
    ]));
    assert!(
        err.contains("neither a verifier key nor a readable file"),
        "{err}"
    );
}

/// Open loop beyond what the server can take: the requests still due at the end are
/// reported and counted in the latency, not silently dropped.
#[test]
fn bench_open_loop_counts_what_it_could_not_send() {
    let out = ok(&run(&[
        "bench",
        "--spawn",
        "--writers",
        "1",
        "--rate",
        "1000000",
        "--duration",
        "1",
        "--quiet",
        "--json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    let unsent = report["unsent"].as_u64().unwrap();
    let requests = report["requests"].as_u64().unwrap();
    assert!(unsent > requests, "{report}");
    let latencies = report["write_latency_ms"]["count"].as_u64().unwrap();
    assert_eq!(latencies, requests + unsent, "{report}");
}

#[test]
fn monitor_remembers_a_checkpoint_the_log_will_not_prove() {
    let rt = Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let server = Server::start(&data);
    server.submit_lines("one\ntwo\nthree\nfour\nfive\n");
    let state = dir.join("state.json");
    let (vkey, state_arg, evidence_arg) = (
        server.vkey(),
        state.display().to_string(),
        dir.join("evidence").display().to_string(),
    );
    let monitor = |url: &str, extra: &[&str]| {
        let mut args = vec!["monitor", "--once", "--url", url, "--vkey", &vkey];
        args.extend_from_slice(&["--state", &state_arg, "--evidence-dir", &evidence_arg]);
        args.extend_from_slice(extra);
        run(&args)
    };
    ok(&monitor(&server.public, &[]));
    assert_eq!(state_size(&state), 5);

    // A signed fork of size 8, and every proof request answered with an error.
    let forked: Vec<Vec<u8>> = (0..9).map(|i| format!("forged {i}").into_bytes()).collect();
    let fork_note = signed_fork(&data, &forked[..8]);
    let stonewall_serving = |note: Vec<u8>| {
        serve_app(
            &rt,
            Router::new()
                .route("/checkpoint", get(move || async move { note }))
                .route(
                    "/v1/proof/consistency",
                    get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "busy") }),
                ),
        )
    };
    let stonewall = stonewall_serving(fork_note.clone());
    // An error first, but the signed checkpoint is kept.
    let out = monitor(&stonewall, &[]);
    assert_eq!(out.status.code(), Some(1));
    let kept: Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        kept["unproven"][0]["checkpoint"],
        String::from_utf8(fork_note.clone()).unwrap()
    );
    assert_eq!(state_size(&state), 5);
    // Unproven for longer than allowed: an alarm, with the signed checkpoint as evidence,
    // also while the log serves a newer checkpoint (just as unproven) by then.
    std::thread::sleep(Duration::from_millis(2100));
    let newer = stonewall_serving(signed_fork(&data, &forked));
    let out = monitor(&newer, &["--unproven-alarm-after", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALARM unproven"), "{text}");
    let found = evidence_files(&dir.join("evidence"));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["served_checkpoint"],
        String::from_utf8(fork_note).unwrap()
    );

    // The honest log grows past 8: the remembered checkpoint is proven against it at the
    // next check, and it is a fork.
    server.submit_lines("six\nseven\neight\nnine\n");
    let out = monitor(&server.public, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ALARM inconsistent"));
    assert_eq!(
        state_size(&state),
        9,
        "the honest checkpoint itself is verified"
    );
}
