//! The witness router beyond add-checkpoint: health, the monitoring checkpoint by origin
//! hash, metrics, limits, and methods.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use cairn_witness::{
    checkpoint_path, router, Cas, Evidence, LogState, MemoryState, StateError, Witness,
    WitnessState, MAX_REQUEST_SIZE,
};
use common::{log_key, memory_witness, witness_for, witness_key, Tree};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::ServiceExt as _;

const ORIGIN: &str = "example.com/http";

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, ct, body)
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn setup() -> (Arc<Witness>, cairn_note::SignerKey, Tree) {
    let key = log_key(ORIGIN, 1);
    (
        Arc::new(memory_witness(&[key.verifier()])),
        key,
        Tree::new("http", 9),
    )
}

#[tokio::test]
async fn healthz() {
    let (w, _, _) = setup();
    let (status, _, body) = call(&router(w, None), get("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"ok\n");
}

#[tokio::test]
async fn monitoring_checkpoint_by_origin_hash() {
    let (w, key, tree) = setup();
    let app = router(w.clone(), None);
    let path = format!("/{}", checkpoint_path(ORIGIN));
    // Configured but never cosigned: 404.
    assert_eq!(call(&app, get(&path)).await.0, StatusCode::NOT_FOUND);
    w.add_checkpoint(&tree.request(&key, 0, 7), 1).unwrap();
    let (status, ct, body) = call(&app, get(&path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/plain"));
    // The log's checkpoint with the witness's cosignature, verifiable by both keys.
    let (note, cp) = cairn_note::open_checkpoint(&body, &key.verifier()).unwrap();
    assert_eq!(cp.size, 7);
    let policy = cairn_note::WitnessPolicy::new(vec![w.verifier()], 1).unwrap();
    assert!(policy.check(&note).unwrap().satisfied);
    // Unknown origin hashes and malformed ones: 404.
    for bad in [
        format!("/{}", checkpoint_path("example.com/nope")),
        format!("/{}", checkpoint_path(ORIGIN).replacen('/', "x/", 1)),
        "/zz/checkpoint".to_owned(),
        format!("/{}/checkpoint", "g".repeat(64)),
    ] {
        assert_eq!(
            call(&app, get(&bad)).await.0,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    // Uppercase hex names the same log.
    let upper = format!("/{}", checkpoint_path(ORIGIN).to_uppercase())
        .replace("/CHECKPOINT", "/checkpoint");
    assert_eq!(call(&app, get(&upper)).await.0, StatusCode::OK);
}

/// A memory state whose sync can be made to fail.
#[derive(Default)]
struct FlakySync {
    inner: MemoryState,
    fail: AtomicBool,
}

impl WitnessState for FlakySync {
    fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        self.inner.load(origin)
    }
    fn compare_and_swap(
        &self,
        origin: &str,
        expected: Option<&LogState>,
        new: &LogState,
    ) -> Result<Cas, StateError> {
        self.inner.compare_and_swap(origin, expected, new)
    }
    fn record_evidence(&self, evidence: &Evidence) -> Result<bool, StateError> {
        self.inner.record_evidence(evidence)
    }
    fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, StateError> {
        self.inner.evidence(origin)
    }
    fn sync(&self) -> Result<(), StateError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StateError::Backend("disk on fire".into()));
        }
        self.inner.sync()
    }
}

/// The monitoring checkpoint is published only once the state holding it is durable.
#[tokio::test]
async fn monitoring_checkpoint_waits_for_durability() {
    let key = log_key(ORIGIN, 1);
    let state = Arc::new(FlakySync::default());
    let w = Arc::new(witness_for(
        witness_key("witness.example/w", 7),
        &[key.verifier()],
        state.clone(),
    ));
    let tree = Tree::new("http", 9);
    let app = router(w.clone(), None);
    let path = format!("/{}", checkpoint_path(ORIGIN));
    w.add_checkpoint(&tree.request(&key, 0, 7), 1).unwrap();
    assert_eq!(call(&app, get(&path)).await.0, StatusCode::OK);
    state.fail.store(true, Ordering::SeqCst);
    let (status, _, body) = call(&app, get(&path)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(&body).contains(ORIGIN));
    state.fail.store(false, Ordering::SeqCst);
    assert_eq!(call(&app, get(&path)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_served_only_with_a_handle() {
    let (w, key, tree) = setup();
    assert_eq!(
        call(&router(w.clone(), None), get("/metrics")).await.0,
        StatusCode::NOT_FOUND
    );
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let app = router(w.clone(), Some(handle));
    let req = Request::post("/add-checkpoint")
        .body(Body::from(tree.request(&key, 0, 3)))
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
    let req = Request::post("/add-checkpoint")
        .body(Body::from(tree.request(&key, 0, 5)))
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::CONFLICT);
    let (status, _, body) = call(&app, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    // Other tests in this binary may count requests too once the recorder is global, so
    // check the series, not exact values.
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("cairn_witness_requests_total{status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("cairn_witness_requests_total{status=\"409\"}"),
        "{text}"
    );
    assert!(
        text.contains("cairn_witness_request_duration_seconds"),
        "{text}"
    );
}

#[tokio::test]
async fn oversized_bodies_and_wrong_methods_are_refused() {
    let (w, _, _) = setup();
    let app = router(w, None);
    let big = Request::post("/add-checkpoint")
        .body(Body::from(vec![b'x'; MAX_REQUEST_SIZE + 1]))
        .unwrap();
    assert_eq!(call(&app, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        call(&app, get("/add-checkpoint")).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let post = Request::post("/healthz").body(Body::empty()).unwrap();
    assert_eq!(call(&app, post).await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(call(&app, get("/nothing")).await.0, StatusCode::NOT_FOUND);
}
