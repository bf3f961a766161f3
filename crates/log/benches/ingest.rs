//! In-process ingest benchmark for the log engine (issue 4's targets): no HTTP, 256-byte
//! unique entries, fsync before every acknowledgement, dedup on unless `--no-dedup`.
//!
//! ```text
//! cargo bench -p cairn-log --bench ingest -- [--entries N] [--writers W] [--per-call K]
//!                                            [--latency-secs S] [--dir PATH]
//!                                            [--backend sled|fjall] [--no-dedup]
//!                                            [--cache-mib M] [--memtable-mib M] [--table-mib M]
//!                                            [--offered RATE] [--fjall-workers N]
//!                                            [--settle-secs S] [--lookahead on|off]
//! ```
//!
//! `--backend` picks the store (sled, the default, or fjall) so both can be measured with the
//! same workload; `--cache-mib` sets sled's page cache or fjall's block cache,
//! `--memtable-mib` fjall's memtable size per keyspace, `--table-mib` the size of the tables
//! its compactions write and `--fjall-workers` its background flush and compaction threads
//! (defaults: the backends' options). `--settle-secs` idles
//! between phases 1 and 2, so an LSM's compaction backlog from the burst is not charged to
//! the latency phase (default 0: it is). `--lookahead` sets `LogConfig::lookahead` (default:
//! as `cairn serve` sets it, on for fjall only).
//!
//! Phases, all in one run so their numbers compare:
//! 1. throughput: W tasks submit K entries per call until N entries are in, with the rate
//!    reported every 10% (so a slowdown as the log grows is visible), and the CPU time per
//!    entry of the process and of the sequencer and lookup threads (less sensitive to a busy
//!    machine);
//! 2. latency: an open-loop generator offers half the measured rate (or `--offered`) for S
//!    seconds, one entry per submission, and records submit→receipt times, also per second
//!    of the run so stalls show up, and the batches the engine formed meanwhile;
//! 3. restart: the log is closed and reopened, timing `Log::open`;
//! 4. footprint: peak RSS during phase 1 and overall, RSS after the reopen, and the size on
//!    disk per entry, both as the backend reports it and as the sum of the directory's files
//!    (for fjall also split by keyspace, so the per-entry cost of each kind of data shows).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::{FjallOptions, FjallStore, LogStore, SledOptions, SledStore};
use hdrhistogram::Histogram;

/// The allocator the `cairn` binary runs with, so the engine is measured as it ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sled,
    Fjall,
}

struct Args {
    entries: u64,
    writers: usize,
    per_call: usize,
    latency_secs: u64,
    dir: Option<std::path::PathBuf>,
    backend: Backend,
    dedup: bool,
    cache_mib: Option<u64>,
    memtable_mib: Option<u64>,
    table_mib: Option<u64>,
    offered: Option<f64>,
    fjall_workers: Option<usize>,
    settle_secs: u64,
    lookahead: Option<bool>,
}

fn parse_args() -> Args {
    let mut a = Args {
        entries: 1_000_000,
        writers: 64,
        per_call: 16,
        latency_secs: 10,
        dir: None,
        backend: Backend::Sled,
        dedup: true,
        cache_mib: None,
        memtable_mib: None,
        table_mib: None,
        offered: None,
        fjall_workers: None,
        settle_secs: 0,
        lookahead: None,
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
            "--backend" => {
                a.backend = match value().as_str() {
                    "sled" => Backend::Sled,
                    "fjall" => Backend::Fjall,
                    other => panic!("--backend is sled or fjall, not {other}"),
                }
            }
            "--no-dedup" => a.dedup = false,
            "--offered" => a.offered = Some(value().parse().expect("--offered")),
            "--settle-secs" => a.settle_secs = value().parse().expect("--settle-secs"),
            "--fjall-workers" => a.fjall_workers = Some(value().parse().expect("--fjall-workers")),
            "--cache-mib" => a.cache_mib = Some(value().parse().expect("--cache-mib")),
            "--memtable-mib" => a.memtable_mib = Some(value().parse().expect("--memtable-mib")),
            "--table-mib" => a.table_mib = Some(value().parse().expect("--table-mib")),
            "--lookahead" => {
                a.lookahead = Some(match value().as_str() {
                    "on" => true,
                    "off" => false,
                    other => panic!("--lookahead is on or off, not {other}"),
                })
            }
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

/// The number after `field` in a `/proc/self` file that lists one `name: value` per line
/// (0 where the file or field is missing: the figures are for reports only).
fn proc_self_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes this process has caused to be written to storage (`write_bytes` of /proc/self/io):
/// the journal, flushes and compactions together, so their ratio to the payload is the
/// write amplification the disk sees.
fn written_bytes() -> u64 {
    proc_self_field("io", "write_bytes:")
}

fn rss_kib(field: &str) -> u64 {
    proc_self_field("status", field)
}

/// The opened store, kept by its concrete type for the backend's own size-on-disk figure.
enum Store {
    Sled(Arc<SledStore>),
    Fjall(Arc<FjallStore>),
}

impl Store {
    fn size_on_disk(&self) -> u64 {
        match self {
            Store::Sled(s) => s.size_on_disk().unwrap(),
            Store::Fjall(s) => s.size_on_disk().unwrap(),
        }
    }

    /// Where the bytes are, per entry, when the backend can say.
    fn breakdown(&self, entries: u64) -> Option<String> {
        match self {
            Store::Sled(_) => None,
            Store::Fjall(s) => Some(
                s.disk_usage()
                    .unwrap()
                    .iter()
                    .map(|(name, bytes)| {
                        format!("{name} {:.1}", *bytes as f64 / entries.max(1) as f64)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }
}

/// Sum of the file sizes under `dir`: the same yardstick for every backend.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn open(dir: &std::path::Path, signer_key: &str, args: &Args) -> (Arc<Log>, Store, Duration) {
    let started = Instant::now();
    let (store, dyn_store): (Store, Arc<dyn LogStore>) = match args.backend {
        Backend::Sled => {
            let mut options = SledOptions::default();
            if let Some(m) = args.cache_mib {
                options.cache_capacity = m << 20;
            }
            let s = Arc::new(SledStore::open(dir, &options).expect("open sled"));
            (Store::Sled(s.clone()), s)
        }
        Backend::Fjall => {
            let mut options = FjallOptions::default();
            if let Some(m) = args.cache_mib {
                options.cache_size = m << 20;
            }
            if let Some(m) = args.memtable_mib {
                options.max_memtable_size = m << 20;
            }
            if let Some(m) = args.table_mib {
                options.table_target_size = m << 20;
            }
            if let Some(n) = args.fjall_workers {
                options.worker_threads = Some(n);
            }
            let s = Arc::new(FjallStore::open(dir, &options).expect("open fjall"));
            (Store::Fjall(s.clone()), s)
        }
    };
    let log = Log::open(
        dyn_store,
        LogSigner::from_signer_key(signer_key).unwrap(),
        LogConfig {
            dedup: args.dedup,
            lookahead: args
                .lookahead
                .unwrap_or(matches!(args.backend, Backend::Fjall)),
            ..LogConfig::default()
        },
    )
    .expect("open log");
    (Arc::new(log), store, started.elapsed())
}

/// CPU seconds (user + system) used so far by the whole process, by the thread named
/// `cairn-sequencer` and by `cairn-lookup` (with lookahead). On a shared machine wall-clock rates depend on the neighbours; CPU
/// per entry does much less, and the sequencer's share shows how close it is to being the
/// bottleneck (it is one thread).
fn cpu_secs() -> (f64, f64, f64) {
    // Fields 14 and 15 of /proc/<pid>/stat, counted after the `(comm)` field, which may
    // contain spaces; clock ticks are 100 per second on Linux.
    let ticks = |stat: &str| -> f64 {
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (get(11) + get(12)) / 100.0
    };
    let process = std::fs::read_to_string("/proc/self/stat")
        .map(|s| ticks(&s))
        .unwrap_or(0.0);
    let (mut sequencer, mut lookup) = (0.0, 0.0);
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.filter_map(Result::ok) {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let counter = match comm.trim() {
                "cairn-sequencer" => &mut sequencer,
                "cairn-lookup" => &mut lookup,
                _ => continue,
            };
            *counter += std::fs::read_to_string(t.path().join("stat"))
                .map(|s| ticks(&s))
                .unwrap_or(0.0);
        }
    }
    (process, sequencer, lookup)
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
    let (log, first_store, _) = open(&dir, &signer_key, &args);
    let start_size = log.checkpoint().size;
    println!(
        "ingest: {} entries of 256 B, {} writers x {} per call, fsync per batch, dedup {}, backend {}, lookahead {}, dir {}",
        args.entries,
        args.writers,
        args.per_call,
        if args.dedup { "on" } else { "off" },
        match args.backend {
            Backend::Sled => "sled",
            Backend::Fjall => "fjall",
        },
        if log.config().lookahead { "on" } else { "off" },
        dir.display()
    );

    // Phase 1: throughput.
    let next = Arc::new(AtomicU64::new(start_size));
    let done = Arc::new(AtomicU64::new(0));
    let target = args.entries;
    let started = Instant::now();
    let cpu_before = cpu_secs();
    let written_before = written_bytes();
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
                                tokio::time::sleep(retry_after.min(Duration::from_millis(5))).await
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
    let ingest_peak = rss_kib("VmHWM:");
    let cpu_after = cpu_secs();
    println!(
        "cpu: process {:.1} us/entry, sequencer thread {:.1} us/entry ({:.0}% of the phase's wall time), lookup thread {:.1} us/entry; written {:.0} B/entry",
        (cpu_after.0 - cpu_before.0) * 1e6 / target as f64,
        (cpu_after.1 - cpu_before.1) * 1e6 / target as f64,
        (cpu_after.1 - cpu_before.1) * 100.0 / elapsed.as_secs_f64(),
        (cpu_after.2 - cpu_before.2) * 1e6 / target as f64,
        written_bytes().saturating_sub(written_before) as f64 / target as f64
    );

    std::thread::sleep(Duration::from_secs(args.settle_secs));

    // Phase 2: latency at half the measured rate, open loop.
    let offered = args.offered.unwrap_or(rate / 2.0).max(1.0);
    let (cpu_phase, written_phase) = (cpu_secs(), written_bytes());
    let batches_before = (
        stats.batches.load(Ordering::Relaxed),
        stats.entries.load(Ordering::Relaxed),
        stats.integration_micros.load(Ordering::Relaxed),
    );
    // Latencies go into histograms as they arrive (microseconds, three significant digits
    // overall, two per second), so the footprint measured below is the engine's, not a
    // list of every submission's result.
    let per_second_count = (offered.ceil() as usize).max(1);
    let (overall, per_second) = runtime.block_on(async {
        let interval = Duration::from_secs_f64(1.0 / offered);
        let end = Instant::now() + Duration::from_secs(args.latency_secs);
        // Results come back over a channel rather than through kept JoinHandles (a finished
        // task's memory stays allocated until its handle is awaited). A refused submission
        // (overload, a storage error) is reported with its error and kept out of the
        // latencies, not counted as instant or allowed to abort the run.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<u64, String>)>();
        // Bounds up to a minute: a longer wait is recorded as a minute.
        let histogram = |digits| Histogram::<u64>::new_with_bounds(1, 60_000_000, digits);
        let mut overall = histogram(3).expect("histogram bounds");
        let mut per_second: Vec<Histogram<u64>> = Vec::new();
        let (mut refused, mut first_error) = (0usize, None);
        let mut record = |(seq, result): (usize, Result<u64, String>)| match result {
            Ok(micros) => {
                // Submissions are issued at a steady rate, so the issue number says which
                // second of the run a submission belongs to.
                let second = seq / per_second_count;
                while per_second.len() <= second {
                    per_second.push(histogram(2).expect("histogram bounds"));
                }
                overall.saturating_record(micros);
                per_second[second].saturating_record(micros);
            }
            Err(e) => {
                refused += 1;
                first_error.get_or_insert(e);
            }
        };
        let mut issued_count = 0usize;
        let mut n = start_size + target + 1_000_000_000;
        let mut due = Instant::now();
        while due < end {
            // Issue every submission that is due; sleeping per entry would cap the rate at
            // the timer's resolution.
            let now = Instant::now();
            while due <= now {
                let (log, tx) = (log.clone(), tx.clone());
                let e = entry(n);
                n += 1;
                let (seq, issued) = (issued_count, due);
                issued_count += 1;
                tokio::spawn(async move {
                    let result = match log.submit(e).await {
                        Ok(_) => Ok(issued.elapsed().as_micros() as u64),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send((seq, result));
                });
                due += interval;
            }
            while let Ok(done) = rx.try_recv() {
                record(done);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(tx);
        while let Some(done) = rx.recv().await {
            record(done);
        }
        if let Some(e) = first_error {
            println!("latency phase: {refused} submissions refused, the first with: {e}");
        }
        (overall, per_second)
    });
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let per_second: Vec<String> = per_second
        .iter()
        .map(|h| {
            // A second without one receipt (all refused) has no p99 to show.
            if h.is_empty() {
                "-".to_string()
            } else {
                format!("{:.0}", ms(h, 0.99))
            }
        })
        .collect();
    println!(
        "latency at {:.0} entries/s offered ({} submissions): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        offered,
        overall.len(),
        ms(&overall, 0.5),
        ms(&overall, 0.9),
        ms(&overall, 0.99),
        overall.max() as f64 / 1000.0
    );
    println!("latency p99 per second (ms): {}", per_second.join(" "));
    let phase_batches = (stats.batches.load(Ordering::Relaxed) - batches_before.0).max(1);
    let phase_entries = (stats.entries.load(Ordering::Relaxed) - batches_before.1).max(1);
    let cpu_end = cpu_secs();
    println!(
        "latency phase: {} batches, mean {:.0} entries/batch, mean integration {:.2} ms; cpu: process {:.1} us/entry, sequencer thread {:.1} us/entry, lookup thread {:.1} us/entry; written {:.0} B/entry",
        phase_batches,
        phase_entries as f64 / phase_batches as f64,
        (stats.integration_micros.load(Ordering::Relaxed) - batches_before.2) as f64
            / phase_batches as f64
            / 1000.0,
        (cpu_end.0 - cpu_phase.0) * 1e6 / phase_entries as f64,
        (cpu_end.1 - cpu_phase.1) * 1e6 / phase_entries as f64,
        (cpu_end.2 - cpu_phase.2) * 1e6 / phase_entries as f64,
        written_bytes().saturating_sub(written_phase) as f64 / phase_entries as f64
    );

    // Phase 3 and 4: footprint, then restart.
    let size = log.checkpoint().size;
    let peak = rss_kib("VmHWM:");
    if let Store::Fjall(s) = &first_store {
        // Integrations held back until fjall's worker flushed (FjallOptions::max_unflushed).
        let (waits, total) = s.flush_waits();
        println!(
            "fjall flush waits: {waits} integrations, {:.1} ms in all",
            total.as_secs_f64() * 1000.0
        );
    }
    drop(first_store);
    log.shutdown();
    drop(log);
    let (log, store, open_time) = open(&dir, &signer_key, &args);
    assert_eq!(log.checkpoint().size, size);
    let disk = store.size_on_disk();
    let files = dir_bytes(&dir);
    println!(
        "restart: Log::open at {size} entries took {:.1} ms",
        open_time.as_secs_f64() * 1000.0
    );
    println!(
        "footprint: peak RSS {} MiB during ingest, {} MiB overall (after reopen {} MiB); backend reports {:.1} MiB = {:.1} B/entry (payload 256 B + {:.1} B); files {:.1} MiB = {:.1} B/entry",
        ingest_peak / 1024,
        peak / 1024,
        rss_kib("VmRSS:") / 1024,
        disk as f64 / (1 << 20) as f64,
        disk as f64 / size as f64,
        disk as f64 / size as f64 - 256.0,
        files as f64 / (1 << 20) as f64,
        files as f64 / size as f64
    );
    if let Some(breakdown) = store.breakdown(size) {
        println!("disk by keyspace, B/entry: {breakdown}");
    }
}
