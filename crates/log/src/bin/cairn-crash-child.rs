//! Test harness for the crash-safety test (`tests/crash.rs`), not a user-facing tool.
//!
//! Opens a sled-backed log in the given directory with the given signer key and submits
//! entries from several threads as fast as it can, printing one line per acknowledged entry:
//! `ack <index> <leaf hash hex> <checkpoint size> <checkpoint root hex> <duplicate>`.
//! The parent kills it with SIGKILL at a random moment and checks what survived.

use std::io::Write;
use std::sync::Arc;

use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::{SledOptions, SledStore};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, skey, run, threads] = args.as_slice() else {
        eprintln!("usage: cairn-crash-child <data dir> <signer key> <run id> <threads>");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("thread count");
    let store = SledStore::open(dir, &SledOptions::default()).expect("open store");
    let signer = LogSigner::from_signer_key(skey).expect("signer key");
    let config = LogConfig {
        max_batch: 64,
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(Arc::new(store), signer, config).expect("open log"));
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            let stdout = stdout.clone();
            let run = run.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    // Every tenth entry repeats an earlier one, to exercise dedup across kills.
                    let entry = if i % 10 == 9 {
                        format!("run {run} thread {t} entry {}", i / 2)
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
                    let receipts = match log.submit_many_blocking(batch) {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("submit failed: {e}");
                            continue;
                        }
                    };
                    let mut out = stdout.lock().unwrap();
                    for r in receipts {
                        writeln!(
                            out,
                            "ack {} {} {} {} {}",
                            r.index,
                            r.leaf_hash.to_hex(),
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
