//! `volga get-online`: look up a dataset's rows for some keys on a running server.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::client::{DEFAULT_SERVER, base, json_or_error};

/// Arguments of `volga get-online`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset.
    dataset: String,
    /// A key as `field=value[,field=value...]`; repeat for several keys.
    #[arg(long = "key", required = true)]
    keys: Vec<String>,
    /// A final point in time (ms) instead of the latest values.
    #[arg(long)]
    as_of: Option<i64>,
    /// The server.
    #[arg(long, env = "VOLGA_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
}

fn parse_key(text: &str) -> Result<Map<String, Value>> {
    let mut key = Map::new();
    for part in text.split(',') {
        let Some((field, value)) = part.split_once('=') else {
            bail!("invalid key `{text}`: expected field=value[,field=value...]");
        };
        key.insert(field.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(key)
}

pub fn run(args: Args) -> Result<()> {
    let keys = args.keys.iter().map(|k| parse_key(k)).collect::<Result<Vec<_>>>()?;
    let mut request = json!({"dataset": args.dataset, "keys": keys});
    if let Some(as_of) = args.as_of {
        request["as_of"] = json!(as_of);
    }
    let runtime = super::runtime()?;
    let (_, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/lookup", base(&args.server)))
            .json(&request)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", args.server))?;
        json_or_error(response).await
    })?;
    println!("# {} as of {} (watermark {})", args.dataset, body["as_of"], body["watermark"]);
    for (key, row) in args.keys.iter().zip(body["rows"].as_array().into_iter().flatten()) {
        match row {
            Value::Null => println!("{key}: no row"),
            row => println!("{row}"),
        }
    }
    Ok(())
}
