//! `cairn monitor`: the auditor's daemon. It follows a log's checkpoints and proves each new
//! one consistent with the last one it verified, so the log cannot rewrite or fork its
//! history unnoticed; with `--full` it also downloads every entry and tile and rebuilds the
//! signed root itself.
//!
//! The last verified checkpoint (and, with `--full`, the right edge of the rebuilt tree) is
//! kept in the state file, replaced atomically after each verified step, so a restarted
//! monitor carries on from what it proved and cannot be talked into a rewrite. The first
//! checkpoint ever seen is trusted on first use; start monitors early.
//!
//! Misbehaviour (a fork, an invalid checkpoint, contents that do not match) produces an
//! evidence file, a webhook POST of the same JSON, and exit status 2 (unless
//! `--keep-going`). Network failures are only retried: they prove nothing.
//!
//! With `--witness-key … --quorum K`, every checkpoint the monitor accepts (the first one
//! included) must carry valid cosignatures from K of those witnesses. One short of the quorum
//! is not accepted and not an alarm either (witnesses may be down): it is an error, retried.
//! A cosignature line by a listed witness that does not verify is an alarm.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use cairn_client::{
    frontier_from_hashes, verify_checkpoint, Client, ClientError, VerifiedCheckpoint, VerifyFailure,
};
use cairn_note::{VerifierKey, WitnessPolicy};
use cairn_tree::{Frontier, Hash};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::common::{self, parse_duration, print_json, progress, write_atomic, TlsArgs, TrustArgs};

/// Exit status when the log was caught misbehaving (1 is any other failure).
const EXIT_ALARM: u8 = 2;

#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// The log's public (read) port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// The log's key and, with --witness-key, the witness quorum every accepted checkpoint
    /// must meet.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The state file: the last verified checkpoint. Created on the first run (which trusts
    /// the checkpoint it sees), then replaced atomically after each verified step.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Time between polls, e.g. 500ms, 30s, 5m, 1h.
    #[arg(long, default_value = "60s", value_parser = parse_interval, value_name = "D")]
    pub interval: Duration,
    /// POST every evidence document (JSON) to this URL.
    #[arg(long)]
    pub webhook: Option<String>,
    /// Also download every new entry bundle and hash tile, check them against each other,
    /// and rebuild the signed root from the entries (the first run downloads everything).
    #[arg(long)]
    pub full: bool,
    /// After detecting misbehaviour, keep monitoring from the last verified checkpoint
    /// instead of exiting with status 2. Each distinct finding is reported once.
    #[arg(long)]
    pub keep_going: bool,
    /// How long a checkpoint validly signed by the log may stay unproven (the log failing
    /// or refusing to serve its consistency proof) before that is an alarm. Such
    /// checkpoints are kept in the state file and retried at every check.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_interval)]
    pub unproven_alarm_after: Duration,
    /// Where evidence files are written. [default: the state file's directory]
    #[arg(long, value_name = "DIR")]
    pub evidence_dir: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (port 0 picks one; the address is
    /// printed).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Check once and exit: 0 when all is well, 2 on misbehaviour, 1 on any other failure.
    #[arg(long)]
    pub once: bool,
    /// Print one JSON object per event instead of text.
    #[arg(long)]
    pub json: bool,
    // TLS towards the log; the webhook uses the system roots only.
    #[command(flatten)]
    pub tls: TlsArgs,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

/// The state file's format.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    /// The last verified checkpoint, as signed (with any cosignatures).
    checkpoint: String,
    /// With `--full`: the right edge of the tree rebuilt from the entries, at the
    /// checkpoint's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    full: Option<FullState>,
    /// Checkpoints signed by the log that it has not yet proven consistent with the
    /// verified one, as signed, with when they were first seen (Unix seconds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unproven: Vec<UnprovenFile>,
}

#[derive(Serialize, Deserialize)]
struct UnprovenFile {
    checkpoint: String,
    first_seen: u64,
}

#[derive(Serialize, Deserialize)]
struct FullState {
    size: u64,
    frontier: Vec<String>,
}

/// What the monitor has proven so far.
struct State {
    checkpoint: VerifiedCheckpoint,
    /// The tree rebuilt from downloaded entries, when `--full` has run up to `checkpoint`.
    frontier: Option<Frontier>,
    /// Signed checkpoints the log has not proven consistent with `checkpoint` yet. A log
    /// could otherwise show a fork to this monitor and hide it by answering every proof
    /// request with an error: the signed fork would be forgotten at the next honest answer.
    unproven: Vec<Unproven>,
}

#[derive(Clone)]
struct Unproven {
    checkpoint: VerifiedCheckpoint,
    first_seen: u64,
}

impl State {
    /// Loads and re-verifies the state file: it must be signed by this log's key, and a
    /// stored frontier must rebuild the stored root. The witness quorum is not re-checked:
    /// the state may predate `--witness-key`, and it only gates what is accepted next.
    fn load(path: &Path, key: &VerifierKey) -> Result<Option<State>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let file: StateFile = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a monitor state file", path.display()))?;
        if file.version != 1 {
            bail!("{}: unknown state version {}", path.display(), file.version);
        }
        let checkpoint = verify_checkpoint(file.checkpoint.as_bytes(), key, None)
            .with_context(|| {
                format!(
                    "{}: the stored checkpoint does not verify with this log's key (another log's state?)",
                    path.display()
                )
            })?;
        let frontier = match file.full {
            Some(full) if full.size == checkpoint.size() => {
                let hashes = full
                    .frontier
                    .iter()
                    .map(|h| Hash::from_base64(h))
                    .collect::<Result<Vec<_>, _>>()
                    .with_context(|| format!("{}: bad frontier hash", path.display()))?;
                let frontier = frontier_from_hashes(full.size, &hashes)
                    .with_context(|| format!("{}: bad frontier", path.display()))?;
                if frontier.root() != checkpoint.root() {
                    bail!(
                        "{}: the stored frontier does not rebuild the stored root",
                        path.display()
                    );
                }
                Some(frontier)
            }
            _ => None,
        };
        let unproven = file
            .unproven
            .iter()
            .map(|u| {
                let checkpoint = verify_checkpoint(u.checkpoint.as_bytes(), key, None)
                    .with_context(|| {
                        format!("{}: an unproven checkpoint does not verify", path.display())
                    })?;
                Ok(Unproven {
                    checkpoint,
                    first_seen: u.first_seen,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(State {
            checkpoint,
            frontier,
            unproven,
        }))
    }

    fn save(&self, path: &Path) -> Result<()> {
        let file = StateFile {
            version: 1,
            checkpoint: String::from_utf8_lossy(&self.checkpoint.note_bytes()).into_owned(),
            full: self.frontier.as_ref().map(|f| FullState {
                size: f.size(),
                frontier: f.hashes().iter().map(Hash::to_base64).collect(),
            }),
            unproven: self
                .unproven
                .iter()
                .map(|u| UnprovenFile {
                    checkpoint: String::from_utf8_lossy(&u.checkpoint.note_bytes()).into_owned(),
                    first_seen: u.first_seen,
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).expect("serialisable");
        write_atomic(path, &json)
    }
}

/// Most signed-but-unproven checkpoints kept in the state.
const MAX_UNPROVEN: usize = 64;

/// Proof that the log misbehaved, as written to the evidence file and POSTed.
struct Alarm {
    kind: &'static str,
    message: String,
    /// The served checkpoint as received (also when it does not verify).
    served: Vec<u8>,
    proof: Option<serde_json::Value>,
}

enum Step {
    Alarm(Alarm),
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Step {
    fn from(e: anyhow::Error) -> Self {
        Step::Error(e)
    }
}

struct Monitor {
    args: MonitorArgs,
    client: Client,
    key: VerifierKey,
    /// The witness quorum every accepted checkpoint must meet, if any.
    policy: Option<WitnessPolicy>,
    state: Option<State>,
    evidence_dir: PathBuf,
    webhook: reqwest::Client,
    /// Findings already reported (kind and served checkpoint), so `--keep-going` reports
    /// each once; by kind too, so an `unproven` alarm does not hide the same checkpoint's
    /// later proof of a fork.
    reported: HashSet<(&'static str, Vec<u8>)>,
}

pub fn run(args: MonitorArgs) -> Result<ExitCode> {
    let key = args.trust.log_key()?;
    let policy = args.trust.policy()?;
    let client = Client::new_with_tls(&args.url, key.clone(), &args.tls.options()?)?;
    let state = State::load(&args.state, &key)?;
    let evidence_dir = match &args.evidence_dir {
        Some(d) => d.clone(),
        None => match args.state.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let webhook = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the webhook client")?;
    let mut monitor = Monitor {
        args,
        client,
        key,
        policy,
        state,
        evidence_dir,
        webhook,
        reported: HashSet::new(),
    };
    common::runtime()?.block_on(monitor.run())
}

impl Monitor {
    async fn run(&mut self) -> Result<ExitCode> {
        let shutdown = shutdown_signal()?;
        tokio::pin!(shutdown);
        if let Some(addr) = self.args.metrics_addr {
            let bound = serve_metrics(addr).await?;
            self.event(
                json!({"event": "metrics", "url": format!("http://{bound}/metrics")}),
                &format!("metrics: http://{bound}/metrics"),
            );
        }
        if let Some(state) = &self.state {
            metrics::gauge!("cairn_monitor_tree_size").set(state.checkpoint.size() as f64);
        }
        loop {
            let step = tokio::select! {
                step = self.step() => step,
                () = &mut shutdown => return Ok(ExitCode::SUCCESS),
            };
            match step {
                Ok(()) => {}
                Err(Step::Alarm(alarm)) => {
                    let fresh = self.reported.insert((alarm.kind, alarm.served.clone()));
                    if fresh {
                        self.raise(alarm).await;
                    }
                    if !self.args.keep_going {
                        return Ok(ExitCode::from(EXIT_ALARM));
                    }
                }
                Err(Step::Error(e)) => {
                    metrics::counter!("cairn_monitor_errors_total").increment(1);
                    if self.args.once {
                        return Err(e);
                    }
                    self.event(
                        json!({"event": "error", "message": format!("{e:#}")}),
                        &format!("error (will retry): {e:#}"),
                    );
                }
            }
            if self.args.once {
                return Ok(ExitCode::SUCCESS);
            }
            tokio::select! {
                () = tokio::time::sleep(self.args.interval) => {}
                () = &mut shutdown => return Ok(ExitCode::SUCCESS),
            }
        }
    }

    /// One poll: fetch, verify, prove consistent, optionally rebuild, persist.
    async fn step(&mut self) -> Result<(), Step> {
        let served = self
            .client
            .checkpoint_unverified()
            .await
            .context("cannot fetch the checkpoint")?;
        let latest =
            verify_checkpoint(&served, &self.key, self.policy.as_ref()).map_err(|e| match e {
                // Validly signed by the log, but too few witnesses vouch for it: maybe they
                // are down. Not accepted, and not proof of anything.
                VerifyFailure::QuorumNotMet { .. } => {
                    metrics::counter!("cairn_monitor_quorum_failures_total").increment(1);
                    Step::Error(anyhow::anyhow!(
                        "the served checkpoint is not accepted: {e}; the log's witnesses may be down or not configured like this monitor"
                    ))
                }
                e => Step::Alarm(Alarm {
                    kind: "invalid_checkpoint",
                    message: format!("the log served a checkpoint that does not verify: {e}"),
                    served: served.clone(),
                    proof: None,
                }),
            })?;
        let previous = self.state.as_ref();
        // The checkpoint verified after this step, and the proof length that got us there.
        let (target, proof_len) = match previous {
            None => (latest, None),
            Some(state) => {
                let verified = &state.checkpoint;
                let proof = match self.client.prove_consistent(verified, &latest).await {
                    Ok(proof) => proof,
                    Err(e) => {
                        return Err(match consistency_failure(e, verified, &latest, &served) {
                            Step::Error(e) => self.keep_unproven(&latest, e),
                            alarm => alarm,
                        })
                    }
                };
                if latest.size() < verified.size() {
                    // Consistent but older: a stale cache or a replay, not a rewrite.
                    metrics::counter!("cairn_monitor_stale_checkpoints_total").increment(1);
                    self.event(
                        json!({"event": "stale", "tree_size": latest.size(), "verified_size": verified.size()}),
                        &format!(
                            "served an older checkpoint (size {} < verified {}); it is consistent",
                            latest.size(),
                            verified.size()
                        ),
                    );
                    (verified.clone(), Some(proof.len()))
                } else {
                    (latest, Some(proof.len()))
                }
            }
        };
        let frontier = match self.args.full {
            false => None,
            true => {
                // A frontier is only kept for the checkpoint it was checked against, so this
                // resumes exactly where the last rebuild stopped.
                let from = previous
                    .and_then(|s| s.frontier.clone())
                    .unwrap_or_default();
                Some(self.rebuild(from, &target, &served).await?)
            }
        };
        let advanced = previous.is_none_or(|s| {
            (s.checkpoint.size(), s.checkpoint.root()) != (target.size(), target.root())
        });
        let rebuilt = frontier.as_ref().map(Frontier::size)
            != previous.and_then(|s| s.frontier.as_ref().map(Frontier::size));
        if advanced || rebuilt {
            let state = State {
                checkpoint: target,
                frontier,
                unproven: previous.map(|s| s.unproven.clone()).unwrap_or_default(),
            };
            state.save(&self.args.state).map_err(Step::Error)?;
            if advanced {
                self.report_progress(&state, previous.map(|s| s.checkpoint.size()), proof_len);
            }
            self.state = Some(state);
        } else if self.args.once {
            // A one-shot run should say what it checked even when nothing moved.
            self.event(
                json!({"event": "unchanged", "tree_size": target.size()}),
                &format!("size {} verified: no new checkpoint", target.size()),
            );
        }
        self.retry_unproven().await?;
        let size = self.state.as_ref().map_or(0, |s| s.checkpoint.size());
        metrics::counter!("cairn_monitor_checks_total").increment(1);
        metrics::gauge!("cairn_monitor_tree_size").set(size as f64);
        metrics::gauge!("cairn_monitor_last_success_timestamp_seconds").set(now() as f64);
        Ok(())
    }

    /// A validly signed checkpoint whose proof could not be had: remember it (persisted)
    /// and report the error, or, once it has been unproven for longer than allowed, the
    /// alarm.
    fn keep_unproven(&mut self, latest: &VerifiedCheckpoint, error: anyhow::Error) -> Step {
        let Some(state) = self.state.as_mut() else {
            return Step::Error(error);
        };
        let same = |c: &VerifiedCheckpoint| (c.size(), c.root()) == (latest.size(), latest.root());
        if same(&state.checkpoint) {
            return Step::Error(error);
        }
        // Bounded: a log that keeps growing while refusing every proof adds one per check;
        // the oldest are the ones that raise the alarm.
        if !state.unproven.iter().any(|u| same(&u.checkpoint))
            && state.unproven.len() < MAX_UNPROVEN
        {
            state.unproven.push(Unproven {
                checkpoint: latest.clone(),
                first_seen: now(),
            });
            if let Err(e) = state.save(&self.args.state) {
                return Step::Error(e.context(format!("{error:#}")));
            }
        }
        // Any remembered checkpoint unproven for too long, not just this one: retries of
        // the older ones only happen after a successful check.
        let oldest = state.unproven.iter().min_by_key(|u| u.first_seen).cloned();
        oldest
            .and_then(|u| self.overdue(&u.checkpoint, u.first_seen))
            .map_or(Step::Error(error), Step::Alarm)
    }

    /// The alarm for a checkpoint unproven since `first_seen`, if that is too long ago.
    fn overdue(&self, checkpoint: &VerifiedCheckpoint, first_seen: u64) -> Option<Alarm> {
        let waited = now().saturating_sub(first_seen);
        (waited >= self.args.unproven_alarm_after.as_secs()).then(|| Alarm {
            kind: "unproven",
            message: format!(
                "the log signed a checkpoint at size {} (root {}) and has not proven it \
                 consistent with the verified one for {waited} s; it may be hiding a fork",
                checkpoint.size(),
                checkpoint.root().to_base64()
            ),
            served: checkpoint.note_bytes(),
            proof: None,
        })
    }

    /// Tries again to prove each remembered checkpoint consistent with the verified one:
    /// proven ones are dropped, an inconsistent one is the fork alarm (both signed), and
    /// one unproven for too long is the `unproven` alarm.
    async fn retry_unproven(&mut self) -> Result<(), Step> {
        let Some(state) = self.state.as_ref() else {
            return Ok(());
        };
        let verified = state.checkpoint.clone();
        let mut left = Vec::new();
        let mut alarm = None;
        for u in state.unproven.clone() {
            match self.client.prove_consistent(&verified, &u.checkpoint).await {
                Ok(_) => {}
                Err(e) => {
                    let served = u.checkpoint.note_bytes();
                    match consistency_failure(e, &verified, &u.checkpoint, &served) {
                        // One alarm per check; the others stay and are raised at the next.
                        Step::Alarm(a) if alarm.is_none() => alarm = Some(a),
                        Step::Alarm(_) => left.push(u),
                        Step::Error(_) => {
                            if alarm.is_none() {
                                alarm = self.overdue(&u.checkpoint, u.first_seen);
                            }
                            left.push(u);
                        }
                    }
                }
            }
        }
        let state = self.state.as_mut().expect("checked above");
        if left.len() != state.unproven.len() {
            state.unproven = left;
            state.save(&self.args.state).map_err(Step::Error)?;
        }
        alarm.map_or(Ok(()), |a| Err(Step::Alarm(a)))
    }

    /// Downloads and checks the contents from `from` up to `target`.
    async fn rebuild(
        &self,
        from: Frontier,
        target: &VerifiedCheckpoint,
        served: &[u8],
    ) -> Result<Frontier, Step> {
        if from.size() == target.size() {
            return Ok(from);
        }
        let bar = progress(Some(target.size() - from.size()), "entries verified");
        let rebuilt = self
            .client
            .verify_contents(&from, target, &mut |n| bar.set_position(n))
            .await;
        bar.finish_and_clear();
        match rebuilt {
            Ok(f) => {
                metrics::counter!("cairn_monitor_entries_verified_total")
                    .increment(f.size() - from.size());
                Ok(f)
            }
            Err(ClientError::Content(problem)) => Err(Step::Alarm(Alarm {
                kind: "content_mismatch",
                message: format!(
                    "the log's tiles and entries do not match its checkpoint at size {}: {problem}",
                    target.size()
                ),
                served: served.to_vec(),
                proof: None,
            })),
            Err(other) => Err(Step::Error(
                anyhow::Error::new(other).context("cannot download the log's contents"),
            )),
        }
    }

    fn report_progress(&self, state: &State, previous: Option<u64>, proof_len: Option<usize>) {
        let cp = &state.checkpoint;
        metrics::counter!("cairn_monitor_checkpoints_verified_total").increment(1);
        let full = if state.frontier.is_some() {
            "; contents rebuilt"
        } else {
            ""
        };
        let text = match previous {
            None => format!(
                "size {} verified (first checkpoint seen: trusted on first use){full}",
                cp.size()
            ),
            Some(prev) => format!(
                "size {} verified: consistent with size {prev} ({} proof hashes){full}",
                cp.size(),
                proof_len.unwrap_or(0)
            ),
        };
        self.event(
            json!({
                "event": "verified",
                "tree_size": cp.size(),
                "root_hash": cp.root().to_base64(),
                "previous_size": previous,
                "contents_rebuilt": state.frontier.is_some(),
            }),
            &text,
        );
    }

    /// Writes the evidence file, POSTs it to the webhook, counts and reports the alarm.
    async fn raise(&self, alarm: Alarm) {
        metrics::counter!("cairn_monitor_alarms_total", "kind" => alarm.kind).increment(1);
        let detected = now();
        let evidence = json!({
            "kind": alarm.kind,
            "message": alarm.message,
            "log_url": self.args.url,
            "log_key": self.key.to_text(),
            "detected_at": detected,
            "verified_checkpoint": self.state.as_ref()
                .map(|s| String::from_utf8_lossy(&s.checkpoint.note_bytes()).into_owned()),
            "served_checkpoint": String::from_utf8_lossy(&alarm.served),
            "proof": alarm.proof,
        });
        // The alarm goes out (webhook, output, exit status) even when the evidence cannot be
        // saved: a full or read-only disk must not silence a fork.
        let saved = std::fs::create_dir_all(&self.evidence_dir)
            .with_context(|| format!("cannot create {}", self.evidence_dir.display()))
            .and_then(|()| {
                let path = unique_path(&self.evidence_dir, detected, alarm.kind);
                write_atomic(
                    &path,
                    &serde_json::to_vec_pretty(&evidence).expect("serialisable"),
                )?;
                Ok(path)
            });
        let delivered = match &self.args.webhook {
            None => None,
            Some(url) => Some(self.post(url, &evidence).await),
        };
        let mut text = format!("ALARM {}: {}; ", alarm.kind, alarm.message);
        match &saved {
            Ok(path) => text.push_str(&format!("evidence in {}", path.display())),
            Err(e) => text.push_str(&format!(
                "evidence NOT SAVED ({e:#}); it was: {}",
                serde_json::to_string(&evidence).expect("serialisable")
            )),
        }
        match &delivered {
            Some(Ok(())) => text.push_str("; webhook notified"),
            Some(Err(e)) => text.push_str(&format!("; webhook FAILED: {e:#}")),
            None => {}
        }
        self.event(
            json!({
                "event": "alarm",
                "kind": alarm.kind,
                "message": alarm.message,
                "evidence": saved.as_ref().ok().map(|p| p.display().to_string()),
                "evidence_error": saved.as_ref().err().map(|e| format!("{e:#}")),
                "evidence_json": saved.is_err().then(|| evidence.clone()),
                "webhook_ok": delivered.as_ref().map(Result::is_ok),
            }),
            &text,
        );
    }

    /// POSTs with a few retries: a webhook is how a human hears about a fork.
    async fn post(&self, url: &str, evidence: &serde_json::Value) -> Result<()> {
        let mut last = None;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match self.webhook.post(url).json(evidence).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => last = Some(anyhow::anyhow!("{url} answered {}", resp.status())),
                Err(e) => last = Some(anyhow::Error::new(e).context(format!("POST {url}"))),
            }
        }
        Err(last.expect("three attempts"))
    }

    fn event(&self, json: serde_json::Value, text: &str) {
        if self.args.json {
            print_json(&json);
        } else {
            println!("{text}");
        }
    }
}

/// Sorts a failed consistency check: a bad proof is an alarm, anything else an error.
fn consistency_failure(
    e: ClientError,
    verified: &VerifiedCheckpoint,
    latest: &VerifiedCheckpoint,
    served: &[u8],
) -> Step {
    match e {
            ClientError::Inconsistent {
                old_size,
                new_size,
                proof,
                reason,
            } => Step::Alarm(Alarm {
                kind: "inconsistent",
                message: format!(
                    "the log's checkpoint at size {} is not consistent with the verified one at size {}: {reason}; the log forked or rewrote its history",
                    latest.size(),
                    verified.size()
                ),
                served: served.to_vec(),
                proof: Some(json!({
                    "type": "consistency",
                    "old_size": old_size,
                    "new_size": new_size,
                    "hashes": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
                    "error": reason.to_string(),
                })),
            }),
            other => Step::Error(
                anyhow::Error::new(other).context("cannot get a consistency proof"),
            ),
        }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed before this returns, not on
/// first poll, so a signal that arrives while the first check runs still ends the monitor
/// cleanly (after which the state file is whole: it is only ever replaced atomically).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unique_path(dir: &Path, detected: u64, kind: &str) -> PathBuf {
    (0..)
        .map(|n| dir.join(format!("evidence-{detected}-{kind}-{n}.json")))
        .find(|p| !p.exists())
        .expect("an unused name")
}

/// Installs the Prometheus recorder and serves it; returns the bound address.
async fn serve_metrics(addr: SocketAddr) -> Result<SocketAddr> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}
