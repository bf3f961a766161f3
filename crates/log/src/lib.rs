//! The Cairn log engine: sequences submitted entries into the Merkle tree over a
//! [`cairn_storage::LogStore`], signs a checkpoint per batch, and answers proofs.
//!
//! It is synchronous at its core (one sequencer thread doing group commit) with an async
//! submit API, so the server can await durability without blocking its runtime.

mod config;
mod cosigned;
mod engine;
mod error;
mod signing;
mod state;
mod tile_cache;

pub use config::LogConfig;
pub use cosigned::{CosignedCheckpoint, CosignedHead};
pub use engine::{Log, LogStats, Receipt, MAX_WAIT_LIMIT};
pub use error::LogError;
pub use signing::{LogSigner, SignedCheckpoint};
