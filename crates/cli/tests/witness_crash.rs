//! A witness killed with SIGKILL never forgets a size it cosigned.
//!
//! `cairn witness serve` answers with a cosignature only after the swap is flushed, and the
//! flush is shared by every request in flight. This drives several logs concurrently against
//! a real witness process, kills it at random moments, restarts it on the same state, and
//! checks for every log that the stored size is at least the last size the witness answered
//! 200 for (and at most the largest one it was asked about). Kills: `CAIRN_WITNESS_KILLS`
//! (default 6); seed: `CAIRN_CRASH_SEED`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_note::{Checkpoint, KeyAlgorithm, SignerKey};
use cairn_tree::{consistency_proof, leaf_hash, Frontier, Hash, MemoryHashes};
use cairn_witness::{encode_request, origin_hash};
use tokio::runtime::Runtime;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
const LOGS: usize = 4;

/// One log's tree, grown as the test goes, and what the witness told us about it.
struct LogSide {
    key: SignerKey,
    store: MemoryHashes,
    frontier: Frontier,
    roots: Vec<Hash>,
    /// The last size the witness cosigned (answered 200 for).
    acked: u64,
    /// The largest size ever sent.
    sent: u64,
}

impl LogSide {
    fn new(i: usize) -> Self {
        let key = SignerKey::generate(&format!("crash.test/log-{i}"), KeyAlgorithm::Ed25519)
            .expect("log key");
        LogSide {
            key,
            store: MemoryHashes::new(),
            frontier: Frontier::new(),
            roots: vec![Hash::empty_root()],
            acked: 0,
            sent: 0,
        }
    }

    fn grow_to(&mut self, size: u64) {
        let mut out = Vec::new();
        while self.frontier.size() < size {
            let n = self.frontier.size();
            self.frontier
                .append(leaf_hash(&n.to_be_bytes()), &mut out)
                .unwrap();
            self.store.store(&out);
            out.clear();
            self.roots.push(self.frontier.root());
        }
    }

    /// An add-checkpoint body from `old` to `new` leaves.
    fn body(&mut self, old: u64, new: u64) -> Vec<u8> {
        self.grow_to(new);
        let note = Checkpoint::new(self.key.name(), new, self.roots[new as usize])
            .unwrap()
            .sign(&self.key)
            .unwrap()
            .to_bytes();
        let proof = if old == 0 || old == new {
            Vec::new()
        } else {
            consistency_proof(old, new, &self.store).unwrap()
        };
        encode_request(old, &proof, &note)
    }
}

/// Deterministic pseudo-random numbers.
fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

/// A witness process, SIGKILLed on drop so a failing test leaves none behind (an orphan would
/// also hold the test's stderr open).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_witness(config: &Path) -> (Running, String) {
    let mut child = Command::new(CAIRN)
        .args(["witness", "serve", "--config"])
        .arg(config)
        .env("CAIRN_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start cairn witness serve");
    let stdout = child.stdout.take().unwrap();
    let child = Running(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("witness port: ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the witness printed its port");
    (child, url)
}

/// The size the witness answers a request from `old` with: `Ok(new)` on 200, `Err(stored)` on
/// 409. Anything else fails the test.
async fn send(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    new: u64,
) -> Result<Result<u64, u64>, reqwest::Error> {
    let resp = http
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    match status {
        200 => Ok(Ok(new)),
        409 => Ok(Err(text.trim().parse().expect("409 body is a size"))),
        other => panic!("witness answered {other}: {text}"),
    }
}

#[test]
fn a_killed_witness_never_forgets_a_cosigned_size() {
    let kills: usize = std::env::var("CAIRN_WITNESS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let mut seed: u64 = std::env::var("CAIRN_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("CAIRN_CRASH_SEED={seed}");

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("witness");
    let init = Command::new(CAIRN)
        .args([
            "witness",
            "init",
            "--name",
            "crash.test/witness",
            "--data-dir",
        ])
        .arg(&data)
        .env("CAIRN_LOG", "warn")
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");

    let logs: Vec<Arc<Mutex<LogSide>>> = (0..LOGS)
        .map(|i| Arc::new(Mutex::new(LogSide::new(i))))
        .collect();
    let mut config = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[logs]\n",
        data.to_str().unwrap()
    );
    for log in &logs {
        let log = log.lock().unwrap();
        config.push_str(&format!(
            "{:?} = {:?}\n",
            log.key.name(),
            log.key.verifier().to_text()
        ));
    }
    let config_path = tmp.path().join("witness.toml");
    fs::write(&config_path, config).unwrap();

    let rt = Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let mut total_acked = 0u64;
    for round in 0..=kills {
        let (child, url) = start_witness(&config_path);

        // After a restart: what the witness has for each log is at least what it cosigned
        // and at most what it was ever sent; then carry on from there.
        for log in &logs {
            let mut log = log.lock().unwrap();
            let (acked, sent) = (log.acked, log.sent);
            let body = log.body(acked, acked);
            let answer = rt.block_on(send(&http, &url, body, acked)).unwrap();
            let stored = match answer {
                Ok(size) => size,
                Err(stored) => stored,
            };
            assert!(
                stored >= acked,
                "round {round}: {} forgot cosigned size {acked}, has {stored}",
                log.key.name()
            );
            assert!(
                stored <= sent,
                "round {round}: stored {stored} > sent {sent}"
            );
            log.acked = stored;
            // The monitoring endpoint agrees.
            let hash = hex::encode(origin_hash(log.key.name()));
            let note = rt
                .block_on(async {
                    http.get(format!("{url}/{hash}/checkpoint"))
                        .send()
                        .await?
                        .text()
                        .await
                })
                .unwrap();
            if stored > 0 {
                let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
                assert_eq!(size, stored, "GET checkpoint of {}", log.key.name());
            }
        }
        if round == kills {
            break;
        }

        // Drive every log concurrently until the kill.
        let stop = Arc::new(AtomicBool::new(false));
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = logs
            .iter()
            .enumerate()
            .map(|(i, log)| {
                let (log, http, url, stop) = (log.clone(), http.clone(), url.clone(), stop.clone());
                let killed = killed.clone();
                let mut rng = seed ^ ((i as u64 + 1) * 0x9e37_79b9);
                rt.spawn(async move {
                    let mut acked = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        let (body, new) = {
                            let mut log = log.lock().unwrap();
                            let old = log.acked;
                            let new = old + 1 + next(&mut rng) % 40;
                            log.sent = log.sent.max(new);
                            (log.body(old, new), new)
                        };
                        match send(&http, &url, body, new).await {
                            Ok(Ok(size)) => {
                                log.lock().unwrap().acked = size;
                                acked += 1;
                            }
                            Ok(Err(stored)) => {
                                panic!("unexpected 409 ({stored}) for a sole writer")
                            }
                            // The kill: the answer never came, so nothing was acknowledged.
                            // Before the kill, a failed request is the witness failing.
                            Err(e) => {
                                assert!(
                                    killed.load(Ordering::SeqCst),
                                    "request failed before the kill: {e:?}"
                                );
                                break;
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        let run = Duration::from_millis(50 + next(&mut seed) % 400);
        let started = Instant::now();
        std::thread::sleep(run);
        killed.store(true, Ordering::SeqCst);
        drop(child); // SIGKILL
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            total_acked += rt.block_on(task).unwrap();
        }
        eprintln!("round {round}: killed after {:?}", started.elapsed());
    }
    // The test must have exercised something: cosignatures were given between kills.
    assert!(
        total_acked > 20,
        "only {total_acked} cosignatures in the whole run"
    );
}
