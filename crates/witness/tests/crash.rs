//! A witness process killed with SIGKILL mid-stream forgets no size it acknowledged: the
//! test re-runs this test binary as a child that cosigns as fast as it can (four logs, four
//! threads, sharing group-committed fsyncs) and prints every 200 it returns; the parent
//! kills it and reopens the state.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_witness::{SledState, WitnessState};
use common::{log_key, witness_for, witness_key, Tree};

const CHILD_ENV: &str = "CAIRN_WITNESS_CRASH_CHILD_DIR";
const LOGS: usize = 4;

fn origin(i: usize) -> String {
    format!("example.com/crash-{i}")
}

#[test]
fn killed_witness_keeps_every_acknowledged_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut count = 0;
    // Let it run until it has acknowledged a good number of requests, then kill it.
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix("acked ") {
            let (o, size) = rest.split_once(' ').unwrap();
            let size: u64 = size.parse().unwrap();
            let e = acked.entry(o.to_owned()).or_default();
            *e = (*e).max(size);
            count += 1;
        }
        if count >= 400 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    // A child that died on its own (a panic after its acknowledgements) is a failure, not a
    // kill; it runs far longer than the 400 acknowledgements waited for.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the witness child exited before it was killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(count >= 100, "the child acknowledged only {count} requests");

    let state = SledState::open(dir.path()).unwrap();
    for (o, size) in &acked {
        let stored = state.load(o).unwrap().expect("acknowledged log has state");
        assert!(
            stored.size >= *size,
            "{o}: acknowledged size {size}, but after the kill the state has {}",
            stored.size
        );
    }
}

/// The child side of the test above; does nothing unless started by it.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let keys: Vec<_> = (0..LOGS)
        .map(|i| log_key(&origin(i), i as u8 + 1))
        .collect();
    let state = Arc::new(SledState::open(&dir).unwrap());
    let w = witness_for(
        witness_key("w", 9),
        &keys.iter().map(|k| k.verifier()).collect::<Vec<_>>(),
        state,
    );
    let tree = Tree::new("crash", 4096);
    std::thread::scope(|s| {
        for key in &keys {
            let (w, tree) = (&w, &tree);
            s.spawn(move || {
                let mut old = 0;
                for size in 1..4096 {
                    w.add_checkpoint(&tree.request(key, old, size), 1).unwrap();
                    // Printed only after the witness answered 200 (and so after the fsync).
                    println!("acked {} {size}", key.name());
                    old = size;
                }
            });
        }
    });
}
