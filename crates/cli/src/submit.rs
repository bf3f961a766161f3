//! `cairn submit`: send entries to the write port in batches, verify every receipt against
//! the trusted log key, and hand the receipts out (files or NDJSON).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_client::{Client, VerifiedReceipt};
use clap::Args;

use crate::common::{self, print_json, progress, receipt_json, write_receipt, TlsArgs};

/// Stop adding to a batch at this many bytes of entries: base64 grows them by a third, and
/// the server's default request limit is 16 MiB.
const MAX_BATCH_BYTES: usize = 8 << 20;

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The log's internal (write) port, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub url: String,
    /// File holding the bearer token for the write port (e.g. <data-dir>/submit.token).
    #[arg(long, value_name = "F")]
    pub token_file: PathBuf,
    /// The log's verifier key (file or key text). Every receipt is verified against it before
    /// the entry is reported as accepted.
    #[arg(long, value_name = "V")]
    pub vkey: String,
    /// One entry per line (without its newline; empty lines are skipped) instead of one
    /// entry per file.
    #[arg(long)]
    pub lines: bool,
    /// Write each receipt to DIR/<index>.tlog-proof (an entry over 4 KiB goes beside it as
    /// DIR/<index>.entry) instead of printing NDJSON receipts on stdout.
    #[arg(long, value_name = "DIR")]
    pub receipts: Option<PathBuf>,
    /// Entries per request (1 to 4096).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub batch_size: u16,
    /// Print one JSON object per entry on stdout, also when writing receipt files.
    #[arg(long)]
    pub json: bool,
    /// Files to submit; `-`, or no file at all, reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// The entries to submit, read lazily so that a long input streams through in batches.
struct Inputs {
    files: VecDeque<String>,
    lines: bool,
    current: Option<(String, Box<dyn BufRead>, u64)>,
}

fn open(name: &str) -> Result<Box<dyn BufRead>> {
    if name == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = File::open(name).with_context(|| format!("cannot open {name}"))?;
    Ok(Box::new(BufReader::new(f)))
}

fn label(name: &str) -> &str {
    if name == "-" {
        "stdin"
    } else {
        name
    }
}

impl Inputs {
    /// The next entry and where it came from (`file` or `file:line`).
    fn next(&mut self) -> Result<Option<(String, Vec<u8>)>> {
        loop {
            if !self.lines {
                let Some(name) = self.files.pop_front() else {
                    return Ok(None);
                };
                let mut entry = Vec::new();
                open(&name)?
                    .read_to_end(&mut entry)
                    .with_context(|| format!("cannot read {}", label(&name)))?;
                if entry.is_empty() {
                    bail!("{} is empty; an entry has at least one byte", label(&name));
                }
                return Ok(Some((label(&name).to_owned(), entry)));
            }
            if self.current.is_none() {
                let Some(name) = self.files.pop_front() else {
                    return Ok(None);
                };
                self.current = Some((label(&name).to_owned(), open(&name)?, 0));
            }
            let (name, reader, line) = self.current.as_mut().expect("just set");
            let mut entry = Vec::new();
            let n = reader
                .read_until(b'\n', &mut entry)
                .with_context(|| format!("cannot read {name}"))?;
            if n == 0 {
                self.current = None;
                continue;
            }
            *line += 1;
            if entry.last() == Some(&b'\n') {
                entry.pop();
            }
            if !entry.is_empty() {
                return Ok(Some((format!("{name}:{line}"), entry)));
            }
        }
    }
}

pub fn run(args: SubmitArgs) -> Result<ExitCode> {
    let key = common::read_key(&args.vkey, "--vkey")?;
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("cannot read {}", args.token_file.display()))?;
    let client =
        Client::new_with_tls(&args.url, key, &args.tls.options()?)?.with_token(token.trim());
    if let Some(dir) = &args.receipts {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut files: VecDeque<String> = args.files.iter().cloned().collect();
    if files.is_empty() {
        files.push_back("-".into());
    }
    let bar = progress(
        (!args.lines).then_some(files.len() as u64),
        "entries submitted",
    );
    let mut inputs = Inputs {
        files,
        lines: args.lines,
        current: None,
    };
    let mut totals = (0u64, 0u64);
    common::runtime()?.block_on(async {
        let mut labels = Vec::new();
        let mut entries = Vec::new();
        let mut bytes = 0;
        loop {
            let next = inputs.next()?;
            let done = next.is_none();
            if let Some((label, entry)) = next {
                bytes += entry.len();
                labels.push(label);
                entries.push(entry);
            }
            let full = entries.len() >= usize::from(args.batch_size) || bytes >= MAX_BATCH_BYTES;
            if !entries.is_empty() && (full || done) {
                let receipts = client.submit_batch(&entries).await.with_context(|| {
                    format!(
                        "submitting {} entries ({} to {}); none of them is confirmed",
                        entries.len(),
                        labels[0],
                        labels[labels.len() - 1]
                    )
                })?;
                for (label, receipt) in labels.iter().zip(&receipts) {
                    report(&args, label, receipt)?;
                    totals.0 += 1;
                    totals.1 += u64::from(receipt.duplicate);
                }
                bar.inc(receipts.len() as u64);
                labels.clear();
                entries.clear();
                bytes = 0;
            }
            if done {
                return Ok::<_, anyhow::Error>(());
            }
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "submitted {} entries ({} already logged) to {}; every receipt verified",
        totals.0,
        totals.1,
        client.log_key().name()
    );
    Ok(ExitCode::SUCCESS)
}

fn report(args: &SubmitArgs, label: &str, receipt: &VerifiedReceipt) -> Result<()> {
    let mut json = receipt_json(receipt);
    json["source"] = label.into();
    let Some(dir) = &args.receipts else {
        print_json(&json);
        return Ok(());
    };
    let path = dir.join(format!("{}.tlog-proof", receipt.index));
    let entry = write_receipt(&path, receipt)?;
    if args.json {
        json["receipt_file"] = path.display().to_string().into();
        if let Some(e) = &entry {
            json["entry_file"] = e.display().to_string().into();
        }
        print_json(&json);
    } else {
        println!(
            "{label}: index {} in tree size {}{} → {}{}",
            receipt.index,
            receipt.checkpoint.size(),
            if receipt.duplicate {
                " (already logged)"
            } else {
                ""
            },
            path.display(),
            entry
                .map(|e| format!(" (entry in {})", e.display()))
                .unwrap_or_default()
        );
    }
    Ok(())
}
