//! The HTTP API (`volga serve`): deploy pipelines, push rows, look up features, read history,
//! metrics. [`router`] builds the whole API over an [`AppState`]; tests call it directly.

mod deploy;
mod error;
mod ingest;
mod lookup;
mod openapi;
mod read;
mod state;

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

pub use error::ApiError;
pub use lookup::{LookupRequest, parse_keys};
pub use state::{AppState, Deployment, StartError};

/// The largest component a deploy accepts.
pub const MAX_COMPONENT_BYTES: usize = 256 << 20;

/// The largest ingest or lookup body.
pub const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Every route of the API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/v1/pipelines",
            post(deploy::deploy).get(deploy::list).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .route("/v1/datasets", get(read::datasets))
        .route("/v1/datasets/{name}/offline", get(read::offline))
        .route("/v1/lookup", post(lookup::lookup))
        .route("/v1/ingest/{source}", post(ingest::ingest))
        .route("/v1/openapi.json", get(|| async { Json(openapi::document()) }))
        .route("/metrics", get(metrics))
        .route("/healthz", get(health))
        .fallback(|| async { ApiError::NotFound("no such route; see /v1/openapi.json".into()) })
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on {}; see /v1/openapi.json",
                uri.path()
            ))
        })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    for deployment in state.deployments() {
        let labels = crate::metrics::PipelineLabels { pipeline: deployment.online.name().to_string() };
        state.metrics.state_rows.get_or_create(&labels).set(deployment.online.state_rows());
        state.metrics.state_bytes.get_or_create(&labels).set(deployment.online.state_bytes());
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.encode(),
    )
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let pipelines: Vec<_> = state
        .deployments()
        .iter()
        .map(|d| {
            json!({
                "name": d.online.name(),
                "status": match d.online.failure() { None => "running".to_string(), Some(e) => format!("failed: {e}") },
            })
        })
        .collect();
    Json(json!({ "status": "ok", "pipelines": pipelines }))
}

/// A server on a task of the current tokio runtime, for programs that embed one (the demo, the
/// benchmarks).
pub struct Embedded {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Embedded {
    /// Opens `config`'s stores and serves them on a free loopback port.
    pub async fn start(config: crate::config::Config) -> Result<Embedded, StartError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(StartError::Listen)?;
        let url = format!("http://{}", listener.local_addr().map_err(StartError::Listen)?);
        let state = Arc::new(AppState::open(config).await?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(state, listener, async {
            let _ = stopped.await;
        }));
        Ok(Embedded { url, stop, task })
    }

    /// Stops serving and every pipeline, and waits for them.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.map_err(std::io::Error::other)?
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then stops every pipeline.
pub async fn serve(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let result = axum::serve(listener, router(state.clone())).with_graceful_shutdown(shutdown).await;
    let stopping = state.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.shutdown()).await;
    result
}
