//! Cairn's HTTP layer: the public read port (C2SP tlog-tiles, proofs, entries, the verifier
//! key) and the internal write port (submissions behind an allow-list, bearer tokens and
//! optional mTLS), with the limits, timeouts and graceful shutdown both need.
//!
//! The routes are documented in docs/api.md.

pub mod auth;
mod connections;
pub mod error;
pub mod internal;
pub mod line_budget;
pub mod proof_text;
pub mod public;
pub mod server;

pub use auth::{token_digest, AccessPolicy};
pub use internal::{BatchResponse, ReceiptJson};
pub use server::{
    serve, serve_guarded, BoundAddrs, ConnectionLimits, ServeError, ServeOptions, TcpListenerSpec,
    TlsFiles,
};
