//! `volga toolchain prepare|status`

use anyhow::Result;
use volga::config::Config;
use volga::toolchain::OfflineToolchain;

/// Arguments of `volga toolchain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Download and unpack the offline Rust guest toolchain into the cache (once).
    Prepare,
    /// Say where the offline toolchain lives and whether it is ready.
    Status,
}

pub fn run(args: Args, config: &Config) -> Result<()> {
    let cache = config.cache_dir();
    match args.action {
        Action::Prepare => {
            let toolchain = OfflineToolchain::prepare(&cache, &mut |line| eprintln!("{line}"))?;
            println!("offline toolchain ready in {}", toolchain.root.display());
        }
        Action::Status => {
            let dir = OfflineToolchain::dir(&cache);
            let ready = dir.join(".ready").exists();
            println!("{} ({})", dir.display(), if ready { "ready" } else { "not prepared" });
        }
    }
    Ok(())
}
