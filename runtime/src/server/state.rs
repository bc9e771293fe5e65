//! What the server holds: its stores, metrics, the Wasm engine, and the running pipelines.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use thiserror::Error;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::online::{OnlinePipeline, OnlineSource, Stores};
use crate::schema::Schema;
use crate::store::{ColdStore, HotStore, HotStoreError, StoreError};
use crate::wasm::WasmHost;

/// The server could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cold store could not be opened.
    #[error(transparent)]
    Cold(#[from] StoreError),
    /// The hot store could not be opened.
    #[error(transparent)]
    Hot(#[from] HotStoreError),
    /// The address could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// The Wasm engine could not start.
    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
}

/// A pipeline deployed on this server.
pub struct Deployment {
    /// SHA-256 of the component, hex.
    pub hash: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// When it was deployed (ms since the epoch).
    pub deployed_at: i64,
    /// The running pipeline.
    pub online: OnlinePipeline,
}

/// A dataset a running pipeline serves.
pub struct Served {
    /// The pipeline.
    pub deployment: Arc<Deployment>,
    /// The dataset's schema.
    pub schema: Schema,
}

/// Shared server state.
pub struct AppState {
    /// The configuration the server started with.
    pub config: Config,
    /// Compiles and caches components.
    pub host: WasmHost,
    /// The hot and cold stores.
    pub stores: Stores,
    /// Every metric.
    pub metrics: Arc<Metrics>,
    /// Workers per pipeline.
    pub workers: usize,
    /// Running pipelines by name.
    pub deployments: RwLock<BTreeMap<String, Arc<Deployment>>>,
    /// Deploys happen one at a time.
    pub deploying: tokio::sync::Mutex<()>,
    /// Ingest requests so far (numbers them for dead-letter locations).
    pub requests: AtomicU64,
}

impl AppState {
    /// Opens the stores and the engine of `config`. Call within a tokio runtime.
    pub async fn open(config: Config) -> Result<AppState, StartError> {
        let cold = ColdStore::open(&config.cold_store_path()?).await?;
        let hot = Arc::new(HotStore::open(&config.hot_store_path()?)?);
        let host = WasmHost::new(Some(config.cache_dir().join("components")), config.wasm_limits())
            .map_err(|e| StartError::Engine(format!("{e:#}")))?;
        Ok(AppState {
            workers: config.workers(),
            host,
            stores: Stores { hot, cold, runtime: tokio::runtime::Handle::current() },
            metrics: Arc::new(Metrics::new()),
            deployments: RwLock::new(BTreeMap::new()),
            deploying: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
            config,
        })
    }

    /// The running deployments.
    pub fn deployments(&self) -> Vec<Arc<Deployment>> {
        self.deployments.read().expect("deployments").values().cloned().collect()
    }

    /// The dataset `name` if a running pipeline serves it.
    pub fn served(&self, name: &str) -> Option<Served> {
        self.deployments().into_iter().find_map(|deployment| {
            deployment.online.targets.iter().any(|t| t == name).then(|| Served {
                schema: deployment.online.pipeline.plan.dataset(name).expect("validated").schema.clone(),
                deployment: deployment.clone(),
            })
        })
    }

    /// Names of every served dataset.
    pub fn served_names(&self) -> Vec<String> {
        self.deployments().iter().flat_map(|d| d.online.targets.clone()).collect()
    }

    /// The streaming sources named `name` across running pipelines.
    pub fn sources(&self, name: &str) -> Vec<Arc<OnlineSource>> {
        self.deployments().iter().filter_map(|d| d.online.source(name).cloned()).collect()
    }

    /// Stops every pipeline.
    pub fn shutdown(&self) {
        let deployments = std::mem::take(&mut *self.deployments.write().expect("deployments"));
        for deployment in deployments.values() {
            deployment.online.stop();
        }
    }
}
