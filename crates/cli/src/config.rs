//! `cairn serve` configuration: built-in defaults, then a TOML file, then `CAIRN_*`
//! environment variables and flags (clap merges those two, flags winning).
//!
//! Every field is validated before anything starts, and every error names the field, so a
//! typo in production fails loudly at start instead of running with a surprising default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

/// The TOML file. All fields are optional; see `ServeArgs` for their meaning.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub origin: Option<String>,
    #[serde(default)]
    pub public: PublicFile,
    #[serde(default)]
    pub internal: InternalFile,
    #[serde(default)]
    pub log: LogFile,
    #[serde(default)]
    pub witnesses: WitnessesFile,
}

/// Witnesses the log asks for cosignatures.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessesFile {
    /// `URL=VKEY` per witness.
    pub endpoints: Option<Vec<String>>,
    pub quorum: Option<usize>,
    pub min_interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicFile {
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalFile {
    pub listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    /// Serve the write port without TLS on a non-loopback address (tokens then cross the
    /// network in clear): for a TLS-terminating proxy on the same host, say.
    pub allow_plaintext: Option<bool>,
    pub allow: Option<Vec<IpNet>>,
    /// Extra accepted tokens, as hex SHA-256 digests (never the tokens themselves).
    pub token_sha256: Option<Vec<String>>,
    pub max_body_bytes: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub max_concurrent_requests: Option<usize>,
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub max_entry_bytes: Option<usize>,
    pub max_batch: Option<usize>,
    pub max_wait_ms: Option<u64>,
    pub queue_capacity: Option<usize>,
    pub queue_mib: Option<usize>,
    pub dedup: Option<bool>,
    pub sled_cache_mib: Option<u64>,
    pub storage: Option<crate::setup::Storage>,
    pub cache_mib: Option<u64>,
}

/// Options shared by `serve` and `init`: where the data lives and what the log is called.
#[derive(Args, Debug, Clone, Default)]
pub struct SetupArgs {
    /// TOML configuration file (see docs/operations.md). Flags and CAIRN_* variables override it.
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: the sled database, the log's keys and the submit token. [default: ./cairn-data]
    #[arg(long, env = "CAIRN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The log's origin (checkpoint first line and key name), used when the log is first
    /// created; it can never change afterwards. [default: a generated `cairn.local/log-<hex>`]
    #[arg(long, env = "CAIRN_ORIGIN")]
    pub origin: Option<String>,
}

/// `cairn serve` options. Each can also come from the TOML file.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub setup: SetupArgs,
    /// Public read port address. [default: 127.0.0.1:8080]
    #[arg(long, env = "CAIRN_PUBLIC_LISTEN")]
    pub public_listen: Option<SocketAddr>,
    /// PEM certificate chain for TLS on the public port.
    #[arg(long, env = "CAIRN_PUBLIC_TLS_CERT", requires = "public_tls_key")]
    pub public_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the public port.
    #[arg(long, env = "CAIRN_PUBLIC_TLS_KEY", requires = "public_tls_cert")]
    pub public_tls_key: Option<PathBuf>,
    /// Internal write port address. [default: 127.0.0.1:8081]
    #[arg(long, env = "CAIRN_INTERNAL_LISTEN")]
    pub internal_listen: Option<SocketAddr>,
    /// PEM certificate chain for TLS on the internal port.
    #[arg(long, env = "CAIRN_INTERNAL_TLS_CERT", requires = "internal_tls_key")]
    pub internal_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the internal port.
    #[arg(long, env = "CAIRN_INTERNAL_TLS_KEY", requires = "internal_tls_cert")]
    pub internal_tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): when set, internal clients must present a certificate it issued.
    #[arg(long, env = "CAIRN_INTERNAL_CLIENT_CA")]
    pub internal_client_ca: Option<PathBuf>,
    /// Allow the internal port without TLS on a non-loopback address (its tokens then cross
    /// the network in clear). [default: false]
    #[arg(long, env = "CAIRN_INTERNAL_ALLOW_PLAINTEXT")]
    pub internal_allow_plaintext: Option<bool>,
    /// Networks allowed on the internal port (comma-separated CIDRs). [default: 127.0.0.0/8,::1/128]
    #[arg(long, env = "CAIRN_INTERNAL_ALLOW", value_delimiter = ',')]
    pub internal_allow: Option<Vec<IpNet>>,
    /// Largest request body on the internal port, in bytes (a batch). [default: 16777216]
    #[arg(long, env = "CAIRN_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest entry, in bytes; at most 65535, the entry-bundle limit. [default: 65535]
    #[arg(long, env = "CAIRN_MAX_ENTRY_BYTES")]
    pub max_entry_bytes: Option<usize>,
    /// Per-request time limit in milliseconds. [default: 30000]
    #[arg(long, env = "CAIRN_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Requests handled at once per port; more get 503. [default: 1024]
    #[arg(long, env = "CAIRN_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: Option<usize>,
    /// Connections open at once per port; more are closed at once (keep `ulimit -n` above
    /// twice this plus a few hundred). [default: 512]
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most entries per integrated batch (one fsync and one checkpoint each). [default: 4096]
    #[arg(long, env = "CAIRN_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// How long a batch waits for more entries, in milliseconds. [default: 0]
    #[arg(long, env = "CAIRN_MAX_WAIT_MS")]
    pub max_wait_ms: Option<u64>,
    /// Entries that may wait to be sequenced before submitters get 503. [default: 65536]
    #[arg(long, env = "CAIRN_QUEUE_CAPACITY")]
    pub queue_capacity: Option<usize>,
    /// MiB of entries that may wait to be sequenced before submitters get 503. [default: 256]
    #[arg(long, env = "CAIRN_QUEUE_MIB")]
    pub queue_mib: Option<usize>,
    /// Strict dedup: a repeated entry gets its original index. [default: true]
    #[arg(long, env = "CAIRN_DEDUP")]
    pub dedup: Option<bool>,
    /// Database cache size in MiB (sled's page cache or fjall's block cache). [default: 64]
    #[arg(long, env = "CAIRN_CACHE_MIB", alias = "sled-cache-mib")]
    pub cache_mib: Option<u64>,
    /// Embedded database for a new log (an existing one keeps its own). [default: sled]
    #[arg(long, env = "CAIRN_STORAGE", value_enum)]
    pub storage: Option<crate::setup::Storage>,
    /// A witness to collect cosignatures from, as `URL=VKEY` (repeat the flag; comma-separated
    /// in the variable).
    #[arg(long = "witness", env = "CAIRN_WITNESSES", value_delimiter = ',')]
    pub witnesses: Option<Vec<String>>,
    /// How many witnesses must cosign a checkpoint before GET /checkpoint serves it (and for
    /// the quorum metric). [default: a majority]
    #[arg(long, env = "CAIRN_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,
    /// Least time between two cosigning rounds, in milliseconds. [default: 1000]
    #[arg(long, env = "CAIRN_WITNESS_MIN_INTERVAL_MS")]
    pub witness_min_interval_ms: Option<u64>,
    /// Time limit of one request to a witness, in milliseconds. [default: 10000]
    #[arg(long, env = "CAIRN_WITNESS_TIMEOUT_MS")]
    pub witness_timeout_ms: Option<u64>,
}

/// The merged, validated configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub origin: Option<String>,
    pub public_listen: SocketAddr,
    pub public_tls: Option<(PathBuf, PathBuf)>,
    pub internal_listen: SocketAddr,
    pub internal_tls: Option<(PathBuf, PathBuf)>,
    pub internal_client_ca: Option<PathBuf>,
    pub internal_allow: Vec<IpNet>,
    pub extra_token_digests: Vec<[u8; 32]>,
    pub max_body_bytes: usize,
    pub max_entry_bytes: usize,
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub max_connections: usize,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub queue_capacity: usize,
    pub queue_bytes: usize,
    pub dedup: bool,
    pub cache_bytes: u64,
    pub storage: Option<crate::setup::Storage>,
    pub witnesses: Vec<cairn_witness::WitnessEndpoint>,
    pub witness_quorum: usize,
    pub witness_min_interval: Duration,
    pub witness_timeout: Duration,
}

pub fn read_file_config(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Data dir and origin for `init`/`serve`.
pub fn setup_paths(args: &SetupArgs, file: &FileConfig) -> (PathBuf, Option<String>) {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("./cairn-data"));
    let origin = args.origin.clone().or_else(|| file.origin.clone());
    (data_dir, origin)
}

pub fn resolve(args: &ServeArgs) -> Result<ServeConfig> {
    let file = read_file_config(args.setup.config.as_deref())?;
    let (data_dir, origin) = setup_paths(&args.setup, &file);
    let pick_pair = |name: &str,
                     flag: (&Option<PathBuf>, &Option<PathBuf>),
                     file: (&Option<PathBuf>, &Option<PathBuf>)|
     -> Result<Option<(PathBuf, PathBuf)>> {
        let cert = flag.0.clone().or_else(|| file.0.clone());
        let key = flag.1.clone().or_else(|| file.1.clone());
        match (cert, key) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            _ => bail!("{name}.tls_cert and {name}.tls_key must be set together"),
        }
    };
    let public_tls = pick_pair(
        "public",
        (&args.public_tls_cert, &args.public_tls_key),
        (&file.public.tls_cert, &file.public.tls_key),
    )?;
    let internal_tls = pick_pair(
        "internal",
        (&args.internal_tls_cert, &args.internal_tls_key),
        (&file.internal.tls_cert, &file.internal.tls_key),
    )?;
    let internal_client_ca = args
        .internal_client_ca
        .clone()
        .or_else(|| file.internal.client_ca.clone());
    if internal_client_ca.is_some() && internal_tls.is_none() {
        bail!("internal.client_ca needs TLS on the internal port (internal.tls_cert and internal.tls_key)");
    }
    let internal_listen = args
        .internal_listen
        .or(file.internal.listen)
        .unwrap_or_else(|| "127.0.0.1:8081".parse().expect("valid"));
    let allow_plaintext = args
        .internal_allow_plaintext
        .or(file.internal.allow_plaintext)
        .unwrap_or(false);
    // Canonical: `::ffff:127.0.0.1` is loopback too.
    let loopback = internal_listen.ip().to_canonical().is_loopback();
    if internal_tls.is_none() && !loopback && !allow_plaintext {
        bail!(
            "internal.listen = {internal_listen} without TLS: the submit tokens would cross the \
             network in clear. Set internal.tls_cert and internal.tls_key, or, if a TLS proxy \
             on this host fronts the port, internal.allow_plaintext = true"
        );
    }
    let internal_allow = args
        .internal_allow
        .clone()
        .or_else(|| file.internal.allow.clone())
        .unwrap_or_else(|| {
            vec![
                "127.0.0.0/8".parse().expect("valid"),
                "::1/128".parse().expect("valid"),
            ]
        });
    if internal_allow.is_empty() {
        bail!("internal.allow is empty: no client could ever submit");
    }
    let mut extra_token_digests = Vec::new();
    for (i, text) in file.internal.token_sha256.iter().flatten().enumerate() {
        extra_token_digests.push(
            parse_digest(text)
                .with_context(|| format!("internal.token_sha256[{i}] is not 64 hex digits"))?,
        );
    }
    let max_entry_bytes = args
        .max_entry_bytes
        .or(file.log.max_entry_bytes)
        .unwrap_or(cairn_tree::MAX_ENTRY_LEN);
    if max_entry_bytes == 0 || max_entry_bytes > cairn_tree::MAX_ENTRY_LEN {
        bail!(
            "log.max_entry_bytes must be 1..={} (the entry-bundle limit), got {max_entry_bytes}",
            cairn_tree::MAX_ENTRY_LEN
        );
    }
    let max_body_bytes = args
        .max_body_bytes
        .or(file.internal.max_body_bytes)
        .unwrap_or(16 << 20);
    if max_body_bytes < max_entry_bytes {
        bail!("internal.max_body_bytes ({max_body_bytes}) is smaller than log.max_entry_bytes ({max_entry_bytes})");
    }
    let positive = |name: &str, v: usize| -> Result<usize> {
        if v == 0 {
            bail!("{name} must be at least 1");
        }
        Ok(v)
    };
    let max_wait = Duration::from_millis(args.max_wait_ms.or(file.log.max_wait_ms).unwrap_or(0));
    if max_wait > cairn_log::MAX_WAIT_LIMIT {
        bail!(
            "log.max_wait_ms ({} ms) is over the limit of {} ms: the first entry of every batch would wait that long",
            max_wait.as_millis(),
            cairn_log::MAX_WAIT_LIMIT.as_millis()
        );
    }
    let request_timeout_ms = args
        .request_timeout_ms
        .or(file.internal.request_timeout_ms)
        .unwrap_or(30_000);
    if request_timeout_ms == 0 {
        bail!("internal.request_timeout_ms must be at least 1");
    }
    let mut witnesses = Vec::new();
    for (i, spec) in args
        .witnesses
        .clone()
        .or_else(|| file.witnesses.endpoints.clone())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        witnesses.push(
            cairn_witness::WitnessEndpoint::parse(spec.trim())
                .with_context(|| format!("witnesses.endpoints[{i}] is not URL=VKEY"))?,
        );
    }
    let witness_quorum = args
        .witness_quorum
        .or(file.witnesses.quorum)
        .unwrap_or(witnesses.len() / 2 + 1);
    if !witnesses.is_empty() && !(1..=witnesses.len()).contains(&witness_quorum) {
        bail!(
            "witnesses.quorum must be 1..={} (the number of witnesses), got {witness_quorum}",
            witnesses.len()
        );
    }
    // Zero would make the cosigner spin (no interval) or every witness request time out.
    let witness_min_interval_ms = args
        .witness_min_interval_ms
        .or(file.witnesses.min_interval_ms)
        .unwrap_or(1000);
    let witness_timeout_ms = args
        .witness_timeout_ms
        .or(file.witnesses.timeout_ms)
        .unwrap_or(10_000);
    for (name, v) in [
        ("witnesses.min_interval_ms", witness_min_interval_ms),
        ("witnesses.timeout_ms", witness_timeout_ms),
    ] {
        if v == 0 {
            bail!("{name} must be at least 1");
        }
    }
    let cache_mib = args
        .cache_mib
        .or(file.log.cache_mib)
        .or(file.log.sled_cache_mib)
        .unwrap_or(64);
    let cache_bytes = cache_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| anyhow::anyhow!("log.cache_mib ({cache_mib}) is too large"))?;
    Ok(ServeConfig {
        witness_quorum,
        witness_min_interval: Duration::from_millis(witness_min_interval_ms),
        witness_timeout: Duration::from_millis(witness_timeout_ms),
        witnesses,
        data_dir,
        origin,
        public_listen: args
            .public_listen
            .or(file.public.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid")),
        public_tls,
        internal_listen,
        internal_tls,
        internal_client_ca,
        internal_allow,
        extra_token_digests,
        max_body_bytes,
        max_entry_bytes,
        request_timeout: Duration::from_millis(request_timeout_ms),
        max_concurrent_requests: positive(
            "internal.max_concurrent_requests",
            args.max_concurrent_requests
                .or(file.internal.max_concurrent_requests)
                .unwrap_or(1024),
        )?,
        max_connections: positive(
            "internal.max_connections",
            args.max_connections
                .or(file.internal.max_connections)
                .unwrap_or(512),
        )?,
        max_batch: positive(
            "log.max_batch",
            args.max_batch.or(file.log.max_batch).unwrap_or(4096),
        )?,
        max_wait,
        queue_capacity: positive(
            "log.queue_capacity",
            args.queue_capacity
                .or(file.log.queue_capacity)
                .unwrap_or(65_536),
        )?,
        queue_bytes: positive(
            "log.queue_mib",
            args.queue_mib.or(file.log.queue_mib).unwrap_or(256),
        )?
        .saturating_mul(1 << 20),
        dedup: args.dedup.or(file.log.dedup).unwrap_or(true),
        cache_bytes,
        storage: args.storage.or(file.log.storage),
    })
}

pub fn parse_digest(text: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a SHA-256 digest is 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> Result<ServeConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(&path, text).unwrap();
        let mut args = ServeArgs::default();
        args.setup.config = Some(path);
        resolve(&args)
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = resolve(&ServeArgs::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./cairn-data"));
        assert_eq!(c.public_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.internal_listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.max_entry_bytes, 65_535);
        assert!(c.dedup);
        assert!(c.public_tls.is_none() && c.internal_tls.is_none());
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/cairn\"\n[internal]\nlisten = \"0.0.0.0:9000\"\nallow_plaintext = true\nallow = [\"10.0.0.0/8\"]\n[log]\nmax_batch = 10\n",
        )
        .unwrap();
        let mut args = ServeArgs::default();
        args.setup.config = Some(path);
        args.max_batch = Some(20);
        let c = resolve(&args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/cairn"));
        assert_eq!(c.internal_listen.to_string(), "0.0.0.0:9000");
        assert_eq!(
            c.internal_allow,
            vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(c.max_batch, 20);
    }

    #[test]
    fn plaintext_is_allowed_on_any_loopback_form() {
        for listen in ["127.0.0.2:8081", "[::1]:8081", "[::ffff:127.0.0.1]:8081"] {
            let c = with_file(&format!("[internal]\nlisten = \"{listen}\"\n")).unwrap();
            assert_eq!(c.internal_listen.to_string(), listen);
        }
    }

    #[test]
    fn errors_name_the_field() {
        for (text, field) in [
            ("[log]\nmax_entry_bytes = 70000\n", "log.max_entry_bytes"),
            ("[log]\nmax_batch = 0\n", "log.max_batch"),
            ("[log]\nmax_wait_ms = 3600000\n", "log.max_wait_ms"),
            ("[log]\nqueue_mib = 0\n", "log.queue_mib"),
            ("[log]\ncache_mib = 17592186044416\n", "log.cache_mib"),
            (
                "[witnesses]\nmin_interval_ms = 0\n",
                "witnesses.min_interval_ms",
            ),
            ("[witnesses]\ntimeout_ms = 0\n", "witnesses.timeout_ms"),
            ("[internal]\nallow = []\n", "internal.allow"),
            (
                "[internal]\ntoken_sha256 = [\"zz\"]\n",
                "internal.token_sha256[0]",
            ),
            ("[internal]\nclient_ca = \"ca.pem\"\n", "internal.client_ca"),
            // Tokens in clear off the host: refused unless asked for.
            (
                "[internal]\nlisten = \"10.0.0.5:8081\"\n",
                "internal.allow_plaintext",
            ),
            ("[public]\ntls_cert = \"c.pem\"\n", "public.tls_cert"),
            ("[internal]\nallow = [\"10.0.0.300/8\"]\n", "allow"),
            ("[log]\nmax_bach = 3\n", "max_bach"),
            ("[internal]\nlisten = \"nowhere\"\n", "listen"),
            (
                "[witnesses]\nendpoints = [\"http://w\"]\n",
                "witnesses.endpoints[0]",
            ),
        ] {
            let err = format!("{:#}", with_file(text).unwrap_err());
            assert!(
                err.contains(field),
                "{text:?} gave {err:?}, which does not name {field}"
            );
        }
    }
}
