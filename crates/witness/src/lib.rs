//! Witnessing for Cairn, both sides of C2SP tlog-witness (specs.md §5–§6).
//!
//! **The witness** ([`Witness`], served by [`router`]): keeps, per configured log, the latest
//! checkpoint it cosigned, and cosigns a new one only with a valid consistency proof from it.
//! Checks follow the order of specs.md §6.2 exactly; state lives behind [`WitnessState`]
//! ([`SledState`] durable, [`MemoryState`] for tests) and changes only by compare-and-swap, so
//! concurrent requests cannot roll it back and a restart never forgets a cosigned size.
//! Refused checkpoints that are validly signed but inconsistent are kept as [`Evidence`].
//!
//! **The log's side** ([`WitnessClient`], [`Cosigner`]): a background task that sends each
//! new checkpoint (rate-limited) to every configured witness with the right consistency
//! proof, verifies the returned `cosignature/v1` lines, and stores the cosigned checkpoint
//! for `GET /checkpoint`. It is off the ingest path: a dead witness never delays entries.
//!
//! Module map: [`protocol`] (pure wire formats) → [`witness`] (checks and cosigning) →
//! [`http`] (axum routes); [`state`] (storage); [`config`] (known logs); [`client`] and
//! [`cosigner`] (log side).

pub mod client;
pub mod config;
pub mod cosigner;
mod durable;
pub mod error;
pub mod http;
pub mod protocol;
pub mod state;
pub mod witness;

pub use client::{ProofSource, WitnessClient, WitnessEndpoint};
pub use config::{KnownLog, KnownLogs, KnownLogsConfig, LogKeys};
pub use cosigner::{Cosigner, CosignerOptions, RoundReport, WitnessStatus};
pub use error::{ClientError, ConfigError, ProtocolError, StateError, WitnessError};
pub use http::{router, router_with, serve, unix_now, RouterOptions};
pub use protocol::{
    checkpoint_path, encode_request, origin_hash, AddCheckpointRequest, MAX_PROOF_LINES,
    MAX_REQUEST_SIZE, SIZE_CONTENT_TYPE,
};
pub use state::{
    Cas, Evidence, LogState, MemoryState, SledState, WitnessState, MAX_EVIDENCE_PER_LOG,
};
pub use witness::{Witness, EVIDENCE_TARGET};
