//! Shared test helpers: deterministic keys, an in-memory Merkle tree with proofs, signed
//! checkpoints, witnesses, and witness servers on loopback ports.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_note::{Checkpoint, KeyAlgorithm, SignerKey, VerifierKey};
use cairn_tree::{consistency_proof, leaf_hash, root_at, Frontier, Hash, MemoryHashes};
use cairn_witness::{KnownLogs, MemoryState, Witness, WitnessError, WitnessState};
use tokio::sync::oneshot;

pub fn testdata(path: &str) -> String {
    let full = format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// A log key (0x01) from a one-byte seed pattern.
pub fn log_key(origin: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(origin, KeyAlgorithm::Ed25519, [seed; 32]).unwrap()
}

/// A witness key (0x04) from a one-byte seed pattern.
pub fn witness_key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(name, KeyAlgorithm::Cosignature, [seed; 32]).unwrap()
}

/// An in-memory tree over leaves `leaf_hash("<tag> <i>")`: roots and proofs at any size.
pub struct Tree {
    hashes: MemoryHashes,
    frontier: Frontier,
    tag: String,
}

impl Tree {
    pub fn new(tag: &str, size: u64) -> Tree {
        let mut t = Tree {
            hashes: MemoryHashes::new(),
            frontier: Frontier::new(),
            tag: tag.to_owned(),
        };
        t.grow_to(size);
        t
    }

    pub fn grow_to(&mut self, size: u64) {
        let mut out = Vec::new();
        while self.frontier.size() < size {
            let i = self.frontier.size();
            self.frontier
                .append(leaf_hash(format!("{} {i}", self.tag).as_bytes()), &mut out)
                .unwrap();
        }
        self.hashes.store(&out);
    }

    pub fn root(&self, size: u64) -> Hash {
        root_at(size, &self.hashes).unwrap()
    }

    /// The proof the protocol sends: none from 0 or between equal sizes.
    pub fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 || old == new {
            return Vec::new();
        }
        consistency_proof(old, new, &self.hashes).unwrap()
    }

    /// The checkpoint at `size`, signed by `key` (whose name is the origin).
    pub fn signed(&self, key: &SignerKey, size: u64) -> Vec<u8> {
        signed_checkpoint(key, size, self.root(size))
    }

    /// An add-checkpoint body for `old → new`, signed by `key`.
    pub fn request(&self, key: &SignerKey, old: u64, new: u64) -> Vec<u8> {
        cairn_witness::encode_request(old, &self.proof(old, new), &self.signed(key, new))
    }
}

pub fn signed_checkpoint(key: &SignerKey, size: u64, root: Hash) -> Vec<u8> {
    Checkpoint::new(key.name(), size, root)
        .unwrap()
        .sign(key)
        .unwrap()
        .to_bytes()
}

/// A witness accepting the given logs (origin = key name), over `state`.
pub fn witness_for(key: SignerKey, logs: &[VerifierKey], state: Arc<dyn WitnessState>) -> Witness {
    let mut known = KnownLogs::default();
    for log in logs {
        known.add(log.name(), vec![log.clone()]).unwrap();
    }
    Witness::new(key, known, state).unwrap()
}

pub fn memory_witness(logs: &[VerifierKey]) -> Witness {
    witness_for(
        witness_key("witness.example/w", 7),
        logs,
        Arc::new(MemoryState::new()),
    )
}

/// The status code a witness result maps to.
pub fn status<T>(r: &Result<T, WitnessError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status(),
    }
}

/// A witness server on a loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Stops the server and waits until its listener and every connection are closed, so
    /// the port refuses connections and no pooled keep-alive connection still answers.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Graceful: axum runs each connection in its own task, so aborting the accept loop
        // alone would leave pooled keep-alive connections answering after "shutdown".
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

pub async fn spawn_server(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        cairn_witness::serve(listener, app, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        url: format!("http://{addr}"),
        stop: Some(stop),
        task,
    }
}
