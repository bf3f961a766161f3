//! A Cairn log (in process, over `MemoryStore`) with three Cairn witnesses on loopback ports:
//! checkpoints get cosigned and `GET /checkpoint` serves the latest one that met the policy,
//! also while newer bare checkpoints pile up; a 2-of-3 policy holds with one witness down
//! and fails, saying so, with two down; a new cosigner restores the last witnessed
//! checkpoint from storage; a forked log is refused with evidence; a witness that never
//! answers delays nothing but its own cosignature.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_api::public::{router as public_router, PublicState};
use cairn_log::{Log, LogConfig, LogSigner};
use cairn_note::{open_checkpoint, Checkpoint, VerifierKey, WitnessPolicy};
use cairn_storage::MemoryStore;
use cairn_tree::verify_inclusion;
use cairn_witness::{
    router, ClientError, Cosigner, CosignerOptions, MemoryState, SledState, Witness, WitnessClient,
    WitnessEndpoint, WitnessState,
};
use common::{spawn_server, witness_for, witness_key, Server};

const ORIGIN: &str = "example.com/loopback";
const LOG_KEY: &str = "PRIVATE+KEY+example.com/loopback+";

fn log_signer_text() -> String {
    cairn_note::SignerKey::from_seed(ORIGIN, cairn_note::KeyAlgorithm::Ed25519, [42; 32])
        .unwrap()
        .to_text()
}

/// A log over a fresh memory store, signing with the shared test key.
fn open_log() -> Arc<Log> {
    let signer = LogSigner::from_signer_key(&log_signer_text()).unwrap();
    assert!(signer.signer_key_text().starts_with(LOG_KEY));
    Arc::new(Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap())
}

/// A log with the same origin as [`open_log`]'s but another key.
fn open_log_with_seed(seed: u8) -> Arc<Log> {
    let key =
        cairn_note::SignerKey::from_seed(ORIGIN, cairn_note::KeyAlgorithm::Ed25519, [seed; 32])
            .unwrap();
    let signer = LogSigner::new(key).unwrap();
    Arc::new(Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap())
}

async fn append(log: &Log, tag: &str, n: usize) -> Vec<cairn_log::Receipt> {
    let entries = (0..n).map(|i| format!("{tag} {i}").into_bytes()).collect();
    log.submit_many(entries).await.unwrap()
}

struct Witnesses {
    witnesses: Vec<Arc<Witness>>,
    servers: Vec<Option<Server>>,
    endpoints: Vec<WitnessEndpoint>,
}

impl Witnesses {
    async fn start(n: usize, log_vkey: &VerifierKey) -> Witnesses {
        let mut w = Witnesses {
            witnesses: Vec::new(),
            servers: Vec::new(),
            endpoints: Vec::new(),
        };
        for i in 0..n {
            let key = witness_key(&format!("witness-{i}.example"), 100 + i as u8);
            let witness = Arc::new(witness_for(
                key,
                std::slice::from_ref(log_vkey),
                Arc::new(MemoryState::new()),
            ));
            w.push(witness).await;
        }
        w
    }

    async fn push(&mut self, witness: Arc<Witness>) {
        let server = spawn_server(router(witness.clone(), None)).await;
        self.endpoints
            .push(WitnessEndpoint::new(&server.url, witness.verifier()).unwrap());
        self.witnesses.push(witness);
        self.servers.push(Some(server));
    }

    async fn stop(&mut self, i: usize) {
        self.servers[i].take().unwrap().shutdown().await;
    }

    fn policy(&self, k: usize) -> WitnessPolicy {
        WitnessPolicy::new(self.endpoints.iter().map(|e| e.key.clone()).collect(), k).unwrap()
    }
}

fn options() -> CosignerOptions {
    CosignerOptions {
        min_interval: Duration::from_millis(20),
        request_timeout: Duration::from_millis(500),
        retry_interval: Duration::from_millis(100),
    }
}

/// The public port of `log`, serving the checkpoints `cosigner` got witnessed.
async fn witnessed_public(log: &Arc<Log>, cosigner: &Cosigner) -> Server {
    spawn_server(public_router(PublicState::witnessed(
        log.clone(),
        cosigner.head(),
    )))
    .await
}

/// GETs the log's `/checkpoint` and checks the log signature; returns the note and size.
async fn served_checkpoint(url: &str, log_vkey: &VerifierKey) -> (cairn_note::Note, Checkpoint) {
    let body = reqwest::get(format!("{url}/checkpoint"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    open_checkpoint(&body, log_vkey).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_get_cosigned_and_served() {
    let log = open_log();
    let vkey = log.signer().verifier_key().clone();
    let ws = Witnesses::start(3, &vkey).await;
    let cosigner =
        Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(2), options()).unwrap();
    let public = witnessed_public(&log, &cosigner).await;

    // Nothing witnessed yet: no checkpoint to serve, and no bare one instead.
    let resp = reqwest::get(format!("{}/checkpoint", public.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("no_cosigned_checkpoint"), "{body}");

    let receipts = append(&log, "first", 10).await;
    let report = cosigner.cosign_latest().await;
    assert!(report.satisfied(), "{report}");
    assert_eq!(report.size, 10);
    assert_eq!(report.cosigned_by.len(), 3, "{report}");
    assert!(report.failures.is_empty(), "{report}");

    // GET /checkpoint serves the cosigned note: log signature + 3 cosignatures.
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 10);
    assert_eq!(note.signatures().len(), 4);
    let check = ws.policy(2).check(&note).unwrap();
    assert!(check.satisfied);
    assert_eq!(check.signed.len(), 3);
    // A receipt verifies against the cosigned checkpoint.
    let r = &receipts[3];
    verify_inclusion(r.index, cp.size, &r.leaf_hash, &r.proof, &cp.root).unwrap();
    // Proofs carry the checkpoint with its cosignatures, so a verifier that enforces the
    // witness policy can check them on their own.
    for query in [
        "inclusion?index=3",
        "inclusion?index=3&size=10",
        "consistency?old=4",
    ] {
        let resp: serde_json::Value = reqwest::get(format!("{}/v1/proof/{query}", public.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (note, _) = open_checkpoint(resp["checkpoint"].as_str().unwrap().as_bytes(), &vkey)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(ws.policy(3).check(&note).unwrap().satisfied, "{query}");
    }

    // Newer checkpoints that no witness has seen yet (steady ingest between rounds): the
    // witnessed one stays served, cosignatures and all.
    append(&log, "second", 4).await;
    append(&log, "second more", 3).await;
    assert_eq!(log.checkpoint().size, 17);
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 10);
    assert!(ws.policy(3).check(&note).unwrap().satisfied);

    // Next round: each client proves from the size its witness last cosigned.
    let report = cosigner.cosign_latest().await;
    assert!(report.satisfied() && report.failures.is_empty(), "{report}");
    for (status, w) in cosigner.status().iter().zip(&ws.witnesses) {
        assert_eq!(status.last_size, 17);
        assert_eq!(status.consecutive_failures, 0);
        assert_eq!(w.state().load(ORIGIN).unwrap().unwrap().size, 17);
    }
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 17);
    assert!(ws.policy(3).check(&note).unwrap().satisfied);

    // A restarted log side knows nothing (old 0): the witnesses answer 409 with 17, and
    // the client retries from there.
    append(&log, "third", 2).await;
    let fresh = Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(3), options()).unwrap();
    let report = fresh.cosign_latest().await;
    assert!(report.satisfied() && report.failures.is_empty(), "{report}");
    assert_eq!(report.size, 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_two_of_three_with_witnesses_going_down() {
    let log = open_log();
    let vkey = log.signer().verifier_key().clone();
    let mut ws = Witnesses::start(3, &vkey).await;
    let policy = ws.policy(2);
    let cosigner =
        Cosigner::new(log.clone(), ws.endpoints.clone(), policy.clone(), options()).unwrap();
    let public = witnessed_public(&log, &cosigner).await;

    append(&log, "a", 5).await;
    assert!(cosigner.cosign_latest().await.satisfied());

    // One witness down: still 2 of 3.
    ws.stop(0).await;
    append(&log, "b", 5).await;
    let report = cosigner.cosign_latest().await;
    assert!(report.satisfied(), "{report}");
    assert_eq!(
        report.cosigned_by,
        ["witness-1.example", "witness-2.example"]
    );
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].0, "witness-0.example");
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 10);
    let check = policy.check(&note).unwrap();
    assert!(check.satisfied);
    assert_eq!(check.signed.len(), 2);

    // Two down: the policy fails, and the report says so and why.
    ws.stop(1).await;
    append(&log, "c", 5).await;
    let report = cosigner.cosign_latest().await;
    assert!(!report.satisfied(), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("checkpoint 15: 1 of the required 2"),
        "{text}"
    );
    assert!(text.contains("quorum NOT met"), "{text}");
    assert!(text.contains("witness-0.example: request failed"), "{text}");
    assert!(text.contains("witness-1.example: request failed"), "{text}");
    // The checkpoint at 15 is stored with its one cosignature, but what is served is still
    // the last one that met the policy.
    let stored = cairn_note::Note::parse(&log.store().cosigned(15).unwrap().unwrap()).unwrap();
    let check = policy.check(&stored).unwrap();
    assert!(!check.satisfied);
    assert_eq!(check.signed.len(), 1);
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 10);
    assert!(policy.check(&note).unwrap().satisfied);
    // The log side's view of each witness.
    let status = cosigner.status();
    assert_eq!(status[0].consecutive_failures, 2);
    assert_eq!(status[0].last_size, 5);
    assert!(status[0].last_error.is_some());
    assert_eq!(status[1].consecutive_failures, 1);
    assert_eq!(status[2].consecutive_failures, 0);
    assert_eq!(status[2].last_size, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cosigner_restores_the_last_witnessed_checkpoint() {
    let log = open_log();
    let vkey = log.signer().verifier_key().clone();
    let mut ws = Witnesses::start(3, &vkey).await;
    let cosigner =
        Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(2), options()).unwrap();
    assert_eq!(cosigner.head().latest(), None, "nothing stored yet");
    append(&log, "a", 6).await;
    assert!(cosigner.cosign_latest().await.satisfied());
    // Two witnesses down: size 9 is stored with one cosignature only.
    ws.stop(0).await;
    ws.stop(1).await;
    append(&log, "b", 3).await;
    assert!(!cosigner.cosign_latest().await.satisfied());
    // A damaged record above both: passed over, not fatal.
    append(&log, "c", 2).await;
    log.store().put_cosigned(11, b"not a note").unwrap();

    // A restarted log side (same store): 2 of 3 restores size 6, skipping 9 and 11.
    let restarted =
        Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(2), options()).unwrap();
    let head = restarted.head().latest().expect("restored");
    assert_eq!(head.size, 6);
    assert_eq!(head.note, log.store().cosigned(6).unwrap().unwrap());
    let public = witnessed_public(&log, &restarted).await;
    let (note, cp) = served_checkpoint(&public.url, &vkey).await;
    assert_eq!(cp.size, 6);
    assert_eq!(ws.policy(2).check(&note).unwrap().signed.len(), 3);
    // With a 1-of-3 policy the size-9 note qualifies.
    let lenient =
        Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(1), options()).unwrap();
    assert_eq!(lenient.head().latest().unwrap().size, 9);
    // Another log's key: nothing stored verifies, so nothing is restored.
    let other = open_log_with_seed(7);
    for size in [6, 9] {
        let note = log.store().cosigned(size).unwrap().unwrap();
        append(
            &other,
            &format!("pad {size}"),
            (size - other.checkpoint().size) as usize,
        )
        .await;
        other.store().put_cosigned(size, &note).unwrap();
    }
    let foreign =
        Cosigner::new(other.clone(), ws.endpoints.clone(), ws.policy(1), options()).unwrap();
    assert_eq!(foreign.head().latest(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_log_is_refused_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let honest = open_log();
    let vkey = honest.signer().verifier_key().clone();
    // One witness with durable state, that has seen the honest log at size 10.
    let state = Arc::new(SledState::open(dir.path()).unwrap());
    let witness = Arc::new(witness_for(
        witness_key("witness.example", 7),
        std::slice::from_ref(&vkey),
        state.clone(),
    ));
    let mut ws = Witnesses {
        witnesses: Vec::new(),
        servers: Vec::new(),
        endpoints: Vec::new(),
    };
    ws.push(witness.clone()).await;
    append(&honest, "honest", 10).await;
    let report = Cosigner::new(
        honest.clone(),
        ws.endpoints.clone(),
        ws.policy(1),
        options(),
    )
    .unwrap()
    .cosign_latest()
    .await;
    assert!(report.satisfied(), "{report}");

    // Same key, different history, three ways.
    for (fork_size, expect) in [
        (12, "inconsistent"),
        (10, "inconsistent"),
        (8, "witness_ahead"),
    ] {
        let fork = open_log();
        append(&fork, &format!("fork {fork_size}"), fork_size).await;
        let client = WitnessClient::new(ws.endpoints[0].clone(), Duration::from_secs(2)).unwrap();
        let err = client
            .add_checkpoint(&fork.checkpoint(), fork.as_ref())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), expect, "fork at {fork_size}: {err}");
        assert!(err.is_alarm(), "{err}");
        // The cosigner reports it as a failure, and the quorum is not met.
        let report = Cosigner::new(fork.clone(), ws.endpoints.clone(), ws.policy(1), options())
            .unwrap()
            .cosign_latest()
            .await;
        assert!(!report.satisfied(), "{report}");
    }
    // The witness still holds the honest tree. It kept evidence for the same-size fork (two
    // signed roots for one size prove it); a larger fork is refused but leaves no record, since
    // its failing proof is the submitter's own and anyone could send such requests.
    let stored = state.load(ORIGIN).unwrap().unwrap();
    assert_eq!((stored.size, stored.root), (10, honest.checkpoint().root));
    let evidence = state.evidence(ORIGIN).unwrap();
    let reasons: Vec<&str> = evidence.iter().map(|e| e.reason.as_str()).collect();
    assert!(
        !reasons.contains(&"consistency_proof_failed"),
        "{reasons:?}"
    );
    assert!(reasons.contains(&"same_size_different_root"), "{reasons:?}");
    assert!(evidence.iter().all(|e| e.stored_size == 10));
    // Each piece of evidence carries a checkpoint validly signed by the log's key.
    for e in &evidence {
        let req = cairn_witness::AddCheckpointRequest::parse(e.request.as_bytes()).unwrap();
        let (_, cp) = open_checkpoint(&req.note.to_bytes(), &vkey).unwrap();
        assert_ne!(cp.root, stored.root);
    }
    // The honest log continues to be cosigned.
    append(&honest, "honest more", 3).await;
    let report = Cosigner::new(
        honest.clone(),
        ws.endpoints.clone(),
        ws.policy(1),
        options(),
    )
    .unwrap()
    .cosign_latest()
    .await;
    assert!(report.satisfied(), "{report}");
}

/// Accepts connections and never answers.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_witness_never_blocks_ingestion() {
    let log = open_log();
    let vkey = log.signer().verifier_key().clone();
    let mut ws = Witnesses::start(2, &vkey).await;
    let (hole_url, hole) = black_hole().await;
    let silent = witness_key("silent.example", 9).verifier();
    ws.endpoints
        .push(WitnessEndpoint::new(&hole_url, silent).unwrap());
    // Each round waits up to 2 s for the silent witness: blocked ingestion would show.
    let opts = CosignerOptions {
        request_timeout: Duration::from_secs(2),
        ..options()
    };
    let cosigner =
        Arc::new(Cosigner::new(log.clone(), ws.endpoints.clone(), ws.policy(2), opts).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = cosigner.clone().spawn(async {
        let _ = stopped.await;
    });

    // Ingest for a while: every submission is acknowledged promptly although every round
    // waits out the silent witness's time limit.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let t = Instant::now();
        append(&log, &format!("entry {i}"), 1).await;
        slowest = slowest.max(t.elapsed());
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        slowest < Duration::from_millis(500),
        "a submission took {slowest:?}"
    );

    // Quiesce and let a round finish on the final size: 2 of 3 cosign it.
    let final_size = log.checkpoint().size;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let cosigned = log.store().cosigned(final_size).unwrap();
        if let Some(note) = cosigned {
            let (note, _) = open_checkpoint(&note, &vkey).unwrap();
            if ws.policy(2).check(&note).unwrap().satisfied {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "size {final_size} was never cosigned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = cosigner.status();
    assert!(status[2].consecutive_failures > 0);
    assert!(
        status[2]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no answer")
            || status[2]
                .last_error
                .as_deref()
                .unwrap()
                .contains("request failed"),
        "{:?}",
        status[2].last_error
    );
    let _ = stop.send(());
    task.await.unwrap();
    hole.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_are_rate_limited() {
    let log = open_log();
    let vkey = log.signer().verifier_key().clone();
    let witness = Arc::new(witness_for(
        witness_key("counted.example", 5),
        std::slice::from_ref(&vkey),
        Arc::new(MemoryState::new()),
    ));
    let hits = Arc::new(AtomicU64::new(0));
    let counted = {
        let hits = hits.clone();
        router(witness.clone(), None).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::Relaxed);
                    next.run(req).await
                }
            },
        ))
    };
    let server = spawn_server(counted).await;
    let endpoint = WitnessEndpoint::new(&server.url, witness.verifier()).unwrap();
    let policy = WitnessPolicy::new(vec![endpoint.key.clone()], 1).unwrap();
    let opts = CosignerOptions {
        min_interval: Duration::from_millis(200),
        ..options()
    };
    let cosigner = Arc::new(Cosigner::new(log.clone(), vec![endpoint], policy, opts).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = cosigner.clone().spawn(async {
        let _ = stopped.await;
    });
    // About 100 checkpoints in one second.
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(1) {
        append(&log, &format!("r {i}"), 1).await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    task.await.unwrap();
    let n = hits.load(Ordering::Relaxed);
    // At most one round per 200 ms (+1 for the round at start, +1 for a 409 retry at first
    // contact), and at least a few: rounds do follow new checkpoints.
    let max = elapsed.as_millis() as u64 / 200 + 3;
    assert!(
        (3..=max).contains(&n),
        "{n} requests in {elapsed:?} for {i} checkpoints"
    );
    assert!(i > 20, "only {i} checkpoints");
}

#[test]
fn endpoints_parse_from_flags() {
    let vkey = witness_key("w.example", 1).verifier();
    let e = WitnessEndpoint::parse(&format!("https://w.example/prefix={vkey}")).unwrap();
    assert_eq!(e.url, "https://w.example/prefix");
    assert_eq!(e.key, vkey);
    // URLs may themselves contain '='.
    let e = WitnessEndpoint::parse(&format!("http://127.0.0.1:1/?a=b={vkey}")).unwrap();
    assert_eq!(e.url, "http://127.0.0.1:1/?a=b");
    for bad in [
        "no-equals".to_owned(),
        format!("ftp://w.example={vkey}"),
        format!("not a url={vkey}"),
        "http://w.example=not-a-key".to_owned(),
        // A log (0x01) key is no witness key.
        format!("http://w.example={}", common::log_key("l", 1).verifier()),
    ] {
        assert!(WitnessEndpoint::parse(&bad).is_err(), "{bad}");
    }
}

#[test]
fn cosigner_configuration_is_validated() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let log = open_log();
    let a = WitnessEndpoint::new("http://127.0.0.1:1", witness_key("a", 1).verifier()).unwrap();
    let b = WitnessEndpoint::new("http://127.0.0.1:2", witness_key("b", 2).verifier()).unwrap();
    let only_a = WitnessPolicy::new(vec![a.key.clone()], 1).unwrap();
    // A witness twice.
    assert!(Cosigner::new(
        log.clone(),
        vec![a.clone(), a.clone()],
        only_a.clone(),
        options()
    )
    .is_err());
    // A policy witness nobody asks.
    let only_b = WitnessPolicy::new(vec![b.key.clone()], 1).unwrap();
    let err = Cosigner::new(log.clone(), vec![a.clone()], only_b, options()).unwrap_err();
    assert!(err.to_string().contains("not among the witnesses"), "{err}");
    // A policy that can never be met.
    let impossible = WitnessPolicy {
        witnesses: vec![a.key.clone()],
        threshold: 2,
    };
    assert!(Cosigner::new(log.clone(), vec![a.clone()], impossible, options()).is_err());
    Cosigner::new(log, vec![a, b], only_a, options()).unwrap();
}

#[tokio::test]
async fn client_rejects_a_forged_cosignature() {
    // A "witness" that answers 200 with a line under the configured key name and ID but a
    // wrong signature: the client must refuse it, not store it.
    let log = open_log();
    append(&log, "x", 3).await;
    let real = witness_key("w.example", 1);
    let wrong = witness_key("w.example", 2);
    let forged = {
        let cp = log.checkpoint();
        let text = cairn_note::Note::parse(&cp.note).unwrap().into_parts().0;
        let mut line = cairn_note::cosign(&text, &wrong, 1).unwrap();
        line.key_id = real.key_id();
        line.to_line()
    };
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || {
            let forged = forged.clone();
            async move { forged }
        }),
    );
    let server = spawn_server(app).await;
    let client = WitnessClient::new(
        WitnessEndpoint::new(&server.url, real.verifier()).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client
        .add_checkpoint(&log.checkpoint(), log.as_ref())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::BadCosignature(_)), "{err}");
    // Lines by other keys only: no cosignature.
    let other_only = {
        let cp = log.checkpoint();
        let text = cairn_note::Note::parse(&cp.note).unwrap().into_parts().0;
        cairn_note::cosign(&text, &wrong, 1).unwrap().to_line()
    };
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || {
            let l = other_only.clone();
            async move { l }
        }),
    );
    let server = spawn_server(app).await;
    let client = WitnessClient::new(
        WitnessEndpoint::new(&server.url, real.verifier()).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client
        .add_checkpoint(&log.checkpoint(), log.as_ref())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NoCosignature), "{err}");
}

/// A stand-in witness that answers every add-checkpoint with a fixed status and body.
async fn fixed_answer(status: u16, body: &'static str) -> Server {
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move || async move {
            (axum::http::StatusCode::from_u16(status).unwrap(), body)
        }),
    );
    spawn_server(app).await
}

#[tokio::test]
async fn client_maps_every_witness_answer() {
    let log = open_log();
    append(&log, "x", 5).await;
    let key = witness_key("w.example", 1).verifier();
    let cases: [(u16, &'static str, &str); 8] = [
        // Still 409 after the one retry from the size it gave.
        (409, "1\n", "conflict"),
        // Still 409 at our own size after the retry from it: a tlog-witness v1.0.0 witness
        // saying it cosigned another tree of this size (422 in the current spec): a fork.
        (409, "5\n", "inconsistent"),
        (409, "1", "bad_response"),
        (409, "6\n", "witness_ahead"),
        (422, "bad proof\n", "inconsistent"),
        (403, "unknown key\n", "forbidden"),
        (404, "unknown log\n", "unknown_log"),
        (500, "oops\n", "status"),
    ];
    for (status, body, kind) in cases {
        let server = fixed_answer(status, body).await;
        let client = WitnessClient::new(
            WitnessEndpoint::new(&server.url, key.clone()).unwrap(),
            Duration::from_secs(2),
        )
        .unwrap();
        let err = client
            .add_checkpoint(&log.checkpoint(), log.as_ref())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status} {body:?}: {err}");
        let alarm = matches!(kind, "witness_ahead" | "inconsistent");
        assert_eq!(err.is_alarm(), alarm, "{err}");
        if kind == "conflict" {
            // It learned the witness's size for next time.
            assert_eq!(client.last_size(), 1);
        }
    }
    // Nothing listening: a transport error, not an alarm.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let client = WitnessClient::new(
        WitnessEndpoint::new(&dead, key).unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = client
        .add_checkpoint(&log.checkpoint(), log.as_ref())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "http", "{err}");
    assert!(!err.is_alarm());
}
