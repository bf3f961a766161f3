//! The witness's durable memory: per origin, the latest checkpoint it cosigned (size, root and
//! the cosigned note), plus evidence of refused, validly signed but inconsistent checkpoints.
//!
//! Updates are compare-and-swap: a writer names the state it checked against, and the write
//! happens only if that is still the stored state. This is what makes the size check and the
//! write one atomic step (specs.md §6.2): of two concurrent requests that both checked against
//! size N, only one can move it, and the other re-checks against the new size instead of
//! rolling it back. Backends also refuse any write that would lower a stored size, so a bug
//! above cannot make the witness forget a cosigned size.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use cairn_storage::SledSync;
use cairn_tree::Hash;
use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::protocol::origin_hash;

/// Most evidence records kept per origin. Only the log's own key can produce evidence, but a
/// misbehaving log could still produce a lot; the first ones are the interesting ones.
pub const MAX_EVIDENCE_PER_LOG: usize = 1024;

/// What the witness remembers about one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    pub size: u64,
    pub root: Hash,
    /// The checkpoint as cosigned: the log signatures the witness verified, then its own
    /// cosignature. Served at `GET /<origin hash>/checkpoint`.
    pub note: Vec<u8>,
}

impl LogState {
    /// `size (u64 BE) ‖ root (32) ‖ note`: deterministic, so a compare-and-swap on the
    /// encoded bytes compares exactly the decoded values.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.note.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.root.0);
        out.extend_from_slice(&self.note);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<LogState, StateError> {
        if bytes.len() < 40 {
            return Err(StateError::Corrupt(format!(
                "state record is {} bytes, shorter than 40",
                bytes.len()
            )));
        }
        let size = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let root = Hash::from_slice(&bytes[8..40]).expect("32 bytes");
        Ok(LogState {
            size,
            root,
            note: bytes[40..].to_vec(),
        })
    }
}

/// A validly signed checkpoint the witness refused as inconsistent with what it had cosigned:
/// possible proof of a split view, kept for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub origin: String,
    /// When it was received, POSIX seconds.
    pub received_at: u64,
    /// Why it was refused, e.g. `same_size_different_root`.
    pub reason: String,
    /// What the witness had cosigned at the time (size 0 and no root: nothing yet).
    pub stored_size: u64,
    pub stored_root: Option<String>,
    /// The refused request body, verbatim (old size, proof and the signed checkpoint).
    pub request: String,
}

/// The outcome of [`WitnessState::compare_and_swap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cas {
    /// The new state is stored and durable.
    Swapped,
    /// Someone else changed the state first; this is what is stored now.
    Conflict(Option<LogState>),
}

/// Durable per-origin witness state. A successful [`WitnessState::compare_and_swap`] is
/// visible to [`WitnessState::load`] at once and durable once a [`WitnessState::sync`] that
/// started after it returns: nothing derived from it (a cosignature, a 409 naming its size)
/// may leave the witness before that. Implementations must refuse to store a smaller size
/// than the stored one.
pub trait WitnessState: Send + Sync {
    /// The latest cosigned checkpoint for `origin`, if any.
    fn load(&self, origin: &str) -> Result<Option<LogState>, StateError>;

    /// Stores `new` if the stored state is still `expected` (`None`: nothing stored yet).
    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<&LogState>,
        new: &LogState,
    ) -> Result<Cas, StateError>;

    /// Keeps a piece of evidence; `false` when the per-log cap was reached and it was dropped.
    fn record_evidence(&self, evidence: &Evidence) -> Result<bool, StateError>;

    /// The evidence kept for `origin`, oldest first.
    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StateError>;

    /// Makes everything written so far durable. Whoever *publishes* a swapped or loaded
    /// state syncs first: no cosignature leaves the witness before it is on disk.
    fn sync(&self) -> Result<(), StateError> {
        Ok(())
    }
}

fn refuse_rollback(
    origin: &str,
    expected: Option<&LogState>,
    new: &LogState,
) -> Result<(), StateError> {
    match expected {
        Some(old) if new.size < old.size => Err(StateError::Rollback {
            origin: origin.to_owned(),
            stored: old.size,
            proposed: new.size,
        }),
        _ => Ok(()),
    }
}

/// State in memory, for tests and benchmarks: forgets everything on restart.
#[derive(Debug, Default)]
pub struct MemoryState {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    logs: HashMap<String, LogState>,
    evidence: HashMap<String, Vec<Evidence>>,
}

impl MemoryState {
    pub fn new() -> Self {
        MemoryState::default()
    }
}

impl WitnessState for MemoryState {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        Ok(self.inner.lock().unwrap().logs.get(origin).cloned())
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<&LogState>,
        new: &LogState,
    ) -> Result<Cas, StateError> {
        let mut inner = self.inner.lock().unwrap();
        let current = inner.logs.get(origin);
        if current != expected {
            return Ok(Cas::Conflict(current.cloned()));
        }
        refuse_rollback(origin, current, new)?;
        inner.logs.insert(origin.to_owned(), new.clone());
        Ok(Cas::Swapped)
    }

    fn record_evidence(&self, evidence: &Evidence) -> Result<bool, StateError> {
        let mut inner = self.inner.lock().unwrap();
        let list = inner.evidence.entry(evidence.origin.clone()).or_default();
        if list.len() >= MAX_EVIDENCE_PER_LOG {
            return Ok(false);
        }
        list.push(evidence.clone());
        Ok(true)
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StateError> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .evidence
            .get(origin)
            .cloned()
            .unwrap_or_default())
    }
}

const STATE_PREFIX: u8 = b'S';
const EVIDENCE_PREFIX: u8 = b'V';
const FORMAT_KEY: &[u8] = b"F";
const FORMAT: &[u8] = b"cairn-witness-sled-v1";

/// State in sled. Keys: `F` format marker · `S origin` → [`LogState::encode`] ·
/// `V SHA-256(origin) id(u64 BE)` → evidence as JSON (ids from sled's monotonic counter, so
/// evidence lists in arrival order). Every successful swap and every evidence record is
/// flushed and synced ([`SledSync`]) before it is reported, as in `cairn-storage`: unflushed sled writes are
/// lost on a process kill, and a witness that forgets a cosigned size can be rolled back.
/// Swaps are flushed by the caller's [`WitnessState::sync`], which concurrent blocking callers
/// share ([`GroupFlush`]); the HTTP layer shares them without blocking (`durable.rs`).
pub struct SledState {
    db: sled::Db,
    /// What sled's own flush leaves unsynced (see [`cairn_storage::SledSync`]).
    sync: SledSync,
    flush: GroupFlush,
    /// Serialises evidence writes so the per-log cap is exact.
    evidence_lock: Mutex<()>,
}

/// Group commit for `sled::Db::flush`: a caller whose write is done takes a ticket and waits
/// until a flush that *started after* the ticket completes. One caller at a time runs the
/// flush, for every ticket taken before it started, so under load one fsync makes many
/// requests durable instead of each request paying for its own. (Measured with 64 requests
/// in flight: per-request flushes capped the witness at about 4,000 requests/s.)
#[derive(Default)]
struct GroupFlush {
    progress: Mutex<FlushProgress>,
    done: Condvar,
    #[cfg(test)]
    fail_next: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct FlushProgress {
    /// Tickets handed out so far.
    requested: u64,
    /// Every ticket up to this one is durable.
    flushed: u64,
    /// A flush is running.
    running: bool,
    /// Why a flush failed, if one did: every later one is refused.
    failed: Option<String>,
}

impl GroupFlush {
    /// Returns once every write this thread completed before calling is durable.
    fn flush(&self, db: &sled::Db, sync: &SledSync) -> Result<(), StateError> {
        let mut p = self.progress.lock().unwrap();
        p.requested += 1;
        let ticket = p.requested;
        loop {
            if p.flushed >= ticket {
                return Ok(());
            }
            // After a failed fsync the kernel may have dropped the dirty pages and cleared
            // the error, so a second fsync could succeed with the state not on disk: nothing
            // is reported durable again until the witness restarts and reads what is.
            if let Some(why) = &p.failed {
                return Err(StateError::Backend(format!(
                    "an earlier flush of the witness state failed ({why}); restart the witness"
                )));
            }
            if p.running {
                p = self.done.wait(p).unwrap();
                continue;
            }
            // Lead a flush covering every ticket taken so far (their writes came first).
            p.running = true;
            let target = p.requested;
            drop(p);
            // Should the flush panic (sled panics on some I/O failures), the others must not
            // wait forever for a leader that is gone: the guard hands the lead back.
            let lead = Lead(self);
            let result = match self.injected_failure() {
                Some(e) => Err(e),
                None => sync
                    .flush(db)
                    .map_err(|e| StateError::Backend(e.to_string())),
            };
            std::mem::forget(lead);
            p = self.progress.lock().unwrap();
            p.running = false;
            match &result {
                Ok(()) => p.flushed = p.flushed.max(target),
                Err(e) => p.failed = Some(e.to_string()),
            }
            self.done.notify_all();
            result?;
        }
    }
}

impl GroupFlush {
    #[cfg(test)]
    fn injected_failure(&self) -> Option<StateError> {
        self.fail_next
            .swap(false, std::sync::atomic::Ordering::AcqRel)
            .then(|| StateError::Backend("injected flush failure".into()))
    }

    #[cfg(not(test))]
    fn injected_failure(&self) -> Option<StateError> {
        None
    }
}

/// Held by a flush's leader while it flushes; dropped only by unwinding.
struct Lead<'a>(&'a GroupFlush);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut p = self.0.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.running = false;
        self.0.done.notify_all();
    }
}

impl std::fmt::Debug for SledState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledState").finish_non_exhaustive()
    }
}

fn state_key(origin: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + origin.len());
    k.push(STATE_PREFIX);
    k.extend_from_slice(origin.as_bytes());
    k
}

fn evidence_prefix(origin: &str) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = EVIDENCE_PREFIX;
    k[1..].copy_from_slice(&origin_hash(origin));
    k
}

impl SledState {
    /// Opens (or creates) the state database in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StateError> {
        let config = sled::Config::new()
            .path(path.as_ref())
            .cache_capacity(64 * 1024 * 1024)
            // Every acknowledged write is flushed explicitly; the periodic flusher adds nothing.
            .flush_every_ms(None);
        let db = open_with_lock_retry(&config)?;
        let sync = SledSync::open(path.as_ref()).map_err(|e| {
            StateError::Backend(format!("syncing the witness state's files at open: {e}"))
        })?;
        match db.get(FORMAT_KEY)? {
            Some(v) if v.as_ref() == FORMAT => {}
            Some(v) => {
                return Err(StateError::Corrupt(format!(
                    "unknown witness state format {:?}",
                    String::from_utf8_lossy(&v)
                )))
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT)?;
                sync.flush(&db)
                    .map_err(|e| StateError::Backend(e.to_string()))?;
            }
        }
        Ok(SledState {
            db,
            sync,
            flush: GroupFlush::default(),
            evidence_lock: Mutex::new(()),
        })
    }
}

/// Opens the state database, waiting out sled's lingering lock from a just-closed handle
/// (see [`cairn_storage::open_sled_retrying_lock`]).
fn open_with_lock_retry(config: &sled::Config) -> Result<sled::Db, StateError> {
    cairn_storage::open_sled_retrying_lock(config).map_err(|e| {
        if cairn_storage::is_sled_lock_error(&e) {
            StateError::Backend(format!(
                "the witness state directory is locked (is another witness using it?): {e}"
            ))
        } else {
            e.into()
        }
    })
}

impl WitnessState for SledState {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        self.db
            .get(state_key(origin))?
            .map(|v| LogState::decode(&v))
            .transpose()
    }

    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<&LogState>,
        new: &LogState,
    ) -> Result<Cas, StateError> {
        refuse_rollback(origin, expected, new)?;
        let old = expected.map(LogState::encode);
        match self
            .db
            .compare_and_swap(state_key(origin), old, Some(new.encode()))?
        {
            // Not flushed here: see the trait's contract.
            Ok(()) => Ok(Cas::Swapped),
            Err(conflict) => Ok(Cas::Conflict(
                conflict.current.map(|v| LogState::decode(&v)).transpose()?,
            )),
        }
    }

    fn record_evidence(&self, evidence: &Evidence) -> Result<bool, StateError> {
        let prefix = evidence_prefix(&evidence.origin);
        let _guard = self.evidence_lock.lock().unwrap();
        if self.db.scan_prefix(prefix).keys().count() >= MAX_EVIDENCE_PER_LOG {
            return Ok(false);
        }
        let id = self.db.generate_id()?;
        let mut key = prefix.to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        let value = serde_json::to_vec(evidence).map_err(|e| StateError::Backend(e.to_string()))?;
        self.db.insert(key, value)?;
        self.flush.flush(&self.db, &self.sync)?;
        Ok(true)
    }

    fn sync(&self) -> Result<(), StateError> {
        self.flush.flush(&self.db, &self.sync)
    }

    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StateError> {
        self.db
            .scan_prefix(evidence_prefix(origin))
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice(&v)
                    .map_err(|e| StateError::Corrupt(format!("evidence record: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_failed_flush_nothing_is_reported_durable() {
        let dir = tempfile::tempdir().unwrap();
        let state = SledState::open(dir.path()).unwrap();
        state.sync().unwrap();
        state
            .flush
            .fail_next
            .store(true, std::sync::atomic::Ordering::Release);
        assert!(state.sync().is_err());
        // The flush would succeed now, but what the failed one covered may be lost.
        let again = state.sync().unwrap_err();
        assert!(again.to_string().contains("restart the witness"), "{again}");
    }

    #[test]
    fn encoding_round_trips() {
        let s = LogState {
            size: 77,
            root: Hash([9; 32]),
            note: b"note\n".to_vec(),
        };
        assert_eq!(LogState::decode(&s.encode()).unwrap(), s);
        assert!(LogState::decode(&[0; 39]).is_err());
    }
}
