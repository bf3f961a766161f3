//! The data directory: the log's key pair, the submit token, and the database.
//!
//! ```text
//! <data-dir>/log.key              PRIVATE+KEY+… (0600): the log's Ed25519 signing key
//! <data-dir>/log.vkey             the verifier key clients and witnesses configure
//! <data-dir>/submit.token         a random bearer token for the write port (0600)
//! <data-dir>/submit.token.sha256  its SHA-256, the only form the server reads
//! <data-dir>/db/                  the sled database (default)
//! <data-dir>/fjall/               or the fjall database (`--storage fjall`)
//! ```
//!
//! Set-up is idempotent: existing files are kept, never overwritten, so rerunning `init` or
//! restarting `serve` cannot replace a log's key.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cairn_log::LogSigner;
use rand_core::{OsRng, RngCore};

/// Which embedded database holds the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// sled: the default.
    Sled,
    /// fjall: an LSM tree; about 3x sled's ingest rate, less disk and memory (docs/benchmarks.md).
    Fjall,
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Storage::Sled => "sled",
            Storage::Fjall => "fjall",
        })
    }
}

pub struct DataDir {
    pub root: PathBuf,
}

/// What set-up found or created.
pub struct Setup {
    pub signer: LogSigner,
    pub created_key: bool,
    pub created_token: Option<String>,
    pub token_digest: [u8; 32],
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn key(&self) -> PathBuf {
        self.root.join("log.key")
    }
    pub fn vkey(&self) -> PathBuf {
        self.root.join("log.vkey")
    }
    pub fn token(&self) -> PathBuf {
        self.root.join("submit.token")
    }
    pub fn token_digest(&self) -> PathBuf {
        self.root.join("submit.token.sha256")
    }
    /// The sled database (the default backend).
    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }
    /// The fjall database, when the log was created with `--storage fjall`.
    pub fn fjall(&self) -> PathBuf {
        self.root.join("fjall")
    }

    /// The backend this directory already uses, if it holds a database. Both at once is an
    /// error: opening either could serve a second history under the log's key.
    pub fn existing_storage(&self) -> Result<Option<Storage>> {
        match (self.db().is_dir(), self.fjall().is_dir()) {
            (true, true) => bail!(
                "{} holds both a sled database (db/) and a fjall one (fjall/); a log has one: \
                 move the one that is not this log's away",
                self.root.display()
            ),
            (true, false) => Ok(Some(Storage::Sled)),
            (false, true) => Ok(Some(Storage::Fjall)),
            (false, false) => Ok(None),
        }
    }

    /// The backend the log's database has, or gets if `create`: a directory keeps the backend
    /// it was created with, and asking for the other one is an error, never a silently empty
    /// second log.
    fn storage(&self, wanted: Option<Storage>, create: bool) -> Result<Storage> {
        Ok(match (self.existing_storage()?, wanted) {
            (Some(e), Some(w)) if e != w => bail!(
                "storage: {} holds a {e} database; it cannot be opened as {w}",
                self.root.display()
            ),
            (Some(e), _) => e,
            (None, _) if !create => bail!("{} holds no database", self.root.display()),
            (None, w) => w.unwrap_or(Storage::Sled),
        })
    }

    /// Opens the log's database, with the backend [`DataDir::storage`] names (returned too:
    /// the engine's settings depend on it).
    pub fn open_store(
        &self,
        wanted: Option<Storage>,
        cache_bytes: u64,
        create: bool,
    ) -> Result<(Storage, std::sync::Arc<dyn cairn_storage::LogStore>)> {
        let storage = self.storage(wanted, create)?;
        let store: std::sync::Arc<dyn cairn_storage::LogStore> = match storage {
            Storage::Sled => std::sync::Arc::new(
                cairn_storage::SledStore::open(
                    self.db(),
                    &cairn_storage::SledOptions {
                        cache_capacity: cache_bytes,
                    },
                )
                .with_context(|| {
                    format!("cannot open the sled database in {}", self.db().display())
                })?,
            ),
            Storage::Fjall => std::sync::Arc::new(
                cairn_storage::FjallStore::open(
                    self.fjall(),
                    &cairn_storage::FjallOptions {
                        cache_size: cache_bytes,
                        ..Default::default()
                    },
                )
                .with_context(|| {
                    format!(
                        "cannot open the fjall database in {}",
                        self.fjall().display()
                    )
                })?,
            ),
        };
        Ok((storage, store))
    }

    /// Creates whatever is missing and loads the rest. `origin` is only used for a new key;
    /// for an existing one it must match, because a log's origin never changes.
    pub fn ensure(&self, origin: Option<&str>) -> Result<Setup> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create data directory {}", self.root.display()))?;
        restrict_dir(&self.root)?;

        let (signer, created_key) = if self.key().exists() {
            warn_if_exposed(&self.key());
            let text = fs::read_to_string(self.key())
                .with_context(|| format!("cannot read {}", self.key().display()))?;
            let signer = LogSigner::from_signer_key(text.trim())
                .with_context(|| format!("{} is not a valid signer key", self.key().display()))?;
            if let Some(origin) = origin {
                if origin != signer.origin() {
                    bail!(
                        "origin is {origin:?} but the log in {} was created as {:?}; a log's origin never changes",
                        self.root.display(),
                        signer.origin()
                    );
                }
            }
            (signer, false)
        } else {
            // The key is written first, so a verifier key or a database without it means the
            // key was lost (or not restored): a new one could never sign this log again.
            if let Some(left) = [self.vkey(), self.db(), self.fjall()]
                .into_iter()
                .find(|p| p.exists())
            {
                bail!(
                    "{} is missing but {} exists: restore the log's signing key from its backup \
                     (a new key cannot continue this log)",
                    self.key().display(),
                    left.display()
                );
            }
            let origin = match origin {
                Some(o) => o.to_string(),
                None => format!("cairn.local/log-{}", random_hex(4)),
            };
            let signer = LogSigner::generate(&origin)
                .with_context(|| format!("origin {origin:?} is not a valid key name"))?;
            write_new(
                &self.key(),
                format!("{}\n", signer.signer_key_text()).as_bytes(),
                true,
            )?;
            (signer, true)
        };
        let vkey = format!("{}\n", signer.verifier_key_text());
        match fs::read_to_string(self.vkey()) {
            Ok(existing) if existing == vkey => {}
            Ok(_) => bail!(
                "{} does not match {}; refusing to guess which is right",
                self.vkey().display(),
                self.key().display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_new(&self.vkey(), vkey.as_bytes(), false)?
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.vkey().display()))
            }
        }

        let mut created_token = None;
        let token_digest = if self.token_digest().exists() {
            let text = fs::read_to_string(self.token_digest())
                .with_context(|| format!("cannot read {}", self.token_digest().display()))?;
            crate::config::parse_digest(&text).with_context(|| {
                format!(
                    "{} is not a hex SHA-256 digest",
                    self.token_digest().display()
                )
            })?
        } else {
            let token = if self.token().exists() {
                warn_if_exposed(&self.token());
                fs::read_to_string(self.token())
                    .with_context(|| format!("cannot read {}", self.token().display()))?
                    .trim()
                    .to_string()
            } else {
                let token = format!("cairn_{}", random_hex(32));
                write_new(&self.token(), format!("{token}\n").as_bytes(), true)?;
                created_token = Some(token.clone());
                token
            };
            let digest = cairn_api::token_digest(&token);
            write_new(
                &self.token_digest(),
                format!("{}\n", hex::encode(digest)).as_bytes(),
                false,
            )?;
            digest
        };
        Ok(Setup {
            signer,
            created_key,
            created_token,
            token_digest,
        })
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Writes a file that must not exist yet: into a temporary file of its own (created 0600),
/// synced, then linked into place only if nothing is there (never a rename, which would
/// replace a file another process created meanwhile), and the directory synced, so neither
/// a crash nor a second set-up racing this one leaves half a key, or a key that was replaced
/// after it was used. `secret` files stay 0600; the others become 0644.
pub(crate) fn write_new(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".cairn-new-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    #[cfg(unix)]
    if !secret {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} appeared while setting up; not overwriting it",
                path.display()
            )
        } else {
            anyhow::Error::new(e.error).context(format!("cannot create {}", path.display()))
        }
    })?;
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))?;
    Ok(())
}

/// Makes the data directory private (0700), which is what keeps the key and token files in
/// it private. A shared directory (sticky bit: `/tmp` and the like) is refused rather than
/// changed: taking other users' access away from it would break them, and leaving it open
/// would leave the log's key beside strangers' files.
fn restrict_dir(_dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(_dir)
            .with_context(|| format!("cannot read {}", _dir.display()))?
            .permissions()
            .mode();
        if mode & 0o1000 != 0 {
            bail!(
                "data directory {} is a shared directory (mode {:o}); give the log a directory \
                 of its own, e.g. {}",
                _dir.display(),
                mode & 0o7777,
                _dir.join("cairn-data").display()
            );
        }
        if mode & 0o077 != 0 {
            fs::set_permissions(_dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private (0700)", _dir.display()))?;
        }
    }
    Ok(())
}

/// Warns when a secret file is readable by others: the data directory (0700) protects it
/// where it is, but not in a backup or copy that kept its mode.
fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{:o}", mode & 0o777),
                    "a secret file is readable by group or others; chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_shared_directory_is_refused_not_changed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let Err(err) = DataDir::new(&shared).ensure(None) else {
            panic!("a shared directory was accepted");
        };
        assert!(format!("{err:#}").contains("shared directory"), "{err:#}");
        let mode = fs::metadata(&shared).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o1777, "left as it was");
        assert!(!shared.join("log.key").exists());
        // A directory of its own that is too open is made private.
        let own = dir.path().join("own");
        fs::create_dir(&own).unwrap();
        fs::set_permissions(&own, fs::Permissions::from_mode(0o755)).unwrap();
        DataDir::new(&own).ensure(None).unwrap();
        let mode = fs::metadata(&own).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn first_run_creates_keys_and_token_then_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("d"));
        let first = data.ensure(Some("example.com/audit")).unwrap();
        assert!(first.created_key);
        let token = first.created_token.clone().unwrap();
        assert_eq!(first.token_digest, cairn_api::token_digest(&token));
        assert_eq!(first.signer.origin(), "example.com/audit");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [data.key(), data.token()] {
                assert_eq!(
                    fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                    0o600
                );
            }
        }
        let vkey = fs::read_to_string(data.vkey()).unwrap();
        assert_eq!(vkey.trim(), first.signer.verifier_key_text());

        let second = data.ensure(None).unwrap();
        assert!(!second.created_key && second.created_token.is_none());
        assert_eq!(
            second.signer.verifier_key_text(),
            first.signer.verifier_key_text()
        );
        assert_eq!(second.token_digest, first.token_digest);

        let Err(err) = data.ensure(Some("other.example/log")) else {
            panic!("a different origin was accepted");
        };
        assert!(err.to_string().contains("never changes"), "{err}");
    }

    #[test]
    fn default_origin_is_generated() {
        let dir = tempfile::tempdir().unwrap();
        let s = DataDir::new(dir.path()).ensure(None).unwrap();
        assert!(s.signer.origin().starts_with("cairn.local/log-"));
    }

    #[test]
    fn bad_origin_and_tampered_vkey_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DataDir::new(dir.path().join("a"))
            .ensure(Some("has space"))
            .is_err());
        let data = DataDir::new(dir.path().join("b"));
        data.ensure(None).unwrap();
        fs::write(data.vkey(), "someone+00000000+AAAA\n").unwrap();
        assert!(data.ensure(None).is_err());
    }

    #[test]
    fn a_data_dir_keeps_its_storage_backend() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        assert!(
            data.open_store(None, 1 << 20, false).is_err(),
            "created a database"
        );
        assert_eq!(data.existing_storage().unwrap(), None);
        drop(
            data.open_store(Some(Storage::Fjall), 1 << 20, true)
                .unwrap(),
        );
        assert_eq!(data.existing_storage().unwrap(), Some(Storage::Fjall));
        let Err(err) = data.open_store(Some(Storage::Sled), 1 << 20, true) else {
            panic!("opened a fjall directory as sled");
        };
        assert!(err.to_string().contains("fjall database"), "{err}");
        assert!(data.open_store(None, 1 << 20, false).is_ok());
        assert!(
            !data.db().exists(),
            "a sled database appeared beside the fjall one"
        );
        // Both at once (a restore into a used directory): neither is opened.
        fs::create_dir(data.db()).unwrap();
        let Err(err) = data.open_store(None, 1 << 20, false) else {
            panic!("opened a directory holding two databases");
        };
        assert!(err.to_string().contains("both"), "{err}");
    }

    #[test]
    fn a_lost_key_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path().join("d"));
        data.ensure(None).unwrap();
        fs::remove_file(data.key()).unwrap();
        let Err(err) = data.ensure(None) else {
            panic!("a new key replaced the lost one");
        };
        assert!(err.to_string().contains("restore"), "{err}");
        assert!(!data.key().exists(), "a key was written anyway");
        // No temporary files are left behind either.
        let names: Vec<_> = fs::read_dir(dir.path().join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".cairn-new-")),
            "{names:?}"
        );
    }

    #[test]
    fn write_new_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.key");
        write_new(&path, b"first\n", true).unwrap();
        let err = write_new(&path, b"second\n", true).unwrap_err();
        assert!(err.to_string().contains("not overwriting"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"first\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            write_new(&dir.path().join("log.vkey"), b"v\n", false).unwrap();
            let mode = fs::metadata(dir.path().join("log.vkey"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644);
        }
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "temporary files left"
        );
    }
}
