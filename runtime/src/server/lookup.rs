//! `POST /v1/lookup`: a dataset's rows for a batch of keys, latest (hot store) or as of a time
//! (cold store).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value as JsonValue};

use super::error::{ApiError, ApiResult};
use super::state::{AppState, Served};
use crate::connector::parse_cell;
use crate::metrics::LookupLabels;
use crate::online::decode::{rows_from_json_array, value_from_json};
use crate::schema::{Field, Schema};
use crate::store::HotRow;
use crate::training::{JsonRow, name_order};
use crate::value::{FieldType, Row, Value};

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

/// A lookup body as it arrives: the keys left as JSON text until the dataset's schema says how
/// to read them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLookupRequest<'a> {
    #[serde(borrow)]
    dataset: Cow<'a, str>,
    #[serde(borrow)]
    keys: &'a RawValue,
    #[serde(default)]
    as_of: Option<i64>,
}

/// A lookup request, read: the dataset served, and the key values of each key object.
struct ParsedLookup {
    dataset: String,
    as_of: Option<i64>,
    served: Served,
    keys: Vec<Vec<Value>>,
}

/// Reads the request in `body`, typing its keys by the served dataset's schema. Key objects are
/// read straight from the text into key values; a body that does not read that way (a key in
/// text form, a missing field, anything malformed) is parsed again as a [`LookupRequest`],
/// whose checks name the problem.
fn parse_request(state: &AppState, body: &[u8]) -> ApiResult<ParsedLookup> {
    if let Ok(raw) = serde_json::from_slice::<RawLookupRequest>(body)
        && let Some(served) = state.served(&raw.dataset)
        && let Some(keys) = rows_from_json_array(&key_schema(&served.schema), raw.keys.get().as_bytes())
    {
        return Ok(ParsedLookup { dataset: raw.dataset.into_owned(), as_of: raw.as_of, served, keys });
    }
    let request: LookupRequest = serde_json::from_slice(body)
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
    Ok(ParsedLookup { dataset: request.dataset, as_of: request.as_of, served, keys })
}

/// The key fields of `schema`, as the fast path reads them: never null (a null or missing key
/// takes the general path, which names it).
fn key_schema(schema: &Schema) -> Schema {
    Schema {
        fields: schema
            .fields
            .iter()
            .filter(|f| f.key)
            .map(|f| Field { ty: FieldType { nullable: false, ..f.ty }, ..f.clone() })
            .collect(),
    }
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
    let ParsedLookup { dataset, as_of, served, keys } = parse_request(&state, &body)?;
    let found = state.stores.hot.lookup(&dataset, &keys).map_err(|e| ApiError::Internal(e.to_string()))?;
    let watermark = found.watermark;
    let (as_of, rows, kind) = match as_of {
        None => (watermark.map(|w| w.saturating_sub(1)), found.rows, "latest"),
        Some(time) => {
            let final_through = watermark.map(|w| w.saturating_sub(1));
            if final_through.is_none_or(|f| time > f) {
                return Err(ApiError::Conflict(match final_through {
                    None => format!(
                        "as_of {time} is not final yet: dataset `{}` has no final values yet",
                        dataset
                    ),
                    Some(f) => format!(
                        "as_of {time} is not final yet: dataset `{}` is final through {f}; ask again later, or without as_of for the latest values",
                        dataset
                    ),
                }));
            }
            let meta =
                state.stores.cold.dataset(&dataset).await.map_err(|e| ApiError::Internal(e.to_string()))?;
            let mut rows = Vec::with_capacity(keys.len());
            for key in &keys {
                rows.push(
                    state
                        .stores
                        .cold
                        .as_of(&meta, key, time)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?
                        .map(|row| Arc::new(HotRow::new(row))),
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
        dataset,
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
    rows: Vec<Option<Arc<HotRow>>>,
}

impl Serialize for RowsJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A hot row is rendered by the first answer that carries it; later ones copy its text.
        let render = |row: &Row| {
            serde_json::value::to_raw_value(&JsonRow { schema: &self.schema, order: &self.order, row })
                .map_err(serde::ser::Error::custom)
        };
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in &self.rows {
            match row {
                None => seq.serialize_element(&None::<()>)?,
                Some(held) => seq.serialize_element(held.json(render)?)?,
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ScalarType;

    /// A dataset keyed by a string and an int, with a nullable string key and a value field.
    fn schema() -> Schema {
        let field = |name: &str, scalar, nullable, key| Field {
            name: name.into(),
            ty: FieldType { scalar, nullable, list: false },
            key,
            timestamp: name == "ts",
        };
        Schema {
            fields: vec![
                field("user", ScalarType::Str, false, true),
                field("ts", ScalarType::Timestamp, false, false),
                field("shard", ScalarType::Int, false, true),
                field("region", ScalarType::Str, true, true),
                field("spent", ScalarType::Float, true, false),
            ],
        }
    }

    #[test]
    fn keys_read_straight_from_text_equal_the_general_path_or_defer_to_it() {
        let schema = schema();
        let keys = key_schema(&schema);
        let general = |text: &str| {
            let objects: Vec<Map<String, JsonValue>> = serde_json::from_str(text).unwrap();
            parse_keys("D", &schema, &objects)
        };
        // Read on the fast path, with the general path's values: field order, extra fields,
        // escapes, an int key given as a float-free number.
        for text in [
            r#"[]"#,
            r#"[{"user": "a", "shard": 1, "region": "eu"}]"#,
            r#"[{"region": "eu", "extra": [1, {"x": 2}], "shard": -7, "user": "b\"q\u00e9"}, {"user": "", "shard": 0, "region": ""}]"#,
        ] {
            let fast = rows_from_json_array(&keys, text.as_bytes())
                .unwrap_or_else(|| panic!("fast path for {text}"));
            assert_eq!(fast, general(text).unwrap(), "{text}");
        }
        // Left to the general path: a key in text form (which it accepts), a null or missing
        // key, a mistyped one (which it rejects, naming them).
        for (text, accepted) in [
            (r#"[{"user": "a", "shard": "42", "region": "eu"}]"#, true),
            (r#"[{"user": "a", "shard": 1, "region": null}]"#, false),
            (r#"[{"user": "a", "shard": 1}]"#, false),
            (r#"[{"user": "a", "shard": 1.5, "region": "eu"}]"#, false),
            (
                r#"[{"user": "a", "shard": 1, "region": "eu"}, {"user": 3, "shard": 1, "region": "eu"}]"#,
                false,
            ),
        ] {
            assert_eq!(rows_from_json_array(&keys, text.as_bytes()), None, "{text}");
            assert_eq!(general(text).is_ok(), accepted, "{text}");
        }
        // Not an array of objects, or trailing text: the whole request is parsed again.
        for text in [r#"{"user": "a"}"#, r#"["a"]"#, r#"[{"user": "a", "shard": 1, "region": "eu"}] x"#] {
            assert_eq!(rows_from_json_array(&keys, text.as_bytes()), None, "{text}");
        }
    }
}
