//! `POST /v1/lookup`: a dataset's rows for a batch of keys, latest (hot store) or as of a time
//! (cold store).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value as JsonValue};

use super::error::{ApiError, ApiResult};
use super::state::AppState;
use crate::connector::parse_cell;
use crate::metrics::LookupLabels;
use crate::online::decode::value_from_json;
use crate::schema::Schema;
use crate::training::{JsonRow, name_order};
use crate::value::{Row, Value};

/// The body of a lookup.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    /// The dataset.
    pub dataset: String,
    /// One object per key, holding the dataset's key fields.
    pub keys: Vec<Map<String, JsonValue>>,
    /// A point in time (ms); absent for the latest values.
    #[serde(default)]
    pub as_of: Option<i64>,
}

/// The key fields' values of each key object, typed by the schema. A key value may be given
/// as its JSON type or as a string in the form CSV cells use (`"42"` for an int key).
pub fn parse_keys(
    dataset: &str,
    schema: &Schema,
    keys: &[Map<String, JsonValue>],
) -> ApiResult<Vec<Vec<Value>>> {
    let key_fields: Vec<_> = schema.fields.iter().filter(|f| f.key).collect();
    keys.iter()
        .enumerate()
        .map(|(i, object)| {
            key_fields
                .iter()
                .map(|field| {
                    let given = object.get(&field.name).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "keys[{i}]: missing key field `{}` of dataset `{dataset}` (key fields: {})",
                            field.name,
                            schema.key_names().join(", ")
                        ))
                    })?;
                    value_from_json(field.ty.scalar, given)
                        .or_else(|expected| match given {
                            JsonValue::String(text) => parse_cell(field.ty, text).map_err(|_| expected),
                            _ => Err(expected),
                        })
                        .map_err(|expected| {
                            ApiError::BadRequest(format!(
                                "keys[{i}]: key field `{}`: expected {expected}, got {given}",
                                field.name
                            ))
                        })
                })
                .collect()
        })
        .collect()
}

/// `POST /v1/lookup`.
pub(super) async fn lookup(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<LookupResponse>> {
    let started = Instant::now();
    let body = body?;
    let request: LookupRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid lookup request: {e}")))?;
    let served = state.served(&request.dataset).ok_or_else(|| {
        let names = state.served_names();
        ApiError::NotFound(format!(
            "dataset `{}` is not served (served: {})",
            request.dataset,
            if names.is_empty() { "none; deploy a pipeline first".into() } else { names.join(", ") }
        ))
    })?;
    let keys = parse_keys(&request.dataset, &served.schema, &request.keys)?;
    let found =
        state.stores.hot.lookup(&request.dataset, &keys).map_err(|e| ApiError::Internal(e.to_string()))?;
    let watermark = found.watermark;
    let (as_of, rows, kind) = match request.as_of {
        None => (watermark.map(|w| w.saturating_sub(1)), found.rows, "latest"),
        Some(time) => {
            let final_through = watermark.map(|w| w.saturating_sub(1));
            if final_through.is_none_or(|f| time > f) {
                return Err(ApiError::Conflict(match final_through {
                    None => format!(
                        "as_of {time} is not final yet: dataset `{}` has no final values yet",
                        request.dataset
                    ),
                    Some(f) => format!(
                        "as_of {time} is not final yet: dataset `{}` is final through {f}; ask again later, or without as_of for the latest values",
                        request.dataset
                    ),
                }));
            }
            let meta = state
                .stores
                .cold
                .dataset(&request.dataset)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut rows = Vec::with_capacity(keys.len());
            for key in &keys {
                rows.push(
                    state
                        .stores
                        .cold
                        .as_of(&meta, key, time)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                );
            }
            (Some(time), rows, "point_in_time")
        }
    };
    state
        .metrics
        .lookup_seconds
        .get_or_create(&LookupLabels { kind: kind.into() })
        .observe(started.elapsed().as_secs_f64());
    let order = name_order(&served.schema);
    Ok(Json(LookupResponse {
        as_of,
        dataset: request.dataset,
        rows: RowsJson { schema: served.schema, order, rows },
        watermark,
    }))
}

/// The answer of a lookup, serialized straight from the rows (fields in name order, as a
/// `serde_json::Value` object would have them).
#[derive(Serialize)]
pub struct LookupResponse {
    as_of: Option<i64>,
    dataset: String,
    rows: RowsJson,
    watermark: Option<i64>,
}

/// The rows of a lookup, `null` for a key without one.
struct RowsJson {
    schema: Schema,
    order: Vec<usize>,
    rows: Vec<Option<Row>>,
}

impl Serialize for RowsJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.rows
                .iter()
                .map(|row| row.as_ref().map(|row| JsonRow { schema: &self.schema, order: &self.order, row })),
        )
    }
}
