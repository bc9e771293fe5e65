//! `GET /v1/datasets` and `GET /v1/datasets/{name}/offline`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as JsonValue, json};

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::schema::Schema;
use crate::store::StoreError;
use crate::training::{Format, row_json, write_rows};

fn describe(name: &str, schema: &Schema) -> JsonValue {
    json!({
        "name": name,
        "keys": schema.key_names(),
        "timestamp": schema.timestamp_name(),
        "fields": schema.fields.iter().map(|f| json!({"name": f.name, "type": f.ty.to_string()})).collect::<Vec<_>>(),
    })
}

/// `GET /v1/datasets`: datasets served online, then those only in the cold store.
pub(super) async fn datasets(State(state): State<Arc<AppState>>) -> ApiResult<Json<JsonValue>> {
    let mut out = Vec::new();
    let mut served = Vec::new();
    for deployment in state.deployments() {
        for name in &deployment.online.targets {
            let schema = &deployment.online.pipeline.plan.dataset(name).expect("validated").schema;
            let watermark =
                state.stores.hot.watermark(name).map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut entry = describe(name, schema);
            entry["pipeline"] = json!(deployment.online.name());
            entry["online"] = json!(true);
            entry["watermark"] = json!(watermark);
            out.push(entry);
            served.push(name.clone());
        }
    }
    let catalog = state.stores.cold.datasets().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    for meta in catalog.iter().filter(|m| !served.contains(&m.name)) {
        let mut entry = describe(&meta.name, &meta.schema);
        entry["pipeline"] = json!(meta.pipeline);
        entry["online"] = json!(false);
        entry["rows"] = json!(meta.rows);
        out.push(entry);
    }
    Ok(Json(json!({ "datasets": out })))
}

/// The query of an offline range read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RangeQuery {
    start: Option<i64>,
    end: Option<i64>,
    format: Option<String>,
}

/// `GET /v1/datasets/{name}/offline?start=&end=&format=json|csv|arrow`: history rows with
/// `start <= ts < end`.
pub(super) async fn offline(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) =
        query.map_err(|e| ApiError::BadRequest(format!("invalid query: {}", e.body_text())))?;
    let format = match query.format.as_deref().unwrap_or("json") {
        "json" => None,
        "csv" => Some((Format::Csv, "text/csv; charset=utf-8")),
        "arrow" => Some((Format::Arrow, "application/vnd.apache.arrow.stream")),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown format `{other}`: expected json, csv or arrow"
            )));
        }
    };
    let store = &state.stores.cold;
    let missing = |e: StoreError| match e {
        StoreError::UnknownDataset { .. } => ApiError::NotFound(e.to_string()),
        e => ApiError::Internal(e.to_string()),
    };
    let meta = store.dataset(&name).await.map_err(missing)?;
    let rows = store.history(&meta, query.start, query.end).await.map_err(missing)?;
    match format {
        None => {
            let rows: Vec<JsonValue> = rows.iter().map(|r| row_json(&meta.schema, r)).collect();
            Ok(Json(json!({ "dataset": name, "rows": rows })).into_response())
        }
        Some((format, content_type)) => {
            let mut body = Vec::new();
            write_rows(&meta.schema, &rows, format, &mut body)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
        }
    }
}
