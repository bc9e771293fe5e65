//! Volga's benchmark harness. Each scenario prints its figures; none fails on a timing.
//!
//! `cargo run --release -p volga-bench -- offline --orders 1000000`

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use volga::config::{Config, default_cache_dir};
use volga::guest_build::build_guest;
use volga::offline::{OfflineOptions, OfflineReport, materialize_offline};
use volga::pipeline::LoadedPipeline;
use volga::plan::{DatasetBody, LambdaKind, Op};
use volga::sample::{SampleSpec, write_sample};
use volga::value::Value;

/// mimalloc: the dataflow allocates and frees many small rows; glibc's allocator spent about a
/// fifth of the offline benchmark's time on them (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "volga-bench", about = "Volga's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Offline materialization of the reference example: the filter in Wasm, then as a native
    /// Rust closure, for the Wasm overhead ratio.
    Offline {
        /// Orders to generate.
        #[arg(long, default_value_t = 1_000_000)]
        orders: usize,
        /// Users to generate.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Timely workers (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Runs of each variant; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Working folder (data, stores, component).
        #[arg(long, default_value = "target/bench-offline")]
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().scenario {
        Scenario::Offline { orders, users, workers, runs, dir } => {
            offline(orders, users, workers, runs.max(1), &dir)
        }
    }
}

fn offline(orders: usize, users: usize, workers: Option<usize>, runs: usize, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/on_sale_user_spent/rust");
    let wasm = dir.join("on_sale_user_spent.wasm");
    build_guest(&example, &wasm, &default_cache_dir(), &mut |line| eprintln!("{line}"))?;
    let spec = SampleSpec { users, orders, span_ms: 30 * 86_400_000, ..SampleSpec::default() };
    eprintln!("generating {users} users and {orders} orders in {}", dir.display());
    write_sample(&dir.join("data"), &spec)?;
    std::fs::write(
        dir.join("volga.toml"),
        "[storage]\ncold = \"sqlite:./cold.db\"\n[connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n",
    )?;
    let config = Config::load(Some(&dir.join("volga.toml")))?;
    let (_host, pipeline) = LoadedPipeline::load(&config, &wasm)?;
    let native = native_on_sale_filter(&pipeline)?;

    let mut results: Vec<(&str, OfflineReport)> = Vec::new();
    for (name, native_filters) in [("filter in Wasm", HashMap::new()), ("filter native", native)] {
        let options = OfflineOptions { workers, native_filters, ..OfflineOptions::default() };
        let mut best: Option<OfflineReport> = None;
        for run in 0..runs {
            let report = materialize_offline(&config, &wasm, &options).context(name)?;
            eprintln!("  {name} run {}: {:.2}s", run + 1, report.elapsed.as_secs_f64());
            if best.as_ref().is_none_or(|b| report.elapsed < b.elapsed) {
                best = Some(report);
            }
        }
        results.push((name, best.expect("at least one run")));
    }

    let rate = |events: u64, time: Duration| events as f64 / time.as_secs_f64().max(1e-9);
    println!("\noffline materialization, reference example: {orders} orders, {users} users, best of {runs}");
    println!(
        "{:<16} {:>10} {:>9} {:>14} {:>9} {:>16} {:>10}",
        "variant", "events", "total s", "events/s", "read s", "compute+write s", "rows out"
    );
    for (name, r) in &results {
        println!(
            "{:<16} {:>10} {:>9.2} {:>14.0} {:>9.2} {:>16.2} {:>10}",
            name,
            r.events_in,
            r.elapsed.as_secs_f64(),
            rate(r.events_in, r.elapsed),
            r.read_time.as_secs_f64(),
            r.compute_time.as_secs_f64(),
            r.written.iter().map(|(_, n)| n).sum::<u64>()
        );
    }
    let (wasm_run, native_run) = (&results[0].1, &results[1].1);
    println!(
        "wasm / native time: {:.3} end to end, {:.3} compute+write ({} workers)",
        wasm_run.elapsed.as_secs_f64() / native_run.elapsed.as_secs_f64(),
        wasm_run.compute_time.as_secs_f64() / native_run.compute_time.as_secs_f64(),
        wasm_run.workers
    );
    Ok(())
}

/// The example's one filter lambda as a native closure: `product_type == "ON_SALE"`.
fn native_on_sale_filter(pipeline: &LoadedPipeline) -> Result<HashMap<u32, volga::dataflow::NativeFilter>> {
    let plan = &pipeline.plan;
    for dataset in &plan.datasets {
        let DatasetBody::Derived(graph) = &dataset.body else {
            continue;
        };
        for node in &graph.nodes {
            if let Op::Filter { input, lambda, .. } = node.op
                && plan.lambdas[lambda as usize].kind == LambdaKind::Filter
            {
                let field =
                    graph.nodes[input].schema.index_of("product_type").context("product_type field")?;
                let on_sale = Value::str("ON_SALE");
                let filter: volga::dataflow::NativeFilter = Arc::new(move |row| row[field] == on_sale);
                return Ok(HashMap::from([(lambda, filter)]));
            }
        }
    }
    bail!("the example has no filter lambda")
}
