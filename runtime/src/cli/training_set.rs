//! `volga training-set <dataset> --spine spine.csv -o out.csv`

use std::path::PathBuf;

use anyhow::Result;
use volga::config::Config;
use volga::store::ColdStore;
use volga::training::training_set;

/// Arguments of `volga training-set`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset whose features to attach.
    dataset: String,
    /// CSV with the dataset's key columns and `timestamp` (ms or RFC 3339).
    #[arg(long)]
    spine: PathBuf,
    /// The output CSV: the spine's columns plus every feature field.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(args: Args, config: &Config) -> Result<()> {
    let path = config.cold_store_path()?;
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let store = ColdStore::open_existing(&path).await?;
        anyhow::Ok(training_set(&store, &args.dataset, &args.spine, &args.output).await?)
    })?;
    println!(
        "wrote {} rows to {} ({} without a value as of their time)",
        report.rows,
        args.output.display(),
        report.missing
    );
    Ok(())
}
