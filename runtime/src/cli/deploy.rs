//! `volga deploy`: send a pipeline component to a running server.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use super::client::{DEFAULT_SERVER, base, json_or_error};

/// Arguments of `volga deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline component (.wasm).
    wasm: PathBuf,
    /// The server.
    #[arg(long, env = "VOLGA_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// The server's deploy token.
    #[arg(long, env = "VOLGA_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let bytes = std::fs::read(&args.wasm).with_context(|| format!("cannot read {}", args.wasm.display()))?;
    let runtime = super::runtime()?;
    let (status, body) = runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .post(format!("{}/v1/pipelines", base(&args.server)))
            .header("content-type", "application/wasm")
            .body(bytes);
        if let Some(token) = &args.token {
            request = request.bearer_auth(token);
        }
        let response =
            request.send().await.with_context(|| format!("cannot reach the server at {}", args.server))?;
        json_or_error(response).await
    })?;
    let name = body["name"].as_str().unwrap_or("?");
    let verb = if status.as_u16() == 201 { "deployed" } else { "already deployed" };
    let hash = body["hash"].as_str().unwrap_or("");
    println!("{verb} pipeline `{name}` (sha256 {})", hash.get(..12).unwrap_or(hash));
    for dataset in body["datasets"].as_array().into_iter().flatten() {
        println!("  serves {}", dataset.as_str().unwrap_or("?"));
    }
    for source in body["sources"].as_array().into_iter().flatten() {
        println!(
            "  reads {} from {} ({}, {} partition(s))",
            source["dataset"].as_str().unwrap_or("?"),
            source["source"].as_str().unwrap_or("?"),
            source["kind"].as_str().unwrap_or("?"),
            source["partitions"]
        );
    }
    for table in body["tables"].as_array().into_iter().flatten() {
        println!("  loaded {} rows of {}", table["rows"], table["dataset"].as_str().unwrap_or("?"));
    }
    if let Some(Value::String(status)) = body.get("status").filter(|s| *s != "running") {
        anyhow::bail!("pipeline `{name}` {status}");
    }
    Ok(())
}
