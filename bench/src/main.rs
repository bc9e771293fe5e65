//! Volga's benchmark harness. Each scenario prints its figures; none fails on a timing.
//!
//! `cargo run --release -p volga-bench -- offline --orders 1000000`

mod online;

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
    /// The cost of one guest lambda call: the example's filter over batches of `--rows` rows,
    /// against the same predicate as a native closure over the same rows.
    Lambda {
        /// Rows per call.
        #[arg(long, default_value_t = 1024)]
        rows: usize,
        /// Calls to time.
        #[arg(long, default_value_t = 2000)]
        calls: usize,
        /// Languages of the example to time: rust, python, js (Python and JavaScript need
        /// componentize-py and jco, see the README).
        #[arg(long, value_delimiter = ',', default_value = "rust")]
        languages: Vec<String>,
        /// Working folder (the component).
        #[arg(long, default_value = "target/bench-offline")]
        dir: PathBuf,
    },
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
        /// Languages of the example whose filter runs in Wasm: rust, python, js.
        #[arg(long, value_delimiter = ',', default_value = "rust")]
        languages: Vec<String>,
        /// Working folder (data, stores, component).
        #[arg(long, default_value = "target/bench-offline")]
        dir: PathBuf,
    },
    /// State size: `--events` orders, one every 100 ms, through a sliding hour (the test guest's
    /// `HourCounts`); prints the most rows the window held against the rows of one hour.
    State {
        /// Orders.
        #[arg(long, default_value_t = 10_000_000)]
        events: usize,
        /// Timely workers (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Working folder (data, stores, component).
        #[arg(long, default_value = "target/bench-state")]
        dir: PathBuf,
    },
    /// Online: ingest throughput into the hot store (HTTP push, and Kafka with --tansu),
    /// freshness, and lookup latency at a fixed request rate.
    Online {
        /// Orders to ingest.
        #[arg(long, default_value_t = 200_000)]
        orders: usize,
        /// Users.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Timely workers (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// A tansu binary, to run the Kafka scenario on a fresh in-memory broker.
        #[arg(long, env = "VOLGA_TANSU")]
        tansu: Option<PathBuf>,
        /// Requests per second in the 1-key latency run.
        #[arg(long, default_value_t = 20_000)]
        lookup_rate: u64,
        /// Requests per second in the 100-key latency run.
        #[arg(long, default_value_t = 2_000)]
        batch_lookup_rate: u64,
        /// Seconds per latency run.
        #[arg(long, default_value_t = 5)]
        lookup_secs: u64,
        /// Working folder (data, stores, component).
        #[arg(long, default_value = "target/bench-online")]
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().scenario {
        Scenario::Offline { orders, users, workers, runs, languages, dir } => {
            offline(orders, users, workers, runs.max(1), &languages, &dir)
        }
        Scenario::Lambda { rows, calls, languages, dir } => {
            lambda(rows.max(1), calls.max(1), &languages, &dir)
        }
        Scenario::State { events, workers, dir } => state(events, workers, &dir),
        Scenario::Online {
            orders,
            users,
            workers,
            tansu,
            lookup_rate,
            batch_lookup_rate,
            lookup_secs,
            dir,
        } => {
            let wasm = build_example(&dir, "rust")?;
            let spec = online::OnlineSpec {
                orders,
                users,
                workers,
                tansu,
                lookup_rate: lookup_rate.max(1),
                batch_lookup_rate: batch_lookup_rate.max(1),
                lookup_secs: lookup_secs.max(1),
            };
            online::run(&spec, &dir, &wasm)
        }
    }
}

fn state(events: usize, workers: Option<usize>, dir: &Path) -> Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("data"))?;
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests/lambdas");
    let wasm = dir.join("test_lambdas.wasm");
    build_guest(&guest, &wasm, &default_cache_dir(), &mut |line| eprintln!("{line}"))?;
    let start: i64 = 1_700_000_000_000;
    let step = 100;
    let mut users = std::io::BufWriter::new(std::fs::File::create(dir.join("data/users.csv"))?);
    writeln!(users, "user_id,registered_at,name")?;
    for i in 0..100 {
        writeln!(users, "u{i},{},n", start - 86_400_000)?;
    }
    users.flush()?;
    let mut orders = std::io::BufWriter::new(std::fs::File::create(dir.join("data/orders.csv"))?);
    writeln!(orders, "buyer_id,product_id,product_type,purchased_at,product_price")?;
    for i in 0..events {
        writeln!(orders, "u{},p,ON_SALE,{},{}", i % 100, start + i as i64 * step, i % 1000)?;
    }
    orders.flush()?;
    std::fs::write(
        dir.join("volga.toml"),
        "[storage]\ncold = \"sqlite:./cold.db\"\n[connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n",
    )?;
    let config = Config::load(Some(&dir.join("volga.toml")))?;
    let options = OfflineOptions { targets: vec!["HourCounts".into()], workers, ..OfflineOptions::default() };
    let report = materialize_offline(&config, &wasm, &options)?;
    let per_hour = 3_600_000 / step;
    println!(
        "\nstate: {} events, one every {step} ms, through a sliding hour on {} workers in {:.1}s",
        report.events_in,
        report.workers,
        report.elapsed.as_secs_f64()
    );
    println!(
        "peak state {} rows; one hour holds {per_hour} rows: {:.2}x (bound: 2x)",
        report.peak_state_rows,
        report.peak_state_rows as f64 / per_hour as f64
    );
    Ok(())
}

/// Builds the reference example written in `language` (`rust`, `python` or `js`).
fn build_example(dir: &Path, language: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    anyhow::ensure!(
        ["rust", "python", "js"].contains(&language),
        "unknown language {language}: rust, python or js"
    );
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/on_sale_user_spent").join(language);
    let wasm = dir.join(format!("on_sale_user_spent-{language}.wasm"));
    build_guest(&example, &wasm, &default_cache_dir(), &mut |line| eprintln!("{line}"))?;
    Ok(wasm)
}

fn lambda(rows: usize, calls: usize, languages: &[String], dir: &Path) -> Result<()> {
    println!("lambda call, {rows} rows per batch, {calls} calls (batch building included for Wasm)");
    println!("{:<20} {:>12} {:>12}", "variant", "us/call", "ns/row");
    for language in languages {
        lambda_in(rows, calls, language, dir)?;
    }
    Ok(())
}

fn lambda_in(rows: usize, calls: usize, language: &str, dir: &Path) -> Result<()> {
    let wasm = build_example(dir, language)?;
    let (_host, pipeline) = LoadedPipeline::load(&Config::default(), &wasm)?;
    let (lambda, schema, projection) = pipeline
        .plan
        .datasets
        .iter()
        .filter_map(|d| match &d.body {
            DatasetBody::Derived(graph) => Some(graph),
            DatasetBody::Source(_) => None,
        })
        .flat_map(|graph| graph.nodes.iter().map(move |node| (graph, node)))
        .find_map(|(graph, node)| match &node.op {
            Op::Filter { input, lambda, projection } => {
                Some((*lambda, graph.nodes[*input].schema.clone(), projection.clone()))
            }
            _ => None,
        })
        .context("the example has a filter")?;
    let kinds = volga::sample::PRODUCT_TYPES;
    let batch_rows: Vec<volga::value::Row> = (0..rows)
        .map(|i| {
            schema
                .fields
                .iter()
                .map(|f| match f.name.as_str() {
                    "product_type" => Value::str(kinds[i % kinds.len()]),
                    "product_price" => Value::float(i as f64),
                    _ if f.ty.scalar == volga::value::ScalarType::Str => Value::str("x"),
                    _ => Value::Int(i as i64),
                })
                .collect()
        })
        .collect();
    let mut guest = pipeline.instantiate()?;
    let started = std::time::Instant::now();
    let mut kept = 0usize;
    for _ in 0..calls {
        let batch = volga::wasm::batch_from_rows(&schema, &projection, batch_rows.iter());
        kept += guest.filter(lambda, &batch)?.into_iter().filter(|&k| k).count();
    }
    let wasm_time = started.elapsed();
    let field = schema.index_of("product_type").context("product_type")?;
    let on_sale = Value::str("ON_SALE");
    let started = std::time::Instant::now();
    let mut kept_native = 0usize;
    for _ in 0..calls {
        kept_native += std::hint::black_box(&batch_rows).iter().filter(|row| row[field] == on_sale).count();
    }
    let native_time = started.elapsed();
    anyhow::ensure!(kept == kept_native, "wasm kept {kept} rows, native {kept_native}");
    let per_call = |t: Duration| t.as_secs_f64() * 1e6 / calls as f64;
    for (name, t) in [(format!("filter in {language}"), wasm_time), ("filter native".into(), native_time)] {
        println!("{:<20} {:>12.2} {:>12.1}", name, per_call(t), per_call(t) * 1000.0 / rows as f64);
    }
    Ok(())
}

fn offline(
    orders: usize,
    users: usize,
    workers: Option<usize>,
    runs: usize,
    languages: &[String],
    dir: &Path,
) -> Result<()> {
    let wasm = build_example(dir, "rust")?;
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

    // Each language's component with its filter in Wasm, then the Rust one with a native filter.
    let mut variants: Vec<(String, PathBuf, HashMap<u32, volga::dataflow::NativeFilter>)> = Vec::new();
    for language in languages {
        let built = build_example(dir, language)?;
        // Load once, so the first timed run does not include compiling the component.
        LoadedPipeline::load(&config, &built)?;
        variants.push((format!("filter in {language}"), built, HashMap::new()));
    }
    variants.push(("filter native".into(), wasm.clone(), native));
    let mut results: Vec<(String, OfflineReport)> = Vec::new();
    for (name, wasm, native_filters) in variants {
        let options = OfflineOptions { workers, native_filters, ..OfflineOptions::default() };
        let mut best: Option<OfflineReport> = None;
        for run in 0..runs {
            let report = materialize_offline(&config, &wasm, &options).with_context(|| name.clone())?;
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
        "{:<20} {:>10} {:>9} {:>14} {:>9} {:>16} {:>10}",
        "variant", "events", "total s", "events/s", "read s", "compute+write s", "rows out"
    );
    for (name, r) in &results {
        println!(
            "{:<20} {:>10} {:>9.2} {:>14.0} {:>9.2} {:>16.2} {:>10}",
            name,
            r.events_in,
            r.elapsed.as_secs_f64(),
            rate(r.events_in, r.elapsed),
            r.read_time.as_secs_f64(),
            r.compute_time.as_secs_f64(),
            r.written.iter().map(|(_, n)| n).sum::<u64>()
        );
    }
    let native_run = &results.last().expect("the native variant").1;
    for (name, run) in &results[..results.len() - 1] {
        println!(
            "{name} / native time: {:.3} end to end, {:.3} compute+write ({} workers)",
            run.elapsed.as_secs_f64() / native_run.elapsed.as_secs_f64(),
            run.compute_time.as_secs_f64() / native_run.compute_time.as_secs_f64(),
            run.workers
        );
    }
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
