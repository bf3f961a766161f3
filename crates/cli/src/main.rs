//! `cairn`: run a tamper-evident audit log, and set one up.

mod config;
mod serve;
mod setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("CAIRN_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(*args),
        Command::Init(args) => serve::init(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
