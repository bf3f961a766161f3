//! `cairn verify`: check a receipt fully offline, with nothing but the trusted keys.
//!
//! Exit status 0 means: the entry hashes to the leaf, the inclusion proof leads from it to
//! the checkpoint's root, the checkpoint is the log's and signed by its key, and (when
//! witness keys are given) cosigned by the quorum. Anything else exits 1 with the reason.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cairn_client::{verify_receipt, TlogProof, VerifyFailure};
use clap::Args;
use serde_json::json;

use crate::common::{print_json, read_file, receipt_entry, receipt_json, TrustArgs};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The entry's bytes. Without it, the entry the receipt carries is used, or else the file
    /// beside the receipt (RECEIPT with the extension `.entry`). When both are present they
    /// must be equal.
    #[arg(long, value_name = "FILE")]
    pub entry: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The receipt: a `c2sp.org/tlog-proof@v1` file.
    #[arg(value_name = "RECEIPT")]
    pub receipt: PathBuf,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let key = args.trust.log_key()?;
    let policy = args.trust.policy()?;
    let bytes = read_file(&args.receipt)?;
    // I/O errors (an unreadable --entry) are errors; everything about the receipt's content
    // is a verdict.
    let outcome = match TlogProof::parse(&bytes) {
        Err(e) => Err(VerifyFailure::Malformed(e)),
        Ok(receipt) => {
            let entry = receipt_entry(&args.receipt, &receipt, args.entry.as_deref())?;
            verify_receipt(&receipt, entry.as_deref(), &key, policy.as_ref())
        }
    };
    match outcome {
        Ok(ok) => {
            if args.json {
                let mut out = receipt_json(&ok);
                out["ok"] = true.into();
                print_json(&out);
            } else {
                println!(
                    "OK: entry {} (leaf hash {}) is in {} at tree size {}, root {}",
                    ok.index,
                    ok.leaf_hash,
                    ok.checkpoint.origin(),
                    ok.checkpoint.size(),
                    ok.checkpoint.root().to_base64()
                );
                for (name, ts) in &ok.checkpoint.witnesses {
                    println!("cosigned by {name} at {ts} (POSIX seconds)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if args.json {
                print_json(&json!({
                    "ok": false,
                    "reason": failure.code(),
                    "message": failure.to_string(),
                }));
            } else {
                eprintln!("FAILED ({}): {failure}", failure.code());
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
