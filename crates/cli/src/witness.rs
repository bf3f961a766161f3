//! `cairn witness init` and `cairn witness serve`: run a C2SP tlog-witness for other logs.
//!
//! ```text
//! <data-dir>/witness.key    PRIVATE+KEY+… cosignature/v1 key (0600)
//! <data-dir>/witness.vkey   the verifier key logs and clients configure
//! <data-dir>/state/         the per-log state (sled, compare-and-swap, flushed per answer)
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_note::{KeyAlgorithm, SignerKey};
use cairn_witness::{KnownLogs, KnownLogsConfig, LogKeys, RouterOptions, SledState, Witness};
use clap::{Args, Subcommand};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde::Deserialize;

#[derive(Subcommand, Debug)]
pub enum WitnessCommand {
    /// Create the witness's cosigning key in the data directory, then exit.
    Init(InitArgs),
    /// Run the witness: POST /add-checkpoint, GET /<origin hash>/checkpoint, /healthz, /metrics.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where the key and state live.
    #[arg(
        long,
        env = "CAIRN_WITNESS_DATA_DIR",
        default_value = "./cairn-witness"
    )]
    pub data_dir: PathBuf,
    /// The witness's name (its key name), e.g. `witness.example.com`.
    #[arg(long, env = "CAIRN_WITNESS_NAME")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML file: `data_dir`, `listen`, and a `[logs]` table of origin = "vkey" (or a list).
    #[arg(long, env = "CAIRN_WITNESS_CONFIG")]
    pub config: PathBuf,
    /// Listen address, overriding the file. [default: 127.0.0.1:8090]
    #[arg(long, env = "CAIRN_WITNESS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory, overriding the file. [default: ./cairn-witness]
    #[arg(long, env = "CAIRN_WITNESS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessFile {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    request_timeout_ms: Option<u64>,
    max_concurrent_requests: Option<usize>,
    max_connections: Option<usize>,
    #[serde(default)]
    logs: BTreeMap<String, LogKeys>,
}

pub fn run(cmd: WitnessCommand) -> Result<()> {
    match cmd {
        WitnessCommand::Init(args) => init(&args.data_dir, &args.name).map(|_| ()),
        WitnessCommand::Serve(args) => serve(args),
    }
}

/// Creates (or loads) the witness key; never overwrites one.
fn init(dir: &Path, name: &str) -> Result<SignerKey> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key_path = dir.join("witness.key");
    if key_path.exists() {
        let key = load_key(dir)?;
        if key.name() != name {
            bail!(
                "{} already holds a key named {:?}, not {name:?}",
                key_path.display(),
                key.name()
            );
        }
        println!("witness key exists: {}", key.verifier().to_text());
        return Ok(key);
    }
    let key = SignerKey::generate(name, KeyAlgorithm::Cosignature)
        .with_context(|| format!("{name:?} is not a valid key name"))?;
    crate::setup::write_new(&key_path, format!("{}\n", key.to_text()).as_bytes(), true)?;
    crate::setup::write_new(
        &dir.join("witness.vkey"),
        format!("{}\n", key.verifier().to_text()).as_bytes(),
        false,
    )?;
    println!("created witness key in {}", key_path.display());
    println!("witness verifier key: {}", key.verifier().to_text());
    Ok(key)
}

fn load_key(dir: &Path) -> Result<SignerKey> {
    let path = dir.join("witness.key");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let key = SignerKey::parse(text.trim())
        .with_context(|| format!("{} is not a signer key", path.display()))?;
    if key.algorithm() != KeyAlgorithm::Cosignature {
        bail!("{} is not a cosignature/v1 (witness) key", path.display());
    }
    Ok(key)
}

fn serve(args: ServeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let file: WitnessFile = toml::from_str(&text)
        .with_context(|| format!("invalid witness config {}", args.config.display()))?;
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./cairn-witness"));
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8090".parse().expect("valid"));
    if file.logs.is_empty() {
        bail!("logs: no logs configured; the witness would refuse everything");
    }
    let key = load_key(&data_dir).context("run `cairn witness init` first")?;
    let vkey = key.verifier().to_text();
    let logs = KnownLogs::from_config(&KnownLogsConfig { logs: file.logs })
        .context("logs: invalid entry")?;
    let state = SledState::open(data_dir.join("state"))
        .with_context(|| format!("cannot open {}", data_dir.join("state").display()))?;
    let witness = Arc::new(Witness::new(key, logs, Arc::new(state))?);
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let request_timeout_ms = file.request_timeout_ms.unwrap_or(10_000);
    if request_timeout_ms == 0 {
        bail!("request_timeout_ms must be at least 1 (0 would answer every request 408)");
    }
    let options = RouterOptions {
        request_timeout: Duration::from_millis(request_timeout_ms),
        max_concurrent_requests: file.max_concurrent_requests.unwrap_or(1024).max(1),
    };
    // Connections are capped and idle ones closed, as on the log's ports: a witness is
    // reachable by logs over the network, and idle connections would otherwise hold file
    // descriptors (and HTTP/2 has no idle timeout of its own).
    let limits = cairn_api::ConnectionLimits {
        max_connections: file.max_connections.unwrap_or(512).max(1),
        idle_timeout: (2 * options.request_timeout).max(Duration::from_secs(60)),
    };
    let grace = options.request_timeout;
    let app = cairn_witness::router_with(witness, Some(metrics), &options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("witness verifier key: {vkey}");
        println!("witness port: http://{}", listener.local_addr()?);
        cairn_api::serve_guarded(
            listener,
            app,
            limits,
            grace,
            crate::serve::shutdown_signal(),
        )
        .await
        .context("witness server failed")
    })
}
