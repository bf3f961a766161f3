//! The load generator behind `cairn bench`: N writers and M readers against a running log,
//! over HTTP, with every sampled answer verified — a fast log that serves a wrong proof fails
//! the run instead of winning it.
//!
//! Writers run closed-loop (each sends its next request when the last one is answered) or,
//! with a target rate, open-loop: requests are scheduled at fixed times and latency is measured
//! from the scheduled time, so a stalled server cannot hide its stall by slowing the generator
//! down (coordinated omission).

mod stats;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_note::VerifierKey;
use serde::{Deserialize, Serialize};

pub use stats::{LatencySummary, Recorder};
pub use verify::{ReceiptFields, Verifier};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("HTTP error talking to {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the log served something that does not verify: {0}")]
    Verification(String),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Tls(#[from] cairn_client::TlsError),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Base URL of the internal (write) port, e.g. `http://127.0.0.1:8081`.
    pub internal_url: String,
    /// Base URL of the public (read) port.
    pub public_url: String,
    /// Extra CA certificates and a client certificate for `https://` ports (both ports use
    /// the same settings).
    pub tls: cairn_client::TlsOptions,
    pub token: String,
    /// The log's key: every sampled checkpoint must be signed by it.
    pub vkey: VerifierKey,
    pub writers: usize,
    /// Entries per request: 1 uses `POST /v1/entries`, more use `/v1/entries/batch`.
    pub batch: usize,
    pub entry_size: usize,
    /// Fraction of entries that repeat an earlier entry (exercises dedup).
    pub duplicate_ratio: f64,
    pub readers: usize,
    /// What readers ask for.
    pub read_mix: ReadMix,
    /// Stop after this long...
    pub duration: Option<Duration>,
    /// ...or after this many entries were acknowledged (whichever comes first).
    pub count: Option<u64>,
    /// Offered load in entries/s across all writers (open loop); `None` is closed loop.
    pub rate: Option<f64>,
    /// Verify one receipt in this many (1 = all).
    pub verify_one_in: u64,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Tag mixed into entries so separate runs never collide (dedup would make them cheap).
    pub run_id: u64,
}

/// What readers ask for, so proof and tile throughput can be measured apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMix {
    /// One in ten checkpoints, six inclusion proofs, three level-0 tiles.
    #[default]
    Mixed,
    /// Inclusion proofs at random indexes, each verified against its signed checkpoint.
    Proofs,
    /// Level-0 hash tiles at random positions, length-checked.
    Tiles,
    /// The signed checkpoint, signature-checked.
    Checkpoints,
}

impl ReadMix {
    /// Which request a reader makes, given a uniform random number.
    fn pick(self, r: u64) -> ReadOp {
        match self {
            ReadMix::Proofs => ReadOp::Proof,
            ReadMix::Tiles => ReadOp::Tile,
            ReadMix::Checkpoints => ReadOp::Checkpoint,
            ReadMix::Mixed => match r % 10 {
                0 => ReadOp::Checkpoint,
                1..=6 => ReadOp::Proof,
                _ => ReadOp::Tile,
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadOp {
    Checkpoint,
    Proof,
    Tile,
}

/// What happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub writers: usize,
    pub batch: usize,
    pub entry_size: usize,
    pub readers: usize,
    pub read_mix: ReadMix,
    pub offered_rate: Option<f64>,
    pub elapsed_secs: f64,
    pub entries: u64,
    pub duplicates: u64,
    pub entries_per_sec: f64,
    pub requests: u64,
    /// Submit→receipt latency per request, in milliseconds; with `--rate`, measured from the
    /// time each request was due, and including the requests still unsent at the end.
    pub write_latency_ms: LatencySummary,
    /// With `--rate`: requests that were due but never sent when the run ended (the writers
    /// were behind); counted in the latency at their delay so far.
    #[serde(default)]
    pub unsent: u64,
    pub receipts_verified: u64,
    pub reads: u64,
    pub reads_per_sec: f64,
    pub read_latency_ms: LatencySummary,
    pub proofs_verified: u64,
    pub errors: u64,
    pub overloaded: u64,
    pub first_error: Option<String>,
}

struct Shared {
    cfg: BenchConfig,
    http: reqwest::Client,
    verifier: Verifier,
    stop: AtomicBool,
    entries: AtomicU64,
    duplicates: AtomicU64,
    requests: AtomicU64,
    reads: AtomicU64,
    errors: AtomicU64,
    overloaded: AtomicU64,
    unsent: AtomicU64,
    receipts_verified: AtomicU64,
    proofs_verified: AtomicU64,
    next_entry: AtomicU64,
    tree_size: AtomicU64,
    first_error: Mutex<Option<String>>,
    writes: Recorder,
    read_lat: Recorder,
}

impl Shared {
    fn fail(&self, e: impl std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    fn should_stop(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return true;
        }
        if let Some(count) = self.cfg.count {
            if self.entries.load(Ordering::Relaxed) >= count {
                self.stop.store(true, Ordering::Relaxed);
                return true;
            }
        }
        false
    }

    /// Entry `n` of this run: unique bytes of the configured size.
    fn entry(&self, n: u64) -> Vec<u8> {
        let mut e = vec![0u8; self.cfg.entry_size.max(16)];
        e[..8].copy_from_slice(&self.cfg.run_id.to_be_bytes());
        e[8..16].copy_from_slice(&n.to_be_bytes());
        let mut x = (n ^ self.cfg.run_id).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for b in e[16..].iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        e.truncate(self.cfg.entry_size.max(1));
        e
    }

    fn pick_entry(&self, rng: &mut u64) -> Vec<u8> {
        let issued = self.next_entry.load(Ordering::Relaxed);
        let dup =
            issued > 0 && (next_rand(rng) as f64 / u64::MAX as f64) < self.cfg.duplicate_ratio;
        let n = if dup {
            next_rand(rng) % issued
        } else {
            self.next_entry.fetch_add(1, Ordering::Relaxed)
        };
        self.entry(n)
    }
}

fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[derive(Deserialize)]
struct ReceiptJson {
    index: u64,
    leaf_hash: String,
    duplicate: bool,
    tree_size: u64,
    root_hash: String,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

#[derive(Deserialize)]
struct BatchResponse {
    receipts: Vec<ReceiptJson>,
}

#[derive(Deserialize)]
struct InclusionJson {
    index: u64,
    leaf_hash: String,
    tree_size: u64,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

/// Runs the benchmark to completion.
pub async fn run(cfg: BenchConfig) -> Result<BenchReport, BenchError> {
    if cfg.writers == 0 && cfg.readers == 0 {
        return Err(BenchError::Config(
            "nothing to do: no writers and no readers".into(),
        ));
    }
    if cfg.batch == 0 || cfg.entry_size == 0 || cfg.entry_size > 65_535 {
        return Err(BenchError::Config(
            "batch must be ≥ 1 and entry size 1..=65535".into(),
        ));
    }
    if cfg.duration.is_none() && cfg.count.is_none() {
        return Err(BenchError::Config("give a duration or a count".into()));
    }
    if cfg.count.is_some() && cfg.writers == 0 {
        return Err(BenchError::Config("a count needs writers".into()));
    }
    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.writers + cfg.readers + 4)
        .timeout(Duration::from_secs(60));
    let http = cfg
        .tls
        .apply(builder)?
        .build()
        .map_err(|e| BenchError::Http {
            url: cfg.internal_url.clone(),
            source: e,
        })?;
    let shared = Arc::new(Shared {
        verifier: Verifier::new(cfg.vkey.clone()),
        // Only the progress line drains a window, and only the writers'.
        writes: if cfg.progress {
            Recorder::windowed()
        } else {
            Recorder::default()
        },
        cfg,
        http,
        stop: AtomicBool::new(false),
        entries: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        overloaded: AtomicU64::new(0),
        unsent: AtomicU64::new(0),
        receipts_verified: AtomicU64::new(0),
        proofs_verified: AtomicU64::new(0),
        next_entry: AtomicU64::new(0),
        tree_size: AtomicU64::new(0),
        first_error: Mutex::new(None),
        read_lat: Recorder::default(),
    });
    // The starting tree size, so readers know which indices exist; also checks the key.
    let size = fetch_checkpoint(&shared).await?;
    shared.tree_size.store(size, Ordering::Relaxed);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..shared.cfg.writers {
        tasks.push(tokio::spawn(writer(shared.clone(), w)));
    }
    for r in 0..shared.cfg.readers {
        tasks.push(tokio::spawn(reader(shared.clone(), r)));
    }
    let progress = shared
        .cfg
        .progress
        .then(|| tokio::spawn(progress(shared.clone(), started)));
    let deadline = shared.cfg.duration.map(|d| started + d);
    // Without a time limit, a run that stops making progress (a wrong token, a server that
    // went away) would never end.
    let mut progress_at = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if shared.should_stop() || deadline.is_some_and(|d| Instant::now() >= d) {
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
        if deadline.is_none() {
            let done =
                shared.entries.load(Ordering::Relaxed) + shared.reads.load(Ordering::Relaxed);
            if done != progress_at.1 {
                progress_at = (Instant::now(), done);
            } else if progress_at.0.elapsed() >= STALL_LIMIT {
                shared.fail(format!(
                    "nothing was acknowledged or read for {} s; giving up",
                    STALL_LIMIT.as_secs()
                ));
                shared.stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        // A verification failure ends the run at once: the numbers of a lying log are moot.
        if shared.verifier.failed() {
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
    }
    for t in tasks {
        if let Err(e) = t.await {
            // A panicked task would otherwise just read as less throughput.
            shared.fail(format!("a load task failed: {e}"));
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(failure) = shared.verifier.failure() {
        return Err(BenchError::Verification(failure));
    }
    let s = &*shared;
    let entries = s.entries.load(Ordering::Relaxed);
    let reads = s.reads.load(Ordering::Relaxed);
    let report = BenchReport {
        writers: s.cfg.writers,
        batch: s.cfg.batch,
        entry_size: s.cfg.entry_size,
        readers: s.cfg.readers,
        read_mix: s.cfg.read_mix,
        offered_rate: s.cfg.rate,
        elapsed_secs: elapsed,
        entries,
        duplicates: s.duplicates.load(Ordering::Relaxed),
        entries_per_sec: entries as f64 / elapsed,
        requests: s.requests.load(Ordering::Relaxed),
        write_latency_ms: s.writes.summary(),
        receipts_verified: s.receipts_verified.load(Ordering::Relaxed),
        reads,
        reads_per_sec: reads as f64 / elapsed,
        read_latency_ms: s.read_lat.summary(),
        proofs_verified: s.proofs_verified.load(Ordering::Relaxed),
        errors: s.errors.load(Ordering::Relaxed),
        overloaded: s.overloaded.load(Ordering::Relaxed),
        unsent: s.unsent.load(Ordering::Relaxed),
        first_error: s.first_error.lock().unwrap().clone(),
    };
    Ok(report)
}

async fn fetch_checkpoint(s: &Shared) -> Result<u64, BenchError> {
    let url = format!("{}/checkpoint", s.cfg.public_url);
    let body = get_bytes(s, &url, None).await?;
    let cp = s
        .verifier
        .checkpoint(&body)
        .map_err(BenchError::Verification)?;
    Ok(cp.size)
}

async fn get_bytes(s: &Shared, url: &str, accept: Option<&str>) -> Result<Vec<u8>, BenchError> {
    let mut req = s.http.get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.map_err(|e| BenchError::Http {
        url: url.into(),
        source: e,
    })?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| BenchError::Http {
        url: url.into(),
        source: e,
    })?;
    if !status.is_success() {
        return Err(BenchError::Status {
            url: url.into(),
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    Ok(body.to_vec())
}

/// Whether an error body is Cairn's `log_stopped` (the sequencer died).
fn is_log_stopped(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Body {
        error: Code,
    }
    #[derive(Deserialize)]
    struct Code {
        code: String,
    }
    serde_json::from_slice::<Body>(body).is_ok_and(|b| b.error.code == "log_stopped")
}

/// How long a run without a time limit may go without any progress.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// A pause after a failed request, so that a misconfigured run (a wrong token, a server
/// that is down) does not spin through millions of failures on the cores the server shares.
const FAILURE_BACKOFF: Duration = Duration::from_millis(10);

/// Most unsent requests one writer counts at the end (a writer far behind a very high rate).
const MAX_UNSENT_COUNTED: u64 = 1_000_000;

async fn writer(s: Arc<Shared>, id: usize) {
    let mut rng = 0x2545_f491_4f6c_dd1d ^ ((id as u64 + 1) << 17) ^ s.cfg.run_id;
    let per_writer_interval = s.cfg.rate.map(|r| {
        let requests_per_sec = r / s.cfg.batch as f64 / s.cfg.writers as f64;
        Duration::from_secs_f64(1.0 / requests_per_sec.max(1e-6))
    });
    // Spread writers' schedules so they do not fire in lockstep.
    let mut due = Instant::now()
        + per_writer_interval
            .map(|i| i.mul_f64(id as f64 / s.cfg.writers as f64))
            .unwrap_or_default();
    let single = s.cfg.batch == 1;
    let url = if single {
        format!("{}/v1/entries", s.cfg.internal_url)
    } else {
        format!("{}/v1/entries/batch", s.cfg.internal_url)
    };
    while !s.should_stop() {
        if per_writer_interval.is_some() {
            // In slices, so that a stop is noticed within 20 ms at any rate, and nothing is
            // sent after it.
            loop {
                let now = Instant::now();
                if due <= now || s.should_stop() {
                    break;
                }
                tokio::time::sleep((due - now).min(Duration::from_millis(20))).await;
            }
            if s.should_stop() {
                break;
            }
        }
        let issued = if per_writer_interval.is_some() {
            due
        } else {
            Instant::now()
        };
        if let Some(interval) = per_writer_interval {
            due += interval;
        }
        let entries: Vec<Vec<u8>> = (0..s.cfg.batch).map(|_| s.pick_entry(&mut rng)).collect();
        let req = if single {
            s.http.post(&url).body(entries[0].clone())
        } else {
            let body = serde_json::json!({
                "entries": entries.iter().map(|e| STANDARD.encode(e)).collect::<Vec<_>>()
            });
            s.http.post(&url).json(&body)
        };
        let resp = req.bearer_auth(&s.cfg.token).send().await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                s.fail(format!("POST {url}: {e}"));
                tokio::time::sleep(FAILURE_BACKOFF).await;
                continue;
            }
        };
        let status = resp.status();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                s.fail(format!("POST {url}: {e}"));
                tokio::time::sleep(FAILURE_BACKOFF).await;
                continue;
            }
        };
        if status.as_u16() == 503 && is_log_stopped(&body) {
            // Not overload: the log will take nothing until it is restarted.
            s.fail(format!("POST {url}: 503 log_stopped"));
            s.stop.store(true, Ordering::Relaxed);
            break;
        }
        if status.as_u16() == 503 {
            s.overloaded.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        if !status.is_success() {
            s.fail(format!(
                "POST {url}: {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
            tokio::time::sleep(FAILURE_BACKOFF).await;
            continue;
        }
        s.writes.record(issued.elapsed());
        let receipts: Vec<ReceiptJson> = if single {
            match serde_json::from_slice::<ReceiptJson>(&body) {
                Ok(r) => vec![r],
                Err(e) => {
                    s.verifier.fail(format!("unparseable receipt: {e}"));
                    break;
                }
            }
        } else {
            match serde_json::from_slice::<BatchResponse>(&body) {
                Ok(b) => b.receipts,
                Err(e) => {
                    s.verifier.fail(format!("unparseable batch receipts: {e}"));
                    break;
                }
            }
        };
        if receipts.len() != entries.len() {
            s.verifier.fail(format!(
                "{} receipts for {} entries",
                receipts.len(),
                entries.len()
            ));
            break;
        }
        s.requests.fetch_add(1, Ordering::Relaxed);
        for (entry, r) in entries.iter().zip(&receipts) {
            let n = s.entries.fetch_add(1, Ordering::Relaxed) + 1;
            if r.duplicate {
                s.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            if n.is_multiple_of(s.cfg.verify_one_in.max(1)) {
                let fields = ReceiptFields {
                    index: r.index,
                    leaf_hex: &r.leaf_hash,
                    tree_size: r.tree_size,
                    root_b64: &r.root_hash,
                    proof: &r.inclusion_proof,
                    note: r.checkpoint.as_bytes(),
                };
                match s.verifier.receipt(entry, &fields) {
                    Ok(size) => {
                        s.tree_size.fetch_max(size, Ordering::Relaxed);
                        s.receipts_verified.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        s.verifier
                            .fail(format!("receipt for index {}: {e}", r.index));
                        return;
                    }
                }
            }
        }
    }
    // Open loop: the requests that were due but never sent when the run stopped (this
    // writer was behind) count at their delay so far; dropping them would hide exactly the
    // worst latencies of a saturated run.
    if let Some(interval) = per_writer_interval {
        let now = Instant::now();
        let mut missed = 0u64;
        while due < now && missed < MAX_UNSENT_COUNTED {
            s.writes.record(now - due);
            due += interval;
            missed += 1;
        }
        s.unsent.fetch_add(missed, Ordering::Relaxed);
    }
}

async fn reader(s: Arc<Shared>, id: usize) {
    let mut rng = 0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 7) << 23) ^ s.cfg.run_id;
    while !s.should_stop() {
        let size = s.tree_size.load(Ordering::Relaxed);
        let started = Instant::now();
        let op = s.cfg.read_mix.pick(next_rand(&mut rng));
        let result: Result<(), BenchError> = if size == 0 || op == ReadOp::Checkpoint {
            fetch_checkpoint(&s).await.map(|n| {
                s.tree_size.fetch_max(n, Ordering::Relaxed);
            })
        } else if op == ReadOp::Proof {
            let index = next_rand(&mut rng) % size;
            let url = format!("{}/v1/proof/inclusion?index={index}", s.cfg.public_url);
            match get_bytes(&s, &url, None).await {
                Ok(body) => match serde_json::from_slice::<InclusionJson>(&body) {
                    Ok(p) if p.index == index => s
                        .verifier
                        .proof(
                            &p.leaf_hash,
                            p.index,
                            p.tree_size,
                            &p.inclusion_proof,
                            p.checkpoint.as_bytes(),
                        )
                        .map(|_| {
                            s.proofs_verified.fetch_add(1, Ordering::Relaxed);
                        })
                        .map_err(|e| {
                            s.verifier.fail(format!("inclusion proof for {index}: {e}"));
                            BenchError::Verification(e)
                        }),
                    Ok(p) => {
                        let e = format!("asked for index {index}, got {}", p.index);
                        s.verifier.fail(e.clone());
                        Err(BenchError::Verification(e))
                    }
                    Err(e) => Err(BenchError::Verification(format!("bad proof JSON: {e}"))),
                },
                Err(e) => Err(e),
            }
        } else {
            // A level-0 tile below the size: the most common read of a tlog-tiles client.
            let tile = next_rand(&mut rng) % size.div_ceil(256);
            let width = cairn_tree::hash_tile_width(0, tile, size);
            let path = cairn_tree::Tile::hashes(0, tile, width)
                .map(|t| t.path())
                .unwrap_or_default();
            let url = format!("{}/{path}", s.cfg.public_url);
            get_bytes(&s, &url, None).await.and_then(|body| {
                if body.len() == usize::from(width) * 32 {
                    Ok(())
                } else {
                    Err(BenchError::Verification(format!(
                        "{path} has {} bytes, expected {}",
                        body.len(),
                        usize::from(width) * 32
                    )))
                }
            })
        };
        match result {
            Ok(()) => {
                s.reads.fetch_add(1, Ordering::Relaxed);
                s.read_lat.record(started.elapsed());
            }
            // A wrong answer (a bad signature, a malformed proof, a tile of the wrong size)
            // ends the run, as a bad receipt does; a failed request is only counted.
            Err(BenchError::Verification(e)) => {
                s.errors.fetch_add(1, Ordering::Relaxed);
                s.verifier.fail(e);
            }
            Err(e) => {
                s.fail(e);
                tokio::time::sleep(FAILURE_BACKOFF).await;
            }
        }
    }
}

async fn progress(s: Arc<Shared>, started: Instant) {
    let mut last = (Instant::now(), 0u64, 0u64);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = Instant::now();
        let entries = s.entries.load(Ordering::Relaxed);
        let reads = s.reads.load(Ordering::Relaxed);
        let dt = (now - last.0).as_secs_f64();
        let recent = s.writes.take_recent();
        eprintln!(
            "[{:>5.1}s] {:>9.0} entries/s  write p50 {:>7.2} ms  p99 {:>7.2} ms  {:>8.0} reads/s  errors {}  503s {}",
            (now - started).as_secs_f64(),
            (entries - last.1) as f64 / dt,
            recent.p50,
            recent.p99,
            (reads - last.2) as f64 / dt,
            s.errors.load(Ordering::Relaxed),
            s.overloaded.load(Ordering::Relaxed),
        );
        last = (now, entries, reads);
    }
}

/// A summary table for humans.
pub fn format_report(r: &BenchReport) -> String {
    let mut out = String::new();
    let rate = r
        .offered_rate
        .map(|x| format!("{x:.0} entries/s offered"))
        .unwrap_or_else(|| "closed loop".into());
    out.push_str(&format!(
        "cairn bench: {} writers x {} entries/request ({} B each), {} readers ({:?}), {rate}, {:.1} s\n",
        r.writers, r.batch, r.entry_size, r.readers, r.read_mix, r.elapsed_secs
    ));
    out.push_str(&format!(
        "  writes   {:>10} entries  {:>10.0} entries/s  {} requests  {} duplicates  {} receipts verified\n",
        r.entries, r.entries_per_sec, r.requests, r.duplicates, r.receipts_verified
    ));
    let l = &r.write_latency_ms;
    out.push_str(&format!(
        "           latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n",
        l.p50, l.p90, l.p99, l.max
    ));
    if r.unsent > 0 {
        out.push_str(&format!(
            "           {} requests were due but unsent at the end (the writers were behind; counted in the latency)\n",
            r.unsent
        ));
    }
    out.push_str(&format!(
        "  reads    {:>10} requests {:>10.0} reads/s    {} proofs verified\n",
        r.reads, r.reads_per_sec, r.proofs_verified
    ));
    let l = &r.read_latency_ms;
    out.push_str(&format!(
        "           latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n",
        l.p50, l.p90, l.p99, l.max
    ));
    out.push_str(&format!(
        "  errors   {}  (503 overloaded: {}){}\n",
        r.errors,
        r.overloaded,
        r.first_error
            .as_ref()
            .map(|e| format!("; first: {e}"))
            .unwrap_or_default()
    ));
    out
}
