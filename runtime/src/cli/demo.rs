//! `volga demo`: the reference example end to end, on generated data and embedded defaults:
//! offline materialization and a training set, then the same pipeline served online.

mod online;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use volga::config::{Config, default_cache_dir};
use volga::guest_build::build_guest;
use volga::offline::{OfflineOptions, materialize_offline};
use volga::sample::{SampleSpec, write_sample};
use volga::store::ColdStore;
use volga::training::training_set;

/// Arguments of `volga demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder for the demo's data, config, component and stores.
    #[arg(long, default_value = "volga-demo")]
    dir: PathBuf,
    /// Orders to generate.
    #[arg(long, default_value_t = 100_000)]
    orders: usize,
    /// Users to generate.
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Orders to push to the online server after the offline part (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    live_orders: usize,
}

/// The example's guest crate in this source tree.
fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/on_sale_user_spent/rust")
}

const CONFIG: &str = r#"# Written by `volga demo`.
[storage]
cold = "sqlite:./cold.db"
hot = "sled:./hot"

[server]
token = "demo-token"

[connectors.mysql]
kind = "csv"
dir = "./data"

# Online, the orders source (connector `kafka` in the pipeline) is bound to an HTTP push
# source: rows POSTed to /v1/ingest/orders. Point it at a broker with kind = "kafka".
[connectors.kafka]
kind = "http"
disorder = "0s"
idleness = "off"
"#;

pub fn run(args: Args) -> Result<()> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let wasm = dir.join("on_sale_user_spent.wasm");
    println!("1. building the example pipeline {}", example_dir().display());
    let built = build_guest(&example_dir(), &wasm, &default_cache_dir(), &mut |line| println!("   {line}"))?;
    println!("   -> {} ({} KiB)", wasm.display(), built.bytes / 1024);

    let spec = SampleSpec { users: args.users, orders: args.orders, ..SampleSpec::default() };
    write_sample(&dir.join("data"), &spec).context("writing sample data")?;
    std::fs::write(dir.join("volga.toml"), CONFIG)?;
    println!(
        "2. generated {} users and {} orders in {}",
        spec.users,
        spec.orders,
        dir.join("data").display()
    );

    let config = Config::load(Some(&dir.join("volga.toml")))?;
    println!("3. materializing offline (sources tagged `offline`, cold store {})", config.storage.cold);
    let report = materialize_offline(
        &config,
        &wasm,
        &OfflineOptions { progress: super::progress(), ..OfflineOptions::default() },
    )?;
    super::materialize::print_report(&report);

    // A spine: three users, each at three moments of the period.
    let spine = dir.join("spine.csv");
    let mut text = String::from("user_id,timestamp\n");
    for user in ["u1", "u2", "u3"] {
        for day in [2, 5, 9] {
            text.push_str(&format!("{user},{}\n", spec.start_ms + day * 86_400_000));
        }
    }
    std::fs::write(&spine, text)?;
    let out = dir.join("training.csv");
    let runtime = super::runtime()?;
    let meta = runtime.block_on(async {
        let store = ColdStore::open(&config.cold_store_path()?).await?;
        training_set(&store, "OnSaleUserSpentInfo", &spine, &out).await?;
        anyhow::Ok(store.dataset("OnSaleUserSpentInfo").await?)
    })?;
    println!("4. features as of each spine row ({}):", out.display());
    for line in std::fs::read_to_string(&out)?.lines() {
        let cells: Vec<String> = line.split(',').map(|c| format!("{c:>22}")).collect();
        println!("   {}", cells.join(""));
    }
    println!("   lineage: {} <- {}", meta.name, meta.lineage);

    if args.live_orders > 0 {
        // Online history goes to its own cold store, beside the offline one.
        let mut online_config = config.clone();
        online_config.storage.cold = "sqlite:./online.db".into();
        let live = online::LiveSpec {
            users: spec.users,
            orders: args.live_orders,
            batch: 2_000,
            token: online_config.server.token.clone().unwrap_or_default(),
        };
        online::run(online_config, &wasm, &live)?;
    }
    println!(
        "\nThe same by hand, from {}:\n  volga materialize-offline on_sale_user_spent.wasm\n  volga training-set OnSaleUserSpentInfo --spine spine.csv -o training.csv\n  volga get-offline OnSaleUserSpentInfo --format json | head\n  volga serve & volga deploy on_sale_user_spent.wasm --token demo-token\n  curl -d '{{\"dataset\":\"OnSaleUserSpentInfo\",\"keys\":[{{\"user_id\":\"u1\"}}]}}' localhost:8765/v1/lookup",
        dir.display()
    );
    Ok(())
}
