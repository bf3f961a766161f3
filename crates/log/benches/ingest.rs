//! In-process ingest benchmark for the log engine on sled (issue 4's targets): no HTTP,
//! 256-byte unique entries, fsync before every acknowledgement, dedup on.
//!
//! ```text
//! cargo bench -p cairn-log --bench ingest -- [--entries N] [--writers W] [--per-call K]
//!                                            [--latency-secs S] [--dir PATH]
//! ```
//!
//! Phases, all in one run so their numbers compare:
//! 1. throughput: W tasks submit K entries per call until N entries are in, with the rate
//!    reported every 10% (so a slowdown as the log grows is visible);
//! 2. latency: an open-loop generator offers half the measured rate for S seconds, one entry
//!    per submission, and records submit→receipt times;
//! 3. restart: the log is closed and reopened, timing `Log::open`;
//! 4. footprint: peak and current RSS, and sled's size on disk per entry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::{SledOptions, SledStore};

struct Args {
    entries: u64,
    writers: usize,
    per_call: usize,
    latency_secs: u64,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        entries: 1_000_000,
        writers: 64,
        per_call: 16,
        latency_secs: 10,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--entries" => a.entries = value().parse().expect("--entries"),
            "--writers" => a.writers = value().parse().expect("--writers"),
            "--per-call" => a.per_call = value().parse().expect("--per-call"),
            "--latency-secs" => a.latency_secs = value().parse().expect("--latency-secs"),
            "--dir" => a.dir = Some(value().into()),
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A unique 256-byte entry: the counter up front, filler derived from it after.
fn entry(n: u64) -> Vec<u8> {
    let mut e = vec![0u8; 256];
    e[..8].copy_from_slice(&n.to_be_bytes());
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for b in e[8..].iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    e
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn open(dir: &std::path::Path, signer_key: &str) -> (Arc<Log>, Arc<SledStore>, Duration) {
    let started = Instant::now();
    let store = Arc::new(SledStore::open(dir, &SledOptions::default()).expect("open sled"));
    let log = Log::open(
        store.clone(),
        LogSigner::from_signer_key(signer_key).unwrap(),
        LogConfig::default(),
    )
    .expect("open log");
    (Arc::new(log), store, started.elapsed())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    let args = parse_args();
    let tmp = tempfile::tempdir().unwrap();
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("db"));
    let signer_key = LogSigner::generate("bench.cairn/ingest")
        .unwrap()
        .signer_key_text();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (log, _, _) = open(&dir, &signer_key);
    let start_size = log.checkpoint().size;
    println!(
        "ingest: {} entries of 256 B, {} writers x {} per call, fsync per batch, dedup on, dir {}",
        args.entries,
        args.writers,
        args.per_call,
        dir.display()
    );

    // Phase 1: throughput.
    let next = Arc::new(AtomicU64::new(start_size));
    let done = Arc::new(AtomicU64::new(0));
    let target = args.entries;
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..args.writers {
            let (log, next, done) = (log.clone(), next.clone(), done.clone());
            let per_call = args.per_call as u64;
            tasks.push(tokio::spawn(async move {
                loop {
                    let first = next.fetch_add(per_call, Ordering::Relaxed);
                    if first - start_size >= target {
                        break;
                    }
                    let last = (first + per_call).min(start_size + target);
                    let batch: Vec<Vec<u8>> = (first..last).map(entry).collect();
                    let n = batch.len() as u64;
                    loop {
                        match log.submit_many(batch.clone()).await {
                            Ok(receipts) => {
                                assert_eq!(receipts.len() as u64, n);
                                break;
                            }
                            Err(cairn_log::LogError::Overloaded { retry_after }) => {
                                tokio::time::sleep(retry_after.min(Duration::from_millis(5)))
                                    .await
                            }
                            Err(e) => panic!("submit failed: {e}"),
                        }
                    }
                    done.fetch_add(n, Ordering::Relaxed);
                }
            }));
        }
        let reporter = {
            let done = done.clone();
            tokio::spawn(async move {
                let step = (target / 10).max(1);
                let mut next_mark = step;
                let mut last = (Instant::now(), 0u64);
                while next_mark <= target {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let d = done.load(Ordering::Relaxed);
                    if d >= next_mark {
                        let now = Instant::now();
                        let rate = (d - last.1) as f64 / (now - last.0).as_secs_f64();
                        println!(
                            "  {:>10} entries  {:>9.0} entries/s over the last step  rss {} MiB",
                            d,
                            rate,
                            rss_kib("VmRSS:") / 1024
                        );
                        last = (now, d);
                        next_mark += step;
                    }
                }
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        reporter.abort();
    });
    let elapsed = started.elapsed();
    let stats = log.stats();
    let batches = stats.batches.load(Ordering::Relaxed).max(1);
    println!(
        "throughput: {:.0} entries/s ({} entries in {:.2} s; {} batches, mean {:.0} entries/batch, mean integration {:.2} ms)",
        target as f64 / elapsed.as_secs_f64(),
        target,
        elapsed.as_secs_f64(),
        batches,
        stats.entries.load(Ordering::Relaxed) as f64 / batches as f64,
        stats.integration_micros.load(Ordering::Relaxed) as f64 / batches as f64 / 1000.0
    );
    let rate = target as f64 / elapsed.as_secs_f64();

    // Phase 2: latency at half the measured rate, open loop.
    let offered = (rate / 2.0).max(1.0);
    let latencies = runtime.block_on(async {
        let interval = Duration::from_secs_f64(1.0 / offered);
        let end = Instant::now() + Duration::from_secs(args.latency_secs);
        let mut handles = Vec::new();
        let mut n = start_size + target + 1_000_000_000;
        let mut due = Instant::now();
        while due < end {
            // Issue every submission that is due; sleeping per entry would cap the rate at
            // the timer's resolution.
            let now = Instant::now();
            while due <= now {
                let log = log.clone();
                let e = entry(n);
                n += 1;
                let issued = due;
                handles.push(tokio::spawn(async move {
                    log.submit(e).await.expect("submit");
                    issued.elapsed().as_micros() as u32
                }));
                due += interval;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    let mut sorted = latencies;
    sorted.sort_unstable();
    println!(
        "latency at {:.0} entries/s offered ({} submissions): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        offered,
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );

    // Phase 3 and 4: footprint, then restart.
    let size = log.checkpoint().size;
    let peak = rss_kib("VmHWM:");
    log.shutdown();
    drop(log);
    let (log, store, open_time) = open(&dir, &signer_key);
    assert_eq!(log.checkpoint().size, size);
    let disk = store.size_on_disk().unwrap();
    println!("restart: Log::open at {size} entries took {:.1} ms", open_time.as_secs_f64() * 1000.0);
    println!(
        "footprint: peak RSS {} MiB (after reopen {} MiB); sled on disk {:.1} MiB = {:.1} B/entry (payload 256 B + {:.1} B)",
        peak / 1024,
        rss_kib("VmRSS:") / 1024,
        disk as f64 / (1 << 20) as f64,
        disk as f64 / size as f64,
        disk as f64 / size as f64 - 256.0
    );
}
