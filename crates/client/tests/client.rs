//! The HTTP client against an in-process `cairn_api` server (memory store): every answer is
//! verified, what it returns verifies offline, a server that lies is caught, and receipts
//! upgrade to a newer cosigned checkpoint (and refuse to across a fork).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use cairn_api::{AccessPolicy, ServeOptions, TcpListenerSpec};
use cairn_client::*;
use cairn_log::{CosignedHead, Log, LogConfig, LogSigner};
use cairn_note::{KeyAlgorithm, Note, SignerKey, VerifierKey, WitnessPolicy};
use cairn_storage::MemoryStore;
use cairn_tree::{leaf_hash, Frontier, VerifyError};
use tokio::sync::oneshot;

const TOKEN: &str = "test-token";

struct Server {
    public: String,
    internal: String,
    key: VerifierKey,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> Server {
    let signer = LogSigner::generate("test.example/log").unwrap();
    let log =
        Arc::new(Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap());
    serve_log(log, None).await
}

/// Serves `log` on loopback ports; with `cosigned`, as a witnessed log.
async fn serve_log(log: Arc<Log>, cosigned: Option<Arc<CosignedHead>>) -> Server {
    let key = log.signer().verifier_key().clone();
    let bind = || TcpListener::bind("127.0.0.1:0").unwrap();
    let (public, internal) = (bind(), bind());
    let addr = |l: &TcpListener| format!("http://{}", l.local_addr().unwrap());
    let (public_url, internal_url) = (addr(&public), addr(&internal));
    let options = ServeOptions {
        public: TcpListenerSpec::Bound(public),
        internal: TcpListenerSpec::Bound(internal),
        public_tls: None,
        internal_tls: None,
        policy: AccessPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            token_digests: vec![cairn_api::token_digest(TOKEN)],
        },
        max_body_bytes: 16 << 20,
        request_timeout: Duration::from_secs(10),
        max_concurrent_requests: 64,
        max_connections: 256,
        idle_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(1),
        cosigned,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(cairn_api::serve(log, options, None, |_| {}, async {
        let _ = stopped.await;
    }));
    Server {
        public: public_url,
        internal: internal_url,
        key,
        stop: Some(stop),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_prove_follow_and_audit() {
    let server = start().await;
    let writer = Client::new(&server.internal, server.key.clone())
        .unwrap()
        .with_token(TOKEN);
    let reader = Client::new(&format!("{}/", server.public), server.key.clone()).unwrap();

    let empty = reader.checkpoint().await.unwrap();
    assert_eq!(empty.size(), 0);

    let one = writer.submit(b"first").await.unwrap();
    assert_eq!((one.index, one.duplicate), (0, false));
    assert_eq!(one.leaf_hash, leaf_hash(b"first"));
    // What the client accepted verifies offline, byte for byte.
    let text = one.to_tlog_proof().to_bytes();
    assert_eq!(
        verify_receipt_bytes(&text, None, &server.key, None).unwrap(),
        one
    );
    let first = reader.checkpoint().await.unwrap();

    let mut batch: Vec<Vec<u8>> = (1..600)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    batch.push(b"first".to_vec());
    batch.push(vec![7u8; ENTRY_IN_EXTRA_MAX + 100]);
    let receipts = writer.submit_batch(&batch).await.unwrap();
    assert_eq!(receipts.len(), batch.len());
    assert_eq!(receipts[0].index, 1);
    let dup = &receipts[599];
    assert!(dup.duplicate);
    assert_eq!(dup.index, 0, "a duplicate points at the original leaf");
    let large = &receipts[600];
    assert_eq!(large.index, 600);
    assert!(!large.entry_in_receipt());
    assert_eq!(large.to_tlog_proof().extra, None);

    // Proofs by index and by hash, against the latest (cosigned) checkpoint.
    let latest = reader.checkpoint().await.unwrap();
    assert_eq!(latest.size(), 601);
    let by_index = reader.prove_index(300).await.unwrap();
    assert_eq!(by_index.entry, b"entry 300");
    assert_eq!(by_index.checkpoint, latest);
    let by_hash = reader.prove_hash(&leaf_hash(b"entry 42")).await.unwrap();
    assert_eq!(by_hash.index, 42);
    let large_proof = reader.prove_index(600).await.unwrap();
    assert!(verify_receipt(
        &large_proof.to_tlog_proof(),
        Some(&batch[600]),
        &server.key,
        None
    )
    .is_ok());
    match reader.prove_index(601).await {
        Err(ClientError::Status {
            status: 400, code, ..
        }) => {
            assert_eq!(code, "index_beyond_tree")
        }
        other => panic!("{other:?}"),
    }

    // Consistency: any two checkpoints, either order; the empty tree needs no proof.
    assert!(!reader
        .prove_consistent(&first, &latest)
        .await
        .unwrap()
        .is_empty());
    assert!(!reader
        .prove_consistent(&latest, &first)
        .await
        .unwrap()
        .is_empty());
    assert!(reader
        .prove_consistent(&empty, &latest)
        .await
        .unwrap()
        .is_empty());
    assert!(reader
        .prove_consistent(&latest, &latest)
        .await
        .unwrap()
        .is_empty());

    // The full download rebuilds the root, from scratch and incrementally.
    let mut last = 0;
    let full = reader
        .verify_contents(&Frontier::new(), &latest, &mut |n| last = n)
        .await
        .unwrap();
    assert_eq!((full.size(), full.root(), last), (601, latest.root(), 601));
    let part = reader
        .verify_contents(&Frontier::new(), &first, &mut |_| {})
        .await
        .unwrap();
    let rest = reader
        .verify_contents(&part, &latest, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(rest, full);
    let reloaded = frontier_from_hashes(full.size(), full.hashes()).unwrap();
    assert_eq!(reloaded, full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_trust_and_refusals() {
    let server = start().await;
    let stranger = SignerKey::from_seed("test.example/log", KeyAlgorithm::Ed25519, [9; 32])
        .unwrap()
        .verifier();
    let reader = Client::new(&server.public, stranger.clone()).unwrap();
    assert!(matches!(
        reader.checkpoint().await,
        Err(ClientError::Verify(VerifyFailure::BadSignature(_)))
    ));
    // A receipt is refused under the wrong key, though the entry was logged.
    let writer = Client::new(&server.internal, stranger)
        .unwrap()
        .with_token(TOKEN);
    let err = writer.submit(b"x").await.unwrap_err();
    assert!(err.is_misbehaviour(), "{err}");

    let no_token = Client::new(&server.internal, server.key.clone()).unwrap();
    match no_token.submit(b"x").await {
        Err(ClientError::Status {
            status: 401, code, ..
        }) => assert_eq!(code, "unauthorized"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Client::new("ftp://example.com", server.key.clone()),
        Err(ClientError::BadUrl { .. })
    ));
}

/// A write port that answers every submission with the receipt of another entry, and a read
/// port whose consistency proofs are corrupted: both must be caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_server_is_caught() {
    use axum::routing::{get, post};
    let server = start().await;
    let honest = Client::new(&server.internal, server.key.clone())
        .unwrap()
        .with_token(TOKEN);
    for i in 0..5 {
        honest.submit(format!("e{i}").as_bytes()).await.unwrap();
    }
    let http = reqwest::Client::new();
    let real_receipt = http
        .post(format!("{}/v1/entries", server.internal))
        .bearer_auth(TOKEN)
        .body("someone else's entry")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let reader = Client::new(&server.public, server.key.clone()).unwrap();
    let old = reader.checkpoint().await.unwrap();
    let new_size = old.size();
    let old_cp = reader.prove_index(0).await.unwrap().checkpoint;
    // A checkpoint at size 2 exists (one per single submission).
    let consistency = http
        .get(format!(
            "{}/v1/proof/consistency?old=2&new={new_size}",
            server.public
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&consistency).unwrap();
    let first = json["consistency_proof"][0].as_str().unwrap().to_owned();
    let flipped = if first.starts_with('A') { "B" } else { "A" };
    json["consistency_proof"][0] = format!("{flipped}{}", &first[1..]).into();
    let corrupted = json.to_string();
    let checkpoint_note = String::from_utf8(old_cp.note_bytes()).unwrap();

    let app = axum::Router::new()
        .route("/v1/entries", post(move || async move { real_receipt }))
        .route(
            "/v1/proof/consistency",
            get(move || async move { corrupted }),
        )
        .route("/checkpoint", get(move || async move { checkpoint_note }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let liar = Client::new(&format!("http://{addr}"), server.key.clone()).unwrap();

    match liar.submit(b"my entry").await {
        Err(ClientError::Verify(VerifyFailure::EntryMismatch { given, .. })) => {
            assert_eq!(given, leaf_hash(b"my entry"))
        }
        other => panic!("{other:?}"),
    }
    // The real checkpoint at size 2, to ask the liar for a proof from.
    let at_two = {
        let r = honest.submit(b"e1").await.unwrap();
        assert!(r.duplicate);
        published_checkpoint(&server, 2).await
    };
    let latest = liar.checkpoint().await.unwrap();
    match liar.prove_consistent(&at_two, &latest).await {
        Err(ClientError::Inconsistent {
            old_size: 2,
            new_size,
            proof,
            reason: VerifyError::RootMismatch,
        }) => {
            assert_eq!(new_size, latest.size());
            assert!(!proof.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

/// A log over a memory store whose key comes from `seed`: two logs from one seed are the
/// same log's key with two histories (a fork).
fn seeded_log(seed: u8) -> Arc<Log> {
    let key = SignerKey::from_seed("test.example/log", KeyAlgorithm::Ed25519, [seed; 32]).unwrap();
    let signer = LogSigner::new(key).unwrap();
    Arc::new(Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap())
}

/// Cosigns `log`'s current checkpoint with `witness` and makes it the one `head` serves, as
/// the cosigner does after a round that met the policy. Returns the size.
fn witness_latest(log: &Log, head: &CosignedHead, witness: &SignerKey) -> u64 {
    let cp = log.checkpoint();
    let mut note = Note::parse(&cp.note).unwrap();
    let line = cairn_note::cosign(note.text(), witness, 1_700_000_000).unwrap();
    note.add_signature(line).unwrap();
    assert!(head.advance(cp.size, note.to_bytes()));
    cp.size
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_upgrade_to_the_latest_cosigned_checkpoint() {
    let log = seeded_log(1);
    let head = Arc::new(CosignedHead::new());
    let server = serve_log(log.clone(), Some(head.clone())).await;
    let witness =
        SignerKey::from_seed("witness.example", KeyAlgorithm::Cosignature, [3; 32]).unwrap();
    let policy = WitnessPolicy::new(vec![witness.verifier()], 1).unwrap();
    let writer = Client::new(&server.internal, server.key.clone())
        .unwrap()
        .with_token(TOKEN);
    let reader = Client::new(&server.public, server.key.clone())
        .unwrap()
        .with_witness_policy(policy.clone());

    let early = writer.submit(b"early").await.unwrap();
    let mut batch: Vec<Vec<u8>> = (0..300)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    batch.push(vec![7u8; ENTRY_IN_EXTRA_MAX + 1]);
    let receipts = writer.submit_batch(&batch).await.unwrap();
    // Write-port receipts carry their batch's bare checkpoint: no quorum.
    assert!(matches!(
        verify_receipt(&early.to_tlog_proof(), None, &server.key, Some(&policy)),
        Err(VerifyFailure::QuorumNotMet { required: 1, .. })
    ));
    // Nothing witnessed yet: nothing to upgrade to.
    match reader.upgrade_receipt(&early).await {
        Err(ClientError::Status {
            status: 503, code, ..
        }) => {
            assert_eq!(code, "no_cosigned_checkpoint")
        }
        other => panic!("{other:?}"),
    }

    let cosigned = witness_latest(&log, &head, &witness);
    assert_eq!(cosigned, 302);
    // The log moves on; the cosigned checkpoint stays what is served.
    let late = writer.submit(b"late").await.unwrap();
    assert_eq!(late.checkpoint.size(), 303);

    let up = reader.upgrade_receipt(&early).await.unwrap();
    assert_eq!((up.index, up.leaf_hash), (early.index, early.leaf_hash));
    assert_eq!(up.entry, early.entry);
    assert_eq!(up.checkpoint.size(), cosigned);
    assert_ne!(up.proof, early.proof, "a proof to the larger tree");
    assert_eq!(
        up.checkpoint.witnesses,
        [("witness.example".to_owned(), 1_700_000_000)]
    );
    // The upgraded receipt file verifies offline with the quorum, and still with the log
    // key alone.
    let file = up.to_tlog_proof().to_bytes();
    assert_eq!(
        verify_receipt_bytes(&file, None, &server.key, Some(&policy)).unwrap(),
        up
    );
    verify_receipt_bytes(&file, None, &server.key, None).unwrap();

    // A large entry travels beside its receipt; the upgrade keeps it.
    let large = reader.upgrade_receipt(&receipts[300]).await.unwrap();
    assert!(!large.entry_in_receipt());
    verify_receipt(
        &large.to_tlog_proof(),
        Some(&batch[300]),
        &server.key,
        Some(&policy),
    )
    .unwrap();
    // A receipt at the cosigned size itself keeps its audit path and gains the cosignature.
    let same = reader.upgrade_receipt(&receipts[5]).await.unwrap();
    assert_eq!(receipts[5].checkpoint.size(), cosigned);
    assert_eq!(same.proof, receipts[5].proof);
    assert_eq!(same.checkpoint.note.signatures().len(), 2);

    // Newer than what the witnesses cosigned: refused, saying so; not misbehaviour.
    let err = reader.upgrade_receipt(&late).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::NotNewer {
                receipt_size: 303,
                served_size: 302
            }
        ),
        "{err}"
    );
    assert!(!err.is_misbehaviour());
    assert!(err.to_string().contains("wait until they cosign"), "{err}");
    // Once they have, it upgrades.
    assert_eq!(witness_latest(&log, &head, &witness), 303);
    assert_eq!(
        reader
            .upgrade_receipt(&late)
            .await
            .unwrap()
            .checkpoint
            .size(),
        303
    );

    // A reader requiring a witness that never cosigned refuses the target.
    let other = SignerKey::from_seed("other.example", KeyAlgorithm::Cosignature, [4; 32]).unwrap();
    let strict = Client::new(&server.public, server.key.clone())
        .unwrap()
        .with_witness_policy(
            WitnessPolicy::new(vec![witness.verifier(), other.verifier()], 2).unwrap(),
        );
    assert!(matches!(
        strict.upgrade_receipt(&early).await,
        Err(ClientError::Verify(VerifyFailure::QuorumNotMet {
            required: 2,
            ..
        }))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_across_a_fork_is_caught() {
    // Same key, two histories that share their first two entries and differ in the third: a
    // receipt for the second entry cannot be upgraded on the fork, although the fork's
    // checkpoint is validly signed and cosigned and does include that entry at that index.
    // Only the consistency proof tells them apart.
    let honest = seeded_log(2);
    let forked = seeded_log(2);
    let head = Arc::new(CosignedHead::new());
    let honest_server = serve_log(honest.clone(), None).await;
    let forked_server = serve_log(forked.clone(), Some(head.clone())).await;
    let key = honest_server.key.clone();
    assert_eq!(key, forked_server.key);
    let witness =
        SignerKey::from_seed("witness.example", KeyAlgorithm::Cosignature, [3; 32]).unwrap();
    let receipt = Client::new(&honest_server.internal, key.clone())
        .unwrap()
        .with_token(TOKEN)
        .submit_batch(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])
        .await
        .unwrap()
        .remove(1);
    let fork_writer = Client::new(&forked_server.internal, key.clone())
        .unwrap()
        .with_token(TOKEN);
    let mut fork_entries = vec![b"a".to_vec(), b"b".to_vec(), b"x".to_vec()];
    fork_entries.extend((0..7).map(|i| vec![i as u8]));
    fork_writer.submit_batch(&fork_entries).await.unwrap();
    witness_latest(&forked, &head, &witness);
    // The fork's own inclusion proof for the entry would verify on its own.
    let on_fork = Client::new(&forked_server.public, key.clone())
        .unwrap()
        .prove_index(1)
        .await
        .unwrap();
    assert_eq!(on_fork.entry, receipt.entry);
    let reader = Client::new(&forked_server.public, key)
        .unwrap()
        .with_witness_policy(WitnessPolicy::new(vec![witness.verifier()], 1).unwrap());
    match reader.upgrade_receipt(&receipt).await {
        Err(
            err @ ClientError::Inconsistent {
                old_size: 3,
                new_size: 10,
                ..
            },
        ) => {
            assert!(err.is_misbehaviour())
        }
        other => panic!("{other:?}"),
    }
}

/// The checkpoint `server` published at `size`, as its tlog-proof for entry 0 carries it.
async fn published_checkpoint(server: &Server, size: u64) -> VerifiedCheckpoint {
    let text = reqwest::Client::new()
        .get(format!(
            "{}/v1/proof/inclusion?index=0&size={size}",
            server.public
        ))
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let proof = TlogProof::parse(&text).unwrap();
    verify_checkpoint(&proof.checkpoint.to_bytes(), &server.key, None).unwrap()
}

/// Serves `public`'s answers, except the paths in `altered`, which get the given bodies.
async fn tampering_proxy(public: String, altered: Vec<(&'static str, Vec<u8>)>) -> String {
    use axum::extract::Request;
    use axum::routing::get;
    let mut app = axum::Router::new();
    for (path, body) in altered {
        app = app.route(path, get(move || async move { body }));
    }
    let http = reqwest::Client::new();
    let app = app.fallback(move |req: Request| {
        let (http, public) = (http.clone(), public.clone());
        async move {
            let resp = http
                .get(format!("{public}{}", req.uri()))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.bytes().await.unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_rebuild_catches_a_rewritten_old_part() {
    // Verified at 300; the log grows to 600. A liar serves the tiles that were partial at
    // 300 again with their old part changed, consistently with each other and with the
    // signed root of 600 (which the old frontier, not the served old part, gives).
    let server = start().await;
    let writer = Client::new(&server.internal, server.key.clone())
        .unwrap()
        .with_token(TOKEN);
    let entry = |i: usize| format!("entry {i}").into_bytes();
    // In batches of 100, so 300 is a published size.
    for chunk in (0..600).collect::<Vec<_>>().chunks(100) {
        let entries: Vec<Vec<u8>> = chunk.iter().map(|&i| entry(i)).collect();
        writer.submit_batch(&entries).await.unwrap();
    }
    let honest = Client::new(&server.public, server.key.clone()).unwrap();
    let latest = honest.checkpoint().await.unwrap();
    assert_eq!(latest.size(), 600);
    let at_300 = published_checkpoint(&server, 300).await;
    let verified = honest
        .verify_contents(&Frontier::new(), &at_300, &mut |_| {})
        .await
        .unwrap();

    // Bundle 1 (entries 256..511) with 256..299 rewritten, its level-0 tile to match, and
    // level-1 tile 0 holding the rewritten bundle's root (position 0: anything).
    let bundle_1: Vec<Vec<u8>> = (256..512)
        .map(|i| match i {
            256..300 => format!("rewritten {i}").into_bytes(),
            _ => entry(i),
        })
        .collect();
    let leaves_1: Vec<_> = bundle_1.iter().map(|e| leaf_hash(e)).collect();
    let mut bundle_body = Vec::new();
    for e in &bundle_1 {
        cairn_tree::push_bundle_entry(&mut bundle_body, e).unwrap();
    }
    let tile_0_1: Vec<u8> = leaves_1.iter().flat_map(|h| h.0).collect();
    let honest_bundle_0: Vec<_> = (0..256).map(|i| leaf_hash(&entry(i))).collect();
    let level_1 = |first: cairn_tree::Hash| -> Vec<u8> {
        [first, cairn_tree::root_of_hashes(&leaves_1)]
            .iter()
            .flat_map(|h| h.0)
            .collect()
    };
    let rewritten = vec![
        ("/tile/entries/001", bundle_body),
        ("/tile/0/001", tile_0_1),
        ("/tile/1/000.p/2", level_1(cairn_tree::Hash([7; 32]))),
    ];
    // What a resumed rebuild through a proxy serving `altered` finds.
    let through = |altered| {
        let (public, key) = (server.public.clone(), server.key.clone());
        let (verified, latest) = (verified.clone(), latest.clone());
        async move {
            let liar = Client::new(&tampering_proxy(public, altered).await, key).unwrap();
            liar.verify_contents(&verified, &latest, &mut |_| {}).await
        }
    };
    match through(rewritten).await {
        Err(ClientError::Content(ContentProblem::Rewritten {
            level: 0,
            index: 1,
            position: 0,
        })) => {}
        other => panic!("rewritten entries: {other:?}"),
    }
    // Honest entries, but level-1 tile 0 serves a changed hash for bundle 0, which no new
    // tile below checks.
    let only_level_1 = vec![(
        "/tile/1/000.p/2",
        [
            cairn_tree::Hash([7; 32]),
            cairn_tree::root_of_hashes(
                &(256..512).map(|i| leaf_hash(&entry(i))).collect::<Vec<_>>(),
            ),
        ]
        .iter()
        .flat_map(|h| h.0)
        .collect(),
    )];
    match through(only_level_1).await {
        Err(ClientError::Content(ContentProblem::Rewritten {
            level: 1,
            index: 0,
            position: 0,
        })) => {}
        other => panic!("rewritten level-1 hash: {other:?}"),
    }
    // The honest log resumes cleanly, and the served bundle 0 root is the honest one.
    let resumed = honest
        .verify_contents(&verified, &latest, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(resumed.root(), latest.root());
    assert_eq!(
        cairn_tree::root_of_hashes(&honest_bundle_0),
        verified.hashes()[0]
    );
}
