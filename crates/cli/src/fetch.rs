//! `cairn checkpoint` and `cairn prove`: ask the read port, verify the answer, show it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_client::{Client, VerifiedCheckpoint};
use cairn_tree::Hash;
use clap::{ArgGroup, Args};
use serde_json::json;

use crate::common::{self, print_json, receipt_json, write_receipt, TlsArgs, TrustArgs};

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// The log's public (read) port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("which").required(true).args(["index", "hash"])))]
pub struct ProveArgs {
    /// The log's public (read) port, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The entry's index in the log.
    #[arg(long)]
    pub index: Option<u64>,
    /// The entry's leaf hash (64 hex digits: SHA-256 of 0x00 ‖ entry).
    #[arg(long)]
    pub hash: Option<String>,
    /// Write the receipt to FILE (and an entry over 4 KiB beside it, as FILE's name with
    /// the extension `.entry`) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// A read-port client trusting `trust`'s log key, and its witness policy when given.
pub fn client(url: &str, trust: &TrustArgs, tls: &TlsArgs) -> Result<Client> {
    let mut client = Client::new_with_tls(url, trust.log_key()?, &tls.options()?)?;
    if let Some(policy) = trust.policy()? {
        client = client.with_witness_policy(policy);
    }
    Ok(client)
}

pub fn checkpoint(args: CheckpointArgs) -> Result<ExitCode> {
    let client = client(&args.url, &args.trust, &args.tls)?;
    let cp = common::runtime()?.block_on(client.checkpoint())?;
    if args.json {
        print_json(&checkpoint_json(&cp));
    } else {
        println!("origin: {}", cp.origin());
        println!("tree size: {}", cp.size());
        println!(
            "root hash: {} (hex {})",
            cp.root().to_base64(),
            cp.root().to_hex()
        );
        for (name, ts) in &cp.witnesses {
            println!("cosigned by: {name} at {ts} (POSIX seconds)");
        }
        println!("verified: signed by {}", client.log_key());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoint_json(cp: &VerifiedCheckpoint) -> serde_json::Value {
    json!({
        "origin": cp.origin(),
        "tree_size": cp.size(),
        "root_hash": cp.root().to_base64(),
        "witnesses": cp.witnesses.iter()
            .map(|(name, ts)| json!({"name": name, "timestamp": ts}))
            .collect::<Vec<_>>(),
        "checkpoint": String::from_utf8_lossy(&cp.note_bytes()),
    })
}

pub fn prove(args: ProveArgs) -> Result<ExitCode> {
    let client = client(&args.url, &args.trust, &args.tls)?;
    let hash = args
        .hash
        .as_deref()
        .map(|h| Hash::from_hex(h).context("--hash must be 64 hex digits"))
        .transpose()?;
    let receipt = common::runtime()?.block_on(async {
        match (args.index, hash) {
            (Some(index), _) => client.prove_index(index).await,
            (None, Some(hash)) => client.prove_hash(&hash).await,
            (None, None) => unreachable!("clap requires --index or --hash"),
        }
    })?;
    let mut json = receipt_json(&receipt);
    let entry_file = match &args.out {
        Some(path) => {
            let entry = write_receipt(path, &receipt)?;
            json["receipt_file"] = path.display().to_string().into();
            if let Some(e) = &entry {
                json["entry_file"] = e.display().to_string().into();
            }
            entry
        }
        None => None,
    };
    if args.json {
        print_json(&json);
    } else if let Some(path) = &args.out {
        println!(
            "entry {} is in tree size {} of {}: receipt verified and written to {}{}",
            receipt.index,
            receipt.checkpoint.size(),
            receipt.checkpoint.origin(),
            path.display(),
            entry_file
                .map(|e| format!(" (entry in {})", e.display()))
                .unwrap_or_default()
        );
    } else {
        print!(
            "{}",
            String::from_utf8_lossy(&receipt.to_tlog_proof().to_bytes())
        );
        if !receipt.entry_in_receipt() {
            eprintln!(
                "note: the entry ({} bytes) is too large to travel in the receipt; use --out to save it beside the receipt",
                receipt.entry.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
