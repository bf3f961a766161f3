//! What the client subcommands share: loading trusted keys, TLS options, receipt files,
//! atomic writes, JSON output and progress bars.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_client::{ClientIdentity, TlogProof, TlsOptions, VerifiedReceipt};
use cairn_note::{VerifierKey, WitnessPolicy};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

/// The keys a verifying command trusts.
#[derive(Args, Debug, Clone)]
pub struct TrustArgs {
    /// The log's verifier key: a file holding it (such as <data-dir>/log.vkey) or the key
    /// text itself, `<origin>+<key id>+<base64>`. Nothing is trusted that it did not sign.
    #[arg(long, value_name = "V")]
    pub vkey: String,
    /// A witness's cosignature verifier key (file or key text); repeat for each witness.
    #[arg(long = "witness-key", value_name = "W")]
    pub witness_keys: Vec<String>,
    /// How many of the --witness-key witnesses must have cosigned the checkpoint.
    /// [default: all of them]
    #[arg(long, value_name = "K", requires = "witness_keys")]
    pub quorum: Option<usize>,
}

impl TrustArgs {
    pub fn log_key(&self) -> Result<VerifierKey> {
        read_key(&self.vkey, "--vkey")
    }

    pub fn policy(&self) -> Result<Option<WitnessPolicy>> {
        if self.witness_keys.is_empty() {
            return Ok(None);
        }
        let keys = self
            .witness_keys
            .iter()
            .map(|w| read_key(w, "--witness-key"))
            .collect::<Result<Vec<_>>>()?;
        let quorum = self.quorum.unwrap_or(keys.len());
        // Said in the flags' own terms: the library's "threshold exceeds the number of
        // witnesses" leaves the user to work out which flag is wrong.
        if quorum == 0 || quorum > keys.len() {
            bail!(
                "--quorum {quorum} cannot be met with {} --witness-key (give 1 to {0})",
                keys.len()
            );
        }
        let policy = WitnessPolicy::new(keys, quorum).context("invalid witness policy")?;
        Ok(Some(policy))
    }
}

/// TLS towards the log's `https://` ports: a private CA, and a client certificate for a write
/// port that requires one (`cairn serve --internal-client-ca`).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// PEM file of CA certificates trusted for the server's certificate, in addition to the
    /// system roots; repeat for more files.
    #[arg(long = "ca-cert", value_name = "FILE", env = "CAIRN_CA_CERT")]
    pub ca_certs: Vec<PathBuf>,
    /// PEM client certificate (chain) to present for mutual TLS; needs --client-key.
    #[arg(
        long,
        value_name = "FILE",
        env = "CAIRN_CLIENT_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(
        long,
        value_name = "FILE",
        env = "CAIRN_CLIENT_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<PathBuf>,
}

impl TlsArgs {
    pub fn options(&self) -> Result<TlsOptions> {
        let client_identity = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(ClientIdentity::new(cert, key)),
            (None, None) => None,
            // clap already refuses this; kept for values that bypass it.
            _ => bail!("--client-cert and --client-key go together: give both or neither"),
        };
        Ok(TlsOptions {
            ca_certs: self.ca_certs.clone(),
            client_identity,
        })
    }
}

/// A verifier key from a file (when `arg` names one) or from its text.
pub fn read_key(arg: &str, flag: &str) -> Result<VerifierKey> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = fs::read_to_string(path)
            .with_context(|| format!("{flag}: cannot read {}", path.display()))?;
        return VerifierKey::parse(text.trim())
            .with_context(|| format!("{flag}: {} holds no valid verifier key", path.display()));
    }
    VerifierKey::parse(arg).with_context(|| {
        format!("{flag}: {arg:?} is neither a readable file nor a verifier key text")
    })
}

/// A current-thread runtime: the client commands do one thing at a time.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A progress bar on stderr when it is a terminal; hidden otherwise, so pipes and CI logs
/// stay clean. `len` is None when the total is unknown (a spinner with a count).
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"),
        ),
        None => (
            ProgressBar::new_spinner(),
            format!("{{spinner}} {{pos}} {what} ({{per_sec}})"),
        ),
    };
    bar.set_style(ProgressStyle::with_template(&template).expect("static template"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Where an entry too large for its receipt's `extra` line is kept: beside the receipt,
/// `x.tlog-proof` → `x.entry`.
pub fn entry_path(receipt: &Path) -> PathBuf {
    receipt.with_extension("entry")
}

/// The entry a receipt file is checked against: `given` (`--entry`) when set, else the one
/// the receipt carries (`None` here: the verifier reads it), else the file beside it.
pub fn receipt_entry(
    receipt_path: &Path,
    receipt: &TlogProof,
    given: Option<&Path>,
) -> Result<Option<Vec<u8>>> {
    let beside = entry_path(receipt_path);
    Ok(match given {
        Some(path) => Some(read_file(path)?),
        None if receipt.extra.is_none() && beside.is_file() => Some(read_file(&beside)?),
        None => None,
    })
}

/// Writes a receipt file, and the entry beside it when the receipt cannot carry it.
/// Returns the entry file's path if one was written.
pub fn write_receipt(path: &Path, receipt: &VerifiedReceipt) -> Result<Option<PathBuf>> {
    write_atomic(path, &receipt.to_tlog_proof().to_bytes())?;
    if receipt.entry_in_receipt() {
        return Ok(None);
    }
    let entry = entry_path(path);
    write_atomic(&entry, &receipt.entry)?;
    Ok(Some(entry))
}

/// Replaces `path` all at once: a temporary file, fsync, rename, then fsync of the directory,
/// so a crash leaves the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    // Persist the rename itself; not every platform lets a directory be opened for this.
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The JSON form of a verified receipt, as `submit`, `prove` and `verify` print it.
pub fn receipt_json(r: &VerifiedReceipt) -> serde_json::Value {
    json!({
        "index": r.index,
        "leaf_hash": r.leaf_hash.to_hex(),
        "duplicate": r.duplicate,
        "origin": r.checkpoint.origin(),
        "tree_size": r.checkpoint.size(),
        "root_hash": r.checkpoint.root().to_base64(),
        "witnesses": r.checkpoint.witnesses.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "entry_in_receipt": r.entry_in_receipt(),
        "receipt": String::from_utf8_lossy(&r.to_tlog_proof().to_bytes()),
    })
}

/// One JSON document per line on stdout.
pub fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

/// Reads a file, with its name in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Parses `500ms`, `30s`, `5m`, `1h` (or plain seconds); zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{text:?} is not a duration such as 500ms, 30s, 5m or 1h"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)"),
    };
    if d.is_zero() {
        bail!("{text:?}: the duration must be positive");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "0s", "s", "1d", "-1s", "1.5s", "1 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entry_files_sit_beside_receipts() {
        assert_eq!(
            entry_path(Path::new("r/12.tlog-proof")),
            PathBuf::from("r/12.entry")
        );
        assert_eq!(entry_path(Path::new("proof")), PathBuf::from("proof.entry"));
    }

    #[test]
    fn keys_from_files_or_text() {
        let dir = tempfile::tempdir().unwrap();
        let key = cairn_note::SignerKey::from_seed(
            "example.com/log",
            cairn_note::KeyAlgorithm::Ed25519,
            [1; 32],
        )
        .unwrap()
        .verifier();
        let file = dir.path().join("log.vkey");
        fs::write(&file, format!("{key}\n")).unwrap();
        assert_eq!(read_key(file.to_str().unwrap(), "--vkey").unwrap(), key);
        assert_eq!(read_key(&key.to_text(), "--vkey").unwrap(), key);
        let err = read_key("no/such/file", "--vkey").unwrap_err();
        assert!(
            format!("{err:#}").contains("neither a readable file"),
            "{err:#}"
        );
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
