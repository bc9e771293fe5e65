//! `POST /v1/lookup`: a dataset's rows for a batch of keys, latest (hot store) or as of a time
//! (cold store).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Map, Value as JsonValue};

use super::error::{ApiError, ApiResult};
use super::state::{AppState, Served};
use crate::connector::parse_cell;
use crate::metrics::LookupLabels;
use crate::online::decode::{KeysSeed, value_from_json};
use crate::schema::{Field, Schema};
use crate::store::codec::KeyList;
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

/// A lookup request, read: the dataset served, and the encoded key of each key object.
struct ParsedLookup {
    dataset: String,
    as_of: Option<i64>,
    served: Served,
    keys: KeyList,
}

/// Reads the request in `body`, typing its keys by the served dataset's schema. A well-formed
/// body is read in one pass, its key objects straight into the hot store's key encoding; a
/// body that does not read that way (a key in text form, a missing field, anything
/// malformed) is parsed again as a [`LookupRequest`], whose checks name the problem.
fn parse_request(state: &AppState, body: &[u8]) -> ApiResult<ParsedLookup> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    if let Ok(Some(parsed)) = RequestSeed(state).deserialize(&mut deserializer)
        && deserializer.end().is_ok()
    {
        return Ok(parsed);
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
    let keys = parse_keys(&request.dataset, &served.schema, &request.keys)?.iter().collect();
    Ok(ParsedLookup { dataset: request.dataset, as_of: request.as_of, served, keys })
}

/// The fields of a lookup body.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RequestField {
    Dataset,
    Keys,
    AsOf,
    #[serde(other)]
    Unknown,
}

/// Reads a lookup body in one pass; `None` when the general path must decide (an unknown
/// field, a dataset not served, keys the fast path does not read).
struct RequestSeed<'s>(&'s AppState);

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = Option<ParsedLookup>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = Option<ParsedLookup>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a lookup request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut served: Option<(String, Served)> = None;
        let mut as_of: Option<Option<i64>> = None;
        // Keys read as they came; `Err` holds their text when they came before the dataset.
        let mut keys: Option<Result<Option<KeyList>, &'de RawValue>> = None;
        while let Some(field) = map.next_key::<RequestField>()? {
            match field {
                RequestField::Dataset if served.is_none() => {
                    let dataset: String = map.next_value()?;
                    let Some(found) = self.0.served(&dataset) else { return Ok(None) };
                    served = Some((dataset, found));
                }
                RequestField::Keys if keys.is_none() => {
                    keys = Some(match &served {
                        Some((_, found)) => {
                            Ok(map.next_value_seed(KeysSeed { schema: &key_schema(&found.schema) })?)
                        }
                        None => Err(map.next_value()?),
                    });
                }
                RequestField::AsOf if as_of.is_none() => as_of = Some(map.next_value()?),
                // Unknown or repeated: the general path names it.
                _ => return Ok(None),
            }
        }
        let Some((dataset, served)) = served else { return Ok(None) };
        let keys = match keys {
            Some(Ok(keys)) => keys,
            Some(Err(text)) => {
                let mut deserializer = serde_json::Deserializer::from_str(text.get());
                KeysSeed { schema: &key_schema(&served.schema) }.deserialize(&mut deserializer).ok().flatten()
            }
            None => None,
        };
        Ok(keys.map(|keys| ParsedLookup { dataset, as_of: as_of.flatten(), served, keys }))
    }
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
) -> ApiResult<Response> {
    let started = Instant::now();
    let body = body?;
    let ParsedLookup { dataset, as_of, served, keys } = parse_request(&state, &body)?;
    let order = name_order(&served.schema);
    let render = |row: &Row| to_raw_value(&JsonRow { schema: &served.schema, order: &order, row });
    let internal = |e: &dyn std::fmt::Display| ApiError::Internal(e.to_string());
    let (answer, kind) = match as_of {
        // Written under the hot store's read lock, from the text each row keeps.
        None => {
            let answer = state
                .stores
                .hot
                .lookup_with(&dataset, &keys, |watermark, rows| {
                    let rows = rows
                        .iter()
                        .map(|row| row.map(|held| held.json(render)).transpose())
                        .collect::<Result<Vec<_>, _>>()?;
                    let as_of = watermark.map(|w| w.saturating_sub(1));
                    serde_json::to_vec(&LookupResponse { as_of, dataset: &dataset, rows, watermark })
                })
                .map_err(|e| internal(&e))?
                .map_err(|e| internal(&e))?;
            (answer, "latest")
        }
        Some(time) => {
            let watermark = state.stores.hot.watermark(&dataset).map_err(|e| internal(&e))?;
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
            let meta = state.stores.cold.dataset(&dataset).await.map_err(|e| internal(&e))?;
            let mut rendered = Vec::with_capacity(keys.len());
            for key in keys.decoded() {
                let row = state.stores.cold.as_of(&meta, &key, time).await.map_err(|e| internal(&e))?;
                rendered.push(row.map(|row| render(&row)).transpose().map_err(|e| internal(&e))?);
            }
            let rows = rendered.iter().map(Option::as_deref).collect();
            let answer =
                serde_json::to_vec(&LookupResponse { as_of: Some(time), dataset: &dataset, rows, watermark })
                    .map_err(|e| internal(&e))?;
            (answer, "point_in_time")
        }
    };
    state
        .metrics
        .lookup_seconds
        .get_or_create(&LookupLabels { kind: kind.into() })
        .observe(started.elapsed().as_secs_f64());
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], answer).into_response())
}

/// The answer of a lookup: each row as the JSON text [`JsonRow`] writes (fields in name order,
/// as a `serde_json::Value` object would have them), `null` for a key without one.
#[derive(Serialize)]
struct LookupResponse<'a> {
    as_of: Option<i64>,
    dataset: &'a str,
    rows: Vec<Option<&'a RawValue>>,
    watermark: Option<i64>,
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

    /// The keys in `text` as the fast path reads them, if it does.
    fn read(keys: &Schema, text: &str) -> Option<KeyList> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let read = KeysSeed { schema: keys }.deserialize(&mut deserializer).ok().flatten()?;
        deserializer.end().ok().map(|()| read)
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
            r#"[{"user": "a", "shard": 1, "region": "eu", "user": "z"}, {"shard": 2, "region": "us", "user": "y"}]"#,
        ] {
            let fast = read(&keys, text).unwrap_or_else(|| panic!("fast path for {text}"));
            assert_eq!(fast, general(text).unwrap().iter().collect(), "{text}");
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
            assert_eq!(read(&keys, text), None, "{text}");
            assert_eq!(general(text).is_ok(), accepted, "{text}");
        }
        // Not an array of objects, or trailing text: the whole request is parsed again.
        for text in [r#"{"user": "a"}"#, r#"["a"]"#, r#"[{"user": "a", "shard": 1, "region": "eu"}] x"#] {
            assert_eq!(read(&keys, text), None, "{text}");
        }
    }
}
