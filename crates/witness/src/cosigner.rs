//! The log's background cosigning task: after each new checkpoint (at most one round per
//! `min_interval`), ask every configured witness at once, each with its own time limit;
//! append the verified cosignature lines to the checkpoint note and store it with
//! `LogStore::put_cosigned`. When the stored note meets the policy it becomes the
//! [`CosignedHead`] that `GET /checkpoint` serves; a new cosigner restores that head from
//! the store, so a restarted log serves its last witnessed checkpoint at once.
//!
//! It runs beside the log, never on the ingest path: it only reads the latest checkpoint and
//! stored tiles, so a slow or dead witness delays cosignatures, never entries. Per-witness
//! state (last cosigned size, last error, consecutive failures) is kept for
//! [`Cosigner::status`] and exported as metrics labelled by witness name.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_log::{CosignedHead, Log, SignedCheckpoint};
use cairn_note::{Note, NoteSignature, PolicyReport, WitnessPolicy};
use tokio::task::JoinSet;

use crate::client::{WitnessClient, WitnessEndpoint};
use crate::error::{ClientError, ConfigError};

/// How often and how patiently to ask.
#[derive(Clone, Debug)]
pub struct CosignerOptions {
    /// Least time between the starts of two rounds: a log that signs a checkpoint per batch
    /// would otherwise send witnesses hundreds of requests a second.
    pub min_interval: Duration,
    /// Time limit of one HTTP request to a witness; one exchange (with its single `409`
    /// retry) is cut off after twice this.
    pub request_timeout: Duration,
    /// When a round at an unchanged size missed some witnesses, ask again after this long.
    pub retry_interval: Duration,
}

impl Default for CosignerOptions {
    fn default() -> Self {
        CosignerOptions {
            min_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            retry_interval: Duration::from_secs(30),
        }
    }
}

/// What the log knows about one witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessStatus {
    pub name: String,
    pub url: String,
    /// The size this witness last cosigned for us (0: none yet).
    pub last_size: u64,
    /// POSIX seconds of the last cosignature received.
    pub last_success: Option<u64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u64,
}

/// The outcome of one round.
#[derive(Clone, Debug)]
pub struct RoundReport {
    /// The checkpoint size the round asked about.
    pub size: u64,
    /// Witnesses that cosigned it in this round.
    pub cosigned_by: Vec<String>,
    /// Witnesses that did not, and why.
    pub failures: Vec<(String, String)>,
    /// The policy checked over the stored cosigned note (this round's lines and any earlier
    /// ones for the same size).
    pub policy: PolicyReport,
    pub threshold: usize,
}

impl RoundReport {
    pub fn satisfied(&self) -> bool {
        self.policy.satisfied
    }
}

impl fmt::Display for RoundReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.policy.signed.iter().map(|(n, _)| n.as_str()).collect();
        write!(
            f,
            "checkpoint {}: {} of the required {} witness cosignatures ({}); quorum {}",
            self.size,
            names.len(),
            self.threshold,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
            if self.satisfied() { "met" } else { "NOT met" },
        )?;
        for (name, why) in &self.failures {
            write!(f, "; {name}: {why}")?;
        }
        Ok(())
    }
}

/// Collects witness cosignatures for a log.
pub struct Cosigner {
    log: Arc<Log>,
    clients: Vec<Arc<WitnessClient>>,
    policy: WitnessPolicy,
    options: CosignerOptions,
    status: Mutex<Vec<WitnessStatus>>,
    head: Arc<CosignedHead>,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("witnesses", &self.clients.len())
            .field("threshold", &self.policy.threshold)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// Every witness in `policy` must be one of `witnesses` (else the quorum counts a
    /// witness nobody asks), and no two witnesses may share a key. Restores the
    /// [`CosignedHead`] from the newest stored cosigned checkpoint that meets `policy`.
    pub fn new(
        log: Arc<Log>,
        witnesses: Vec<WitnessEndpoint>,
        policy: WitnessPolicy,
        options: CosignerOptions,
    ) -> Result<Self, ConfigError> {
        policy.validate().map_err(ConfigError::Policy)?;
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|o| o.key == w.key) {
                return Err(ConfigError::Witness {
                    name: w.key.name().to_owned(),
                    reason: "configured twice".into(),
                });
            }
        }
        if let Some(missing) = policy
            .witnesses
            .iter()
            .find(|k| !witnesses.iter().any(|w| &w.key == *k))
        {
            return Err(ConfigError::Witness {
                name: missing.name().to_owned(),
                reason: "in the policy but not among the witnesses asked".into(),
            });
        }
        let clients = witnesses
            .into_iter()
            .map(|w| {
                let name = w.key.name().to_owned();
                WitnessClient::new(w, options.request_timeout)
                    .map(Arc::new)
                    .map_err(|e| ConfigError::Witness {
                        name,
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let status = clients
            .iter()
            .map(|c| WitnessStatus {
                name: c.name().to_owned(),
                url: c.endpoint().url.clone(),
                last_size: 0,
                last_success: None,
                last_error: None,
                consecutive_failures: 0,
            })
            .collect();
        let head = Arc::new(CosignedHead::new());
        if let Some((size, note)) = restore_head(&log, &policy)? {
            head.advance(size, note);
            metrics::gauge!("cairn_cosigner_quorum_checkpoint_size").set(size as f64);
            tracing::info!(size, "serving the last witnessed checkpoint from storage");
        }
        Ok(Cosigner {
            log,
            clients,
            policy,
            options,
            status: Mutex::new(status),
            head,
        })
    }

    /// The latest checkpoint that met the policy, for the public port to serve.
    pub fn head(&self) -> Arc<CosignedHead> {
        self.head.clone()
    }

    /// A snapshot of every witness's state, in configuration order.
    pub fn status(&self) -> Vec<WitnessStatus> {
        self.status.lock().unwrap().clone()
    }

    pub fn policy(&self) -> &WitnessPolicy {
        &self.policy
    }

    /// One round for the log's latest checkpoint, now: asks all witnesses concurrently,
    /// stores the cosigned note if any witness signed, and reports against the policy.
    pub async fn cosign_latest(&self) -> RoundReport {
        let checkpoint = self.log.checkpoint();
        let exchange_limit = self.options.request_timeout.saturating_mul(2);
        let mut tasks = JoinSet::new();
        for (i, client) in self.clients.iter().enumerate() {
            let (client, log, cp) = (client.clone(), self.log.clone(), checkpoint.clone());
            tasks.spawn(async move {
                let result =
                    tokio::time::timeout(exchange_limit, client.add_checkpoint(&cp, log.as_ref()))
                        .await
                        .unwrap_or(Err(ClientError::Timeout(exchange_limit)));
                (i, result)
            });
        }
        let mut results: Vec<Option<Result<Vec<NoteSignature>, ClientError>>> =
            (0..self.clients.len()).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, result)) => results[i] = Some(result),
                Err(e) => tracing::error!(error = %e, "witness task failed"),
            }
        }

        let mut lines = Vec::new();
        let mut cosigned_by = Vec::new();
        let mut failures = Vec::new();
        for (i, result) in results.into_iter().enumerate() {
            let client = &self.clients[i];
            let result = result.unwrap_or_else(|| {
                Err(ClientError::Status {
                    status: 0,
                    body: "the request task did not finish".into(),
                })
            });
            self.record(i, client, checkpoint.size, &result);
            match result {
                Ok(l) => {
                    cosigned_by.push(client.name().to_owned());
                    lines.extend(l);
                }
                Err(e) => failures.push((client.name().to_owned(), e.to_string())),
            }
        }

        let note = match self.store_cosigned(&checkpoint, lines).await {
            Ok(note) => note,
            Err(e) => {
                tracing::error!(size = checkpoint.size, error = %e, "cannot store the cosigned checkpoint");
                failures.push(("storage".into(), e));
                Note::parse(&checkpoint.note).expect("the log's own checkpoint parses")
            }
        };
        let policy = self.policy.check(&note).unwrap_or_else(|e| {
            // Only reachable if a stored line by a policy witness fails to verify.
            tracing::error!(error = %e, "stored cosigned checkpoint fails the policy check");
            PolicyReport {
                signed: Vec::new(),
                satisfied: false,
            }
        });
        let report = RoundReport {
            size: checkpoint.size,
            cosigned_by,
            failures,
            policy,
            threshold: self.policy.threshold,
        };
        metrics::gauge!("cairn_cosigner_quorum_met").set(u8::from(report.satisfied()) as f64);
        metrics::gauge!("cairn_cosigner_cosignatures").set(report.policy.signed.len() as f64);
        if report.satisfied() {
            self.head.advance(report.size, note.to_bytes());
            metrics::gauge!("cairn_cosigner_quorum_checkpoint_size").set(report.size as f64);
            tracing::debug!(%report, "cosigning round");
        } else {
            tracing::warn!(%report, "witness quorum not met");
        }
        report
    }

    /// Appends `lines` to the stored cosigned note for this size (or to the bare checkpoint)
    /// and stores the result. Returns the note as stored (or as it was, with no new lines).
    async fn store_cosigned(
        &self,
        checkpoint: &SignedCheckpoint,
        lines: Vec<NoteSignature>,
    ) -> Result<Note, String> {
        let log = self.log.clone();
        let (size, bare) = (checkpoint.size, checkpoint.note.clone());
        tokio::task::spawn_blocking(move || {
            let store = log.store();
            // Earlier rounds for the same size may hold lines from witnesses that failed now.
            let base = store
                .cosigned(size)
                .map_err(|e| e.to_string())?
                .unwrap_or(bare);
            let mut note = Note::parse(&base).map_err(|e| e.to_string())?;
            if lines.is_empty() {
                return Ok(note);
            }
            for line in lines {
                note.add_signature(line).map_err(|e| e.to_string())?;
            }
            store
                .put_cosigned(size, &note.to_bytes())
                .map_err(|e| e.to_string())?;
            metrics::gauge!("cairn_cosigner_cosigned_size").set(size as f64);
            Ok(note)
        })
        .await
        .map_err(|e| e.to_string())?
    }

    fn record(
        &self,
        i: usize,
        client: &WitnessClient,
        size: u64,
        result: &Result<Vec<NoteSignature>, ClientError>,
    ) {
        let name = client.name().to_owned();
        let mut status = self.status.lock().unwrap();
        let s = &mut status[i];
        match result {
            Ok(_) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                s.last_size = size;
                s.last_success = Some(now);
                s.last_error = None;
                s.consecutive_failures = 0;
                metrics::counter!("cairn_cosigner_requests_total", "witness" => name.clone(), "outcome" => "ok")
                    .increment(1);
                metrics::gauge!("cairn_cosigner_witness_last_size", "witness" => name.clone())
                    .set(size as f64);
                metrics::gauge!("cairn_cosigner_witness_last_success_seconds", "witness" => name.clone())
                    .set(now as f64);
            }
            Err(e) => {
                s.last_error = Some(e.to_string());
                s.consecutive_failures += 1;
                metrics::counter!("cairn_cosigner_requests_total", "witness" => name.clone(), "outcome" => e.kind())
                    .increment(1);
                if e.is_alarm() {
                    metrics::counter!("cairn_cosigner_alarms_total", "witness" => name.clone())
                        .increment(1);
                    tracing::error!(
                        witness = %name,
                        size,
                        error = %e,
                        "witness alarm: it holds a view of this log inconsistent with ours (rollback, fork or a stolen key?)"
                    );
                } else {
                    tracing::warn!(witness = %name, size, error = %e, "witness did not cosign");
                }
            }
        }
        metrics::gauge!("cairn_cosigner_witness_consecutive_failures", "witness" => name)
            .set(s.consecutive_failures as f64);
    }

    /// Runs rounds until `shutdown` resolves: one as soon as the log has a checkpoint not yet
    /// asked about (at most one round start per `min_interval`), and again after
    /// `retry_interval` while some witness is missing for an unchanged size.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let poll = self.options.min_interval.min(Duration::from_millis(250));
        let mut last: Option<(u64, bool, Instant)> = None;
        loop {
            let size = self.log.checkpoint().size;
            let due = match last {
                None => true,
                Some((last_size, complete, started)) => {
                    let since = started.elapsed();
                    since >= self.options.min_interval
                        && (last_size != size
                            || (!complete && since >= self.options.retry_interval))
                }
            };
            if due {
                let started = Instant::now();
                let report = tokio::select! {
                    r = self.cosign_latest() => r,
                    () = &mut shutdown => return,
                };
                last = Some((report.size, report.failures.is_empty(), started));
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// Spawns [`Cosigner::run`] on the current tokio runtime.
    pub fn spawn(
        self: Arc<Self>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(shutdown))
    }
}

/// The newest stored cosigned checkpoint at or below the log's size that is the log's own
/// and meets `policy`. Stored notes that miss the quorum (a round where too few witnesses
/// answered) are passed over; one that fails to verify is reported and passed over too, so
/// a damaged record costs a witnessed checkpoint, never the start.
fn restore_head(log: &Log, policy: &WitnessPolicy) -> Result<Option<(u64, Vec<u8>)>, ConfigError> {
    let store = log.store();
    let restore_error = |e: cairn_storage::StorageError| {
        ConfigError::Restore(format!("cannot read the stored cosigned checkpoints: {e}"))
    };
    let mut at_most = log.checkpoint().size;
    while let Some((size, note)) = store.latest_cosigned(at_most).map_err(restore_error)? {
        let checked = log
            .signer()
            .open(&note)
            .map_err(|e| e.to_string())
            .and_then(|cp| {
                if cp.size != size {
                    return Err(format!(
                        "stored under size {size} but is for size {}",
                        cp.size
                    ));
                }
                let parsed = Note::parse(&note).map_err(|e| e.to_string())?;
                policy.check(&parsed).map_err(|e| e.to_string())
            });
        match checked {
            Ok(report) if report.satisfied => return Ok(Some((size, note))),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(size, error = %e, "stored cosigned checkpoint does not verify; passed over")
            }
        }
        let Some(below) = size.checked_sub(1) else {
            break;
        };
        at_most = below;
    }
    Ok(None)
}
