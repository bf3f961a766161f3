//! `cairn verify-store`: the offline audit of a stopped log's data directory — every entry,
//! tile, checkpoint and index entry re-read and recomputed (see `cairn_storage::audit`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_client::verify_checkpoint;
use cairn_note::VerifierKey;
use cairn_storage::audit;
use clap::Args;
use serde_json::json;

use crate::common::{print_json, progress};
use crate::setup::DataDir;

#[derive(Args, Debug)]
pub struct VerifyStoreArgs {
    /// The data directory of a log that is not running (its database is locked while
    /// `cairn serve` uses it). Its log.vkey is the key checkpoints are checked against.
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: VerifyStoreArgs) -> Result<ExitCode> {
    let data = DataDir::new(&args.data_dir);
    let vkey = std::fs::read_to_string(data.vkey())
        .with_context(|| format!("cannot read {}", data.vkey().display()))?;
    let key = VerifierKey::parse(vkey.trim())
        .with_context(|| format!("{} holds no valid verifier key", data.vkey().display()))?;
    // Opening a missing database would create an empty one; `create: false` refuses instead.
    let (_, store) = data
        .open_store(None, 64 << 20, false)
        .context("stop `cairn serve` first if it is running")?;
    let size = store.head()?.map_or(0, |h| h.size);
    let bar = progress(Some(size), "entries checked");
    let open = |note: &[u8]| {
        verify_checkpoint(note, &key, None)
            .map(|cp| (cp.size(), cp.root()))
            .map_err(|e| e.to_string())
    };
    let report = audit(store.as_ref(), &open, &mut |n| bar.set_position(n))?;
    bar.finish_and_clear();
    if args.json {
        print_json(&json!({
            "ok": report.problem.is_none(),
            "tree_size": report.size,
            "entries_checked": report.entries_checked,
            "tiles_checked": report.tiles_checked,
            "checkpoints_checked": report.checkpoints_checked,
            "cosigned_checked": report.cosigned_checked,
            "index_entries_checked": report.index_entries_checked,
            "problem": report.problem.as_ref().map(ToString::to_string),
        }));
    } else {
        println!(
            "checked {} entries, {} tiles, {} checkpoints, {} cosigned checkpoints and {} index \
             entries of tree size {}",
            report.entries_checked,
            report.tiles_checked,
            report.checkpoints_checked,
            report.cosigned_checked,
            report.index_entries_checked,
            report.size
        );
    }
    match &report.problem {
        None => {
            if !args.json {
                println!("OK: the store is consistent with its signed checkpoints");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(problem) => {
            eprintln!("PROBLEM: {problem}");
            Ok(ExitCode::FAILURE)
        }
    }
}
