//! The online half of `volga demo`: the same pipeline served live, its orders pushed over HTTP,
//! features looked up as the data arrives.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use volga::config::Config;
use volga::server::Embedded;

/// What to push.
pub struct LiveSpec {
    /// Users the orders pick from (`u0..`).
    pub users: usize,
    /// Orders to push.
    pub orders: usize,
    /// Orders per request.
    pub batch: usize,
    /// The deploy token the config sets.
    pub token: String,
}

/// Serves `config` on a free loopback port, deploys `wasm`, pushes orders with current event
/// times and prints lookups as they become visible.
pub fn run(config: Config, wasm: &std::path::Path, spec: &LiveSpec) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let server = Embedded::start(config).await?;
        let url = server.url.clone();
        println!("5. serving on {url}; deploying the pipeline (orders arrive over HTTP: POST /v1/ingest/orders)");
        let client = reqwest::Client::new();
        let deployed = client
            .post(format!("{url}/v1/pipelines"))
            .bearer_auth(&spec.token)
            .body(std::fs::read(wasm)?)
            .send()
            .await?;
        let status = deployed.status();
        let body: Value = deployed.json().await?;
        if !status.is_success() {
            bail!("deploy failed: {status}: {}", body["error"]);
        }
        println!("   deployed `{}`, serving {}", body["name"].as_str().unwrap_or("?"), body["datasets"]);

        let mut rng = StdRng::seed_from_u64(7);
        let start = volga::online::wall_clock_millis();
        let watch = ["u1", "u2", "u3"];
        println!("6. pushing {} orders in batches of {}; after each, a lookup of {watch:?}:", spec.orders, spec.batch);
        let mut pushed = 0;
        let mut freshness = Vec::new();
        while pushed < spec.orders {
            let n = spec.batch.min(spec.orders - pushed);
            let rows: Vec<Value> = (pushed..pushed + n)
                .map(|i| {
                    json!({
                        "buyer_id": format!("u{}", if i % 10 == 0 { i % 3 + 1 } else { rng.random_range(0..spec.users) }),
                        "product_id": format!("p{}", rng.random_range(0..50)),
                        "product_type": if rng.random_bool(0.6) { "ON_SALE" } else { "REGULAR" },
                        "purchased_at": start + i as i64 * 10,
                        "product_price": rng.random_range(100..10_000) as f64 / 100.0,
                    })
                })
                .collect();
            pushed += n;
            let newest = start + (pushed as i64 - 1) * 10;
            let sent = Instant::now();
            let answer: Value =
                client.post(format!("{url}/v1/ingest/orders")).json(&rows).send().await?.json().await?;
            if answer["accepted"].as_u64() != Some(n as u64) {
                bail!("ingest: {answer}");
            }
            // Poll until the batch is published: its watermark is its newest time, so values
            // are final through the time just before.
            let lookup = json!({"dataset": "OnSaleUserSpentInfo", "keys": watch.iter().map(|u| json!({"user_id": u})).collect::<Vec<_>>()});
            let body = loop {
                let body: Value =
                    client.post(format!("{url}/v1/lookup")).json(&lookup).send().await?.json().await?;
                if body["as_of"].as_i64().is_some_and(|t| t >= newest - 1) {
                    break body;
                }
                if sent.elapsed() > Duration::from_secs(30) {
                    bail!("the batch did not become visible within 30 s: {body}");
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            freshness.push(sent.elapsed());
            let show = |row: &Value| match row {
                Value::Null => "no purchases yet".to_string(),
                row => format!(
                    "avg_7d {:>7.2}  avg_1h {:>7.2}  n_1w {:>3}",
                    row["avg_spent_7d"].as_f64().unwrap_or(f64::NAN),
                    row["avg_spent_1h"].as_f64().unwrap_or(f64::NAN),
                    row["num_purchases_1w"]
                ),
            };
            let rows = body["rows"].as_array().context("lookup rows")?;
            println!(
                "   {pushed:>6} orders, visible after {:>5.1} ms | u1: {} | u2: {} | u3: {}",
                sent.elapsed().as_secs_f64() * 1e3,
                show(&rows[0]),
                show(&rows[1]),
                show(&rows[2])
            );
        }
        freshness.sort();
        println!(
            "   push-to-visible: median {:.1} ms, worst {:.1} ms over {} batches",
            freshness[freshness.len() / 2].as_secs_f64() * 1e3,
            freshness.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            freshness.len()
        );
        server.stop().await?;
        anyhow::Ok(())
    })
}
