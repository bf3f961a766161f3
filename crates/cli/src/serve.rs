//! `cairn serve` and `cairn init`: set up the data directory, open the log, run both ports.

use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_api::{AccessPolicy, BoundAddrs, ServeOptions, TcpListenerSpec, TlsFiles};
use cairn_log::{Log, LogConfig};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::config::{self, ServeArgs, SetupArgs};
use crate::setup::{DataDir, Setup, Storage};

/// `cairn init`: create the key pair and token without serving.
pub fn init(args: SetupArgs) -> Result<()> {
    let file = config::read_file_config(args.config.as_deref())?;
    let (data_dir, origin) = config::setup_paths(&args, &file);
    let data = DataDir::new(&data_dir);
    let setup = data.ensure(origin.as_deref())?;
    report_setup(&data, &setup);
    if !setup.created_key && setup.created_token.is_none() {
        println!("{} was already set up; nothing changed", data_dir.display());
    }
    Ok(())
}

fn report_setup(data: &DataDir, setup: &Setup) {
    println!("origin: {}", setup.signer.origin());
    println!("verifier key: {}", setup.signer.verifier_key_text());
    if setup.created_key {
        println!(
            "created a new signing key in {} (keep it secret; back it up)",
            data.key().display()
        );
    }
    println!("verifier key file: {}", data.vkey().display());
    if setup.created_token.is_some() {
        println!(
            "created a submit token in {} (send it as `Authorization: Bearer <token>`)",
            data.token().display()
        );
    }
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let cfg = config::resolve(&args)?;
    let data = DataDir::new(&cfg.data_dir);
    let setup = data.ensure(cfg.origin.as_deref())?;
    report_setup(&data, &setup);

    let (storage, store) = data.open_store(cfg.storage, cfg.cache_bytes, true)?;
    let log_config = LogConfig {
        // Measured per backend (docs/benchmarks.md): it pays off with fjall only.
        lookahead: storage == Storage::Fjall,
        max_batch: cfg.max_batch,
        max_wait: cfg.max_wait,
        queue_capacity: cfg.queue_capacity,
        queue_bytes: cfg.queue_bytes,
        dedup: cfg.dedup,
        max_entry_len: cfg.max_entry_bytes,
    };
    let started = std::time::Instant::now();
    let log = Arc::new(Log::open(store, setup.signer, log_config).context("cannot open the log")?);
    tracing::info!(
        size = log.checkpoint().size,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "log opened"
    );

    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let cosigner = if cfg.witnesses.is_empty() {
        None
    } else {
        let policy = cairn_note::WitnessPolicy::new(
            cfg.witnesses.iter().map(|w| w.key.clone()).collect(),
            cfg.witness_quorum,
        )
        .context("witnesses: invalid policy")?;
        Some(Arc::new(
            cairn_witness::Cosigner::new(
                log.clone(),
                cfg.witnesses.clone(),
                policy,
                cairn_witness::CosignerOptions {
                    min_interval: cfg.witness_min_interval,
                    request_timeout: cfg.witness_timeout,
                    ..Default::default()
                },
            )
            .context("witnesses: cannot start the cosigner")?,
        ))
    };
    let mut token_digests = vec![setup.token_digest];
    token_digests.extend(cfg.extra_token_digests.iter().copied());
    let options = ServeOptions {
        public: TcpListenerSpec::Addr(cfg.public_listen),
        internal: TcpListenerSpec::Addr(cfg.internal_listen),
        public_tls: cfg.public_tls.clone().map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: None,
        }),
        internal_tls: cfg.internal_tls.clone().map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: cfg.internal_client_ca.clone(),
        }),
        policy: AccessPolicy {
            allow: cfg.internal_allow.clone(),
            token_digests,
        },
        max_body_bytes: cfg.max_body_bytes,
        request_timeout: cfg.request_timeout,
        max_concurrent_requests: cfg.max_concurrent_requests,
        max_connections: cfg.max_connections,
        // Longer than any handler may take (the request timeout), so only a connection on
        // which nothing moves is cut off.
        idle_timeout: (2 * cfg.request_timeout).max(std::time::Duration::from_secs(60)),
        shutdown_grace: cfg.request_timeout,
        // With witnesses, GET /checkpoint serves only checkpoints that met their policy.
        cosigned: cosigner.as_ref().map(|c| c.head()),
    };
    let public_scheme = if cfg.public_tls.is_some() {
        "https"
    } else {
        "http"
    };
    let internal_scheme = if cfg.internal_tls.is_some() {
        "https"
    } else {
        "http"
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Cosigning runs beside the server and never on the submission path.
        let (stop_cosigner, stopped) = tokio::sync::oneshot::channel::<()>();
        let cosigner_task = cosigner.map(|c| {
            c.spawn(async move {
                let _ = stopped.await;
            })
        });
        let served = cairn_api::serve(
            log,
            options,
            Some(metrics),
            move |addrs: BoundAddrs| {
                // Tests and scripts read these two lines to find ports chosen by the OS.
                println!("public port: {public_scheme}://{}", addrs.public);
                println!("internal port: {internal_scheme}://{}", addrs.internal);
            },
            shutdown_signal(),
        )
        .await
        .context("server failed");
        let _ = stop_cosigner.send(());
        if let Some(task) = cosigner_task {
            let _ = task.await;
        }
        served
    })
}

/// Resolves on SIGINT or SIGTERM. A second one while the graceful shutdown runs (in-flight
/// requests are given up to the request timeout) exits at once: every acknowledged entry is
/// already durable, and what was queued but not acknowledged is what a crash would lose.
pub(crate) async fn shutdown_signal() {
    let first = next_signal().await;
    tracing::info!("{first} received; finishing in-flight requests (send it again to exit now)");
    tokio::spawn(async {
        let second = next_signal().await;
        tracing::warn!("{second} received again: exiting now, without waiting for requests");
        std::process::exit(130);
    });
}

/// The next SIGINT or SIGTERM, by name.
async fn next_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => "SIGINT",
        _ = term => "SIGTERM",
    }
}
