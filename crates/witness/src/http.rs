//! The witness's HTTP face (axum): `POST /add-checkpoint`, `GET /<origin hash>/checkpoint`,
//! `GET /healthz` and, when a Prometheus handle is given, `GET /metrics`.
//!
//! Handlers are thin: the request is checked and cosigned by [`Witness::add_checkpoint`] on a
//! blocking thread (it verifies Ed25519 signatures and waits for an fsync), and its error is
//! mapped to the status code the protocol prescribes. The submission and monitoring
//! prefixes are both the root; mount the router under a prefix with `Router::nest` if needed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::error::WitnessError;
use crate::protocol::{
    encode_signature_lines, encode_size_body, MAX_REQUEST_SIZE, SIZE_CONTENT_TYPE,
};
use crate::witness::Witness;

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
    metrics: Option<PrometheusHandle>,
}

/// The witness's routes with [`RouterOptions::default`] limits.
pub fn router(witness: Arc<Witness>, metrics: Option<PrometheusHandle>) -> Router {
    router_with(witness, metrics, &RouterOptions::default())
}

/// The witness's routes with the given limits.
pub fn router_with(
    witness: Arc<Witness>,
    metrics: Option<PrometheusHandle>,
    options: &RouterOptions,
) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route("/{origin_hash}/checkpoint", get(latest_checkpoint))
        .with_state(AppState { witness, metrics })
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
                .concurrency_limit(options.max_concurrent_requests.max(1)),
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
    let witness = s.witness.clone();
    let now = unix_now();
    let outcome = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body, now)).await;
    match outcome {
        Ok(Ok(lines)) => text(StatusCode::OK, encode_signature_lines(&lines)),
        Ok(Err(WitnessError::Conflict { size })) => {
            let mut resp = text(StatusCode::CONFLICT, encode_size_body(size));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(SIZE_CONTENT_TYPE),
            );
            resp
        }
        Ok(Err(e)) if e.status() == 500 => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the request changed nothing\n",
        ),
        Ok(Err(e)) => text(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            format!("{e}\n"),
        ),
        Err(join) => {
            tracing::error!(error = %join, "add-checkpoint task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
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
    let witness = s.witness.clone();
    match tokio::task::spawn_blocking(move || witness.latest_by_hash(&hash)).await {
        Ok(Ok(Some(note))) => {
            let mut resp = text(StatusCode::OK, note);
            // A tree head changes: keep caches from serving an old one for long.
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading witness state failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
        Err(e) => {
            tracing::error!(error = %e, "checkpoint task failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}
