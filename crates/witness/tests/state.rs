//! Durable state: compare-and-swap under concurrency (no lost updates, no rollback), two
//! racing requests that both passed the size check, restarts that keep every cosigned size,
//! and evidence of refused forks.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use cairn_note::SignerKey;
use cairn_tree::Hash;
use cairn_witness::{
    Cas, Evidence, LogState, MemoryState, SledState, StateError, Witness, WitnessError,
    WitnessState, MAX_EVIDENCE_PER_LOG,
};
use common::{log_key, status, witness_for, witness_key, Tree};

const ORIGIN: &str = "example.com/state";

fn backends() -> Vec<(
    &'static str,
    Arc<dyn WitnessState>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(SledState::open(dir.path()).unwrap());
    vec![
        ("memory", Arc::new(MemoryState::new()), None),
        ("sled", sled, Some(dir)),
    ]
}

fn state_at(size: u64) -> LogState {
    LogState {
        size,
        root: Hash([size as u8; 32]),
        note: format!("note {size}\n").into_bytes(),
    }
}

#[test]
fn cas_has_no_lost_updates_under_contention() {
    for (name, state, _dir) in backends() {
        let swaps = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        loop {
                            let cur = state.load(ORIGIN).unwrap();
                            let next = state_at(cur.as_ref().map_or(0, |c| c.size) + 1);
                            match state.compare_and_swap(ORIGIN, cur.as_ref(), &next).unwrap() {
                                Cas::Swapped => break,
                                Cas::Conflict(_) => continue,
                            }
                        }
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(swaps.load(Ordering::Relaxed), 400, "{name}");
        assert_eq!(state.load(ORIGIN).unwrap().unwrap().size, 400, "{name}");
    }
}

#[test]
fn cas_with_a_stale_expectation_changes_nothing() {
    for (name, state, _dir) in backends() {
        assert_eq!(
            state.compare_and_swap(ORIGIN, None, &state_at(3)).unwrap(),
            Cas::Swapped
        );
        // Expecting "nothing" again loses, and reports what is stored.
        assert_eq!(
            state.compare_and_swap(ORIGIN, None, &state_at(9)).unwrap(),
            Cas::Conflict(Some(state_at(3))),
            "{name}"
        );
        // Expecting a value never stored loses too.
        assert_eq!(
            state
                .compare_and_swap(ORIGIN, Some(&state_at(2)), &state_at(9))
                .unwrap(),
            Cas::Conflict(Some(state_at(3))),
            "{name}"
        );
        assert_eq!(state.load(ORIGIN).unwrap(), Some(state_at(3)), "{name}");
        // Other origins are independent.
        assert_eq!(state.load("other").unwrap(), None);
    }
}

#[test]
fn backends_refuse_to_lower_a_stored_size() {
    for (name, state, _dir) in backends() {
        state.compare_and_swap(ORIGIN, None, &state_at(5)).unwrap();
        let err = state
            .compare_and_swap(ORIGIN, Some(&state_at(5)), &state_at(4))
            .unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Rollback {
                    stored: 5,
                    proposed: 4,
                    ..
                }
            ),
            "{name}: {err}"
        );
        assert_eq!(state.load(ORIGIN).unwrap().unwrap().size, 5, "{name}");
    }
}

/// Lets the first `n` compare-and-swaps proceed only once all `n` callers have loaded the
/// state: forces the interleaving the spec warns about (both pass row 5, then both write).
struct RaceState {
    inner: Arc<dyn WitnessState>,
    barrier: Barrier,
    armed: AtomicU64,
    conflicts: AtomicU64,
}

impl WitnessState for RaceState {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        self.inner.load(origin)
    }
    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<&LogState>,
        new: &LogState,
    ) -> Result<Cas, StateError> {
        if self
            .armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            self.barrier.wait();
        }
        let outcome = self.inner.compare_and_swap(origin, expected, new)?;
        if matches!(outcome, Cas::Conflict(_)) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(outcome)
    }
    fn record_evidence(&self, evidence: &Evidence) -> Result<bool, StateError> {
        self.inner.record_evidence(evidence)
    }
    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StateError> {
        self.inner.evidence(origin)
    }
}

#[test]
fn two_requests_that_both_passed_the_size_check_cannot_roll_back() {
    for (name, inner, _dir) in backends() {
        let key = log_key(ORIGIN, 1);
        let tree = Tree::new("state", 20);
        let race = Arc::new(RaceState {
            inner: inner.clone(),
            barrier: Barrier::new(2),
            armed: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        });
        let w = witness_for(witness_key("w", 2), &[key.verifier()], race.clone());
        w.add_checkpoint(&tree.request(&key, 0, 4), 1).unwrap();
        race.armed.store(2, Ordering::SeqCst);
        // Both say old 4 (correct at the time they check); sizes 6 and 12.
        let bodies = [tree.request(&key, 4, 6), tree.request(&key, 4, 12)];
        let results: Vec<Result<_, WitnessError>> = std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|b| s.spawn(|| w.add_checkpoint(b, 1)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let codes: Vec<u16> = results.iter().map(status).collect();
        let winner = match codes.as_slice() {
            [200, 409] => 6,
            [409, 200] => 12,
            other => panic!("{name}: expected one 200 and one 409, got {other:?}"),
        };
        let stored = inner.load(ORIGIN).unwrap().unwrap();
        assert_eq!(stored.size, winner, "{name}");
        assert_eq!(stored.root, tree.root(winner), "{name}");
        // The loser was told the winner's size.
        // Both passed the size check; the swap, not the check, decided.
        assert_eq!(race.conflicts.load(Ordering::SeqCst), 1, "{name}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, WitnessError::Conflict { size } if *size == winner),
            "{name}: {loser:?}"
        );
    }
}

/// Many writers race with the 409-retry loop a log runs; an observer checks that the stored
/// size never decreases, and every cosigned size is ≤ the final one.
#[test]
fn concurrent_clients_never_see_the_size_go_down() {
    for (name, state, _dir) in backends() {
        let key = log_key(ORIGIN, 1);
        let tree = Tree::new("state", 400);
        let w = witness_for(witness_key("w", 2), &[key.verifier()], state.clone());
        let done = std::sync::atomic::AtomicBool::new(false);
        let cosigned = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut last = 0;
                while !done.load(Ordering::Relaxed) {
                    let size = state.load(ORIGIN).unwrap().map_or(0, |st| st.size);
                    assert!(size >= last, "size went from {last} down to {size}");
                    last = size;
                }
            });
            let writers: Vec<_> = (0..4u64)
                .map(|t| {
                    let (w, tree, key, cosigned) = (&w, &tree, &key, &cosigned);
                    s.spawn(move || {
                        let mut old = 0;
                        for i in 0..40u64 {
                            // Distinct, interleaved, growing sizes across the threads.
                            let size = 1 + (i * 4 + t) * 2;
                            while old <= size {
                                match w.add_checkpoint(&tree.request(key, old, size), 1) {
                                    Ok(_) => {
                                        cosigned.lock().unwrap().push(size);
                                        old = size;
                                        break;
                                    }
                                    Err(WitnessError::Conflict { size: m }) => old = m,
                                    Err(e) => panic!("unexpected refusal: {e}"),
                                }
                            }
                        }
                    })
                })
                .collect();
            let joined: Vec<_> = writers.into_iter().map(|h| h.join()).collect();
            // Stop the observer before reporting a writer's panic, or the scope never ends.
            done.store(true, Ordering::Relaxed);
            for j in joined {
                j.unwrap();
            }
        });
        let final_size = state.load(ORIGIN).unwrap().unwrap().size;
        let cosigned = cosigned.into_inner().unwrap();
        assert!(!cosigned.is_empty(), "{name}");
        assert_eq!(final_size, *cosigned.iter().max().unwrap(), "{name}");
    }
}

fn sled_witness(dir: &std::path::Path, key: &SignerKey) -> (Witness, Arc<SledState>) {
    let state = Arc::new(SledState::open(dir).unwrap());
    (
        witness_for(witness_key("w", 2), &[key.verifier()], state.clone()),
        state,
    )
}

#[test]
fn a_restart_keeps_every_cosigned_size_and_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let key = log_key(ORIGIN, 1);
    let tree = Tree::new("state", 20);
    let fork = Tree::new("fork", 20);
    let stored_note;
    {
        let (w, _state) = sled_witness(dir.path(), &key);
        w.add_checkpoint(&tree.request(&key, 0, 5), 10).unwrap();
        w.add_checkpoint(&tree.request(&key, 5, 9), 11).unwrap();
        // A fork at the same size: refused and kept as evidence.
        let e = w.add_checkpoint(&fork.request(&key, 9, 9), 12).unwrap_err();
        assert_eq!(e.status(), 422);
        stored_note = w.state().load(ORIGIN).unwrap().unwrap().note;
    }
    let (w, state) = sled_witness(dir.path(), &key);
    let st = state.load(ORIGIN).unwrap().unwrap();
    assert_eq!((st.size, st.root), (9, tree.root(9)));
    assert_eq!(st.note, stored_note);
    // A client that forgot (old 0) is told 9, and a rollback to 5 is refused.
    assert!(matches!(
        w.add_checkpoint(&tree.request(&key, 0, 12), 13),
        Err(WitnessError::Conflict { size: 9 })
    ));
    assert!(matches!(
        w.add_checkpoint(
            &cairn_witness::encode_request(9, &[], &tree.signed(&key, 5)),
            13
        ),
        Err(WitnessError::OldSizeTooLarge { .. })
    ));
    assert!(matches!(
        w.add_checkpoint(&tree.request(&key, 5, 5), 13),
        Err(WitnessError::Conflict { size: 9 })
    ));
    w.add_checkpoint(&tree.request(&key, 9, 12), 14).unwrap();
    let evidence = state.evidence(ORIGIN).unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].reason, "same_size_different_root");
    assert_eq!(evidence[0].stored_size, 9);
    assert_eq!(evidence[0].stored_root, Some(tree.root(9).to_base64()));
    assert_eq!(
        evidence[0].request.as_bytes(),
        &fork.request(&key, 9, 9)[..],
        "the refused request is kept verbatim"
    );
}

#[test]
fn sled_state_is_locked_against_a_second_witness() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledState::open(dir.path()).unwrap();
    // The lock retry gives up after about two seconds and says why.
    let err = SledState::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("locked"), "{err}");
}

#[test]
fn evidence_is_capped_per_log() {
    for (name, state, _dir) in backends() {
        let ev = |origin: &str, i: u64| Evidence {
            origin: origin.into(),
            received_at: i,
            reason: "test".into(),
            stored_size: i,
            stored_root: None,
            request: format!("request {i}"),
        };
        for i in 0..MAX_EVIDENCE_PER_LOG as u64 {
            assert!(state.record_evidence(&ev(ORIGIN, i)).unwrap(), "{name}");
        }
        assert!(!state.record_evidence(&ev(ORIGIN, 9999)).unwrap(), "{name}");
        assert!(state.record_evidence(&ev("other", 0)).unwrap(), "{name}");
        let kept = state.evidence(ORIGIN).unwrap();
        assert_eq!(kept.len(), MAX_EVIDENCE_PER_LOG, "{name}");
        // Oldest first.
        assert_eq!(kept[0].received_at, 0, "{name}");
        assert_eq!(
            kept.last().unwrap().received_at,
            MAX_EVIDENCE_PER_LOG as u64 - 1
        );
    }
}
