//! API errors: JSON bodies with a stable, machine-readable code.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_log::LogError;
use serde::Serialize;

/// An error answer. `code` is stable: clients match on it, never on `message`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A server-side failure. The detail (storage error text, which can name files and
    /// internals) goes to the server's log under a reference; the client gets the reference
    /// only, so operators can match a report to the log line.
    pub fn internal(detail: impl Into<String>) -> Self {
        let reference = log_internal(&detail.into());
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error (reference {reference}); the details are in the server's log"),
        )
    }
}

/// Logs an internal error's detail and returns the reference that names it, unique within
/// this process.
fn log_internal(detail: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let reference = format!("e{}", NEXT.fetch_add(1, Ordering::Relaxed));
    tracing::error!(reference = %reference, error = %detail, "request failed");
    reference
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .expect("serialisable");
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(after) = self.retry_after {
            let secs = after.as_secs().max(1).to_string();
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs).expect("digits"),
            );
        }
        resp
    }
}

/// Gives the JSON error shape to error answers produced outside the handlers: 405 from the
/// router, 413 from the body limits, 408 from the request timeout. Clients match on `code`, so
/// every error needs one. Headers such as `Allow` are kept.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "the request body is over the configured limit",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request took longer than the configured limit",
        ),
        StatusCode::NOT_FOUND => ("no_such_resource", "no such resource"),
        s if s.is_server_error() => ("internal", "the request failed"),
        _ => ("bad_request", "the request could not be parsed"),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    for (name, value) in resp.headers() {
        // The body is replaced, so its encoding goes too.
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && name != header::CONTENT_ENCODING
        {
            out.headers_mut().insert(name, value.clone());
        }
    }
    out
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::EntryTooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "entry_too_large",
                e.to_string(),
            ),
            LogError::TooManyEntries { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_entries",
                e.to_string(),
            ),
            LogError::Overloaded { retry_after } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
            },
            LogError::ShuttingDown => ApiError {
                retry_after: Some(Duration::from_secs(5)),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    e.to_string(),
                )
            },
            // Logged once, where the sequencer died; a line per refused request (or per
            // health check) would let anyone flood the log.
            LogError::SequencerFailed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_stopped",
                e.to_string(),
            ),
            LogError::LoggedWithoutReceipt { size, ref reason } => {
                let reference = log_internal(&format!("receipts not built: {reason}"));
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "logged_without_receipt",
                    format!(
                        "the entries were logged (tree size {size}) but their receipts could \
                         not be built (reference {reference}); submit them again for receipts \
                         (dedup answers with the same indices) or fetch proofs by leaf hash"
                    ),
                )
            }
            LogError::BadRequest(m) => ApiError::bad_request("bad_request", m),
            LogError::NotFound(m) => ApiError::not_found("not_found", m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_storage::StorageError;

    /// Storage failures can carry paths and internals; a client sees a reference instead, and
    /// two failures get different references.
    #[test]
    fn internal_errors_keep_their_detail_out_of_the_answer() {
        let secret = "IO error: /var/lib/cairn/db/blobs/1234: Permission denied";
        let a = ApiError::from(LogError::Storage(StorageError::Backend(secret.into())));
        let b = ApiError::internal(secret);
        for e in [&a, &b] {
            assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(e.code, "internal");
            assert!(!e.message.contains("/var/lib"), "{}", e.message);
            assert!(e.message.contains("reference e"), "{}", e.message);
        }
        assert_ne!(a.message, b.message);

        let logged = ApiError::from(LogError::LoggedWithoutReceipt {
            size: 42,
            reason: secret.into(),
        });
        assert_eq!(logged.code, "logged_without_receipt");
        assert!(
            logged.message.contains("tree size 42"),
            "{}",
            logged.message
        );
        assert!(!logged.message.contains("/var/lib"), "{}", logged.message);
    }
}
