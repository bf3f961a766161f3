//! `cairn`: run a tamper-evident audit log, set one up, and use one as a client that
//! verifies everything: submit, checkpoint, prove, verify, upgrade-receipt, monitor,
//! verify-store; and load-test one with `bench`.

mod bench;
mod common;
mod config;
mod fetch;
mod monitor;
mod serve;
mod setup;
mod submit;
mod upgrade;
mod verify;
mod verify_store;
mod witness;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: entries and receipts are allocated on the server's
/// threads and freed on the sequencer's (and the other way round), and glibc serialises such
/// frees on its arena locks, which showed up as waits inside integrations; mimalloc also cut
/// the engine's CPU per entry by 7–9% (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "A tamper-evident, append-only audit log (a transparency log)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the log: the public read port and the internal write port. With no flags: data in
    /// ./cairn-data, public port 127.0.0.1:8080, internal port 127.0.0.1:8081.
    Serve(Box<config::ServeArgs>),
    /// Create the data directory, the log's signing key and a submit token, then exit.
    Init(config::SetupArgs),
    /// Submit entries (one per file, or one per line with --lines) and verify every receipt.
    Submit(submit::SubmitArgs),
    /// Fetch the latest checkpoint and verify it.
    Checkpoint(fetch::CheckpointArgs),
    /// Fetch a verified receipt for an entry, by index or by leaf hash.
    Prove(fetch::ProveArgs),
    /// Verify a receipt offline: exit status 0 only when it holds, else the reason.
    Verify(verify::VerifyArgs),
    /// Upgrade receipts to the log's latest (cosigned) checkpoint, proving it consistent.
    UpgradeReceipt(upgrade::UpgradeArgs),
    /// Follow a log and prove it append-only; raise evidence when it is not.
    Monitor(monitor::MonitorArgs),
    /// Audit a stopped log's data directory: every entry, tile and checkpoint.
    VerifyStore(verify_store::VerifyStoreArgs),
    /// Load-test a running log over HTTP (or one it spawns with --spawn), verifying as it goes.
    Bench(Box<bench::BenchArgs>),
    /// Run a C2SP witness that cosigns other logs' checkpoints when they stay consistent.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CAIRN_LOG")
                // The platform verifier logs each certificate it rejects; the client commands
                // report the same failure as their error.
                .unwrap_or_else(|_| {
                    EnvFilter::new("info,fjall=warn,lsm_tree=warn,rustls_platform_verifier=off")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(*args).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => serve::init(args).map(|()| ExitCode::SUCCESS),
        Command::Submit(args) => submit::run(args),
        Command::Checkpoint(args) => fetch::checkpoint(args),
        Command::Prove(args) => fetch::prove(args),
        Command::Verify(args) => verify::run(args),
        Command::UpgradeReceipt(args) => upgrade::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::VerifyStore(args) => verify_store::run(args),
        Command::Bench(args) => bench::run(*args).map(|()| ExitCode::SUCCESS),
        Command::Witness(cmd) => witness::run(cmd).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
