//! Test harness for the crash-safety test (`tests/crash.rs`), not a user-facing tool.
//!
//! Opens a log in the given directory (on sled, or on fjall when the optional fifth argument
//! says `fjall`) with the given signer key and submits entries from several
//! threads as fast as it can, printing one line per acknowledged entry:
//! `ack <index> <leaf hash hex> <checkpoint size> <checkpoint root hex> <duplicate>`, where
//! the leaf hash is computed here from the bytes submitted (not taken from the receipt), and
//! `fail <error>` for a submission that failed (none should). Every tenth entry repeats one of
//! the previous run's, so dedup is exercised across kills. The parent kills it with SIGKILL
//! at a random moment and checks what survived.

use std::io::Write;
use std::sync::Arc;

use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::{FjallOptions, FjallStore, LogStore, SledOptions, SledStore};
use cairn_tree::leaf_hash;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, skey, run, threads, backend) = match args.as_slice() {
        [_, dir, skey, run, threads] => (dir, skey, run, threads, "sled"),
        [_, dir, skey, run, threads, backend] => (dir, skey, run, threads, backend.as_str()),
        _ => {
            eprintln!(
                "usage: cairn-crash-child <data dir> <signer key> <run id> <threads> [sled|fjall]"
            );
            std::process::exit(2);
        }
    };
    let threads: usize = threads.parse().expect("thread count");
    let run: u64 = run.parse().expect("run id");
    let store: Arc<dyn LogStore> = match backend {
        "sled" => Arc::new(SledStore::open(dir, &SledOptions::default()).expect("open store")),
        // Small memtables make fjall flush tables every few dozen batches, so kills also land
        // during memtable flushes and compactions, not only during journal writes.
        "fjall" => Arc::new(
            FjallStore::open(
                dir,
                &FjallOptions {
                    max_memtable_size: 256 * 1024,
                    ..FjallOptions::default()
                },
            )
            .expect("open store"),
        ),
        other => {
            eprintln!("unknown backend {other}");
            std::process::exit(2);
        }
    };
    let signer = LogSigner::from_signer_key(skey).expect("signer key");
    let config = LogConfig {
        max_batch: 64,
        // As `cairn serve` runs each backend.
        lookahead: backend == "fjall",
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(store, signer, config).expect("open log"));
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            let stdout = stdout.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    // Every tenth entry repeats one the previous run submitted early on (and
                    // so most likely logged and acknowledged before its kill): dedup across
                    // kills. In the first run, an earlier one of this run.
                    let entry = if i % 10 == 9 {
                        format!("run {} thread {t} entry {}", run.saturating_sub(1), i / 2)
                    } else {
                        format!("run {run} thread {t} entry {i}")
                    };
                    let batch = if i % 7 == 0 {
                        vec![
                            entry.clone().into_bytes(),
                            format!("{entry} twin").into_bytes(),
                        ]
                    } else {
                        vec![entry.into_bytes()]
                    };
                    let hashes: Vec<_> = batch.iter().map(|e| leaf_hash(e)).collect();
                    let receipts = match log.submit_many_blocking(batch) {
                        Ok(r) => r,
                        Err(e) => {
                            let mut out = stdout.lock().unwrap();
                            writeln!(out, "fail {e}").unwrap();
                            out.flush().unwrap();
                            continue;
                        }
                    };
                    let mut out = stdout.lock().unwrap();
                    for (r, submitted) in receipts.into_iter().zip(hashes) {
                        writeln!(
                            out,
                            "ack {} {} {} {} {}",
                            r.index,
                            submitted.to_hex(),
                            r.checkpoint.size,
                            r.checkpoint.root.to_hex(),
                            r.duplicate
                        )
                        .unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
