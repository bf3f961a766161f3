//! Assembling and running the two listeners: TLS, limits, timeouts, graceful shutdown.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;
use cairn_log::{CosignedHead, Log};
use hyper_util::rt::TokioTimer;
use metrics_exporter_prometheus::PrometheusHandle;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{security_event, AccessPolicy};
use crate::connections::{ConnectionLimitReached, Guarded};
use crate::error::ApiError;
use crate::{internal, public};

/// PEM files for one listener's TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// Everything `serve` needs besides the log.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub public: TcpListenerSpec,
    pub internal: TcpListenerSpec,
    pub public_tls: Option<TlsFiles>,
    pub internal_tls: Option<TlsFiles>,
    pub policy: AccessPolicy,
    /// Largest request body on the write port (a batch); single entries are also capped by
    /// the log's maximum entry size.
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests handled at once per port; beyond it requests get 503 at once.
    pub max_concurrent_requests: usize,
    /// Connections open at once per port; beyond it a new connection is closed at once.
    pub max_connections: usize,
    /// A connection on which no byte moves either way for this long is closed (HTTP/2 has
    /// no idle timeout of its own). Longer than the request timeout: a handler is never
    /// waited on for this long, and a response that is still being sent keeps bytes moving.
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// The latest witnessed checkpoint, when the log has witnesses: `GET /checkpoint`
    /// serves it instead of the latest signed one.
    pub cosigned: Option<Arc<CosignedHead>>,
}

/// Where to listen: an address to bind, or an already-bound listener (tests bind port 0).
#[derive(Debug)]
pub enum TcpListenerSpec {
    Addr(SocketAddr),
    Bound(TcpListener),
}

impl Clone for TcpListenerSpec {
    fn clone(&self) -> Self {
        match self {
            TcpListenerSpec::Addr(a) => TcpListenerSpec::Addr(*a),
            TcpListenerSpec::Bound(l) => {
                TcpListenerSpec::Bound(l.try_clone().expect("clone listener"))
            }
        }
    }
}

impl TcpListenerSpec {
    fn bind(self) -> std::io::Result<TcpListener> {
        let l = match self {
            TcpListenerSpec::Addr(a) => TcpListener::bind(a)?,
            TcpListenerSpec::Bound(l) => l,
        };
        l.set_nonblocking(true)?;
        Ok(l)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("TLS configuration: {0}")]
    Tls(String),
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?
        .collect();
    let certs = certs.map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Tls(format!(
            "{}: no certificates",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds a rustls server configuration from PEM files, with client authentication when a
/// client CA is given.
pub fn rustls_config(files: &TlsFiles) -> Result<rustls::ServerConfig, ServeError> {
    // One process-wide provider (aws-lc-rs); a second install attempt is harmless.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = load_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", files.key.display())))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in load_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| ServeError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Limits every request on a port: body size, total time, and how many run at once.
fn limited(router: Router, options: &ServeOptions) -> Router {
    limit_requests(
        router,
        options.max_body_bytes,
        options.request_timeout,
        options.max_concurrent_requests,
    )
}

fn limit_requests(
    router: Router,
    max_body_bytes: usize,
    request_timeout: Duration,
    max_concurrent_requests: usize,
) -> Router {
    router
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError {
                        retry_after: Some(Duration::from_secs(1)),
                        ..ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too_many_requests",
                            "the server is at its concurrency limit",
                        )
                    }
                    .into_response()
                }))
                .load_shed()
                // Global: `Router::layer` wraps each route on its own, and a plain concurrency
                // limit would give every route its own count.
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrent_requests)),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // Outermost, so the 405s, 413s and 408s above get the JSON error shape too.
        .layer(axum::middleware::map_response(crate::error::json_errors))
}

/// The addresses actually bound (useful with port 0).
#[derive(Clone, Copy, Debug)]
pub struct BoundAddrs {
    pub public: SocketAddr,
    pub internal: SocketAddr,
}

/// Runs both ports until `shutdown` resolves, then stops accepting, lets in-flight requests
/// finish (their entries are integrated and acknowledged), drains the log and returns.
pub async fn serve(
    log: Arc<Log>,
    options: ServeOptions,
    metrics: Option<PrometheusHandle>,
    on_bound: impl FnOnce(BoundAddrs),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    // Load the TLS material before binding: a missing or bad certificate or key must fail the
    // start, not leave a port announced as bound while its listener task has died.
    let tls = |files: &Option<TlsFiles>| -> Result<_, ServeError> {
        Ok(match files {
            Some(f) => Some(Arc::new(rustls_config(f)?)),
            None => None,
        })
    };
    let public_tls = tls(&options.public_tls)?;
    let internal_tls = tls(&options.internal_tls)?;
    let public_listener = options.public.clone().bind()?;
    let internal_listener = options.internal.clone().bind()?;
    on_bound(BoundAddrs {
        public: public_listener.local_addr()?,
        internal: internal_listener.local_addr()?,
    });

    let public_app = limited(
        public::router(public::PublicState {
            log: log.clone(),
            cosigned: options.cosigned.clone(),
        }),
        &options,
    );
    let internal_app = limited(
        internal::router(
            internal::InternalState {
                log: log.clone(),
                metrics,
            },
            Arc::new(options.policy.clone()),
        ),
        &options,
    );

    let public_handle: Handle<SocketAddr> = Handle::new();
    let internal_handle: Handle<SocketAddr> = Handle::new();
    let guard = || {
        Guarded::new(
            DefaultAcceptor,
            options.max_connections,
            options.idle_timeout,
        )
    };
    let public_task = tokio::spawn(run_listener(
        public_listener,
        public_app,
        public_tls,
        guard(),
        public_handle.clone(),
        "public",
    ));
    let internal_task = tokio::spawn(run_listener(
        internal_listener,
        internal_app,
        internal_tls,
        guard(),
        internal_handle.clone(),
        "internal",
    ));

    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
    public_handle.graceful_shutdown(Some(options.shutdown_grace));
    internal_handle.graceful_shutdown(Some(options.shutdown_grace));
    for task in [public_task, internal_task] {
        match task.await {
            Ok(r) => r?,
            Err(e) => return Err(ServeError::Listen(std::io::Error::other(e))),
        }
    }
    // Anything still queued is integrated and acknowledged before we return.
    let log2 = log.clone();
    tokio::task::spawn_blocking(move || log2.shutdown())
        .await
        .map_err(|e| ServeError::Listen(std::io::Error::other(e)))?;
    tracing::info!(size = log.checkpoint().size, "log flushed; bye");
    Ok(())
}

/// Limits on one port's connections (see `connections.rs`).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond it a new connection is closed at once.
    pub max_connections: usize,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: Duration,
}

/// Serves `app` over plain HTTP on `listener` with the connection limits and header timeouts
/// of Cairn's own ports, until `shutdown` resolves; then in-flight requests get `grace` to
/// finish. For servers other than the log's two ports (the witness).
pub async fn serve_guarded(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let handle: Handle<SocketAddr> = Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(grace));
    });
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle)
        .first_request_timeout(Duration::from_secs(10))
        .acceptor(Guarded::new(
            DefaultAcceptor,
            limits.max_connections,
            limits.idle_timeout,
        ));
    server
        .http_builder()
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    server.serve(app.into_make_service()).await
}

async fn run_listener(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    guard: Guarded<DefaultAcceptor>,
    handle: Handle<SocketAddr>,
    port: &'static str,
) -> Result<(), ServeError> {
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let on_error = move |peer: Option<&SocketAddr>, e: &std::io::Error| {
        let limited = e
            .get_ref()
            .is_some_and(|inner| inner.is::<ConnectionLimitReached>());
        if limited {
            // Counted where it happens; a log line per refused connection would let a
            // flood of connections flood the log too.
            tracing::debug!(port, peer = ?peer, "connection limit reached; connection closed");
            return;
        }
        let Some(peer) = peer else {
            // The listener itself failed (out of file descriptors, say): accepting nothing
            // until it recovers, which must not go unnoticed.
            metrics::counter!("cairn_accept_errors_total", "port" => port).increment(1);
            tracing::warn!(port, error = %e, "accepting connections failed");
            return;
        };
        // Failed TLS handshakes (no client certificate, foreign CA, plain HTTP) land here.
        if port == "internal" {
            security_event(*peer, "tls_handshake_failed", &e.to_string());
        } else {
            metrics::counter!("cairn_public_tls_failures_total").increment(1);
            tracing::debug!(%peer, error = %e, "public port: handshake failed");
        }
    };
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle)
        .first_request_timeout(Duration::from_secs(10))
        .accept_error_handler(on_error);
    // Slow clients that never finish their headers are cut off instead of holding a slot.
    server
        .http_builder()
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    match tls {
        None => server.acceptor(guard).serve(make).await?,
        Some(config) => {
            let config = RustlsConfig::from_config(config);
            server
                .acceptor(RustlsAcceptor::new(config).acceptor(guard))
                .serve(make)
                .await?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_request_limit_counts_all_routes_together() {
        // Two routes, room for one request: a request to the second route while the first
        // route holds the slot is shed, not given a slot of its own.
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let router = Router::new()
            .route(
                "/a",
                get(move || {
                    let held = held.clone();
                    async move {
                        held.notified().await;
                        "a"
                    }
                }),
            )
            .route("/b", get(|| async { "b" }));
        let app = limit_requests(router, 1024, Duration::from_secs(5), 1);
        let get_path = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let first = tokio::spawn(app.clone().oneshot(get_path("/a")));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let shed = app.clone().oneshot(get_path("/b")).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        let served = app.oneshot(get_path("/b")).await.unwrap();
        assert_eq!(served.status(), StatusCode::OK);
    }
}
