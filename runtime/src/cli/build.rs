//! `volga build <guest-dir> -o <out.wasm>`

use std::path::PathBuf;

use anyhow::Result;
use volga::config::Config;
use volga::guest_build::build_guest;

/// Arguments of `volga build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The guest folder: a Rust crate (`crate-type = ["cdylib"]`) or a Python project
    /// (`pyproject.toml` or `app.py`).
    guest_dir: PathBuf,
    /// Where to write the component.
    #[arg(short, long, default_value = "pipeline.wasm")]
    output: PathBuf,
}

pub fn run(args: Args, config: &Config) -> Result<()> {
    let report =
        build_guest(&args.guest_dir, &args.output, &config.cache_dir(), &mut |line| eprintln!("{line}"))?;
    println!("built {} ({} KiB; {})", report.output.display(), report.bytes / 1024, report.route);
    Ok(())
}
