//! add-checkpoint throughput of one witness with thousands of configured logs.
//!
//! ```sh
//! cargo bench -p cairn-witness --bench add_checkpoint -- [--logs 5000] [--rounds 4]
//!     [--concurrency 64] [--sequential 300] [--mode inproc,loopback] [--state memory,sled]
//! ```
//!
//! Every configured log gets its own Ed25519 key and origin, and `rounds` checkpoints that
//! grow its tree (round 1 is first contact, `old 0`; later rounds carry real consistency
//! proofs, 9–11 hashes). All bodies are built and signed before the clock starts. A round
//! sends one request per log, `concurrency` at a time, in log order (so consecutive requests
//! hit different logs, as a witness serving a whole network sees), and every answer must be
//! 200. `inproc` calls the axum router directly (`tower::ServiceExt::oneshot`): the witness's
//! own cost. `loopback` goes through hyper and reqwest on 127.0.0.1 with keep-alive. `sled`
//! fsyncs every accepted request before answering, `memory` shows the cost without disk.
//! `--sequential N` also times N back-to-back requests for a single log: the rate one log
//! can get when it waits for each answer.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::Request;
use cairn_note::{Checkpoint, KeyAlgorithm, SignerKey};
use cairn_tree::{consistency_proof, leaf_hash, root_at, Frontier, Hash, MemoryHashes};
use cairn_witness::{
    encode_request, router, KnownLogs, MemoryState, SledState, Witness, WitnessState,
};
use tower::ServiceExt as _;

struct Args {
    logs: usize,
    rounds: usize,
    concurrency: usize,
    sequential: usize,
    modes: Vec<String>,
    states: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        logs: 5000,
        rounds: 4,
        concurrency: 64,
        sequential: 300,
        modes: vec!["inproc".into(), "loopback".into()],
        states: vec!["memory".into(), "sled".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--logs" => a.logs = value().parse().expect("--logs"),
            "--rounds" => a.rounds = value().parse().expect("--rounds"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency"),
            "--sequential" => a.sequential = value().parse().expect("--sequential"),
            "--mode" => a.modes = value().split(',').map(str::to_owned).collect(),
            "--state" => a.states = value().split(',').map(str::to_owned).collect(),
            // cargo bench passes --bench; ignore what we do not know.
            _ => {}
        }
    }
    a
}

/// One tree shared by every log (only keys and origins differ): sizes and proofs.
struct Sizes {
    sizes: Vec<u64>,
    roots: Vec<Hash>,
    proofs: Vec<Vec<Hash>>,
}

fn sizes(rounds: usize) -> Sizes {
    // Irregular sizes so proofs have realistic lengths (not powers of two).
    let sizes: Vec<u64> = (1..=rounds as u64).map(|r| r * 1000 + r * 37).collect();
    let mut hashes = MemoryHashes::new();
    let mut frontier = Frontier::new();
    let mut out = Vec::new();
    for i in 0..*sizes.last().unwrap() {
        frontier
            .append(leaf_hash(&i.to_be_bytes()), &mut out)
            .unwrap();
    }
    hashes.store(&out);
    let roots = sizes
        .iter()
        .map(|&s| root_at(s, &hashes).unwrap())
        .collect();
    let proofs = sizes
        .iter()
        .enumerate()
        .map(|(r, &s)| {
            if r == 0 {
                Vec::new()
            } else {
                consistency_proof(sizes[r - 1], s, &hashes).unwrap()
            }
        })
        .collect();
    Sizes {
        sizes,
        roots,
        proofs,
    }
}

fn log_key(i: usize) -> SignerKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    SignerKey::from_seed(
        &format!("bench.example/log-{i}"),
        KeyAlgorithm::Ed25519,
        seed,
    )
    .unwrap()
}

/// bodies[round][log].
fn bodies(keys: &[SignerKey], s: &Sizes) -> Vec<Arc<Vec<Bytes>>> {
    (0..s.sizes.len())
        .map(|r| {
            let old = if r == 0 { 0 } else { s.sizes[r - 1] };
            Arc::new(
                keys.iter()
                    .map(|k| {
                        let note = Checkpoint::new(k.name(), s.sizes[r], s.roots[r])
                            .unwrap()
                            .sign(k)
                            .unwrap()
                            .to_bytes();
                        Bytes::from(encode_request(old, &s.proofs[r], &note))
                    })
                    .collect(),
            )
        })
        .collect()
}

fn witness(keys: &[SignerKey], state: Arc<dyn WitnessState>) -> Arc<Witness> {
    let mut known = KnownLogs::default();
    for k in keys {
        known.add(k.name(), vec![k.verifier()]).unwrap();
    }
    let wkey =
        SignerKey::from_seed("bench.example/witness", KeyAlgorithm::Cosignature, [7; 32]).unwrap();
    Arc::new(Witness::new(wkey, known, state).unwrap())
}

/// Sends every body once, `concurrency` at a time; returns each request's latency.
async fn drive<F, Fut>(bodies: Arc<Vec<Bytes>>, concurrency: usize, send: F) -> Vec<Duration>
where
    F: Fn(Bytes) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = u16> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (bodies, next, send) = (bodies.clone(), next.clone(), send.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let status = send(body.clone()).await;
                assert_eq!(status, 200, "request {i} was refused");
                latencies.push(t.elapsed());
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Target {
    app: axum::Router,
    url: Option<String>,
    http: reqwest::Client,
}

impl Target {
    async fn new(w: Arc<Witness>, mode: &str, concurrency: usize) -> Target {
        let app = router(w, None);
        let url = if mode == "loopback" {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/add-checkpoint", listener.local_addr().unwrap());
            let served = app.clone();
            tokio::spawn(async move { axum::serve(listener, served).await.unwrap() });
            Some(url)
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        Target { app, url, http }
    }

    fn sender(
        &self,
    ) -> impl Fn(Bytes) -> std::pin::Pin<Box<dyn Future<Output = u16> + Send>> + Clone + Send + 'static
    {
        let (app, url, http) = (self.app.clone(), self.url.clone(), self.http.clone());
        move |body: Bytes| {
            let (app, url, http) = (app.clone(), url.clone(), http.clone());
            Box::pin(async move {
                match url {
                    Some(url) => http
                        .post(url)
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16(),
                    None => app
                        .oneshot(
                            Request::post("/add-checkpoint")
                                .body(Body::from(body))
                                .unwrap(),
                        )
                        .await
                        .unwrap()
                        .status()
                        .as_u16(),
                }
            })
        }
    }
}

fn open_state(kind: &str) -> (Arc<dyn WitnessState>, Option<tempfile::TempDir>) {
    match kind {
        "memory" => (Arc::new(MemoryState::new()), None),
        "sled" => {
            let dir = tempfile::tempdir().unwrap();
            (Arc::new(SledState::open(dir.path()).unwrap()), Some(dir))
        }
        other => panic!("unknown state {other}"),
    }
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "add-checkpoint: {} configured logs, {} rounds, concurrency {}, {} cores",
        args.logs, args.rounds, args.concurrency, cores
    );
    let t = Instant::now();
    let keys: Vec<SignerKey> = (0..args.logs).map(log_key).collect();
    let s = sizes(args.rounds);
    let all = bodies(&keys, &s);
    let proof_lens: Vec<usize> = s.proofs.iter().map(Vec::len).collect();
    println!(
        "setup: sizes {:?}, proof lines {:?}, {} bodies signed in {:.1?}",
        s.sizes,
        proof_lens,
        args.logs * args.rounds,
        t.elapsed()
    );
    let t = Instant::now();
    drop(witness(&keys, Arc::new(MemoryState::new())));
    println!(
        "configuring {} logs (parse-free, keys given) took {:.1?}",
        args.logs,
        t.elapsed()
    );
    println!(
        "| mode | state | requests | seconds | req/s | per log (all {} busy) | p50 | p99 |",
        args.logs
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for mode in &args.modes {
        for state_kind in &args.states {
            let (state, _dir) = open_state(state_kind);
            let w = witness(&keys, state);
            let (elapsed, mut latencies) = runtime.block_on(async {
                let target = Target::new(w.clone(), mode, args.concurrency).await;
                let started = Instant::now();
                let mut latencies = Vec::new();
                for round in &all {
                    latencies.extend(drive(round.clone(), args.concurrency, target.sender()).await);
                }
                (started.elapsed(), latencies)
            });
            latencies.sort();
            let n = latencies.len();
            let rate = n as f64 / elapsed.as_secs_f64();
            println!(
                "| {mode} | {state_kind} | {n} | {:.2} | {:.0} | {:.2} | {:.2?} | {:.2?} |",
                elapsed.as_secs_f64(),
                rate,
                rate / args.logs as f64,
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.99),
            );
            // Every log ends at the last size.
            let last = *s.sizes.last().unwrap();
            assert_eq!(w.state().load(keys[0].name()).unwrap().unwrap().size, last);
            assert_eq!(
                w.state()
                    .load(keys[args.logs - 1].name())
                    .unwrap()
                    .unwrap()
                    .size,
                last
            );
        }
    }

    if args.sequential > 0 {
        // One log, one request at a time: what a single log can get.
        let seq_sizes = sizes(args.sequential);
        let key = log_key(0);
        let seq_bodies = bodies(std::slice::from_ref(&key), &seq_sizes);
        println!();
        println!(
            "one log, {} sequential requests (each waits for the previous answer):",
            args.sequential
        );
        println!("| mode | state | req/s | p50 | p99 |");
        println!("|---|---|---:|---:|---:|");
        for mode in &args.modes {
            for state_kind in &args.states {
                let (state, _dir) = open_state(state_kind);
                let w = witness(std::slice::from_ref(&key), state);
                let (elapsed, mut latencies) = runtime.block_on(async {
                    let target = Target::new(w, mode, 1).await;
                    let started = Instant::now();
                    let mut latencies = Vec::new();
                    for round in &seq_bodies {
                        latencies.extend(drive(round.clone(), 1, target.sender()).await);
                    }
                    (started.elapsed(), latencies)
                });
                latencies.sort();
                println!(
                    "| {mode} | {state_kind} | {:.0} | {:.2?} | {:.2?} |",
                    latencies.len() as f64 / elapsed.as_secs_f64(),
                    percentile(&latencies, 0.5),
                    percentile(&latencies, 0.99),
                );
            }
        }
    }
}
