//! The internal write port: submit entries (single or batch), metrics, health.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_log::{Log, LogError, Receipt};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};

use crate::auth::{enforce, AccessPolicy};
use crate::error::ApiError;
use crate::proof_text::format_tlog_proof;

#[derive(Clone)]
pub struct InternalState {
    pub log: Arc<Log>,
    pub metrics: Option<PrometheusHandle>,
}

/// The write routes behind the access policy; `/healthz` stays open for load balancers.
pub fn router(state: InternalState, policy: Arc<AccessPolicy>) -> Router {
    // A single entry is the whole body: buffer no more than an entry may be, not the
    // batch-sized body limit of the port.
    let max_entry = state.log.config().max_entry_len;
    let health_state = state.log.clone();
    let guarded = Router::new()
        .route(
            "/v1/entries",
            post(submit_one).layer(DefaultBodyLimit::max(max_entry)),
        )
        .route("/v1/entries/batch", post(submit_batch))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(policy, enforce))
        .with_state(state);
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(health_state)
        .merge(guarded)
}

/// 503 once the log can no longer integrate anything (its sequencer died), so a load
/// balancer takes the instance out instead of sending writes that all fail.
async fn healthz(State(log): State<Arc<Log>>) -> Result<&'static str, ApiError> {
    if log.accepting() {
        Ok("ok\n")
    } else {
        Err(LogError::SequencerFailed.into())
    }
}

/// A receipt as JSON; `tlog_proof` is the same receipt in the standard
/// `c2sp.org/tlog-proof@v1` text form, ready to be saved and verified offline.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReceiptJson {
    pub index: u64,
    pub leaf_hash: String,
    pub duplicate: bool,
    pub tree_size: u64,
    pub root_hash: String,
    pub inclusion_proof: Vec<String>,
    pub checkpoint: String,
    pub tlog_proof: String,
}

impl ReceiptJson {
    pub fn from_receipt(r: &Receipt) -> Self {
        let checkpoint = String::from_utf8_lossy(&r.checkpoint.note).into_owned();
        ReceiptJson {
            index: r.index,
            leaf_hash: r.leaf_hash.to_hex(),
            duplicate: r.duplicate,
            tree_size: r.checkpoint.size,
            root_hash: r.checkpoint.root.to_base64(),
            inclusion_proof: r.proof.iter().map(|h| h.to_base64()).collect(),
            // A receipt's checkpoint was signed moments ago by this process: it always parses.
            tlog_proof: format_tlog_proof(r.index, &r.proof, &r.checkpoint.note)
                .expect("a freshly signed checkpoint is a valid note"),
            checkpoint,
        }
    }
}

fn json<T: Serialize>(value: &T) -> Response {
    let mut resp = Response::new(serde_json::to_vec(value).expect("serialisable").into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn record(entries: usize, bytes: usize, started: Instant) {
    metrics::counter!("cairn_submitted_entries_total").increment(entries as u64);
    metrics::counter!("cairn_submitted_bytes_total").increment(bytes as u64);
    metrics::histogram!("cairn_submit_seconds").record(started.elapsed().as_secs_f64());
}

async fn submit_one(
    State(s): State<InternalState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = match body {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            let max = s.log.config().max_entry_len;
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "entry_too_large",
                format!("the entry is over the maximum of {max} bytes"),
            ));
        }
        Err(other) => return Err(ApiError::bad_request("bad_body", other.body_text())),
    };
    let started = Instant::now();
    let len = body.len();
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty_entry",
            "the request body is the entry, and it is empty",
        ));
    }
    let receipt = s.log.submit(body.to_vec()).await?;
    record(1, len, started);
    Ok(json(&ReceiptJson::from_receipt(&receipt)))
}

/// `{"entries": ["<base64>", ...]}`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    entries: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub struct BatchResponse {
    pub receipts: Vec<ReceiptJson>,
}

async fn submit_batch(State(s): State<InternalState>, body: Bytes) -> Result<Response, ApiError> {
    let started = Instant::now();
    let req: BatchRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "malformed_batch",
            format!("expected {{\"entries\": [\"<base64>\", ...]}}: {e}"),
        )
    })?;
    if req.entries.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch has no entries",
        ));
    }
    // Before decoding anything: the log refuses such a request anyway.
    let most = s.log.config().max_batch;
    if req.entries.len() > most {
        return Err(LogError::TooManyEntries {
            n: req.entries.len(),
            max: most,
        }
        .into());
    }
    let mut entries = Vec::with_capacity(req.entries.len());
    for (i, e) in req.entries.iter().enumerate() {
        let entry = STANDARD.decode(e).map_err(|err| {
            ApiError::bad_request(
                "bad_base64",
                format!("entry {i} is not standard base64: {err}"),
            )
        })?;
        // As on the single-entry route: an entry is 1 byte or more.
        if entry.is_empty() {
            return Err(ApiError::bad_request(
                "empty_entry",
                format!("entry {i} is empty"),
            ));
        }
        entries.push(entry);
    }
    let bytes = entries.iter().map(Vec::len).sum();
    let n = entries.len();
    let receipts = s.log.submit_many(entries).await?;
    record(n, bytes, started);
    Ok(json(&BatchResponse {
        receipts: receipts.iter().map(ReceiptJson::from_receipt).collect(),
    }))
}

async fn metrics(State(s): State<InternalState>) -> Response {
    let stats = s.log.stats();
    let cp = s.log.checkpoint();
    metrics::gauge!("cairn_tree_size").set(cp.size as f64);
    metrics::gauge!("cairn_queued_entries").set(s.log.queued() as f64);
    metrics::gauge!("cairn_last_batch_entries").set(
        stats
            .last_batch_entries
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    match &s.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response(),
    }
}
