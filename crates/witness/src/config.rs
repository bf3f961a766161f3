//! Which logs a witness accepts: origin → the log's verifier key(s), as a serde struct that
//! reads naturally from TOML, compiled into hash maps for O(1) lookup by origin (row 2 of the
//! protocol checks) and by origin hash (the monitoring path), whatever the number of logs.
//!
//! ```toml
//! [logs]
//! "example.com/log" = "example.com/log+1dde4531+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
//! # several keys during a rotation:
//! "go.sum database tree" = ["sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"]
//! ```

use std::collections::{BTreeMap, HashMap};

use cairn_note::{Checkpoint, KeyAlgorithm, VerifierKey, Verifiers};
use cairn_tree::Hash;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::protocol::origin_hash;

/// The known-logs section of a witness configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownLogsConfig {
    /// Origin → verifier key text (`<name>+<id>+<base64>`), or a list of them. The key name
    /// need not equal the origin (sum.golang.org signs `go.sum database tree`).
    #[serde(default)]
    pub logs: BTreeMap<String, LogKeys>,
}

/// One key, or several (accepted side by side while a log rotates its key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogKeys {
    One(String),
    Many(Vec<String>),
}

impl LogKeys {
    fn texts(&self) -> &[String] {
        match self {
            LogKeys::One(k) => std::slice::from_ref(k),
            LogKeys::Many(ks) => ks,
        }
    }
}

/// One configured log, ready to check signatures.
#[derive(Clone, Debug)]
pub struct KnownLog {
    pub origin: String,
    /// Exactly this log's keys: opening a note with them verifies only this log's lines and
    /// rejects the note if one of them fails (row 3).
    pub verifiers: Verifiers,
}

/// The configured logs, indexed by origin and by SHA-256 of the origin.
#[derive(Clone, Debug, Default)]
pub struct KnownLogs {
    by_origin: HashMap<String, KnownLog>,
    by_hash: HashMap<[u8; 32], String>,
}

impl KnownLogs {
    /// Validates every entry: the origin must be a valid checkpoint origin, and each key an
    /// Ed25519 (0x01) note key, which is what logs sign checkpoints with.
    pub fn from_config(config: &KnownLogsConfig) -> Result<Self, ConfigError> {
        let mut logs = KnownLogs::default();
        for (origin, keys) in &config.logs {
            let parsed = keys
                .texts()
                .iter()
                .map(|text| {
                    VerifierKey::parse(text).map_err(|e| ConfigError::Log {
                        origin: origin.clone(),
                        reason: format!("key {text:?}: {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            logs.add(origin, parsed)?;
        }
        Ok(logs)
    }

    /// Adds one log (also how tests and benchmarks build large sets without text).
    pub fn add(&mut self, origin: &str, keys: Vec<VerifierKey>) -> Result<(), ConfigError> {
        let err = |reason: String| ConfigError::Log {
            origin: origin.to_owned(),
            reason,
        };
        // The origin must be something a checkpoint can carry, or no request could ever match.
        Checkpoint::new(origin, 0, Hash::empty_root()).map_err(|e| err(e.to_string()))?;
        if keys.is_empty() {
            return Err(err("no verifier key".into()));
        }
        if let Some(k) = keys.iter().find(|k| k.algorithm() != KeyAlgorithm::Ed25519) {
            return Err(err(format!(
                "key {k} is not an Ed25519 (0x01) log key; witness keys cannot sign checkpoints"
            )));
        }
        let verifiers = Verifiers::from_keys(keys).map_err(|e| err(e.to_string()))?;
        if self.by_origin.contains_key(origin) {
            return Err(err("configured twice".into()));
        }
        self.by_hash.insert(origin_hash(origin), origin.to_owned());
        self.by_origin.insert(
            origin.to_owned(),
            KnownLog {
                origin: origin.to_owned(),
                verifiers,
            },
        );
        Ok(())
    }

    pub fn get(&self, origin: &str) -> Option<&KnownLog> {
        self.by_origin.get(origin)
    }

    /// The origin whose SHA-256 is `hash`, if configured.
    pub fn origin_for_hash(&self, hash: &[u8; 32]) -> Option<&str> {
        self.by_hash.get(hash).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}
