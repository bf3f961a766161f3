//! The log's side of tlog-witness: asking one witness to cosign a checkpoint (specs.md §6.4).
//!
//! A [`WitnessClient`] remembers the size it believes the witness last cosigned for this log
//! and sends the consistency proof from there. A `409` tells the real size: the client
//! retries once from it (or raises an alarm when the witness is *ahead* of the log, or refuses
//! again at the log's own size: a v1.0.0 witness's answer to a fork). Every
//! returned line by the configured witness key must verify over the checkpoint; lines by
//! other keys are ignored, and an answer with no valid line of ours is an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_log::{Log, SignedCheckpoint};
use cairn_note::{verify_cosignature, KeyAlgorithm, Note, NoteSignature, VerifierKey};
use cairn_tree::Hash;

use crate::error::{ClientError, ConfigError};
use crate::protocol::{encode_request, parse_signature_lines, parse_size_body, MAX_RESPONSE_SIZE};

/// Where the consistency proofs come from: the log itself in production, anything in tests.
pub trait ProofSource: Send + Sync {
    /// The RFC 9162 proof from `old` to `new` leaves (0 < old < new).
    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, String>;
}

impl ProofSource for Log {
    fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, String> {
        Log::consistency_proof(self, old, new).map_err(|e| e.to_string())
    }
}

/// One witness as the log configures it: its submission prefix and its cosigning key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessEndpoint {
    /// The submission prefix; `add-checkpoint` is appended to it.
    pub url: String,
    pub key: VerifierKey,
}

impl WitnessEndpoint {
    /// Checks that `url` is an http(s) URL and `key` a `cosignature/v1` (0x04) key.
    pub fn new(url: &str, key: VerifierKey) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError::Witness {
            name: key.name().to_owned(),
            reason,
        };
        if key.algorithm() != KeyAlgorithm::Cosignature {
            return Err(err(format!(
                "key {key} is not a cosignature/v1 (0x04) witness key"
            )));
        }
        add_checkpoint_url(url).map_err(err)?;
        Ok(WitnessEndpoint {
            url: url.to_owned(),
            key,
        })
    }

    /// Parses `URL=VKEY` (the form of a `--witness` flag). Verifier keys never contain `=`
    /// (33 bytes are 44 base64 characters without padding), so the last `=` splits.
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let (url, key) = spec.rsplit_once('=').ok_or_else(|| ConfigError::Witness {
            name: spec.to_owned(),
            reason: "expected URL=VKEY".into(),
        })?;
        let key = VerifierKey::parse(key).map_err(|e| ConfigError::Witness {
            name: spec.to_owned(),
            reason: format!("verifier key: {e}"),
        })?;
        WitnessEndpoint::new(url, key)
    }
}

fn add_checkpoint_url(prefix: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(&format!("{}/add-checkpoint", prefix.trim_end_matches('/')))
        .map_err(|e| format!("URL {prefix:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("URL {prefix:?}: scheme must be http or https"));
    }
    Ok(url)
}

/// A client for one witness, tracking the size it last cosigned for this log.
#[derive(Debug)]
pub struct WitnessClient {
    http: reqwest::Client,
    endpoint: WitnessEndpoint,
    add_url: reqwest::Url,
    last_size: AtomicU64,
}

impl WitnessClient {
    /// A client with its own connection pool (keep-alive, as the spec recommends) and a
    /// per-request time limit.
    pub fn new(endpoint: WitnessEndpoint, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        WitnessClient::with_http(endpoint, http)
    }

    /// A client sharing an existing `reqwest::Client`.
    pub fn with_http(
        endpoint: WitnessEndpoint,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let add_url =
            add_checkpoint_url(&endpoint.url).map_err(|reason| ClientError::InvalidUrl {
                url: endpoint.url.clone(),
                reason,
            })?;
        Ok(WitnessClient {
            http,
            endpoint,
            add_url,
            last_size: AtomicU64::new(0),
        })
    }

    pub fn endpoint(&self) -> &WitnessEndpoint {
        &self.endpoint
    }

    /// The witness's name (its key name).
    pub fn name(&self) -> &str {
        self.endpoint.key.name()
    }

    /// The size this client believes the witness last cosigned for our log (0: unknown).
    pub fn last_size(&self) -> u64 {
        self.last_size.load(Ordering::Relaxed)
    }

    /// Asks the witness to cosign `checkpoint`, proving consistency from the size it last
    /// cosigned. Returns the witness's verified cosignature lines.
    pub async fn add_checkpoint(
        &self,
        checkpoint: &SignedCheckpoint,
        proofs: &dyn ProofSource,
    ) -> Result<Vec<NoteSignature>, ClientError> {
        let size = checkpoint.size;
        let text = Note::parse(&checkpoint.note)
            .map_err(|e| ClientError::BadResponse(crate::error::ProtocolError::Note(e)))?
            .into_parts()
            .0;
        let mut old = self.last_size().min(size);
        let mut retried = false;
        loop {
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                // A few stored-tile reads; short enough to do on the async thread.
                proofs
                    .consistency_proof(old, size)
                    .map_err(|reason| ClientError::Proof {
                        old,
                        new: size,
                        reason,
                    })?
            };
            let resp = self
                .http
                .post(self.add_url.clone())
                .body(encode_request(old, &proof, &checkpoint.note))
                .send()
                .await?;
            let status = resp.status().as_u16();
            let body = read_limited(resp).await?;
            match status {
                200 => {
                    let lines = self.verify_lines(&text, &body)?;
                    self.last_size.store(size, Ordering::Relaxed);
                    return Ok(lines);
                }
                409 => {
                    let witness_size = parse_size_body(&body)?;
                    if witness_size > size {
                        return Err(ClientError::WitnessAhead {
                            witness_size,
                            our_size: size,
                        });
                    }
                    // Asked from its own size and still refused at that size: it cosigned a
                    // different tree of this size. A witness following tlog-witness v1.0.0
                    // says so with 409 where the current spec says 422; both are a fork.
                    if witness_size == size && old == size {
                        return Err(ClientError::Inconsistent {
                            body: format!(
                                "409 with size {witness_size} to a request from old size \
                                 {old}: the witness holds a different checkpoint of this size"
                            ),
                        });
                    }
                    // One retry from the size the witness told us; a second 409 means it
                    // moved again meanwhile (another writer for our origin?): report it.
                    if retried {
                        return Err(ClientError::Conflict { witness_size });
                    }
                    retried = true;
                    self.last_size.store(witness_size, Ordering::Relaxed);
                    old = witness_size;
                }
                422 => {
                    return Err(ClientError::Inconsistent {
                        body: snippet(&body),
                    })
                }
                403 => {
                    return Err(ClientError::Forbidden {
                        body: snippet(&body),
                    })
                }
                404 => {
                    return Err(ClientError::UnknownLog {
                        body: snippet(&body),
                    })
                }
                _ => {
                    return Err(ClientError::Status {
                        status,
                        body: snippet(&body),
                    })
                }
            }
        }
    }

    /// Keeps the lines by our witness key, each of which must verify; ignores the others.
    fn verify_lines(&self, text: &str, body: &[u8]) -> Result<Vec<NoteSignature>, ClientError> {
        let key = &self.endpoint.key;
        let mut ours = Vec::new();
        for line in parse_signature_lines(body)? {
            if key.matches(&line) {
                verify_cosignature(text, key, &line).map_err(ClientError::BadCosignature)?;
                ours.push(line);
            }
        }
        if ours.is_empty() {
            return Err(ClientError::NoCosignature);
        }
        Ok(ours)
    }
}

/// Reads at most [`MAX_RESPONSE_SIZE`] bytes: a witness is a third party, and a log must
/// not buffer whatever it sends.
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_SIZE {
            return Err(ClientError::BadResponse(
                crate::error::ProtocolError::TooLarge {
                    size: body.len() + chunk.len(),
                    limit: MAX_RESPONSE_SIZE,
                },
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error body, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
