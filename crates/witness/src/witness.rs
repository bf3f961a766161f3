//! The witness itself: checks an `add-checkpoint` request in exactly the order of specs.md
//! §6.2 and, when every check passes, cosigns it and stores it with a compare-and-swap.
//!
//! | row | check | refusal |
//! |---|---|---|
//! | 1 | the body parses | 400 |
//! | 2 | the origin is a configured log | 404 |
//! | 3 | the note verifies with the log's keys | 403 |
//! | 4 | old size ≤ checkpoint size | 400 |
//! | 5 | old size = stored size (0 if none) | 409 + stored size |
//! | 6 | a size-0 checkpoint has the empty root | 422 |
//! | 7 | old size 0 comes without a proof | 422 |
//! | 8 | same size as stored ⇒ same root | 422 |
//! | 9 | the consistency proof from the stored tree verifies | 422 |
//!
//! Rows 5–9 are re-run against the fresh state whenever the compare-and-swap loses a race,
//! which is what makes the check in row 5 and the write one atomic step. Validly signed
//! checkpoints that contradict what was cosigned (a different root at the stored size, a
//! non-empty root at size 0) are logged at `warn` and kept as [`Evidence`]; they are never
//! cosigned. A failing consistency proof is only counted: the proof is the submitter's, not
//! the log's. Lines that anyone can cause by replaying public checkpoints (rollbacks, a full
//! evidence store) are rate-limited. [`Witness::add_checkpoint`] blocks (ed25519, fsync); the HTTP layer
//! runs the checks on its workers and awaits a shared flush instead (`durable.rs`).

use std::sync::Arc;
use std::time::Instant;

use cairn_api::line_budget::LineBudget;
use cairn_note::{cosign, KeyAlgorithm, Note, NoteSignature, SignerKey, VerifierKey};
use cairn_tree::{verify_consistency, Hash, VerifyError};

use crate::config::KnownLogs;
use crate::error::{ConfigError, StateError, WitnessError};
use crate::protocol::AddCheckpointRequest;
use crate::state::{Cas, Evidence, LogState, WitnessState};

/// Whether an answer reveals stored state and so must wait until that state is durable: a
/// cosignature, or a 409 naming a size that a concurrent, not yet flushed swap just stored.
pub(crate) fn answer_needs_sync(result: &Result<Vec<NoteSignature>, WitnessError>) -> bool {
    matches!(result, Ok(_) | Err(WitnessError::Conflict { .. }))
}

/// Target of the log lines about possible split views, so operators can route them apart.
pub const EVIDENCE_TARGET: &str = "cairn_witness::evidence";

/// Log-line budgets (per second) for refusals that anyone can repeat at will.
static ROLLBACK_LINES: LineBudget = LineBudget::new(10);
static FULL_STORE_LINES: LineBudget = LineBudget::new(1);

/// A witness: its cosigning key, the logs it accepts, and its durable state.
pub struct Witness {
    key: SignerKey,
    logs: KnownLogs,
    state: Arc<dyn WitnessState>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.key)
            .field("logs", &self.logs.len())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// The key must be a `cosignature/v1` (0x04) key: a 0x01 key's signatures would be
    /// indistinguishable from a log's own.
    pub fn new(
        key: SignerKey,
        logs: KnownLogs,
        state: Arc<dyn WitnessState>,
    ) -> Result<Self, ConfigError> {
        if key.algorithm() != KeyAlgorithm::Cosignature {
            return Err(ConfigError::WitnessKey(format!(
                "{} is a {:?} key; a witness needs a cosignature/v1 (0x04) key",
                key.name(),
                key.algorithm()
            )));
        }
        metrics::gauge!("cairn_witness_known_logs").set(logs.len() as f64);
        Ok(Witness { key, logs, state })
    }

    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The public key logs and clients configure for this witness.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    pub fn logs(&self) -> &KnownLogs {
        &self.logs
    }

    pub fn state(&self) -> &Arc<dyn WitnessState> {
        &self.state
    }

    /// Handles one `add-checkpoint` body received at `now` (POSIX seconds, the cosignature
    /// timestamp). Returns the cosignature lines of the `200` answer, once they are durable.
    pub fn add_checkpoint(
        &self,
        body: &[u8],
        now: u64,
    ) -> Result<Vec<NoteSignature>, WitnessError> {
        let started = Instant::now();
        let mut result = self.add_checkpoint_unsynced(body, now);
        if answer_needs_sync(&result) {
            if let Err(e) = self.state.sync() {
                result = Err(e.into());
            }
        }
        self.record(started, &result);
        result
    }

    /// [`Witness::add_checkpoint`] without its final `sync`: the new state is visible at once
    /// but may not be on disk yet. The caller must not answer (when
    /// [`answer_needs_sync`] says so) before a sync that started after this returned;
    /// the HTTP layer awaits one that it shares with other requests.
    pub(crate) fn add_checkpoint_unsynced(
        &self,
        body: &[u8],
        now: u64,
    ) -> Result<Vec<NoteSignature>, WitnessError> {
        self.process(body, now)
    }

    /// Counts the outcome of a request that started at `started`.
    pub(crate) fn record(
        &self,
        started: Instant,
        result: &Result<Vec<NoteSignature>, WitnessError>,
    ) {
        let status = match result {
            Ok(_) => 200,
            Err(e) => e.status(),
        };
        metrics::counter!("cairn_witness_requests_total", "status" => status.to_string())
            .increment(1);
        metrics::histogram!("cairn_witness_request_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if let Err(WitnessError::State(e)) = result {
            tracing::error!(error = %e, "witness state failed; request refused with 500");
        }
    }

    /// The latest cosigned checkpoint of the log whose origin hashes to `origin_hash`, as
    /// stored. It may come from a swap whose flush is still under way: the caller must make
    /// the state durable (a flush that starts after this call) before publishing it.
    pub fn latest_by_hash_unsynced(
        &self,
        origin_hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StateError> {
        let Some(origin) = self.logs.origin_for_hash(origin_hash) else {
            return Ok(None);
        };
        Ok(self.state.load(origin)?.map(|s| s.note))
    }

    fn process(&self, body: &[u8], now: u64) -> Result<Vec<NoteSignature>, WitnessError> {
        // Row 1.
        let req = AddCheckpointRequest::parse(body)?;
        let cp = &req.checkpoint;
        // Row 2.
        let log = self
            .logs
            .get(&cp.origin)
            .ok_or_else(|| WitnessError::UnknownLog {
                origin: cp.origin.clone(),
            })?;
        // Row 3: `verify` fails on any bad line by one of this log's keys, and when none
        // verifies; lines by other keys (other witnesses) are ignored.
        let verified = req
            .note
            .verify(&log.verifiers)
            .map_err(WitnessError::Forbidden)?;
        // The stored copy keeps only what was verified: the log's lines, then ours.
        let log_lines: Vec<NoteSignature> = verified
            .verified
            .iter()
            .map(|v| v.signature.clone())
            .collect();
        // Row 4.
        if req.old_size > cp.size {
            return Err(WitnessError::OldSizeTooLarge {
                old: req.old_size,
                size: cp.size,
            });
        }
        let mut stored = self.state.load(&cp.origin)?;
        loop {
            // Rows 5–9, against the state the swap below is conditional on.
            self.check_against(&req, stored.as_ref(), body, now)?;
            let line = cosign(req.note.text(), &self.key, now).map_err(WitnessError::Signing)?;
            let mut note =
                Note::new(req.note.text(), log_lines.clone()).map_err(WitnessError::Signing)?;
            note.add_signature(line.clone())
                .map_err(WitnessError::Signing)?;
            let new = LogState {
                size: cp.size,
                root: cp.root,
                note: note.to_bytes(),
            };
            match self
                .state
                .compare_and_swap(&cp.origin, stored.as_ref(), &new)?
            {
                Cas::Swapped => return Ok(vec![line]),
                Cas::Conflict(current) => {
                    // A concurrent request moved the state: check again against it.
                    metrics::counter!("cairn_witness_cas_conflicts_total").increment(1);
                    stored = current;
                }
            }
        }
    }

    /// Rows 5–9 against `stored`.
    fn check_against(
        &self,
        req: &AddCheckpointRequest,
        stored: Option<&LogState>,
        body: &[u8],
        now: u64,
    ) -> Result<(), WitnessError> {
        let cp = &req.checkpoint;
        let stored_size = stored.map_or(0, |s| s.size);
        // Row 5.
        if req.old_size != stored_size {
            if let Some(s) = stored {
                if cp.size == s.size && cp.root != s.root {
                    // The answer stays 409 (the spec's order), but a validly signed second
                    // root for a cosigned size is a fork, whatever old size came with it.
                    self.keep_evidence(req, Some(s), "same_size_different_root", body, now);
                } else if cp.size < s.size {
                    metrics::counter!("cairn_witness_rollback_attempts_total").increment(1);
                    // Anyone can replay a log's old public checkpoints, so the lines are
                    // budgeted; the metric counts every attempt.
                    let verdict = ROLLBACK_LINES.admit();
                    if verdict.suppressed_before > 0 {
                        tracing::warn!(
                            target: EVIDENCE_TARGET,
                            suppressed = verdict.suppressed_before,
                            "more rollback attempts than logged; see cairn_witness_rollback_attempts_total"
                        );
                    }
                    if verdict.log {
                        tracing::warn!(
                            target: EVIDENCE_TARGET,
                            origin = %cp.origin,
                            size = cp.size,
                            stored_size = s.size,
                            "refused a checkpoint older than the one already cosigned (rollback attempt or stale client)"
                        );
                    }
                }
            }
            return Err(WitnessError::Conflict { size: stored_size });
        }
        // Row 6 (old = stored = 0 here, by rows 4 and 5).
        if cp.size == 0 && cp.root != Hash::empty_root() {
            self.keep_evidence(req, stored, "empty_tree_root", body, now);
            return Err(WitnessError::EmptyTreeRoot);
        }
        let Some(s) = stored.filter(|_| req.old_size > 0) else {
            // Row 7. Any tree extends the empty one, so with old size 0 there is nothing to
            // prove (and on first contact the checkpoint is trusted on first use).
            if !req.proof.is_empty() {
                return Err(WitnessError::ProofFromZero);
            }
            return Ok(());
        };
        // Row 8.
        if cp.size == s.size {
            if cp.root != s.root {
                self.keep_evidence(req, Some(s), "same_size_different_root", body, now);
                return Err(WitnessError::RootMismatch { size: cp.size });
            }
            if !req.proof.is_empty() {
                return Err(WitnessError::InconsistentProof(
                    VerifyError::WrongProofLength {
                        expected: 0,
                        got: req.proof.len(),
                    },
                ));
            }
            return Ok(());
        }
        // Row 9.
        // No evidence kept here: the proof is the submitter's, not signed, so a failing one
        // shows nothing about the log, and anyone holding one of its public checkpoints could
        // send it with a junk proof, over and over, to fill the evidence store (and crowd out
        // real evidence). A fork of a larger size is still refused; monitors catch it.
        verify_consistency(s.size, cp.size, &s.root, &cp.root, &req.proof).map_err(|e| {
            metrics::counter!("cairn_witness_bad_proofs_total").increment(1);
            tracing::debug!(
                origin = %cp.origin,
                size = cp.size,
                stored_size = s.size,
                error = %e,
                "consistency proof does not verify"
            );
            WitnessError::InconsistentProof(e)
        })
    }

    /// Logs and stores a refused, validly signed checkpoint. Failing to store it must not
    /// change the answer, so errors are only logged.
    fn keep_evidence(
        &self,
        req: &AddCheckpointRequest,
        stored: Option<&LogState>,
        reason: &str,
        body: &[u8],
        now: u64,
    ) {
        let cp = &req.checkpoint;
        metrics::counter!("cairn_witness_evidence_total", "reason" => reason.to_owned())
            .increment(1);
        tracing::warn!(
            target: EVIDENCE_TARGET,
            origin = %cp.origin,
            reason,
            size = cp.size,
            root = %cp.root.to_base64(),
            old_size = req.old_size,
            stored_size = stored.map_or(0, |s| s.size),
            "refused a validly signed checkpoint inconsistent with the cosigned one: possible split view"
        );
        let evidence = Evidence {
            origin: cp.origin.clone(),
            received_at: now,
            reason: reason.to_owned(),
            stored_size: stored.map_or(0, |s| s.size),
            stored_root: stored.map(|s| s.root.to_base64()),
            // The body parsed, so it is UTF-8 (ASCII control block, UTF-8 note).
            request: String::from_utf8_lossy(body).into_owned(),
        };
        match self.state.record_evidence(&evidence) {
            Ok(true) => {}
            Ok(false) => {
                // Replaying one stored fork lands here every time once the store is full.
                let verdict = FULL_STORE_LINES.admit();
                if verdict.log {
                    tracing::warn!(
                        target: EVIDENCE_TARGET,
                        origin = %cp.origin,
                        not_kept_before = verdict.suppressed_before,
                        "evidence store for this log is full; this record was not kept"
                    )
                }
            }
            Err(e) => tracing::error!(
                target: EVIDENCE_TARGET,
                origin = %cp.origin,
                error = %e,
                "could not store evidence"
            ),
        }
    }
}
