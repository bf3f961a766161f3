//! The witness's HTTP face (axum): `POST /add-checkpoint`, `GET /<origin hash>/checkpoint`,
//! `GET /healthz` and, when a Prometheus handle is given, `GET /metrics`.
//!
//! Handlers are thin: the request is checked and cosigned on the runtime's worker (two
//! Ed25519 operations, ≈ 50 µs), then awaits a flush shared with every other request in
//! flight (`durable.rs`) before answering; errors map to the status codes the protocol
//! prescribes. The submission and monitoring
//! prefixes are both the root; mount the router under a prefix with `Router::nest` if needed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::durable::DurableGate;
use crate::error::WitnessError;
use crate::protocol::{
    encode_signature_lines, encode_size_body, MAX_REQUEST_SIZE, SIZE_CONTENT_TYPE,
};
use crate::witness::{answer_needs_sync, Witness};

const TEXT: &str = "text/plain; charset=utf-8";

/// Limits around every route.
#[derive(Clone, Debug)]
pub struct RouterOptions {
    /// Longest a request may take (reading the body, checking, fsync) before it gets 408.
    pub request_timeout: Duration,
    /// Requests handled at once; beyond it requests get 503 at once instead of queueing.
    pub max_concurrent_requests: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 1024,
        }
    }
}

#[derive(Clone)]
struct AppState {
    witness: Arc<Witness>,
    durable: Arc<DurableGate>,
    metrics: Option<PrometheusHandle>,
}

/// The witness's routes with [`RouterOptions::default`] limits.
pub fn router(witness: Arc<Witness>, metrics: Option<PrometheusHandle>) -> Router {
    router_with(witness, metrics, &RouterOptions::default())
}

/// The witness's routes with the given limits. Starts the thread that flushes the witness
/// state; it stops when the router is dropped.
///
/// # Panics
/// When the operating system refuses to start that thread.
pub fn router_with(
    witness: Arc<Witness>,
    metrics: Option<PrometheusHandle>,
    options: &RouterOptions,
) -> Router {
    let durable = Arc::new(
        DurableGate::start(witness.state().clone()).expect("start the witness state flusher"),
    );
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route("/{origin_hash}/checkpoint", get(latest_checkpoint))
        .with_state(AppState {
            witness,
            durable,
            metrics,
        })
        // No valid request is larger; refuse bigger ones before buffering them.
        .layer(DefaultBodyLimit::max(MAX_REQUEST_SIZE))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the witness is at its concurrency limit\n",
                    )
                }))
                .load_shed()
                // Global: `Router::layer` wraps each route on its own, and a plain
                // concurrency limit would count per route.
                .layer(GlobalConcurrencyLimitLayer::new(
                    options.max_concurrent_requests.max(1),
                )),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn text(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    resp
}

/// Seconds since the Unix epoch: the cosignature timestamp.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn add_checkpoint(State(s): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let mut outcome = s.witness.add_checkpoint_unsynced(&body, unix_now());
    if answer_needs_sync(&outcome) {
        if let Err(e) = s.durable.wait().await {
            outcome = Err(e.into());
        }
    }
    s.witness.record(started, &outcome);
    match outcome {
        Ok(lines) => text(StatusCode::OK, encode_signature_lines(&lines)),
        Err(WitnessError::Conflict { size }) => {
            let mut resp = text(StatusCode::CONFLICT, encode_size_body(size));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(SIZE_CONTENT_TYPE),
            );
            resp
        }
        Err(e) if e.status() == 500 => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; no cosignature was issued\n",
        ),
        Err(e) => text(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            format!("{e}\n"),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn render_metrics(State(s): State<AppState>) -> Response {
    match &s.metrics {
        Some(handle) => text(StatusCode::OK, handle.render()),
        None => text(StatusCode::NOT_FOUND, "metrics are not enabled\n"),
    }
}

/// The latest checkpoint this witness cosigned for the log (specs.md §6.6).
async fn latest_checkpoint(State(s): State<AppState>, Path(origin_hash): Path<String>) -> Response {
    let not_found = || {
        text(
            StatusCode::NOT_FOUND,
            "no cosigned checkpoint for this log\n",
        )
    };
    // Exactly 64 hex digits; anything else names no log.
    let Some(hash) = (origin_hash.len() == 64)
        .then(|| hex::decode(&origin_hash).ok())
        .flatten()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    else {
        return not_found();
    };
    // Durable before it is published, through the shared flusher: a thread and a sync per
    // request would let anyone who can send GETs pile up blocking threads and fsyncs.
    let found = match s.witness.latest_by_hash_unsynced(&hash) {
        Ok(Some(note)) => s.durable.wait().await.map(|()| Some(note)),
        other => other,
    };
    match found {
        Ok(Some(note)) => {
            let mut resp = text(StatusCode::OK, note);
            // A tree head changes: keep caches from serving an old one for long.
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Ok(None) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "reading witness state failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}
