//! `cairn bench`: the load generator (see `cairn-loadgen`), against a running log or one it
//! spawns itself on a temporary data directory (`--spawn`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_loadgen::{format_report, BenchConfig};
use cairn_note::VerifierKey;
use clap::{Args, ValueEnum};

use crate::common::TlsArgs;

/// `--read-mix` values (mirrors [`cairn_loadgen::ReadMix`]).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReadMixArg {
    Mixed,
    Proofs,
    Tiles,
    Checkpoints,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Start a fresh `cairn serve` on a temporary data directory and benchmark it.
    #[arg(long, conflicts_with_all = ["url", "public_url"])]
    pub spawn: bool,
    /// Internal (write) port URL of a running log.
    #[arg(long, required_unless_present = "spawn")]
    pub url: Option<String>,
    /// Public (read) port URL of the same log.
    #[arg(long, required_unless_present = "spawn")]
    pub public_url: Option<String>,
    /// Bearer token file for the write port.
    #[arg(long, required_unless_present = "spawn", conflicts_with = "spawn")]
    pub token_file: Option<PathBuf>,
    /// The log's verifier key (file or literal text): every sampled answer is checked with it.
    #[arg(long, required_unless_present = "spawn", conflicts_with = "spawn")]
    pub vkey: Option<String>,
    /// Concurrent writers.
    #[arg(long, default_value_t = 64)]
    pub writers: usize,
    /// Entries per request (1: POST /v1/entries; more: /v1/entries/batch).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Entry size in bytes.
    #[arg(long, default_value_t = 256)]
    pub entry_size: usize,
    /// Fraction of entries that repeat an earlier one (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Concurrent readers (checkpoints, inclusion proofs, tiles).
    #[arg(long, default_value_t = 0)]
    pub readers: usize,
    /// What readers ask for: `mixed` (1 checkpoint : 6 inclusion proofs : 3 tiles), or only
    /// `proofs`, `tiles` or `checkpoints`.
    #[arg(long, value_enum, default_value_t = ReadMixArg::Mixed)]
    pub read_mix: ReadMixArg,
    /// How long to run, in seconds. [default: 10, or no limit with --count]
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many acknowledged entries (with --duration too: whichever comes
    /// first).
    #[arg(long)]
    pub count: Option<u64>,
    /// Offered load in entries/s (open loop); without it writers go as fast as answered.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Verify one receipt in this many (1 = every receipt).
    #[arg(long, default_value_t = 1)]
    pub verify_one_in: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No live progress on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Extra flags for the spawned server (e.g. `--serve-arg=--max-batch=8192`).
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    pub serve_args: Vec<String>,
    // TLS towards both ports (also a --spawn server given TLS with --serve-arg).
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// A spawned `cairn serve`, stopped with SIGTERM when dropped.
struct Spawned {
    child: Child,
    // Declared after `child`, so it is removed only once the server has stopped.
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(extra: &[String]) -> Result<(Spawned, String, String, String, String)> {
    let tmp = tempfile::Builder::new().prefix("cairn-bench-").tempdir()?;
    let dir = tmp.path().join("data");
    let exe = std::env::current_exe().context("cannot find the cairn executable")?;
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "--public-listen",
            "127.0.0.1:0",
            "--internal-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start cairn serve")?;
    let stdout = child.stdout.take().expect("piped");
    let spawned = Spawned { child, _dir: tmp };
    let (mut public, mut internal) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(u) = line.strip_prefix("public port: ") {
            public = Some(u.to_string());
        } else if let Some(u) = line.strip_prefix("internal port: ") {
            internal = Some(u.to_string());
        }
        if public.is_some() && internal.is_some() {
            break;
        }
    }
    let (Some(public), Some(internal)) = (public, internal) else {
        bail!("the spawned server exited before listening (try it with `cairn serve`)");
    };
    let token = std::fs::read_to_string(dir.join("submit.token"))?;
    let vkey = std::fs::read_to_string(dir.join("log.vkey"))?;
    Ok((
        spawned,
        internal,
        public,
        token.trim().into(),
        vkey.trim().into(),
    ))
}

pub fn run(args: BenchArgs) -> Result<()> {
    let (spawned, internal, public, token, vkey_text) = if args.spawn {
        let (s, i, p, t, v) = spawn_server(&args.serve_args)?;
        (Some(s), i, p, t, v)
    } else {
        let token_file = args.token_file.clone().expect("required by clap");
        let token = std::fs::read_to_string(&token_file)
            .with_context(|| format!("cannot read {}", token_file.display()))?;
        let vkey = args.vkey.clone().expect("required by clap");
        // The key itself, or a file holding it; a path that cannot be read says so.
        let vkey = if VerifierKey::parse(vkey.trim()).is_ok() {
            vkey
        } else {
            std::fs::read_to_string(&vkey).with_context(|| {
                format!("--vkey {vkey:?} is neither a verifier key nor a readable file")
            })?
        };
        (
            None,
            args.url.clone().expect("required by clap"),
            args.public_url.clone().expect("required by clap"),
            token.trim().to_string(),
            vkey.trim().to_string(),
        )
    };
    let vkey = VerifierKey::parse(&vkey_text).context("--vkey is not a verifier key")?;
    if !(0.0..=1.0).contains(&args.duplicates) {
        bail!("--duplicates must be between 0 and 1");
    }
    let duration = match (args.duration, args.count) {
        (Some(d), _) if !(d.is_finite() && d > 0.0 && d < 1e9) => {
            bail!("--duration must be a positive number of seconds")
        }
        (Some(d), _) => Some(Duration::from_secs_f64(d)),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of entries per second");
        }
    }
    let config = BenchConfig {
        internal_url: internal.trim_end_matches('/').into(),
        public_url: public.trim_end_matches('/').into(),
        tls: args.tls.options()?,
        token,
        vkey,
        writers: args.writers,
        batch: args.batch,
        entry_size: args.entry_size,
        duplicate_ratio: args.duplicates,
        readers: args.readers,
        read_mix: match args.read_mix {
            ReadMixArg::Mixed => cairn_loadgen::ReadMix::Mixed,
            ReadMixArg::Proofs => cairn_loadgen::ReadMix::Proofs,
            ReadMixArg::Tiles => cairn_loadgen::ReadMix::Tiles,
            ReadMixArg::Checkpoints => cairn_loadgen::ReadMix::Checkpoints,
        },
        duration,
        count: args.count,
        rate: args.rate,
        verify_one_in: args.verify_one_in,
        progress: !args.quiet,
        run_id: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(cairn_loadgen::run(config))?;
    drop(spawned);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report));
    }
    if report.errors > 0 {
        bail!("{} requests failed", report.errors);
    }
    if let Some(count) = args.count {
        if report.entries < count {
            bail!(
                "the run ended (--duration) after {} of the {count} entries asked for",
                report.entries
            );
        }
    }
    Ok(())
}
