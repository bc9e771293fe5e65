//! The `volga` command line: parses arguments, runs the subcommand, reports errors.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("volga: {err:#}");
            ExitCode::FAILURE
        }
    }
}
