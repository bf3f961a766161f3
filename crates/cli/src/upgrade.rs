//! `cairn upgrade-receipt`: bring receipts up to the checkpoint the log serves now, which with
//! witnesses is the latest cosigned one.
//!
//! A receipt from `cairn submit` carries its batch's checkpoint, signed by the log alone: no
//! witness had seen it yet. Once witnesses have cosigned a later checkpoint, this command
//! verifies each receipt offline (log key only), proves the served checkpoint consistent with
//! the receipt's, fetches the entry's inclusion proof at the served size, and writes a receipt
//! that verifies offline with `cairn verify --witness-key … --quorum K`. Nothing is written
//! unless the upgraded receipt verifies under the given trust.
//!
//! Exit status: 0 when every receipt was upgraded, 2 when the log was caught misbehaving (a
//! served checkpoint inconsistent with a receipt's: a fork), 1 for anything else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_client::{verify_receipt, Client, TlogProof, VerifiedCheckpoint};
use clap::Args;
use serde_json::json;

use crate::common::{
    self, print_json, read_file, receipt_entry, receipt_json, write_receipt, TlsArgs, TrustArgs,
};
use crate::fetch;

/// Exit status when the log was caught misbehaving, as for `cairn monitor`.
const EXIT_ALARM: u8 = 2;

#[derive(Args, Debug)]
pub struct UpgradeArgs {
    /// The log's public (read) port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// The log's key, and the witnesses the upgraded receipts must satisfy: the served
    /// checkpoint is only accepted when it meets this policy.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The entry's bytes, for a single receipt that neither carries its entry nor has it
    /// beside it (RECEIPT with the extension `.entry`).
    #[arg(long, value_name = "FILE")]
    pub entry: Option<PathBuf>,
    /// Write the upgraded receipt to FILE (and an entry over 4 KiB beside it) instead of
    /// printing it. One RECEIPT only.
    #[arg(long, value_name = "FILE", conflicts_with = "in_place")]
    pub out: Option<PathBuf>,
    /// Replace each RECEIPT with its upgraded form (atomically, and only once it verifies).
    #[arg(long)]
    pub in_place: bool,
    /// Print one JSON object per receipt instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The receipts: `c2sp.org/tlog-proof@v1` files. Several need --in-place.
    #[arg(value_name = "RECEIPT", required = true)]
    pub receipts: Vec<PathBuf>,
}

/// Why one receipt was not upgraded.
enum Failure {
    /// The receipt itself does not verify (stable code, message).
    Invalid(&'static str, String),
    /// The log proved itself inconsistent with the receipt.
    Misbehaviour(String),
    /// Anything else: not upgradable yet, network, the server's manners.
    Other(String),
}

pub fn run(args: UpgradeArgs) -> Result<ExitCode> {
    let several = args.receipts.len() > 1;
    if several && !args.in_place {
        bail!("several receipts are only upgraded with --in-place (or give one RECEIPT with --out, or none to print it)");
    }
    if several && args.entry.is_some() {
        bail!("--entry goes with a single RECEIPT");
    }
    let client = fetch::client(&args.url, &args.trust, &args.tls)?;
    let runtime = common::runtime()?;
    // One target for all receipts: they end up against the same cosigned checkpoint.
    let target = runtime
        .block_on(client.checkpoint())
        .context("cannot get a checkpoint to upgrade to")?;
    let mut status = ExitCode::SUCCESS;
    for path in &args.receipts {
        let outcome = runtime.block_on(upgrade_one(&args, &client, &target, path))?;
        if let Err(failure) = outcome {
            let (code, message, exit) = match failure {
                Failure::Invalid(code, m) => (code, m, ExitCode::FAILURE),
                Failure::Misbehaviour(m) => ("inconsistent", m, ExitCode::from(EXIT_ALARM)),
                Failure::Other(m) => ("not_upgraded", m, ExitCode::FAILURE),
            };
            if args.json {
                print_json(&json!({
                    "ok": false,
                    "receipt_file": path.display().to_string(),
                    "reason": code,
                    "message": message,
                }));
            } else {
                eprintln!("FAILED ({code}): {}: {message}", path.display());
            }
            // An alarm outranks an ordinary failure in the exit status.
            if status != ExitCode::from(EXIT_ALARM) {
                status = exit;
            }
        }
    }
    Ok(status)
}

/// Upgrades one receipt file. I/O errors are errors; verdicts about the receipt or the log
/// are `Ok(Err(_))`, so the other receipts still get their turn.
async fn upgrade_one(
    args: &UpgradeArgs,
    client: &Client,
    target: &VerifiedCheckpoint,
    path: &Path,
) -> Result<Result<(), Failure>> {
    let bytes = read_file(path)?;
    let receipt = match TlogProof::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let failure = cairn_client::VerifyFailure::Malformed(e);
            return Ok(Err(Failure::Invalid(failure.code(), failure.to_string())));
        }
    };
    let entry = receipt_entry(path, &receipt, args.entry.as_deref())?;
    // The old receipt need not meet the witness policy (it usually has no cosignatures);
    // the upgraded one must.
    let old = match verify_receipt(&receipt, entry.as_deref(), client.log_key(), None) {
        Ok(r) => r,
        Err(f) => return Ok(Err(Failure::Invalid(f.code(), f.to_string()))),
    };
    let upgraded = match client.upgrade_receipt_to(&old, target).await {
        Ok(r) => r,
        Err(e) if e.is_misbehaviour() => return Ok(Err(Failure::Misbehaviour(e.to_string()))),
        Err(e) => return Ok(Err(Failure::Other(format!("{:#}", anyhow::Error::new(e))))),
    };
    let destination = match (&args.out, args.in_place) {
        (Some(out), _) => Some(out.as_path()),
        (None, true) => Some(path),
        (None, false) => None,
    };
    let entry_file = match destination {
        Some(file) => write_receipt(file, &upgraded)?,
        None => None,
    };
    let witnesses: Vec<&str> = upgraded
        .checkpoint
        .witnesses
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    if args.json {
        let mut out = receipt_json(&upgraded);
        out["ok"] = true.into();
        out["upgraded_from"] = old.checkpoint.size().into();
        if let Some(file) = destination {
            out["receipt_file"] = file.display().to_string().into();
        }
        if let Some(e) = &entry_file {
            out["entry_file"] = e.display().to_string().into();
        }
        print_json(&out);
        return Ok(Ok(()));
    }
    let summary = format!(
        "upgraded {}: entry {} from tree size {} to {}{}",
        path.display(),
        upgraded.index,
        old.checkpoint.size(),
        upgraded.checkpoint.size(),
        if witnesses.is_empty() {
            String::new()
        } else {
            format!(", cosigned by {}", witnesses.join(", "))
        }
    );
    match destination {
        Some(file) => println!("{summary}; written to {}", file.display()),
        None => {
            // The receipt itself goes to stdout, so it can be redirected; the summary not.
            print!(
                "{}",
                String::from_utf8_lossy(&upgraded.to_tlog_proof().to_bytes())
            );
            eprintln!("{summary}");
            if !upgraded.entry_in_receipt() {
                eprintln!(
                    "note: the entry ({} bytes) is too large to travel in the receipt; use --out to save it beside the receipt",
                    upgraded.entry.len()
                );
            }
        }
    }
    Ok(Ok(()))
}
