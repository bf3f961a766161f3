//! Waiting for durability without holding a thread: group commit of the witness state's
//! `sync` for async handlers.
//!
//! A request that has swapped in a new state takes a ticket and awaits a flush that started
//! after it. One background thread runs `WitnessState::sync` for every ticket taken so far,
//! so under load one fsync answers many requests, and the requests waiting for it are parked
//! futures, not blocked threads. (With a blocking thread per request the witness spent a
//! fifth of its time switching between dozens of threads on two cores.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::StateError;
use crate::state::WitnessState;

/// How far the flusher has got.
#[derive(Clone, Debug, Default)]
struct Flushed {
    /// Every ticket up to this one is durable.
    through: u64,
    /// The last failed flush: the tickets it covered and why.
    failed: Option<(u64, String)>,
}

/// Hands out tickets and reports when they are durable. Dropping it stops the flusher.
pub(crate) struct DurableGate {
    requested: Arc<AtomicU64>,
    wake: mpsc::Sender<()>,
    flushed: watch::Receiver<Flushed>,
}

impl DurableGate {
    /// Starts the flusher thread for `state`.
    pub(crate) fn start(state: Arc<dyn WitnessState>) -> std::io::Result<DurableGate> {
        let requested = Arc::new(AtomicU64::new(0));
        let (wake, woken) = mpsc::channel::<()>();
        let (report, flushed) = watch::channel(Flushed::default());
        let tickets = requested.clone();
        std::thread::Builder::new()
            .name("cairn-witness-flush".into())
            .spawn(move || {
                // Ends when the gate is dropped (no sender left).
                while woken.recv().is_ok() {
                    while woken.try_recv().is_ok() {}
                    // Read after the wake-up: every ticket counted here was taken after its
                    // write, so this flush covers all of them.
                    let target = tickets.load(Ordering::SeqCst);
                    let result = state.sync();
                    report.send_modify(|f| match result {
                        Ok(()) => f.through = f.through.max(target),
                        Err(e) => {
                            tracing::error!(error = %e, "flushing witness state failed");
                            f.failed = Some((target, e.to_string()));
                        }
                    });
                }
            })?;
        Ok(DurableGate {
            requested,
            wake,
            flushed,
        })
    }

    /// Returns once every write the caller finished before calling is durable.
    pub(crate) async fn wait(&self) -> Result<(), StateError> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake
            .send(())
            .map_err(|_| StateError::Backend("the state flusher has stopped".into()))?;
        let mut flushed = self.flushed.clone();
        let seen = flushed
            .wait_for(|f| {
                f.through >= ticket || f.failed.as_ref().is_some_and(|(t, _)| *t >= ticket)
            })
            .await
            .map_err(|_| StateError::Backend("the state flusher has stopped".into()))?;
        if seen.through >= ticket {
            return Ok(());
        }
        let reason = seen.failed.as_ref().map_or("", |(_, why)| why.as_str());
        Err(StateError::Backend(format!(
            "flushing witness state failed: {reason}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Cas, Evidence, LogState};
    use std::sync::atomic::AtomicBool;

    /// Counts syncs, and fails them on demand. Also numbers writes, and remembers the last
    /// write that a completed sync had started after: what is durable.
    #[derive(Default)]
    struct CountingState {
        syncs: AtomicU64,
        fail: AtomicBool,
        writes: AtomicU64,
        durable_through: AtomicU64,
    }

    impl CountingState {
        /// A write (a compare-and-swap, in the witness); returns its number.
        fn write(&self) -> u64 {
            self.writes.fetch_add(1, Ordering::SeqCst) + 1
        }
    }

    impl WitnessState for CountingState {
        fn load(&self, _: &str) -> Result<Option<LogState>, StateError> {
            Ok(None)
        }
        fn compare_and_swap(
            &self,
            _: &str,
            _: Option<&LogState>,
            _: &LogState,
        ) -> Result<Cas, StateError> {
            Ok(Cas::Swapped)
        }
        fn record_evidence(&self, _: &Evidence) -> Result<bool, StateError> {
            Ok(true)
        }
        fn evidence(&self, _: &str) -> Result<Vec<Evidence>, StateError> {
            Ok(Vec::new())
        }
        fn sync(&self) -> Result<(), StateError> {
            // A sync makes durable what was written before it started.
            let covers = self.writes.load(Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(StateError::Backend("disk on fire".into()));
            }
            self.durable_through.fetch_max(covers, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waiters_share_few_syncs() {
        let state = Arc::new(CountingState::default());
        let gate = Arc::new(DurableGate::start(state.clone()).unwrap());
        let waiters: Vec<_> = (0..200)
            .map(|i| {
                let gate = gate.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    if i % 2 == 0 {
                        tokio::task::yield_now().await;
                    }
                    let mine = state.write();
                    gate.wait().await.unwrap();
                    // Released only once a sync that started after this write has finished.
                    let durable = state.durable_through.load(Ordering::SeqCst);
                    assert!(durable >= mine, "write {mine} released at {durable}");
                })
            })
            .collect();
        for w in waiters {
            w.await.unwrap();
        }
        let syncs = state.syncs.load(Ordering::SeqCst);
        // 200 waiters within a few 5 ms syncs must not need 200 of them.
        assert!((1..100).contains(&syncs), "{syncs} syncs for 200 waiters");
    }

    #[tokio::test]
    async fn a_failed_sync_is_reported_and_a_later_one_recovers() {
        let state = Arc::new(CountingState::default());
        let gate = DurableGate::start(state.clone()).unwrap();
        state.fail.store(true, Ordering::SeqCst);
        let err = gate.wait().await.unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
        state.fail.store(false, Ordering::SeqCst);
        gate.wait().await.unwrap();
    }
}
