//! `volga serve`: the HTTP API on embedded defaults.

use std::sync::Arc;

use anyhow::{Context, Result};
use volga::config::{Config, DEFAULT_LISTEN};
use volga::server::{AppState, serve};

/// Arguments of `volga serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (default: [server] listen, else 127.0.0.1:8765).
    #[arg(long)]
    listen: Option<String>,
}

pub fn run(args: Args, config: Config) -> Result<()> {
    let listen =
        args.listen.or_else(|| config.server.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let deploys = if config.server.token.is_some() {
            "deploys need the token"
        } else {
            "deploys disabled (no token)"
        };
        let state = Arc::new(AppState::open(config).await?);
        // The address line is what scripts wait for; keep its form.
        println!("volga: serving on http://{address} ({deploys}; {} workers per pipeline)", state.workers);
        serve(state, listener, async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("volga: stopping");
        })
        .await?;
        Ok(())
    })
}
