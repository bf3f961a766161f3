//! The HTTP client for `cairn serve`: the write port (submissions) and the public read port
//! (checkpoints, proofs, tiles, entries). Routes and bodies are documented in docs/api.md.
//!
//! Nothing the server says is taken on trust: every receipt, proof and checkpoint goes
//! through [`crate::verify`] against the configured log key before it is returned, and
//! response bodies are read with a size cap so a hostile server cannot exhaust memory.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_note::{TlogProof, VerifierKey, WitnessPolicy};
use cairn_tree::{leaf_hash, verify_consistency, Hash, Tile, TileKind, VerifyError};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::error::ClientError;
use crate::tls::{transport_hint, TlsOptions};
use crate::verify::{make_receipt, verify_checkpoint, verify_receipt, VerifiedCheckpoint};
use crate::VerifiedReceipt;

/// Largest body read from any response: a full batch of receipts for 4096 entries is a few
/// MiB; an entry bundle at most 256 · 64 KiB.
const MAX_BODY: usize = 32 << 20;
/// How often a submission refused with 503 (overloaded, shutting down) is retried.
const SUBMIT_RETRIES: u32 = 5;
/// Longest wait honoured from a Retry-After header.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// A client for one log, trusting exactly one log key (and optionally a witness policy).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    log_key: VerifierKey,
    policy: Option<WitnessPolicy>,
    /// Whether a client certificate is configured: it changes what a dropped TLS connection
    /// most likely means.
    client_identity: bool,
}

/// A receipt as the write port sends it (see `cairn_api::ReceiptJson`). The redundant fields
/// are parsed so that a server contradicting itself is noticed.
#[derive(Deserialize)]
struct ReceiptJson {
    index: u64,
    leaf_hash: String,
    duplicate: bool,
    tree_size: u64,
    root_hash: String,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

#[derive(Deserialize)]
struct BatchJson {
    receipts: Vec<ReceiptJson>,
}

#[derive(Deserialize)]
struct ConsistencyJson {
    old_size: u64,
    tree_size: u64,
    consistency_proof: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorJson {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

impl Client {
    /// A client for the server at `base_url` (`http://` or `https://`, optionally with a path
    /// prefix), verifying against `log_key`. An `https://` server must have a certificate
    /// from a system root; see [`Client::new_with_tls`] for a private CA or mTLS.
    pub fn new(base_url: &str, log_key: VerifierKey) -> Result<Client, ClientError> {
        Client::new_with_tls(base_url, log_key, &TlsOptions::default())
    }

    /// Like [`Client::new`], with extra trusted CAs and a client certificate for `https://`
    /// servers. The files are read and checked here: a bad one is a [`ClientError::Tls`]
    /// naming it.
    pub fn new_with_tls(
        base_url: &str,
        log_key: VerifierKey,
        tls: &TlsOptions,
    ) -> Result<Client, ClientError> {
        let bad = |reason: &str| ClientError::BadUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let url = reqwest::Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a base URL has no query or fragment"));
        }
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        let http = tls
            .apply(builder)?
            .build()
            .map_err(|e| ClientError::Transport {
                url: base_url.to_owned(),
                source: e,
                hint: None,
            })?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: None,
            log_key,
            policy: None,
            client_identity: tls.client_identity.is_some(),
        })
    }

    /// The bearer token for the write port.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Require this witness quorum on checkpoints fetched from the read port (and so on the
    /// receipts [`Client::prove_index`] builds). Submission receipts are exempt: they carry
    /// the checkpoint of the entry's own batch, which no witness has seen yet.
    pub fn with_witness_policy(mut self, policy: WitnessPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    pub fn log_key(&self) -> &VerifierKey {
        &self.log_key
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    // ---- the write port ------------------------------------------------------------------

    /// Submits one entry and returns its verified receipt.
    pub async fn submit(&self, entry: &[u8]) -> Result<VerifiedReceipt, ClientError> {
        let (url, body) = self
            .send_with_retry("v1/entries", "application/octet-stream", entry.to_vec())
            .await?;
        let receipt: ReceiptJson = parse_json(&url, &body)?;
        self.verify_submission(receipt, entry)
    }

    /// Submits entries in one request (the server integrates them together) and returns one
    /// verified receipt per entry, in order.
    pub async fn submit_batch(
        &self,
        entries: &[Vec<u8>],
    ) -> Result<Vec<VerifiedReceipt>, ClientError> {
        let encoded: Vec<String> = entries.iter().map(|e| STANDARD.encode(e)).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "entries": encoded }))
            .expect("strings serialise");
        let (url, body) = self
            .send_with_retry("v1/entries/batch", "application/json", body)
            .await?;
        let batch: BatchJson = parse_json(&url, &body)?;
        if batch.receipts.len() != entries.len() {
            return Err(ClientError::Mismatch(format!(
                "{} receipts for {} entries",
                batch.receipts.len(),
                entries.len()
            )));
        }
        batch
            .receipts
            .into_iter()
            .zip(entries)
            .map(|(r, e)| self.verify_submission(r, e))
            .collect()
    }

    /// Verifies a write-port receipt for `entry` with the offline verifier: the server's
    /// JSON is turned into the receipt file first, so what is accepted here is exactly what
    /// `cairn verify` accepts later.
    fn verify_submission(
        &self,
        json: ReceiptJson,
        entry: &[u8],
    ) -> Result<VerifiedReceipt, ClientError> {
        let checkpoint = verify_checkpoint(json.checkpoint.as_bytes(), &self.log_key, None)?;
        let claimed_leaf = Hash::from_hex(&json.leaf_hash).map_err(|_| {
            ClientError::Mismatch(format!("leaf hash {:?} is not hex", json.leaf_hash))
        })?;
        let leaf = leaf_hash(entry);
        if claimed_leaf != leaf {
            return Err(crate::VerifyFailure::EntryMismatch {
                given: leaf,
                expected: claimed_leaf,
            }
            .into());
        }
        if json.tree_size != checkpoint.size() || json.root_hash != checkpoint.root().to_base64() {
            return Err(ClientError::Mismatch(
                "the receipt's tree size or root differs from its own signed checkpoint".into(),
            ));
        }
        let proof = json
            .inclusion_proof
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ClientError::Mismatch("an inclusion proof hash is not base64 of 32 bytes".into())
            })?;
        let receipt = make_receipt(json.index, proof, checkpoint.note, entry);
        let mut verified = verify_receipt(&receipt, Some(entry), &self.log_key, None)?;
        verified.duplicate = json.duplicate;
        Ok(verified)
    }

    async fn send_with_retry(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<(String, Vec<u8>), ClientError> {
        let mut attempt = 0;
        loop {
            match self
                .request(Method::POST, path, content_type, Some(body.clone()))
                .await
            {
                // `log_stopped` will not pass by itself: the server needs a restart.
                Err(ClientError::Status {
                    status: 503,
                    retry_after,
                    code,
                    ..
                }) if attempt < SUBMIT_RETRIES && code != "log_stopped" => {
                    attempt += 1;
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
                }
                other => return other.map(|(url, _, body)| (url, body)),
            }
        }
    }

    // ---- the read port -------------------------------------------------------------------

    /// The latest checkpoint, verified (signature, origin, and the witness policy if set).
    pub async fn checkpoint(&self) -> Result<VerifiedCheckpoint, ClientError> {
        let body = self.checkpoint_unverified().await?;
        Ok(verify_checkpoint(
            &body,
            &self.log_key,
            self.policy.as_ref(),
        )?)
    }

    /// The latest checkpoint's bytes exactly as served, unverified: for callers that must
    /// keep what the server said as evidence when it does not verify. Verify it with
    /// [`crate::verify_checkpoint`].
    pub async fn checkpoint_unverified(&self) -> Result<Vec<u8>, ClientError> {
        let (_, _, body) = self.get("checkpoint", "text/plain").await?;
        Ok(body)
    }

    /// The witness policy set with [`Client::with_witness_policy`].
    pub fn witness_policy(&self) -> Option<&WitnessPolicy> {
        self.policy.as_ref()
    }

    /// A verified receipt for the entry at `index`, against the latest checkpoint.
    pub async fn prove_index(&self, index: u64) -> Result<VerifiedReceipt, ClientError> {
        self.prove(&format!("index={index}"), |proven, _| {
            (proven == index).then_some(()).ok_or_else(|| {
                ClientError::Mismatch(format!("asked for index {index}, got {proven}"))
            })
        })
        .await
    }

    /// A verified receipt for the first entry whose leaf hash is `leaf`.
    pub async fn prove_hash(&self, leaf: &Hash) -> Result<VerifiedReceipt, ClientError> {
        self.prove(&format!("hash={}", leaf.to_hex()), |index, entry| {
            (leaf_hash(entry) == *leaf).then_some(()).ok_or_else(|| {
                ClientError::Mismatch(format!(
                    "asked for leaf hash {leaf}, the server answered with entry {index} of another hash"
                ))
            })
        })
        .await
    }

    /// Fetches the latest checkpoint (with its cosignatures), the inclusion proof at exactly
    /// that size and the entry, and verifies them together. `check` vets the server's choice
    /// of index and entry against the request.
    async fn prove(
        &self,
        query: &str,
        check: impl Fn(u64, &[u8]) -> Result<(), ClientError>,
    ) -> Result<VerifiedReceipt, ClientError> {
        let checkpoint = self.checkpoint().await?;
        let served = self.inclusion_at(query, checkpoint.size()).await?;
        let entry = self.entry(served.index).await?;
        check(served.index, &entry)?;
        // The receipt carries the cosigned checkpoint fetched above, not the bare one in the
        // server's proof text: same tree, more signatures.
        let receipt = make_receipt(served.index, served.proof, checkpoint.note.clone(), &entry);
        Ok(verify_receipt(
            &receipt,
            Some(&entry),
            &self.log_key,
            self.policy.as_ref(),
        )?)
    }

    /// The server's inclusion proof for `query` (`index=…` or `hash=…`) at exactly tree size
    /// `size`, as its `c2sp.org/tlog-proof@v1` text. Unverified: the callers verify it
    /// against a checkpoint they verified themselves, never the one inside it.
    async fn inclusion_at(&self, query: &str, size: u64) -> Result<TlogProof, ClientError> {
        let path = format!("v1/proof/inclusion?{query}&size={size}");
        let (url, _, body) = self.get(&path, "text/plain").await?;
        TlogProof::parse(&body).map_err(|e| ClientError::MalformedResponse {
            url,
            reason: e.to_string(),
        })
    }

    /// Upgrades a receipt to the checkpoint the read port serves now: with witnesses, the
    /// latest cosigned one, which must meet this client's witness policy. See
    /// [`Client::upgrade_receipt_to`].
    pub async fn upgrade_receipt(
        &self,
        receipt: &VerifiedReceipt,
    ) -> Result<VerifiedReceipt, ClientError> {
        let target = self.checkpoint().await?;
        self.upgrade_receipt_to(receipt, &target).await
    }

    /// Upgrades a verified receipt to `target`, a checkpoint of the same log no smaller than
    /// the receipt's: proves `target` consistent with the receipt's checkpoint, fetches the
    /// entry's inclusion proof at `target`'s size, and verifies the new receipt exactly as
    /// `cairn verify` will (log key, and this client's witness policy if set).
    ///
    /// The consistency proof is what makes this an upgrade rather than a second receipt: an
    /// inclusion proof alone shows the entry is in the new tree, not that the new tree
    /// extends the one the receipt was issued against. A failure there is
    /// [`ClientError::Inconsistent`], evidence of a fork.
    pub async fn upgrade_receipt_to(
        &self,
        receipt: &VerifiedReceipt,
        target: &VerifiedCheckpoint,
    ) -> Result<VerifiedReceipt, ClientError> {
        let old = &receipt.checkpoint;
        if target.size() < old.size() {
            return Err(ClientError::NotNewer {
                receipt_size: old.size(),
                served_size: target.size(),
            });
        }
        self.prove_consistent(old, target).await?;
        let proof = if target.size() == old.size() {
            // Same tree (the consistency check compared the roots): same audit path.
            receipt.proof.clone()
        } else {
            let served = self
                .inclusion_at(&format!("index={}", receipt.index), target.size())
                .await?;
            if served.index != receipt.index {
                return Err(ClientError::Mismatch(format!(
                    "asked for a proof of index {}, got one of index {}",
                    receipt.index, served.index
                )));
            }
            served.proof
        };
        let upgraded = make_receipt(receipt.index, proof, target.note.clone(), &receipt.entry);
        let mut verified = verify_receipt(
            &upgraded,
            Some(&receipt.entry),
            &self.log_key,
            self.policy.as_ref(),
        )?;
        verified.duplicate = receipt.duplicate;
        Ok(verified)
    }

    /// Proves that `a` and `b` are two views of one append-only history: the smaller tree is
    /// a prefix of the larger. Returns the consistency proof that showed it (empty when no
    /// proof is needed: equal sizes with equal roots, or an empty smaller tree).
    pub async fn prove_consistent(
        &self,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
    ) -> Result<Vec<Hash>, ClientError> {
        let (old, new) = if a.size() <= b.size() { (a, b) } else { (b, a) };
        let inconsistent = |proof: Vec<Hash>, reason: VerifyError| ClientError::Inconsistent {
            old_size: old.size(),
            new_size: new.size(),
            proof,
            reason,
        };
        if old.size() == 0 {
            // Every tree extends the empty one; RFC 9162 has no proof for it.
            return Ok(Vec::new());
        }
        if old.size() == new.size() {
            return verify_consistency(old.size(), new.size(), &old.root(), &new.root(), &[])
                .map(|()| Vec::new())
                .map_err(|e| inconsistent(Vec::new(), e));
        }
        let path = format!("v1/proof/consistency?old={}&new={}", old.size(), new.size());
        let (url, _, body) = self.get(&path, "application/json").await?;
        let json: ConsistencyJson = parse_json(&url, &body)?;
        if json.old_size != old.size() || json.tree_size != new.size() {
            return Err(ClientError::Mismatch(format!(
                "asked for a proof from {} to {}, got one from {} to {}",
                old.size(),
                new.size(),
                json.old_size,
                json.tree_size
            )));
        }
        let proof = json
            .consistency_proof
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ClientError::MalformedResponse {
                url,
                reason: "a consistency proof hash is not base64 of 32 bytes".into(),
            })?;
        match verify_consistency(old.size(), new.size(), &old.root(), &new.root(), &proof) {
            Ok(()) => Ok(proof),
            Err(e) => Err(inconsistent(proof, e)),
        }
    }

    /// The raw body of a hash tile or entry bundle. Unauthenticated on its own: check it
    /// against a verified root (see [`Client::verify_contents`]).
    pub async fn tile(&self, tile: &Tile) -> Result<Vec<u8>, ClientError> {
        let (_, _, body) = self.get(&tile.path(), "application/octet-stream").await?;
        if let TileKind::Hashes { .. } = tile.kind {
            let want = usize::from(tile.width) * cairn_tree::HASH_LEN;
            if body.len() != want {
                return Err(ClientError::MalformedResponse {
                    url: self.url(&tile.path()),
                    reason: format!("hash tile is {} bytes, expected {want}", body.len()),
                });
            }
        }
        Ok(body)
    }

    /// The raw bytes of entry `index`. Unauthenticated on its own; [`Client::prove_index`]
    /// returns it proven.
    pub async fn entry(&self, index: u64) -> Result<Vec<u8>, ClientError> {
        let (_, _, body) = self
            .get(&format!("v1/entries/{index}"), "application/octet-stream")
            .await?;
        Ok(body)
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    async fn get(
        &self,
        path: &str,
        accept: &'static str,
    ) -> Result<(String, HeaderMap, Vec<u8>), ClientError> {
        self.request(Method::GET, path, accept, None).await
    }

    /// One request; non-2xx answers become [`ClientError::Status`] with the server's error
    /// code. For GET `kind` is the Accept header, for POST the Content-Type.
    async fn request(
        &self,
        method: Method,
        path: &str,
        kind: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<(String, HeaderMap, Vec<u8>), ClientError> {
        let url = self.url(path);
        let transport = |source: reqwest::Error| ClientError::Transport {
            hint: url
                .starts_with("https:")
                .then(|| transport_hint(&source, self.client_identity))
                .flatten(),
            url: url.clone(),
            source,
        };
        let mut req = self.http.request(method, &url);
        req = match body {
            Some(body) => req
                .header(CONTENT_TYPE, kind)
                .header(ACCEPT, "application/json")
                .body(body),
            None => req.header(ACCEPT, kind),
        };
        if let Some(token) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ClientError::TooLarge {
                    url,
                    limit: MAX_BODY,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(status_error(url, status, &headers, &bytes));
        }
        Ok((url, headers, bytes))
    }
}

fn status_error(url: String, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ClientError {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let (code, message) = match serde_json::from_slice::<ErrorJson>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            "unknown".to_owned(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_owned(),
        ),
    };
    ClientError::Status {
        url,
        status: status.as_u16(),
        code,
        message,
        retry_after,
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::MalformedResponse {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}
