//! The public read port: C2SP tlog-tiles, the proof API, entries and the verifier key.
//! Read-only: any method other than GET or HEAD is answered 405.
//!
//! With witnesses configured, `GET /checkpoint` serves the latest checkpoint that met the
//! witness policy (a [`CosignedHead`]), not the latest signed one: that is what witnessed
//! logs publish (Tessera publishes a checkpoint only once its witness policy is satisfied),
//! and what a client that enforces a quorum can accept. Tiles and proofs still reach the
//! latest signed size, which every cosigned checkpoint is a prefix of.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_log::{CosignedHead, Log};
use cairn_tree::{bundle_prefix, entry_bundle_width, hash_tile_width, Hash, Tile, TileKind};
use serde::Serialize;
use tower_http::compression::CompressionLayer;

use crate::error::ApiError;
use crate::proof_text::format_tlog_proof;

const TEXT: &str = "text/plain; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=604800, immutable";

/// What the public handlers share.
#[derive(Clone)]
pub struct PublicState {
    pub log: Arc<Log>,
    /// Set when the log has witnesses: `GET /checkpoint` then serves only checkpoints that
    /// met their policy.
    pub cosigned: Option<Arc<CosignedHead>>,
}

impl PublicState {
    /// A log without witnesses: `GET /checkpoint` is the latest signed checkpoint.
    pub fn new(log: Arc<Log>) -> PublicState {
        PublicState {
            log,
            cosigned: None,
        }
    }

    /// A witnessed log: `GET /checkpoint` is the latest in `cosigned`.
    pub fn witnessed(log: Arc<Log>, cosigned: Arc<CosignedHead>) -> PublicState {
        PublicState {
            log,
            cosigned: Some(cosigned),
        }
    }
}

pub fn router(state: PublicState) -> Router {
    Router::new()
        .route("/checkpoint", get(checkpoint))
        // Entry bundles are compressed for clients that accept gzip (tlog-tiles: bundles
        // SHOULD be compressed over HTTP); hash tiles are random bytes, not worth the CPU.
        .route(
            "/tile/entries/{*rest}",
            get(entries_tile).layer(CompressionLayer::new().gzip(true)),
        )
        .route("/tile/{*rest}", get(tile))
        .route("/v1/proof/inclusion", get(inclusion))
        .route("/v1/proof/consistency", get(consistency))
        .route("/v1/entries/{index}", get(entry))
        .route("/vkey", get(vkey))
        .route("/healthz", get(healthz))
        .fallback(fallback)
        .with_state(state)
}

async fn fallback(method: Method) -> ApiError {
    if method == Method::GET || method == Method::HEAD {
        ApiError::not_found("no_such_resource", "no such resource")
    } else {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the public port is read-only",
        )
    }
}

pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

fn text(body: impl Into<axum::body::Body>, cache: &'static str) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// With witnesses, the latest checkpoint that met their policy; without, the latest
/// signed checkpoint with any cosignatures stored for it.
async fn checkpoint(State(s): State<PublicState>) -> Result<Response, ApiError> {
    if let Some(head) = &s.cosigned {
        // Never fall back to a bare checkpoint: clients enforcing the quorum would refuse
        // it, and the served tree would shrink again once the first cosigned one arrives.
        let latest = head.latest().ok_or_else(|| ApiError {
            retry_after: Some(Duration::from_secs(1)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_cosigned_checkpoint",
                "no checkpoint has met the witness policy yet; the log is waiting for its witnesses",
            )
        })?;
        return Ok(text(latest.note.clone(), "no-store"));
    }
    let cp = s.log.checkpoint();
    let body = s
        .log
        .store()
        .cosigned(cp.size)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .unwrap_or_else(|| cp.note.clone());
    // Mutable: keep caches from serving a stale tree head (C2SP: no more than a few seconds).
    Ok(text(body, "no-store"))
}

async fn vkey(State(s): State<PublicState>) -> Response {
    text(
        format!("{}\n", s.log.signer().verifier_key_text()),
        "public, max-age=300",
    )
}

async fn entries_tile(
    state: State<PublicState>,
    uri: Uri,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    serve_tile(state, uri, format!("tile/entries/{rest}")).await
}

async fn tile(
    state: State<PublicState>,
    uri: Uri,
    Path(rest): Path<String>,
) -> Result<Response, ApiError> {
    serve_tile(state, uri, format!("tile/{rest}")).await
}

/// Serves tile or bundle `path` (`tile/...`, percent-decoded from `uri`).
async fn serve_tile(
    State(s): State<PublicState>,
    uri: Uri,
    path: String,
) -> Result<Response, ApiError> {
    let malformed = || {
        ApiError::bad_request(
            "malformed_tile_path",
            format!("malformed tile path {:?}", uri.path()),
        )
    };
    // `rest` arrives percent-decoded, and no canonical tile path has a `%` in it: without this
    // `tile/0%2Fx001%2F234` would be served as `tile/0/x001/234`, one tile under two names.
    if uri.path().contains('%') {
        return Err(malformed());
    }
    let tile = Tile::parse_any(&path).map_err(|_| malformed())?;
    let size = s.log.checkpoint().size;
    let store = s.log.store();
    let not_found = || {
        ApiError::not_found(
            "tile_not_found",
            format!("{} does not exist at tree size {size}", tile.path()),
        )
    };
    let body = match tile.kind {
        TileKind::Hashes { level } => {
            if tile.width > hash_tile_width(level, tile.index, size) {
                return Err(not_found());
            }
            let mut body = store
                .tile(level, tile.index)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .ok_or_else(not_found)?;
            body.truncate(usize::from(tile.width) * cairn_tree::HASH_LEN);
            body
        }
        TileKind::Entries => {
            if tile.width > entry_bundle_width(tile.index, size) {
                return Err(not_found());
            }
            let body = store
                .bundle(tile.index)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .ok_or_else(|| {
                    // Below the size but not stored: the payloads were pruned by retention.
                    ApiError::new(StatusCode::GONE, "pruned", "entry bundle no longer kept")
                })?;
            bundle_prefix(&body, tile.width)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .to_vec()
        }
    };
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Full and partial tiles alike never change once served.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(resp)
}

fn wants_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/plain"))
}

fn parse_u64(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            // Canonical decimal only: no sign, no leading zeros, fits u64.
            let ok = !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_digit())
                && (v == "0" || !v.starts_with('0'));
            ok.then(|| v.parse::<u64>().ok()).flatten().ok_or_else(|| {
                ApiError::bad_request(
                    "bad_parameter",
                    format!("{name} must be a decimal number below 2^64, got {v:?}"),
                )
            })
        })
        .transpose()
}

/// The checkpoint published at `size` (default: the latest signed one), in its cosigned form
/// when witnesses cosigned it: a proof is checked against the checkpoint it carries, and a
/// verifier that enforces a witness policy needs the cosignatures on it (tlog-proof: the
/// checkpoint "possibly with witness cosignatures").
fn checkpoint_at(log: &Log, size: Option<u64>) -> Result<(u64, Vec<u8>), ApiError> {
    let (size, note) = signed_checkpoint_at(log, size)?;
    let cosigned = log
        .store()
        .cosigned(size)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((size, cosigned.unwrap_or(note)))
}

/// The log-signed checkpoint published at `size` (default: the latest).
fn signed_checkpoint_at(log: &Log, size: Option<u64>) -> Result<(u64, Vec<u8>), ApiError> {
    let latest = log.checkpoint();
    match size {
        None => Ok((latest.size, latest.note.clone())),
        Some(s) if s > latest.size => Err(ApiError::bad_request(
            "size_beyond_tree",
            format!("size {s} is beyond the current tree size {}", latest.size),
        )),
        Some(s) => {
            let note = log
                .store()
                .checkpoint(s)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .ok_or_else(|| {
                    ApiError::not_found(
                        "no_checkpoint_at_size",
                        format!("no checkpoint was published at size {s}"),
                    )
                })?;
            Ok((s, note))
        }
    }
}

#[derive(Serialize)]
struct InclusionResponse {
    index: u64,
    leaf_hash: String,
    tree_size: u64,
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

fn b64_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| h.to_base64()).collect()
}

fn json<T: Serialize>(value: &T) -> Response {
    let mut resp = Response::new(serde_json::to_vec(value).expect("serialisable").into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn inclusion(
    State(s): State<PublicState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (size, note) = checkpoint_at(&s.log, parse_u64(&params, "size")?)?;
    let index = match (parse_u64(&params, "index")?, params.get("hash")) {
        (Some(i), None) => i,
        (None, Some(h)) => {
            let leaf = Hash::from_hex(h).map_err(|_| {
                ApiError::bad_request("bad_parameter", "hash must be 64 hex digits (a leaf hash)")
            })?;
            s.log.find(&leaf)?.filter(|&i| i < size).ok_or_else(|| {
                ApiError::not_found("leaf_not_found", format!("no leaf {h} in tree size {size}"))
            })?
        }
        _ => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "give exactly one of index= or hash=",
            ))
        }
    };
    if index >= size {
        return Err(ApiError::bad_request(
            "index_beyond_tree",
            format!("index {index} is not below tree size {size}"),
        ));
    }
    let proof = s.log.inclusion_proof(index, size)?;
    if wants_text(&headers) {
        let doc = format_tlog_proof(index, &proof, &note)
            .map_err(|e| ApiError::internal(format!("stored checkpoint at {size}: {e}")))?;
        return Ok(text(doc, "no-store"));
    }
    let leaf = leaf_at(&s.log, index, size)?;
    Ok(json(&InclusionResponse {
        index,
        leaf_hash: leaf.to_hex(),
        tree_size: size,
        inclusion_proof: b64_all(&proof),
        checkpoint: String::from_utf8_lossy(&note).into_owned(),
    }))
}

/// The stored leaf hash at `index`, read from its level-0 tile.
fn leaf_at(log: &Log, index: u64, size: u64) -> Result<Hash, ApiError> {
    let tile = log
        .store()
        .tile(0, index / 256)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::internal("level-0 tile missing"))?;
    debug_assert!(index < size);
    let at = (index % 256) as usize * 32;
    tile.get(at..at + 32)
        .map(|b| Hash::from_slice(b).expect("32 bytes"))
        .ok_or_else(|| ApiError::internal("level-0 tile too short"))
}

#[derive(Serialize)]
struct ConsistencyResponse {
    old_size: u64,
    tree_size: u64,
    consistency_proof: Vec<String>,
    checkpoint: String,
}

async fn consistency(
    State(s): State<PublicState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let old = parse_u64(&params, "old")?
        .ok_or_else(|| ApiError::bad_request("bad_parameter", "old= is required"))?;
    let (new, note) = checkpoint_at(&s.log, parse_u64(&params, "new")?)?;
    if old > new {
        return Err(ApiError::bad_request(
            "old_beyond_new",
            format!("old size {old} is larger than new size {new}"),
        ));
    }
    if old == 0 {
        return Err(ApiError::bad_request(
            "old_size_zero",
            "every tree extends the empty tree; there is no proof to give",
        ));
    }
    let proof = s.log.consistency_proof(old, new)?;
    if wants_text(&headers) {
        let mut body = String::new();
        for h in &proof {
            body.push_str(&h.to_base64());
            body.push('\n');
        }
        let mut resp = text(body, "no-store");
        resp.headers_mut()
            .insert("cairn-tree-size", HeaderValue::from(new));
        return Ok(resp);
    }
    Ok(json(&ConsistencyResponse {
        old_size: old,
        tree_size: new,
        consistency_proof: b64_all(&proof),
        checkpoint: String::from_utf8_lossy(&note).into_owned(),
    }))
}

#[derive(Serialize)]
struct EntryResponse {
    index: u64,
    leaf_hash: String,
    entry: String,
    tree_size: u64,
    checkpoint: String,
}

async fn entry(
    State(s): State<PublicState>,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    let mut params = HashMap::new();
    params.insert("index".to_string(), index);
    let index = parse_u64(&params, "index")?.expect("present");
    let cp = s.log.checkpoint();
    if index >= cp.size {
        return Err(ApiError::not_found(
            "entry_not_found",
            format!("no entry {index} in tree size {}", cp.size),
        ));
    }
    let bytes = s.log.entry(index)?;
    let wants_raw = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/octet-stream"));
    if wants_raw {
        let mut resp = Response::new(bytes.into());
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        h.insert("cairn-tree-size", HeaderValue::from(cp.size));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        return Ok(resp);
    }
    Ok(json(&EntryResponse {
        index,
        leaf_hash: cairn_tree::leaf_hash(&bytes).to_hex(),
        entry: STANDARD.encode(&bytes),
        tree_size: cp.size,
        checkpoint: String::from_utf8_lossy(&cp.note).into_owned(),
    })
    .into_response())
}
