//! The `volga` command line: parses arguments, runs the subcommand, reports errors.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc: the dataflow allocates and frees many small rows; glibc's allocator spent about a
/// fifth of the offline benchmark's time on them (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    volga::allocator::use_ordinary_pages();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("volga: {err:#}");
            ExitCode::FAILURE
        }
    }
}
