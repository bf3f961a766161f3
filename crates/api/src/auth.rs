//! Who may write: an allow-list of networks and bearer tokens.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time, so neither a
//! memory dump nor response timing reveals a valid token. Every refusal is counted by reason
//! and logged as a security event with the peer's address, up to a rate: a peer that can
//! reach the write port must not be able to flood the log (and the disk under it) with
//! refusals; the lines over the rate are counted and summarised.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::line_budget::LineBudget;

/// SHA-256 of a bearer token, the only form in which tokens are stored.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The write port's access rules.
#[derive(Clone, Debug)]
pub struct AccessPolicy {
    /// Networks allowed to connect; a peer outside all of them gets 403.
    pub allow: Vec<IpNet>,
    /// Digests of accepted bearer tokens. Empty means no token is required (only allowed when
    /// client certificates are enforced; the configuration layer checks that).
    pub token_digests: Vec<[u8; 32]>,
}

impl AccessPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// True when `presented` matches a configured token. Every digest is compared, in
    /// constant time, whether or not an earlier one matched.
    pub fn token_ok(&self, presented: &str) -> bool {
        let digest = token_digest(presented);
        let mut ok = subtle::Choice::from(0u8);
        for d in &self.token_digests {
            ok |= d.ct_eq(&digest);
        }
        ok.into()
    }
}

/// At most this many security events are logged per second; the metric counts them all.
const SECURITY_LINES_PER_SECOND: u32 = 20;

/// Counts and logs a refused request.
pub fn security_event(peer: SocketAddr, reason: &'static str, detail: &str) {
    metrics::counter!("cairn_auth_failures_total", "reason" => reason).increment(1);
    static BUDGET: LineBudget = LineBudget::new(SECURITY_LINES_PER_SECOND);
    let verdict = BUDGET.admit();
    if verdict.suppressed_before > 0 {
        tracing::warn!(
            target: "cairn::security",
            suppressed = verdict.suppressed_before,
            "write port refused more requests than it logs; see cairn_auth_failures_total"
        );
    }
    if verdict.log {
        tracing::warn!(target: "cairn::security", %peer, reason, detail, "write port refused a request");
    }
}

/// Middleware: allow-list first (403), then the bearer token (401).
pub async fn enforce(
    State(policy): State<Arc<AccessPolicy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !policy.allows(peer.ip()) {
        security_event(peer, "network_not_allowed", "peer outside the allow-list");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your network is not allowed to write to this log",
        )
        .into_response();
    }
    if !policy.token_digests.is_empty() {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let (ok, reason) = match presented {
            None => (false, "missing_token"),
            Some(t) => (policy.token_ok(t), "bad_token"),
        };
        if !ok {
            security_event(peer, reason, "bearer token missing or not accepted");
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            return resp;
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_and_tokens() {
        let policy = AccessPolicy {
            allow: vec![
                "127.0.0.0/8".parse().unwrap(),
                "10.1.0.0/16".parse().unwrap(),
            ],
            token_digests: vec![token_digest("s3cret"), token_digest("other")],
        };
        assert!(policy.allows("127.0.0.1".parse().unwrap()));
        assert!(policy.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(policy.allows("10.1.200.3".parse().unwrap()));
        assert!(!policy.allows("10.2.0.1".parse().unwrap()));
        assert!(!policy.allows("::1".parse().unwrap()));
        assert!(policy.token_ok("s3cret"));
        assert!(policy.token_ok("other"));
        assert!(!policy.token_ok("s3cret "));
        assert!(!policy.token_ok(""));
    }
}
