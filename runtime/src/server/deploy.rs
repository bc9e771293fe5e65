//! `POST /v1/pipelines` (deploy a component) and `GET /v1/pipelines`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value as JsonValue, json};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::state::{AppState, Deployment};
use crate::online::{OnlineError, OnlinePipeline};
use crate::pipeline::{LoadedPipeline, PipelineError};

/// Checks the bearer token against the configured one.
fn authorize(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(expected) = state.config.server.token.as_deref() else {
        return Err(ApiError::Forbidden(
            "deploys are disabled: this server has no token configured (set [server] token in volga.toml or VOLGA_TOKEN)".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into()))?
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    // Compare in time independent of where the first difference is.
    let equal = given.len() == expected.len()
        && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if equal { Ok(()) } else { Err(ApiError::Unauthorized("wrong bearer token".into())) }
}

/// The description of a deployment the API returns.
pub(super) fn summary(deployment: &Deployment) -> JsonValue {
    let online = &deployment.online;
    let plan = &online.pipeline.plan;
    json!({
        "name": plan.name,
        "sdk": plan.sdk,
        "hash": deployment.hash,
        "size": deployment.size,
        "deployed_at": deployment.deployed_at,
        "status": match online.failure() { None => "running".to_string(), Some(e) => format!("failed: {e}") },
        "datasets": online.targets,
        "sources": online.sources.iter().map(|s| json!({
            "dataset": s.dataset,
            "source": s.source.to_string(),
            "kind": s.kind,
            "partitions": s.partitions(),
            "watermark": Some(s.watermark()).filter(|&w| w > i64::MIN),
            "offsets": s.offsets().into_iter().map(|(p, o)| json!({"partition": p, "next": o})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "tables": online.tables.iter().map(|(dataset, rows)| json!({"dataset": dataset, "rows": rows})).collect::<Vec<_>>(),
    })
}

/// `POST /v1/pipelines`: the body is the component.
pub(super) async fn deploy(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<JsonValue>)> {
    authorize(&state, &headers)?;
    let body = body?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "empty body: send the pipeline component (.wasm) as the request body".into(),
        ));
    }
    let hash = hex::encode(Sha256::digest(&body));
    let _one_at_a_time = state.deploying.lock().await;
    if let Some(existing) = state.deployments().into_iter().find(|d| d.hash == hash) {
        return Ok((StatusCode::OK, Json(summary(&existing))));
    }

    let loader = state.clone();
    let bytes = body.clone();
    let pipeline = tokio::task::spawn_blocking(move || -> Result<LoadedPipeline, PipelineError> {
        let component = loader.host.load("request body", &bytes)?;
        LoadedPipeline::describe("request body", component)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("deploy task: {e}")))?
    .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    let name = pipeline.plan.name.clone();

    let others = state.deployments().into_iter().filter(|d| d.online.name() != name);
    for other in others {
        for dataset in pipeline.plan.datasets.iter().filter(|d| d.is_derived()) {
            if other.online.targets.contains(&dataset.name) {
                return Err(ApiError::Conflict(format!(
                    "dataset `{}` is already served by pipeline `{}`; undeploy it or rename the dataset",
                    dataset.name,
                    other.online.name()
                )));
            }
        }
    }

    let previous = state.deployments.write().expect("deployments").remove(&name);
    let starter = state.clone();
    let deployment = tokio::task::spawn_blocking(move || -> Result<Deployment, OnlineError> {
        if let Some(previous) = previous {
            previous.online.stop();
        }
        let online = OnlinePipeline::start(
            &starter.config,
            pipeline,
            starter.workers,
            starter.stores.clone(),
            starter.metrics.clone(),
        )?;
        Ok(Deployment { hash, size: body.len(), deployed_at: crate::online::wall_clock_millis(), online })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("deploy task: {e}")))?
    .map_err(|e| match e {
        OnlineError::Store(_) | OnlineError::Hot(_) | OnlineError::Start { .. } => {
            ApiError::Internal(e.to_string())
        }
        e => ApiError::BadRequest(e.to_string()),
    })?;
    let deployment = Arc::new(deployment);
    state.deployments.write().expect("deployments").insert(name, deployment.clone());
    Ok((StatusCode::CREATED, Json(summary(&deployment))))
}

/// `GET /v1/pipelines`.
pub(super) async fn list(State(state): State<Arc<AppState>>) -> Json<JsonValue> {
    Json(json!({ "pipelines": state.deployments().iter().map(|d| summary(d)).collect::<Vec<_>>() }))
}
