//! A client for Cairn logs that verifies everything it receives: a client never trusts the
//! server.
//!
//! - [`Client`] talks to `cairn serve`: submissions on the write port (each receipt verified
//!   before it is returned), and on the read port the latest checkpoint, inclusion proofs
//!   by index or leaf hash, consistency between two checkpoints, tiles and entries, a
//!   full download that rebuilds the signed root ([`Client::verify_contents`]), and the
//!   upgrade of a receipt to a newer (cosigned) checkpoint ([`Client::upgrade_receipt`]).
//! - [`verify`](crate::verify) is pure and offline: checkpoints and receipts
//!   (`c2sp.org/tlog-proof@v1`, [`cairn_note::TlogProof`]) against a log key and an optional
//!   witness policy, with one precise [`VerifyFailure`] per reason.
//! - [`TlsOptions`]: extra CA certificates to trust and a client certificate (mTLS), for a
//!   write port behind a private CA ([`Client::new_with_tls`]).
//!
//! What is verified, and what is not, is described in docs/api.md ("Receipts and client
//! verification").

mod client;
mod contents;
mod error;
mod tls;
pub mod verify;

pub use cairn_note::{TlogProof, TlogProofError};
pub use client::Client;
pub use contents::frontier_from_hashes;
pub use error::{ClientError, ContentProblem};
pub use tls::{ClientIdentity, TlsError, TlsOptions};
pub use verify::{
    make_receipt, verify_checkpoint, verify_receipt, verify_receipt_bytes, VerifiedCheckpoint,
    VerifiedReceipt, VerifyFailure, ENTRY_IN_EXTRA_MAX,
};
