//! Subcommands, one file each.

mod build;
mod client;
mod demo;
mod deploy;
mod get_offline;
mod get_online;
mod materialize;
mod serve;
mod toolchain;
mod training_set;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use volga::config::Config;

/// Volga: a real-time feature engine for machine learning.
#[derive(Debug, Parser)]
#[command(name = "volga", version, about)]
pub struct Cli {
    /// The config file (default: ./volga.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "VOLGA_CONFIG")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a guest folder (a Rust crate) into a pipeline component.
    Build(build::Args),
    /// Run a pipeline over its sources' history and write the cold store.
    MaterializeOffline(materialize::Args),
    /// Print a materialized dataset's history in a time range.
    GetOffline(get_offline::Args),
    /// Join a spine of (keys, timestamp) rows with a dataset's features as of each row.
    TrainingSet(training_set::Args),
    /// Serve the HTTP API: deploys, ingest, lookups, metrics.
    Serve(serve::Args),
    /// Deploy a pipeline component to a running server.
    Deploy(deploy::Args),
    /// Look up a dataset's rows for some keys on a running server.
    GetOnline(get_online::Args),
    /// Run the example end to end on generated data with embedded defaults.
    Demo(demo::Args),
    /// Manage the offline toolchain for Rust guests.
    Toolchain(toolchain::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let config = || Config::load(cli.config.as_deref());
    match cli.command {
        Command::Build(args) => build::run(args, &config()?),
        Command::MaterializeOffline(args) => {
            let _batch = volga::allocator::keep_freed_memory();
            materialize::run(args, &config()?)
        }
        Command::GetOffline(args) => get_offline::run(args, &config()?),
        Command::TrainingSet(args) => {
            let _batch = volga::allocator::keep_freed_memory();
            training_set::run(args, &config()?)
        }
        Command::Serve(args) => serve::run(args, config()?),
        Command::Deploy(args) => deploy::run(args),
        Command::GetOnline(args) => get_online::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Toolchain(args) => toolchain::run(args, &config()?),
    }
}

/// A progress bar on a terminal, plain lines otherwise.
fn progress() -> volga::offline::Progress {
    if std::io::stderr().is_terminal() {
        volga::offline::Progress::Bar
    } else {
        volga::offline::Progress::Lines
    }
}

/// A tokio runtime for the subcommands that talk to the cold store.
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
