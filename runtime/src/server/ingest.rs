//! `POST /v1/ingest/{source}`: rows for the `http` sources named `{source}`.
//!
//! The body is a JSON object, a JSON array of objects, or newline-delimited objects. Each row
//! is checked like a Kafka message: one that does not fit the dataset's schema, or arrives
//! behind the watermark, is dead-lettered and counted; the others are applied. The answer says
//! how many of each, with the first reasons.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde_json::value::RawValue;
use serde_json::{Value as JsonValue, json};

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::connector::Interner;
use crate::online::decode::{row_from_json_bytes, rows_from_json_array};
use crate::online::{Offer, Origin, Record};

/// Each record of a body: the array's elements, the one object, or each non-empty line.
fn parse_body(text: &str) -> ApiResult<Vec<&RawValue>> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) if raw.get().starts_with('[') => {
            serde_json::from_str(raw.get()).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
        }
        Ok(raw) => Ok(vec![raw]),
        Err(first) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line).map_err(|e| {
                    if n == 0 {
                        ApiError::BadRequest(format!("invalid JSON: {first}"))
                    } else {
                        ApiError::BadRequest(format!("invalid JSON on line {}: {e}", n + 1))
                    }
                })
            })
            .collect(),
    }
}

/// A record as dead letters keep it: compact JSON.
fn compact(item: &RawValue) -> String {
    serde_json::from_str::<JsonValue>(item.get())
        .map_or_else(|_| item.get().to_string(), |json| json.to_string())
}

/// `POST /v1/ingest/{source}`.
pub(super) async fn ingest(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<JsonValue>> {
    let sources = state.sources(&name);
    let http: Vec<_> = sources.iter().filter(|s| s.kind == "http").collect();
    if http.is_empty() {
        if let Some(other) = sources.first() {
            return Err(ApiError::BadRequest(format!(
                "source `{name}` of pipeline `{}` reads from {}, not http",
                other.pipeline, other.kind
            )));
        }
        let names: Vec<String> = state
            .deployments()
            .iter()
            .flat_map(|d| {
                d.online
                    .sources
                    .iter()
                    .filter(|s| s.kind == "http")
                    .map(|s| s.source.name.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        return Err(ApiError::NotFound(format!(
            "no running pipeline reads http source `{name}` (http sources: {})",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        )));
    }
    if let Some(failed) =
        state.deployments().iter().find(|d| d.online.source(&name).is_some() && d.online.failure().is_some())
    {
        return Err(ApiError::Conflict(format!(
            "pipeline `{}` has failed and takes no rows: {}; fix it and deploy again",
            failed.online.name(),
            failed.online.failure().unwrap_or_default()
        )));
    }
    let body = body?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    // Each record's own text, taken only when a source's rows cannot all be read in one pass.
    let mut items: Option<Vec<&RawValue>> = None;
    let request = state.requests.fetch_add(1, Ordering::Relaxed);
    let mut total = Offer::default();
    for source in http {
        let mut interners: Vec<Interner> = source.schema.fields.iter().map(|_| Interner::default()).collect();
        let record = |index, row| Record { partition: 0, origin: Origin::Http { request, index }, row };
        let records: Vec<Record> = match rows_from_json_array(&source.schema, text, &mut interners) {
            Some(rows) => rows.into_iter().enumerate().map(|(index, row)| record(index, Ok(row))).collect(),
            None => {
                let items = match &items {
                    Some(items) => items,
                    None => items.insert(parse_body(text)?),
                };
                let mut read = |item: &RawValue| {
                    row_from_json_bytes(&source.schema, item.get().as_bytes(), &mut interners)
                        .map_err(|reason| (reason, compact(item)))
                };
                items.iter().enumerate().map(|(index, item)| record(index, read(item))).collect()
            }
        };
        let offer = source.offer(records);
        total.accepted += offer.accepted;
        total.late += offer.late;
        total.malformed += offer.malformed;
        total.errors.extend(offer.errors);
        total.watermark = offer.watermark;
    }
    Ok(Json(json!(total)))
}
