//! Set-up shared by the server tests: a log over a memory store, and serve options.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use cairn_api::{AccessPolicy, ServeOptions, TcpListenerSpec};
use cairn_log::{Log, LogConfig, LogSigner};
use cairn_storage::MemoryStore;

/// Options serving the public port on `public` (the internal one on any free port).
pub fn options(public: TcpListener, max_connections: usize, idle: Duration) -> ServeOptions {
    ServeOptions {
        public: TcpListenerSpec::Bound(public),
        internal: TcpListenerSpec::Bound(TcpListener::bind("127.0.0.1:0").unwrap()),
        public_tls: None,
        internal_tls: None,
        policy: AccessPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            token_digests: vec![cairn_api::token_digest("t")],
        },
        max_body_bytes: 1 << 20,
        request_timeout: Duration::from_secs(5),
        max_concurrent_requests: 64,
        max_connections,
        idle_timeout: idle,
        shutdown_grace: Duration::from_secs(1),
        cosigned: None,
    }
}

/// An empty log over a memory store.
pub fn new_log() -> Arc<Log> {
    let signer = LogSigner::generate("test.example/log").unwrap();
    Arc::new(Log::open(Arc::new(MemoryStore::new()), signer, LogConfig::default()).unwrap())
}
