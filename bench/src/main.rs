//! Volga's benchmark harness. Each scenario prints its figures, then a table of them against
//! issue 6's targets; none fails on a timing. `all` runs every scenario, peers included.
//!
//! `cargo run --release -p volga-bench -- all`

mod cold;
mod lookup_client;
mod online;
mod peers;
mod report;

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

use crate::peers::Peers;
use crate::report::{Report, Target};

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
    /// Every scenario, peers included, then one table of every figure against its target:
    /// offline over `--orders` (Volga and DuckDB), Volga against Pathway and DuckDB over
    /// `--peer-orders`, the lambda call cost, online ingest / freshness / lookups / deploy, and
    /// state size.
    All {
        /// Orders of the offline run (Volga and DuckDB).
        #[arg(long, default_value_t = 10_000_000)]
        orders: usize,
        /// Orders of the run with Pathway (it does ~20-50k events/s here).
        #[arg(long, default_value_t = 1_000_000)]
        peer_orders: usize,
        /// Users.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Timely workers (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Runs of each Volga offline variant; the best is reported.
        #[arg(long, default_value_t = 2)]
        runs: usize,
        /// Orders ingested live.
        #[arg(long, default_value_t = 1_000_000)]
        online_orders: usize,
        /// A tansu binary, for the Kafka ingest figure (skipped without one).
        #[arg(long, env = "VOLGA_TANSU")]
        tansu: Option<PathBuf>,
        /// Skip the peers (no Python venv needed).
        #[arg(long)]
        no_peers: bool,
        /// The peers' venv (created and filled on first use).
        #[arg(long, default_value = "target/bench-peers/venv")]
        venv: PathBuf,
        /// Working folder.
        #[arg(long, default_value = "target/bench-all")]
        dir: PathBuf,
    },
    /// Volga, DuckDB and Pathway computing the reference example's features over the same
    /// generated data, each end to end from CSV.
    Peers {
        /// Orders to generate.
        #[arg(long, default_value_t = 1_000_000)]
        orders: usize,
        /// Users to generate.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Timely workers (default: the number of cores).
        #[arg(long)]
        workers: Option<usize>,
        /// Runs of Volga; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Peers to run: duckdb, pathway.
        #[arg(long, value_delimiter = ',', default_value = "duckdb,pathway")]
        peers: Vec<String>,
        /// The peers' venv (created and filled on first use).
        #[arg(long, default_value = "target/bench-peers/venv")]
        venv: PathBuf,
        /// Working folder (data, stores, component, peers' output).
        #[arg(long, default_value = "target/bench-peers")]
        dir: PathBuf,
    },
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
    /// The cold store alone: `--rows` rows of the reference example's history held and written
    /// into SQLite in index order, as an offline materialization does, with nothing else running.
    Cold {
        /// History rows (the 10M-order offline run writes 8,548,916).
        #[arg(long, default_value_t = 8_548_916)]
        rows: usize,
        /// Distinct keys.
        #[arg(long, default_value_t = 10_000)]
        keys: usize,
        /// Working folder (the component, the store).
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
        /// Requests/s of the 100-key run at the target rate (after the one at
        /// `--batch-lookup-rate`).
        #[arg(long, default_value_t = 20_000)]
        batch_lookup_target_rate: u64,
        /// Working folder (data, stores, component).
        #[arg(long, default_value = "target/bench-online")]
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    // As the `volga` binary does: the figures are those of its memory policy.
    volga::allocator::use_ordinary_pages();
    let mut report = Report::default();
    let started = std::time::Instant::now();
    match Cli::parse().scenario {
        Scenario::All {
            orders,
            peer_orders,
            users,
            workers,
            runs,
            online_orders,
            tansu,
            no_peers,
            venv,
            dir,
        } => {
            let peers = if no_peers { None } else { Some(Peers::install(&venv)?) };
            let runs = runs.max(1);
            let cores = workers.unwrap_or_else(num_cores);

            let offline_dir = dir.join("offline");
            let volga = offline(orders, users, workers, runs, &["rust".into()], &offline_dir, &mut report)?;
            if let Some(peers) = &peers {
                let duckdb =
                    peers.run("duckdb", &offline_dir.join("data"), &dir.join("duckdb-offline.csv"), cores)?;
                print_peer(&duckdb);
                report.info(
                    format!("DuckDB {}, {orders} orders", duckdb.version),
                    duckdb.events_per_s(),
                    "events/s",
                );
                report.target(
                    format!("Volga / DuckDB, {orders} orders"),
                    volga / duckdb.events_per_s(),
                    "x",
                    Target::AtLeast(1.0),
                );
                let names = ["duckdb".to_string(), "pathway".to_string()];
                compare_with_peers(
                    peer_orders,
                    users,
                    workers,
                    runs,
                    peers,
                    &names,
                    &dir.join("peers"),
                    &mut report,
                )?;
            }
            lambda(1, 200_000, &["rust".into()], &dir, &mut report)?;
            lambda(1024, 2000, &["rust".into()], &dir, &mut report)?;
            let online_dir = dir.join("online");
            let wasm = build_example(&online_dir, "rust")?;
            let spec = online::OnlineSpec {
                orders: online_orders,
                users,
                workers,
                tansu,
                lookup_rate: 20_000,
                batch_lookup_rate: 2_000,
                batch_lookup_target_rate: 20_000,
                lookup_secs: 5,
            };
            online::run(&spec, &online_dir, &wasm, &mut report)?;
            state(10_000_000, workers, &dir.join("state"), &mut report)?;
        }
        Scenario::Peers { orders, users, workers, runs, peers, venv, dir } => {
            let installed = Peers::install(&venv)?;
            compare_with_peers(orders, users, workers, runs.max(1), &installed, &peers, &dir, &mut report)?;
        }
        Scenario::Offline { orders, users, workers, runs, languages, dir } => {
            offline(orders, users, workers, runs.max(1), &languages, &dir, &mut report)?;
        }
        Scenario::Lambda { rows, calls, languages, dir } => {
            lambda(rows.max(1), calls.max(1), &languages, &dir, &mut report)?;
        }
        Scenario::State { events, workers, dir } => state(events, workers, &dir, &mut report)?,
        Scenario::Cold { rows, keys, dir } => {
            let wasm = build_example(&dir, "rust")?;
            let (_host, pipeline) = LoadedPipeline::load(&Config::default(), &wasm)?;
            cold_alone(&pipeline, rows, keys, &dir, &mut report)?;
        }
        Scenario::Online {
            orders,
            users,
            workers,
            tansu,
            lookup_rate,
            batch_lookup_rate,
            batch_lookup_target_rate,
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
                batch_lookup_target_rate: batch_lookup_target_rate.max(1),
                lookup_secs: lookup_secs.max(1),
            };
            online::run(&spec, &dir, &wasm, &mut report)?;
        }
    }
    report.print(&format!(
        "figures against targets ({} cores, {:.0} s in all)",
        num_cores(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn print_peer(run: &peers::PeerRun) {
    println!(
        "{} {}: {} events in {:.2}s: {:.0} events/s, {} feature rows",
        run.peer,
        run.version,
        run.events,
        run.total_s,
        run.events_per_s(),
        run.rows_out
    );
}

/// Volga (filter in Wasm), then each of `names`, over the same `orders` generated orders.
#[allow(clippy::too_many_arguments)]
fn compare_with_peers(
    orders: usize,
    users: usize,
    workers: Option<usize>,
    runs: usize,
    peers: &Peers,
    names: &[String],
    dir: &Path,
    report: &mut Report,
) -> Result<()> {
    let mut local = Report::default();
    let volga = offline(orders, users, workers, runs, &["rust".into()], dir, &mut local)?;
    report.info(format!("Volga, {orders} orders (peer run)"), volga, "events/s");
    let history = dir.join("volga.csv");
    export_history(&dir.join("volga.toml"), &history)?;
    for name in names {
        let features = dir.join(format!("{name}.csv"));
        let run = peers.run(name, &dir.join("data"), &features, workers.unwrap_or_else(num_cores))?;
        print_peer(&run);
        let comparison = peers.compare(&history, &features)?;
        println!(
            "{name}: {} of {} feature rows differ from Volga's history{}",
            comparison.mismatches,
            comparison.checked,
            comparison.first_mismatch.map(|m| format!(" (first: {m})")).unwrap_or_default()
        );
        let label = match name.as_str() {
            "pathway" => "Pathway",
            "duckdb" => "DuckDB",
            other => other,
        };
        report.info(format!("{label} {}, {orders} orders", run.version), run.events_per_s(), "events/s");
        report.target(
            format!("{label} feature rows differing from Volga's, {orders} orders"),
            comparison.mismatches as f64,
            "rows",
            Target::AtMost(0.0),
        );
        let bound = if name == "pathway" { 50.0 } else { 1.0 };
        report.target(
            format!("Volga / {label}, {orders} orders"),
            volga / run.events_per_s(),
            "x",
            Target::AtLeast(bound),
        );
    }
    Ok(())
}

fn state(events: usize, workers: Option<usize>, dir: &Path, figures: &mut Report) -> Result<()> {
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
    let report = {
        let _batch = volga::allocator::keep_freed_memory();
        materialize_offline(&config, &wasm, &options)?
    };
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
    println!(
        "peak state {} bytes: {:.1} bytes per row held",
        report.peak_state_bytes,
        report.peak_state_bytes as f64 / report.peak_state_rows.max(1) as f64
    );
    figures.target(
        format!("state: rows held by a sliding hour / rows in an hour, {events} events"),
        report.peak_state_rows as f64 / per_hour as f64,
        "x",
        Target::AtMost(2.0),
    );
    Ok(())
}

/// Writes the example's history from the cold store of `config` to `out` as CSV.
fn export_history(config: &Path, out: &Path) -> Result<()> {
    let config = Config::load(Some(config))?;
    let path = config.cold_store_path()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = volga::store::ColdStore::open_existing(&path).await?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
        volga::training::export(
            &store,
            "OnSaleUserSpentInfo",
            None,
            None,
            volga::training::Format::Csv,
            &mut file,
        )
        .await?;
        std::io::Write::flush(&mut file)?;
        anyhow::Ok(())
    })
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

fn lambda(rows: usize, calls: usize, languages: &[String], dir: &Path, report: &mut Report) -> Result<()> {
    println!("lambda call, {rows} rows per batch, {calls} calls (batch building included for Wasm)");
    println!("{:<20} {:>12} {:>12}", "variant", "us/call", "ns/row");
    for language in languages {
        lambda_in(rows, calls, language, dir, report)?;
    }
    Ok(())
}

fn lambda_in(rows: usize, calls: usize, language: &str, dir: &Path, report: &mut Report) -> Result<()> {
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
    if rows == 1 {
        report.target(
            format!("lambda call, 1 row, {language}: fixed cost"),
            per_call(wasm_time),
            "us",
            Target::AtMost(2.0),
        );
    } else {
        report.info(
            format!("lambda call, {rows} rows, {language}: per row"),
            per_call(wasm_time) * 1000.0 / rows as f64,
            "ns",
        );
        report.info(
            format!("lambda call, {rows} rows, native: per row"),
            per_call(native_time) * 1000.0 / rows as f64,
            "ns",
        );
    }
    Ok(())
}

/// Returns the events/s of the first language's run (filter in Wasm).
fn offline(
    orders: usize,
    users: usize,
    workers: Option<usize>,
    runs: usize,
    languages: &[String],
    dir: &Path,
    report: &mut Report,
) -> Result<f64> {
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
    // As `volga materialize-offline` does: a batch job keeps the memory it frees.
    let _batch = volga::allocator::keep_freed_memory();
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
        "{:<20} {:>10} {:>9} {:>14} {:>9} {:>16} {:>9} {:>9} {:>10}",
        "variant",
        "events",
        "total s",
        "events/s",
        "read s",
        "compute+write s",
        "hold s",
        "write s",
        "rows out"
    );
    for (name, r) in &results {
        println!(
            "{:<20} {:>10} {:>9.2} {:>14.0} {:>9.2} {:>16.2} {:>9.2} {:>9.2} {:>10}",
            name,
            r.events_in,
            r.elapsed.as_secs_f64(),
            rate(r.events_in, r.elapsed),
            r.read_time.as_secs_f64(),
            r.compute_time.as_secs_f64(),
            r.hold_time.as_secs_f64(),
            r.write_time.as_secs_f64(),
            r.written.iter().map(|(_, n)| n).sum::<u64>()
        );
    }
    println!(
        "(hold: the workers taking history rows into their parts' writers as the dataflow runs, summed; write: each worker sorting and inserting the rows it holds at the end, side by side, and the parts swapped in)"
    );
    let native_run = &results.last().expect("the native variant").1;
    for (name, run) in &results[..results.len() - 1] {
        println!(
            "{name} / native time: {:.3} end to end, {:.3} compute+write ({} workers)",
            run.elapsed.as_secs_f64() / native_run.elapsed.as_secs_f64(),
            run.compute_time.as_secs_f64() / native_run.compute_time.as_secs_f64(),
            run.workers
        );
    }
    let first = &results[0].1;
    let bytes_per_row = first.peak_state_bytes as f64 / first.peak_state_rows.max(1) as f64;
    println!(
        "window state at its peak: {} rows, {} bytes, {bytes_per_row:.1} bytes per row held",
        first.peak_state_rows, first.peak_state_bytes
    );
    let volga = rate(first.events_in, first.elapsed);
    for (name, run) in &results[..results.len() - 1] {
        report.target(
            format!("offline, {orders} orders, {name}"),
            rate(run.events_in, run.elapsed),
            "events/s",
            Target::AtLeast(2_000_000.0),
        );
        report.target(
            format!("offline, {orders} orders, {name} / filter native (time)"),
            run.elapsed.as_secs_f64() / native_run.elapsed.as_secs_f64(),
            "x",
            Target::AtMost(1.5),
        );
    }
    report.target(
        format!("offline, {orders} orders, window state per row held"),
        bytes_per_row,
        "bytes",
        Target::AtMost(100.0),
    );
    report.info(
        format!("offline, {orders} orders, {}: holding history (summed over workers)", results[0].0),
        first.hold_time.as_secs_f64(),
        "s",
    );
    report.info(
        format!("offline, {orders} orders, {}: writing history and committing", results[0].0),
        first.write_time.as_secs_f64(),
        "s",
    );

    // The floor under those figures: the same number of history rows into SQLite, alone.
    let history_rows: u64 = first.written.iter().map(|(_, n)| n).sum();
    let alone = cold_alone(&pipeline, history_rows as usize, users, dir, report)?;
    report.info(
        format!("offline ceiling the cold store alone sets, {orders} orders"),
        first.events_in as f64 / (alone.hold_s + alone.write_s).max(1e-9),
        "events/s",
    );
    Ok(volga)
}

/// Writes `rows` rows of the example's history into a cold store alone ([`cold::write_history`]).
fn cold_alone(
    pipeline: &LoadedPipeline,
    rows: usize,
    keys: usize,
    dir: &Path,
    report: &mut Report,
) -> Result<cold::ColdWrite> {
    let target = pipeline.targets(&[])?.into_iter().next().context("the example has a derived dataset")?;
    let schema = &pipeline.plan.dataset(&target).context("the target's schema")?.schema;
    eprintln!("writing {rows} rows of {target} history into a cold store alone");
    let alone = cold::write_history(schema, rows, keys, dir)?;
    let hold_rate = rows as f64 / alone.hold_s.max(1e-9);
    println!(
        "cold store alone, {rows} history rows: hold {:.2}s ({hold_rate:.0} rows/s), write and commit {:.2}s",
        alone.hold_s, alone.write_s
    );
    report.info(format!("cold store alone, {rows} history rows: hold"), hold_rate, "rows/s");
    report.info(format!("cold store alone, {rows} history rows: write and commit"), alone.write_s, "s");
    Ok(alone)
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
