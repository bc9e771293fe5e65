//! `volga get-offline <dataset> [--start MS] [--end MS] [--format csv|json] [-o FILE]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use volga::config::Config;
use volga::store::ColdStore;
use volga::training::{Format, export};

/// Arguments of `volga get-offline`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset.
    dataset: String,
    /// First event time included (ms).
    #[arg(long)]
    start: Option<i64>,
    /// First event time excluded (ms).
    #[arg(long)]
    end: Option<i64>,
    /// Output format: csv, json (one object per line), or arrow (an Arrow IPC stream).
    #[arg(long, default_value = "csv", value_parser = ["csv", "json", "arrow"])]
    format: String,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(args: Args, config: &Config) -> Result<()> {
    let format = match args.format.as_str() {
        "json" => Format::Json,
        "arrow" => Format::Arrow,
        _ => Format::Csv,
    };
    let path = config.cold_store_path()?;
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let store = ColdStore::open_existing(&path).await?;
        let mut out: Box<dyn Write> = match &args.output {
            Some(file) => Box::new(std::io::BufWriter::new(std::fs::File::create(file)?)),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        let rows = export(&store, &args.dataset, args.start, args.end, format, &mut *out).await?;
        out.flush()?;
        if let Some(file) = &args.output {
            eprintln!("wrote {rows} rows of {} to {}", args.dataset, file.display());
        }
        Ok(())
    })
}
