//! Conversion between host rows and the columnar batches of lambda calls.

use thiserror::Error;

use super::wire::{Batch, Column, ColumnData, ListColumn, ListItems, StrColumn};
use crate::schema::{Field, Schema};
use crate::value::{F64, FieldType, Row, ScalarType, Value};

/// A batch from a guest that does not match the schema it must have.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// Wrong number or names of columns.
    #[error("batch has columns [{found}], expected [{expected}]")]
    Columns {
        /// The batch's column names.
        found: String,
        /// The schema's field names.
        expected: String,
    },
    /// A column of the wrong type or length.
    #[error("column `{column}`: {message}")]
    Column {
        /// The column's name.
        column: String,
        /// What is wrong.
        message: String,
    },
}

/// Builds the batch of fields `projection` (indexes into `schema`) of `rows`.
pub fn batch_from_rows<'a>(
    schema: &Schema,
    projection: &[usize],
    rows: impl ExactSizeIterator<Item = &'a Row> + Clone,
) -> Batch {
    let len = rows.len();
    let columns = projection
        .iter()
        .map(|&index| {
            let ty = schema.fields[index].ty;
            let values = rows.clone().map(|row| &row[index]);
            column_from_values(ty, values, len)
        })
        .collect();
    Batch {
        len: len as u32,
        names: projection.iter().map(|&i| schema.fields[i].name.clone()).collect(),
        columns,
    }
}

fn column_from_values<'a>(
    ty: FieldType,
    values: impl Iterator<Item = &'a Value> + Clone,
    len: usize,
) -> Column {
    if ty.list {
        let mut offsets = Vec::with_capacity(len + 1);
        offsets.push(0u32);
        let mut total = 0u32;
        for value in values.clone() {
            if let Value::List(items) = value {
                total += items.len() as u32;
            }
            offsets.push(total);
        }
        let items = values.flat_map(|v| match v {
            Value::List(items) => items.iter(),
            _ => [].iter(),
        });
        let items = match scalar_data(ty.scalar, items, total as usize) {
            ColumnData::Int(v) => ListItems::Int(v),
            ColumnData::Float(v) => ListItems::Float(v),
            ColumnData::Str(v) => ListItems::Str(v),
            ColumnData::Boolean(v) => ListItems::Boolean(v),
            ColumnData::Timestamp(v) => ListItems::Timestamp(v),
            ColumnData::List(_) => unreachable!("scalar data"),
        };
        return Column { data: ColumnData::List(ListColumn { offsets, items }), nulls: None };
    }
    let nulls = ty.nullable.then(|| values.clone().map(|v| matches!(v, Value::Null)).collect());
    Column { data: scalar_data(ty.scalar, values, len), nulls }
}

/// The data of `len` scalar values (placeholders for nulls).
fn scalar_data<'a>(scalar: ScalarType, values: impl Iterator<Item = &'a Value>, len: usize) -> ColumnData {
    match scalar {
        ScalarType::Int => ColumnData::Int(values.map(|v| v.as_int().unwrap_or(0)).collect()),
        ScalarType::Timestamp => ColumnData::Timestamp(values.map(|v| v.as_int().unwrap_or(0)).collect()),
        ScalarType::Float => ColumnData::Float(values.map(|v| v.as_float().unwrap_or(0.0)).collect()),
        ScalarType::Bool => ColumnData::Boolean(values.map(|v| matches!(v, Value::Bool(true))).collect()),
        ScalarType::Str => {
            let mut bytes = String::new();
            let mut offsets = Vec::with_capacity(len + 1);
            offsets.push(0);
            for value in values {
                if let Value::Str(s) = value {
                    bytes.push_str(s);
                }
                offsets.push(bytes.len() as u32);
            }
            ColumnData::Str(StrColumn { bytes, offsets })
        }
    }
}

/// Scalar values of column data of type `scalar`, or what is wrong.
fn scalar_values(scalar: ScalarType, data: ColumnData) -> Result<Vec<Value>, String> {
    Ok(match (scalar, data) {
        (ScalarType::Int, ColumnData::Int(v)) | (ScalarType::Timestamp, ColumnData::Timestamp(v)) => {
            v.into_iter().map(Value::Int).collect()
        }
        (ScalarType::Float, ColumnData::Float(v)) => v.into_iter().map(|x| Value::Float(F64(x))).collect(),
        (ScalarType::Bool, ColumnData::Boolean(v)) => v.into_iter().map(Value::Bool).collect(),
        (ScalarType::Str, ColumnData::Str(column)) => {
            split_strings(&column)?.into_iter().map(Value::str).collect()
        }
        (scalar, _) => return Err(format!("values are not of type {scalar}")),
    })
}

/// The lists of a list column with items of type `scalar`.
fn list_values(scalar: ScalarType, column: ListColumn) -> Result<Vec<Value>, String> {
    let data = match column.items {
        ListItems::Int(v) => ColumnData::Int(v),
        ListItems::Float(v) => ColumnData::Float(v),
        ListItems::Str(v) => ColumnData::Str(v),
        ListItems::Boolean(v) => ColumnData::Boolean(v),
        ListItems::Timestamp(v) => ColumnData::Timestamp(v),
    };
    let items = scalar_values(scalar, data)?;
    if column.offsets.first() != Some(&0)
        || column.offsets.last().is_some_and(|&end| end as usize != items.len())
    {
        return Err(format!("list offsets must run from 0 to the {} items", items.len()));
    }
    column
        .offsets
        .windows(2)
        .map(|pair| {
            items
                .get(pair[0] as usize..pair[1] as usize)
                .map(|part| Value::List(part.into()))
                .ok_or_else(|| format!("bad list offsets {}..{}", pair[0], pair[1]))
        })
        .collect()
}

/// The strings of a concatenated string column, checking its offsets.
fn split_strings(column: &StrColumn) -> Result<Vec<&str>, String> {
    if column.offsets.first() != Some(&0) {
        return Err("string offsets must start at 0".into());
    }
    column
        .offsets
        .windows(2)
        .map(|pair| {
            column
                .bytes
                .get(pair[0] as usize..pair[1] as usize)
                .ok_or_else(|| format!("bad string offsets {}..{}", pair[0], pair[1]))
        })
        .collect()
}

/// Decodes a batch whose columns must be exactly `schema`'s fields, in order.
pub fn rows_from_batch(schema: &Schema, batch: Batch) -> Result<Vec<Row>, BatchError> {
    let expected: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    if batch.names != expected || batch.columns.len() != expected.len() {
        return Err(BatchError::Columns { found: batch.names.join(", "), expected: expected.join(", ") });
    }
    let len = batch.len as usize;
    let mut rows: Vec<Row> = (0..len).map(|_| Vec::with_capacity(expected.len())).collect();
    for (field, column) in schema.fields.iter().zip(batch.columns) {
        for (row, value) in rows.iter_mut().zip(column_values(field, column, len)?) {
            row.push(value);
        }
    }
    Ok(rows)
}

/// Decodes one column of `len` values of `field` (nulls as [`Value::Null`]).
pub fn column_values(field: &Field, column: Column, len: usize) -> Result<Vec<Value>, BatchError> {
    let error = |message: String| BatchError::Column { column: field.name.clone(), message };
    let nulls = match column.nulls {
        Some(nulls) if nulls.len() != len => {
            return Err(error(format!("{} null flags for {len} rows", nulls.len())));
        }
        Some(nulls) if !field.ty.nullable && nulls.iter().any(|&n| n) => {
            return Err(error(format!("null in a field of type {}", field.ty)));
        }
        other => other,
    };
    let mut values: Vec<Value> = match (field.ty.list, column.data) {
        (true, ColumnData::List(lists)) => list_values(field.ty.scalar, lists).map_err(error)?,
        (true, _) => return Err(error(format!("values are not of type {}", field.ty))),
        (false, ColumnData::List(_)) => {
            return Err(error(format!("lists in a field of type {}", field.ty)));
        }
        (false, data) => scalar_values(field.ty.scalar, data).map_err(error)?,
    };
    if values.len() != len {
        return Err(error(format!("{} values for {len} rows", values.len())));
    }
    if let Some(nulls) = nulls {
        for (value, null) in values.iter_mut().zip(nulls) {
            if null {
                *value = Value::Null;
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let field = |name: &str, ty| Field { name: name.into(), ty, key: false, timestamp: false };
        Schema {
            fields: vec![
                field("id", FieldType::required(ScalarType::Str)),
                field("ts", FieldType::required(ScalarType::Timestamp)),
                field("price", FieldType::optional(ScalarType::Float)),
            ],
        }
    }

    #[test]
    fn rows_round_trip_through_a_batch() {
        let rows = vec![
            vec![Value::str("a"), Value::Int(5), Value::float(1.5)],
            vec![Value::str("b"), Value::Int(6), Value::Null],
        ];
        let batch = batch_from_rows(&schema(), &[0, 1, 2], rows.iter());
        assert_eq!(batch.columns[2].nulls, Some(vec![false, true]));
        assert_eq!(rows_from_batch(&schema(), batch).unwrap(), rows);
    }

    #[test]
    fn lists_round_trip_through_a_batch() {
        let field = |name: &str, ty| Field { name: name.into(), ty, key: false, timestamp: false };
        let schema = Schema {
            fields: vec![
                field("tags", FieldType::list(ScalarType::Str)),
                field("counts", FieldType::list(ScalarType::Int)),
            ],
        };
        let list = |items: Vec<Value>| Value::List(items.into());
        let rows = vec![
            vec![list(vec![Value::str("a"), Value::str("bc")]), list(vec![])],
            vec![list(vec![]), list(vec![Value::Int(3), Value::Int(-4)])],
        ];
        let batch = batch_from_rows(&schema, &[0, 1], rows.iter());
        assert_eq!(rows_from_batch(&schema, batch).unwrap(), rows);
        let bad = Batch {
            len: 1,
            names: vec!["tags".into()],
            columns: vec![Column {
                data: ColumnData::List(ListColumn { offsets: vec![0, 3], items: ListItems::Int(vec![1]) }),
                nulls: None,
            }],
        };
        let one = Schema { fields: vec![field("tags", FieldType::list(ScalarType::Int))] };
        assert!(rows_from_batch(&one, bad).is_err());
    }

    #[test]
    fn projection_sends_only_the_named_fields() {
        let rows = [vec![Value::str("a"), Value::Int(5), Value::float(1.5)]];
        let batch = batch_from_rows(&schema(), &[2], rows.iter());
        assert_eq!(batch.names, vec!["price".to_string()]);
        assert_eq!(batch.columns.len(), 1);
    }

    #[test]
    fn strings_cross_as_one_buffer_with_offsets() {
        let rows = [
            vec![Value::str("héllo"), Value::Int(1), Value::Null],
            vec![Value::str(""), Value::Int(2), Value::Null],
        ];
        let batch = batch_from_rows(&schema(), &[0], rows.iter());
        let ColumnData::Str(column) = &batch.columns[0].data else { panic!("a string column") };
        assert_eq!((column.bytes.as_str(), column.offsets.as_slice()), ("héllo", &[0, 6, 6][..]));
        // Offsets that split a character, or run past the end, are an error, not a panic.
        for offsets in [vec![0, 2, 6], vec![0, 6, 9], vec![1, 6, 6]] {
            let bad = StrColumn { bytes: "héllo".into(), offsets };
            assert!(split_strings(&bad).is_err());
        }
    }

    #[test]
    fn mismatched_batches_are_rejected() {
        let batch = Batch { len: 1, names: vec!["id".into()], columns: vec![] };
        assert!(matches!(rows_from_batch(&schema(), batch), Err(BatchError::Columns { .. })));
    }
}
