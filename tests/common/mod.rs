//! Shared helpers for the end-to-end tests: build the real `cairn` binary once, run it on
//! loopback ephemeral ports with a temporary data directory, talk to it over HTTP(S), and check
//! what it serves with the *independent* verifier crates (`signed_note` for checkpoint
//! signatures, `tlog_tiles` for proofs and tiles), never with Cairn's own verifiers.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde::Deserialize;
use tempfile::TempDir;
use tlog_tiles::{Hash, Tile, TileReader};

/// How long anything that should be quick may take on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// The `cairn` binary, built once per test process with the profile the tests were built with.
pub fn cairn_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_cairn)
}

fn build_cairn() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // The same targets `cargo test --workspace` builds, so features unify the same way and,
    // inside that run, this finds everything fresh instead of compiling a second dependency
    // graph (`-p cairn-cli` alone resolves features differently).
    cmd.current_dir(workspace).args([
        "build",
        "--workspace",
        "--tests",
        "--message-format=json-render-diagnostics",
    ]);
    let release = !cfg!(debug_assertions);
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo build for the cairn binary");
    assert!(
        out.status.success(),
        "cargo build --workspace --tests failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Cargo says where it put the executable; trust that over guessing the target directory.
    let from_messages = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let msg: serde_json::Value = serde_json::from_str(line).ok()?;
            (msg["reason"] == "compiler-artifact"
                && msg["target"]["name"] == "cairn"
                && msg["target"]["kind"][0] == "bin"
                && msg["profile"]["test"] == false)
                .then(|| msg["executable"].as_str().map(PathBuf::from))
                .flatten()
        });
    let bin = from_messages.unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join(format!("cairn{}", std::env::consts::EXE_SUFFIX))
    });
    assert!(bin.is_file(), "no cairn binary at {}", bin.display());
    bin
}

/// A `cairn` command with no `CAIRN_*` settings leaking in from the caller's environment.
pub fn cairn() -> Command {
    let mut cmd = Command::new(cairn_bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CAIRN_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CAIRN_LOG", "info").stdin(Stdio::null());
    cmd
}

/// Runs a `cairn` command that should exit by itself and returns its status, stdout and
/// stderr. If it starts serving instead (prints its ports), it is killed at once and returned
/// with its stdout, for the caller to report; if it hangs, it is killed after [`PATIENCE`].
pub fn run_to_exit(mut cmd: Command) -> (ExitStatus, String, String) {
    let dir = TempDir::new().unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().expect("spawn cairn");
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let serving = std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .contains("internal port:");
        if serving {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not exit within {PATIENCE:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap(),
    )
}

/// Polls `f` until it returns `Some`, failing after [`PATIENCE`].
pub fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

// ---------------------------------------------------------------------------------------------
// A running server
// ---------------------------------------------------------------------------------------------

/// A `cairn serve` child process; stopped with SIGTERM (SIGKILL as a last resort) on drop.
pub struct Server {
    child: Option<Child>,
    /// Base URL of the public port, e.g. `http://127.0.0.1:40123`.
    pub public: String,
    /// Base URL of the internal port.
    pub internal: String,
    pub data_dir: PathBuf,
    /// Everything the server printed on stdout before it was ready.
    pub banner: Vec<String>,
    stderr_path: PathBuf,
    _logs: TempDir,
    client: Client,
}

/// Why a server did not come up.
#[derive(Debug)]
pub struct StartFailure {
    pub status: Option<ExitStatus>,
    pub stderr: String,
}

impl Server {
    /// `cairn serve` on `data_dir` with ephemeral loopback ports plus `extra` arguments.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::try_start(data_dir, extra).unwrap_or_else(|f| {
            panic!(
                "cairn serve failed to start ({:?}):\n{}",
                f.status, f.stderr
            )
        })
    }

    pub fn try_start(data_dir: &Path, extra: &[&str]) -> Result<Server, StartFailure> {
        let mut cmd = cairn();
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--public-listen", "127.0.0.1:0"])
            .args(["--internal-listen", "127.0.0.1:0"])
            .args(extra);
        Self::spawn(cmd, data_dir)
    }

    /// Spawns a prepared `cairn serve` command and waits until both ports are bound.
    pub fn spawn(mut cmd: Command, data_dir: &Path) -> Result<Server, StartFailure> {
        let logs = TempDir::new().unwrap();
        let stderr_path = logs.path().join("stderr");
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        let mut child = cmd.spawn().expect("spawn cairn serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout for the server's whole life so it can never block on a pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let (mut public, mut internal, mut banner) = (None, None, Vec::new());
        while public.is_none() || internal.is_none() {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("public port: ") {
                        public = Some(url.trim().to_string());
                    } else if let Some(url) = line.strip_prefix("internal port: ") {
                        internal = Some(url.trim().to_string());
                    }
                    banner.push(line);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: the process is exiting; fall through to collect its status.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(StartFailure {
                    status: Some(status),
                    stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartFailure {
                    status: None,
                    stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                });
            }
        }
        Ok(Server {
            child: Some(child),
            public: public.unwrap(),
            internal: internal.unwrap(),
            data_dir: data_dir.to_path_buf(),
            banner,
            stderr_path,
            _logs: logs,
            client: http(),
        })
    }

    /// Uses `client` (e.g. one with TLS roots, a client certificate or a local address) for
    /// every request this handle makes.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// Sends SIGTERM (a graceful stop) without waiting.
    pub fn sigterm(&self) {
        let pid = self.child.as_ref().expect("server is running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        let child = self.child.as_mut().expect("server not waited for");
        child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits for the process to exit (SIGKILL after [`PATIENCE`]).
    pub fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit()
    }

    /// Waits for the process to exit after [`Server::sigterm`] (SIGKILL after [`PATIENCE`]).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cairn serve ignored SIGTERM for {PATIENCE:?}; killed it");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("submit.token"))
            .expect("read submit.token")
            .trim()
            .to_string()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// GET on the public port.
    pub fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.public))
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET on the public port that must succeed; returns the body.
    pub fn get_ok(&self, path: &str) -> Vec<u8> {
        let resp = self.get(path);
        let status = resp.status();
        let body = resp.bytes().unwrap().to_vec();
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    pub fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> T {
        let body = self.get_ok(path);
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "GET {path}: not the expected JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    pub fn checkpoint_text(&self) -> String {
        String::from_utf8(self.get_ok("/checkpoint")).unwrap()
    }

    /// The latest checkpoint, signature checked against `<data-dir>/log.vkey`.
    pub fn checkpoint(&self) -> Verified {
        open_checkpoint(&self.checkpoint_text(), &self.file_vkey())
    }

    pub fn file_vkey(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("log.vkey"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// An authorised POST on the internal port.
    pub fn post_internal(&self, path: &str, body: Vec<u8>) -> Response {
        self.client
            .post(format!("{}{path}", self.internal))
            .bearer_auth(self.token())
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Submits one entry; it must be accepted.
    pub fn submit(&self, entry: &[u8]) -> Receipt {
        let resp = self.post_internal("/v1/entries", entry.to_vec());
        parse_ok(resp, "POST /v1/entries")
    }

    /// Submits a batch; it must be accepted.
    pub fn submit_batch(&self, entries: &[Vec<u8>]) -> Vec<Receipt> {
        let body = serde_json::json!({
            "entries": entries.iter().map(|e| STANDARD.encode(e)).collect::<Vec<_>>()
        });
        let resp = self.post_internal("/v1/entries/batch", serde_json::to_vec(&body).unwrap());
        let batch: BatchResponse = parse_ok(resp, "POST /v1/entries/batch");
        batch.receipts
    }

    /// The Prometheus text from the internal port.
    pub fn metrics(&self) -> String {
        let resp = self
            .client
            .get(format!("{}/metrics", self.internal))
            .bearer_auth(self.token())
            .send()
            .expect("GET /metrics");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- cairn serve stderr ({}) ----\n{}",
                self.data_dir.display(),
                self.stderr()
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + PATIENCE;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A plain HTTP client: generous timeout, never a proxy.
pub fn http() -> Client {
    client_builder().build().unwrap()
}

/// The settings every test client shares. The server closes keep-alive connections idle for
/// 10 s (its header-read timeout); a client reusing one just then races the close, so idle
/// connections are dropped on our side well before that.
pub fn client_builder() -> reqwest::blocking::ClientBuilder {
    Client::builder()
        .timeout(PATIENCE)
        .pool_idle_timeout(Duration::from_secs(2))
        .no_proxy()
}

pub fn parse_ok<T: for<'de> Deserialize<'de>>(resp: Response, what: &str) -> T {
    let status = resp.status();
    let body = resp.bytes().unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "{what}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{what}: not the expected JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Asserts an error answer: this status and a JSON body `{"error": {"code": code, ...}}`.
pub fn assert_error(resp: Response, status: StatusCode, code: &str, what: &str) {
    if let Err(e) = check_error(resp, status, code) {
        panic!("{what}: {e}");
    }
}

/// [`assert_error`] that reports instead of panicking.
pub fn check_error(resp: Response, status: StatusCode, code: &str) -> Result<(), String> {
    let got = resp.status();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let body = resp.bytes().map_err(|e| format!("reading the body: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    if got != status {
        return Err(format!("status {got}, expected {status}; body {text:?}"));
    }
    if !ctype.starts_with("application/json") {
        return Err(format!("{got}: error is not JSON ({ctype:?}): {text:?}"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("bad JSON {e}: {text}"))?;
    if json["error"]["code"] != code {
        return Err(format!("{got}: code is not {code:?}: {text}"));
    }
    if json["error"]["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("no message: {text}"));
    }
    Ok(())
}

/// The value of a Prometheus counter (0 when it was never incremented).
pub fn metric(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == name_and_labels).then(|| value.parse::<f64>().unwrap() as u64)
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Wire shapes (crates/api/src/internal.rs and public.rs)
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: String,
    pub duplicate: bool,
    pub tree_size: u64,
    pub root_hash: String,
    pub inclusion_proof: Vec<String>,
    pub checkpoint: String,
    pub tlog_proof: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BatchResponse {
    pub receipts: Vec<Receipt>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct InclusionResponse {
    pub index: u64,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub inclusion_proof: Vec<String>,
    pub checkpoint: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyResponse {
    pub old_size: u64,
    pub tree_size: u64,
    pub consistency_proof: Vec<String>,
    pub checkpoint: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EntryResponse {
    pub index: u64,
    pub leaf_hash: String,
    pub entry: String,
    pub tree_size: u64,
    pub checkpoint: String,
}

// ---------------------------------------------------------------------------------------------
// Independent verification
// ---------------------------------------------------------------------------------------------

/// A checkpoint whose signature `signed_note` verified, parsed by `tlog_tiles`.
#[derive(Debug)]
pub struct Verified {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

/// Opens a signed checkpoint note with `signed_note` against `vkey`; panics unless it verifies.
pub fn open_checkpoint(note: &str, vkey: &str) -> Verified {
    try_open_checkpoint(note, vkey).unwrap_or_else(|e| panic!("{e}:\n{note}"))
}

pub fn try_open_checkpoint(note: &str, vkey: &str) -> Result<Verified, String> {
    let verifier = signed_note::StandardVerifier::new(vkey.trim())
        .map_err(|e| format!("bad verifier key {vkey:?}: {e}"))?;
    let verifiers = signed_note::VerifierList::new(vec![Box::new(verifier)]);
    let parsed = signed_note::Note::from_bytes(note.as_bytes())
        .map_err(|e| format!("not a signed note: {e}"))?;
    let (verified, _) = parsed
        .verify(&verifiers)
        .map_err(|e| format!("checkpoint signature does not verify: {e}"))?;
    if verified.is_empty() {
        return Err("no verified signature".into());
    }
    let cp = tlog_tiles::Checkpoint::from_bytes(parsed.text())
        .map_err(|e| format!("not a checkpoint: {e}"))?;
    if !cp.extension().is_empty() {
        return Err("unexpected checkpoint extension lines".into());
    }
    Ok(Verified {
        origin: cp.origin().to_string(),
        size: cp.size(),
        root: *cp.hash(),
        note: note.to_string(),
    })
}

pub fn b64_hash(text: &str) -> Hash {
    let bytes = STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    Hash(bytes.try_into().expect("32-byte hash"))
}

pub fn hex_hash(text: &str) -> Hash {
    assert_eq!(text, text.to_lowercase(), "hex must be lowercase");
    Hash(hex::decode(text).unwrap().try_into().expect("32-byte hash"))
}

pub fn b64_hashes(list: &[String]) -> Vec<Hash> {
    list.iter().map(|h| b64_hash(h)).collect()
}

/// A parsed `c2sp.org/tlog-proof@v1` document.
#[derive(Debug)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: String,
}

/// Parses `c2sp.org/tlog-proof@v1` strictly (our own parser, not Cairn's).
pub fn parse_tlog_proof(text: &str) -> TlogProof {
    let (head, checkpoint) = text
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line in tlog-proof: {text:?}"));
    let mut lines = head.split('\n');
    assert_eq!(lines.next(), Some("c2sp.org/tlog-proof@v1"), "{text}");
    let mut line = lines.next().expect("index line");
    let mut extra = None;
    if let Some(b64) = line.strip_prefix("extra ") {
        extra = Some(STANDARD.decode(b64).expect("extra is base64"));
        line = lines.next().expect("index line");
    }
    let index = line
        .strip_prefix("index ")
        .unwrap_or_else(|| panic!("no index line: {text}"))
        .parse::<u64>()
        .expect("decimal index");
    let proof = lines.map(b64_hash).collect();
    TlogProof {
        extra,
        index,
        proof,
        checkpoint: checkpoint.to_string(),
    }
}

/// RFC 9162 inclusion check by `tlog_tiles` (Go's `tlog.CheckRecord`).
pub fn check_inclusion(proof: &[Hash], cp: &Verified, index: u64, leaf: Hash) {
    tlog_tiles::check_record(&proof.to_vec(), cp.size, cp.root, index, leaf).unwrap_or_else(|e| {
        panic!(
            "inclusion proof for {index} in size {} does not verify: {e}",
            cp.size
        )
    });
}

/// RFC 9162 consistency check by `tlog_tiles` (Go's `tlog.CheckTree`).
pub fn check_consistency(proof: &[Hash], old: &Verified, new: &Verified) {
    tlog_tiles::check_tree(&proof.to_vec(), new.size, new.root, old.size, old.root).unwrap_or_else(
        |e| {
            panic!(
                "consistency proof {} -> {} does not verify: {e}",
                old.size, new.size
            )
        },
    );
}

/// A `tlog_tiles::TileReader` over the server's public port. Every hash tile is fetched under
/// both spellings (C2SP `tile/L/N` and Go's `tile/8/L/N`), which must give the same bytes.
pub struct HttpTiles<'a> {
    pub server: &'a Server,
    /// Paths fetched, for assertions about what was exercised.
    pub fetched: Mutex<Vec<String>>,
}

impl<'a> HttpTiles<'a> {
    pub fn new(server: &'a Server) -> Self {
        HttpTiles {
            server,
            fetched: Mutex::new(Vec::new()),
        }
    }
}

/// `tile/8/L/N[.p/W]` (Go) → `tile/L/N[.p/W]` (C2SP).
pub fn c2sp_path(tile: &Tile) -> String {
    let go = tile.path();
    let rest = go.strip_prefix("tile/8/").expect("height-8 tile");
    format!("tile/{rest}")
}

impl TileReader for HttpTiles<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        let mut out = Vec::new();
        for t in tiles {
            let c2sp = c2sp_path(t);
            let body = self.server.get_ok(&format!("/{c2sp}"));
            let go = self.server.get_ok(&format!("/{}", t.path()));
            assert_eq!(body, go, "{c2sp} and {} differ", t.path());
            assert_eq!(body.len(), t.width() as usize * 32, "{c2sp}: wrong length");
            let mut fetched = self.fetched.lock().unwrap();
            fetched.push(c2sp);
            fetched.push(t.path());
            out.push(body);
        }
        Ok(out)
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

/// Splits a C2SP entry bundle into its entries (big-endian u16 length prefixes).
pub fn parse_bundle(mut body: &[u8]) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 2, "truncated length prefix");
        let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        assert!(body.len() >= 2 + len, "truncated entry");
        entries.push(body[2..2 + len].to_vec());
        body = &body[2 + len..];
    }
    entries
}

/// `N` in tile paths: groups of three digits, all but the last prefixed `x`.
pub fn tile_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// Deterministic, distinct test entries.
pub fn entry(tag: &str, i: usize) -> Vec<u8> {
    format!("{tag} entry {i}: user=u{} action=login", i % 7).into_bytes()
}

/// Reads one raw HTTP/1.1 answer from a socket: `Some((status line, body))`, or `None` if
/// the server closed the connection (or failed it) without answering.
pub fn read_response(stream: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.to_string();
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>().expect("content-length"))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some((status, body))
}
