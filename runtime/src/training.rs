//! Reads of the cold store: point-in-time training sets from a spine, and range exports.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::connector::{parse_cell, parse_timestamp};
use crate::schema::Schema;
use crate::store::{ColdStore, DatasetMeta, StoreError};
use crate::value::{F64, Row, Value, format_float};

/// A read that failed.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The cold store failed or lacks the dataset.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The spine is not usable.
    #[error("spine {file}: {message}")]
    Spine {
        /// The spine file.
        file: String,
        /// What is wrong, with the line where there is one.
        message: String,
    },
    /// The output could not be written.
    #[error("cannot write {file}: {message}")]
    Output {
        /// The output file.
        file: String,
        /// Why.
        message: String,
    },
}

mod arrow_ipc;

pub use arrow_ipc::{arrow_schema, write_arrow};

/// The output formats of range exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Json,
    /// An Arrow IPC stream.
    Arrow,
}

/// Formats a value as a CSV cell: null is empty, floats the shortest round-trip string.
pub fn format_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(v) => v.to_string(),
        Value::Float(F64(v)) => format_float(*v),
        Value::Str(s) => s.to_string(),
        Value::List(_) => json_value(value).to_string(),
    }
}

/// A value as JSON: lists are arrays; non-finite floats are strings (`"NaN"`, `"inf"`).
pub fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(v) => (*v).into(),
        Value::Float(F64(v)) => serde_json::Number::from_f64(*v)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| format_float(*v).into()),
        Value::Str(s) => s.to_string().into(),
        Value::List(items) => serde_json::Value::Array(items.iter().map(json_value).collect()),
    }
}

/// A row as a JSON object.
pub fn row_json(schema: &Schema, row: &Row) -> serde_json::Value {
    serde_json::Value::Object(
        schema.fields.iter().zip(row).map(|(f, v)| (f.name.clone(), json_value(v))).collect(),
    )
}

/// A value serialized as [`json_value`] writes it, without building a `serde_json::Value`.
pub struct JsonCell<'a>(pub &'a Value);

impl Serialize for JsonCell<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(v) => serializer.serialize_i64(*v),
            Value::Float(F64(v)) if v.is_finite() => serializer.serialize_f64(*v),
            Value::Float(F64(v)) => serializer.serialize_str(&format_float(*v)),
            Value::Str(text) => serializer.serialize_str(text),
            Value::List(items) => serializer.collect_seq(items.iter().map(JsonCell)),
        }
    }
}

/// A row serialized as [`row_json`] writes it (fields in name order), without building a
/// `serde_json::Value`. `order` is [`name_order`] of the row's schema.
pub struct JsonRow<'a> {
    /// The row's schema.
    pub schema: &'a Schema,
    /// The schema's field indexes by field name.
    pub order: &'a [usize],
    /// The row.
    pub row: &'a Row,
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer
            .collect_map(self.order.iter().map(|&i| (&self.schema.fields[i].name, JsonCell(&self.row[i]))))
    }
}

/// The indexes of `schema`'s fields, ordered by field name (the order of a JSON object's
/// fields in [`row_json`]).
pub fn name_order(schema: &Schema) -> Vec<usize> {
    let mut order: Vec<usize> = (0..schema.fields.len()).collect();
    order.sort_by(|&a, &b| schema.fields[a].name.cmp(&schema.fields[b].name));
    order
}

/// Writes the history rows with `start <= ts < end` to `out`.
pub async fn export(
    store: &ColdStore,
    dataset: &str,
    start: Option<i64>,
    end: Option<i64>,
    format: Format,
    out: &mut dyn Write,
) -> Result<u64, ReadError> {
    let meta = store.dataset(dataset).await?;
    let rows = store.history(&meta, start, end).await?;
    write_rows(&meta.schema, &rows, format, out)?;
    Ok(rows.len() as u64)
}

/// Writes `rows` of `schema` to `out` in `format`.
pub fn write_rows(
    schema: &Schema,
    rows: &[Row],
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ReadError> {
    let io = |e: std::io::Error| ReadError::Output { file: "output".into(), message: e.to_string() };
    match format {
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            let csv_err = |e: csv::Error| ReadError::Output { file: "output".into(), message: e.to_string() };
            writer.write_record(schema.fields.iter().map(|f| f.name.as_str())).map_err(csv_err)?;
            for row in rows {
                writer.write_record(row.iter().map(format_cell)).map_err(csv_err)?;
            }
            writer.flush().map_err(io)?;
        }
        Format::Arrow => {
            write_arrow(schema, rows, out)
                .map_err(|e| ReadError::Output { file: "output".into(), message: e.to_string() })?;
        }
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, &row_json(schema, row)).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)?;
            }
        }
    }
    Ok(())
}

/// The history of a dataset grouped by key, each key's rows in (time, row) order.
pub struct AsOfIndex {
    meta: DatasetMeta,
    by_key: HashMap<Vec<Value>, Vec<Row>>,
}

impl AsOfIndex {
    /// Loads the whole history of `dataset`.
    pub async fn load(store: &ColdStore, dataset: &str) -> Result<AsOfIndex, ReadError> {
        let meta = store.dataset(dataset).await?;
        let keys = meta.schema.key_indexes();
        let mut by_key: HashMap<Vec<Value>, Vec<Row>> = HashMap::new();
        // History comes ordered by (time, key, row), so each key's list is in (time, row) order.
        for row in store.history(&meta, None, None).await? {
            by_key.entry(keys.iter().map(|&k| row[k].clone()).collect()).or_default().push(row);
        }
        Ok(AsOfIndex { meta, by_key })
    }

    /// The dataset's catalog entry.
    pub fn meta(&self) -> &DatasetMeta {
        &self.meta
    }

    /// The dataset's row for `key` as of `time`: its latest row with timestamp `<= time`
    /// (among rows at that timestamp, the greatest).
    pub fn as_of(&self, key: &[Value], time: i64) -> Option<&Row> {
        let ts = self.meta.schema.timestamp_index();
        let rows = self.by_key.get(key)?;
        let end = rows.partition_point(|r| r[ts].as_int().unwrap_or(i64::MIN) <= time);
        end.checked_sub(1).map(|i| &rows[i])
    }
}

/// What a training-set run produced.
#[derive(Clone, Debug)]
pub struct TrainingReport {
    /// Spine rows written.
    pub rows: u64,
    /// Rows for which the key had no row as of their time.
    pub missing: u64,
}

/// Writes the spine's rows, in order, each with every feature field of `dataset` as of its
/// `timestamp` column. The spine has the dataset's key columns and `timestamp` (ms or RFC 3339).
pub async fn training_set(
    store: &ColdStore,
    dataset: &str,
    spine: &Path,
    out: &Path,
) -> Result<TrainingReport, ReadError> {
    let index = AsOfIndex::load(store, dataset).await?;
    let schema = &index.meta.schema;
    let spine_name = spine.display().to_string();
    let spine_err = |message: String| ReadError::Spine { file: spine_name.clone(), message };
    let mut reader = csv::Reader::from_path(spine).map_err(|e| spine_err(e.to_string()))?;
    let headers = reader.headers().map_err(|e| spine_err(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let key_columns: Vec<(usize, usize)> = schema
        .key_indexes()
        .into_iter()
        .map(|k| {
            let name = &schema.fields[k].name;
            column(name).map(|c| (k, c)).ok_or_else(|| {
                spine_err(format!(
                    "missing key column `{name}` of dataset `{dataset}` (header: {})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let time_column = column("timestamp")
        .ok_or_else(|| spine_err("missing column `timestamp` (event time in ms or RFC 3339)".into()))?;
    let features = schema.value_indexes();

    let out_name = out.display().to_string();
    let out_err = |e: csv::Error| ReadError::Output { file: out_name.clone(), message: e.to_string() };
    let mut writer = csv::Writer::from_path(out).map_err(out_err)?;
    let mut header: Vec<String> = headers.iter().map(str::to_string).collect();
    header.extend(features.iter().map(|&f| schema.fields[f].name.clone()));
    writer.write_record(&header).map_err(out_err)?;

    let mut report = TrainingReport { rows: 0, missing: 0 };
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| spine_err(e.to_string()))? {
        let line = record.position().map_or(0, |p| p.line());
        let key: Vec<Value> = key_columns
            .iter()
            .map(|&(k, c)| {
                let ty = schema.fields[k].ty;
                parse_cell(ty, record.get(c).unwrap_or(""))
                    .map_err(|m| spine_err(format!("line {line}: column `{}`: {m}", schema.fields[k].name)))
            })
            .collect::<Result<_, _>>()?;
        let time = parse_timestamp(record.get(time_column).unwrap_or("").trim())
            .map_err(|m| spine_err(format!("line {line}: column `timestamp`: {m}")))?;
        let found = index.as_of(&key, time);
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        match found {
            Some(row) => cells.extend(features.iter().map(|&f| format_cell(&row[f]))),
            None => {
                report.missing += 1;
                cells.extend(features.iter().map(|_| String::new()));
            }
        }
        writer.write_record(&cells).map_err(out_err)?;
        report.rows += 1;
    }
    writer.flush().map_err(|e| ReadError::Output { file: out_name.clone(), message: e.to_string() })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Field;
    use crate::value::{FieldType, ScalarType};

    fn field(name: &str, scalar: ScalarType, nullable: bool, list: bool) -> Field {
        Field { name: name.into(), ty: FieldType { scalar, nullable, list }, key: false, timestamp: false }
    }

    #[test]
    fn rows_serialize_straight_to_the_json_of_row_json() {
        let schema = Schema {
            fields: vec![
                field("user", ScalarType::Str, false, false),
                field("at", ScalarType::Timestamp, false, false),
                field("b_avg", ScalarType::Float, true, false),
                field("a_tags", ScalarType::Str, false, true),
                field("ok", ScalarType::Bool, false, false),
            ],
        };
        let order = name_order(&schema);
        let row = |user: &str, at: i64, avg: Value, tags: Vec<Value>, ok: bool| {
            vec![Value::str(user), Value::Int(at), avg, Value::List(tags.into()), Value::Bool(ok)]
        };
        for row in [
            row("u\"1", 5, Value::float(0.1), vec![Value::str("x")], true),
            row("", -7, Value::Null, Vec::new(), false),
            row("é\n", i64::MAX, Value::float(f64::NAN), Vec::new(), true),
            row("k", 0, Value::float(f64::NEG_INFINITY), Vec::new(), true),
            row("k", 0, Value::float(1e300), vec![Value::Null], true),
        ] {
            let direct =
                serde_json::to_string(&JsonRow { schema: &schema, order: &order, row: &row }).unwrap();
            assert_eq!(direct, row_json(&schema, &row).to_string());
        }
    }
}
