//! `volga materialize-offline <pipeline.wasm> [--targets A,B] [--source-tag Order=offline]`

use std::path::PathBuf;

use anyhow::{Result, bail};
use volga::config::Config;
use volga::offline::{OfflineOptions, OfflineReport, materialize_offline};

/// Arguments of `volga materialize-offline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline component.
    pipeline: PathBuf,
    /// Datasets to materialize (default: every derived dataset).
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Which source to read for a dataset with several: `DATASET=TAG` (default tag: offline).
    #[arg(long = "source-tag", value_parser = parse_tag)]
    source_tags: Vec<(String, String)>,
    /// Timely workers (default: the config's, else the number of cores).
    #[arg(long)]
    workers: Option<usize>,
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((dataset, tag)) if !dataset.is_empty() && !tag.is_empty() => Ok((dataset.into(), tag.into())),
        _ => Err(format!("expected DATASET=TAG, got `{text}`")),
    }
}

pub fn run(args: Args, config: &Config) -> Result<()> {
    if args.workers == Some(0) {
        bail!("--workers must be at least 1");
    }
    let options = OfflineOptions {
        targets: args.targets,
        source_tags: args.source_tags,
        workers: args.workers,
        progress: super::progress(),
        ..OfflineOptions::default()
    };
    let report = materialize_offline(config, &args.pipeline, &options)?;
    print_report(&report);
    Ok(())
}

/// Prints what an offline job read and wrote.
pub fn print_report(report: &OfflineReport) {
    for (dataset, rows) in &report.written {
        println!("wrote {:>9} rows of {dataset} history", rows);
    }
    let secs = report.elapsed.as_secs_f64();
    println!(
        "pipeline {}: {} events in {:.2}s ({:.0} events/s; read {:.2}s, compute+write {:.2}s, {} workers)",
        report.pipeline,
        report.events_in,
        secs,
        report.events_in as f64 / secs.max(1e-9),
        report.read_time.as_secs_f64(),
        report.compute_time.as_secs_f64(),
        report.workers
    );
    println!(
        "  of compute+write: holding history {:.2}s (by the {} workers, summed), writing and committing {:.2}s",
        report.hold_time.as_secs_f64(),
        report.workers,
        report.write_time.as_secs_f64()
    );
}
