//! Rows as an Arrow IPC stream, for pandas, polars and DuckDB (`pyarrow.ipc.open_stream`).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListArray, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::schema::Schema;
use crate::value::{FieldType, Row, ScalarType, Value};

/// Rows per record batch.
const BATCH_ROWS: usize = 65_536;

fn scalar_type(scalar: ScalarType) -> DataType {
    match scalar {
        ScalarType::Int => DataType::Int64,
        ScalarType::Float => DataType::Float64,
        ScalarType::Str => DataType::Utf8,
        ScalarType::Bool => DataType::Boolean,
        ScalarType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
    }
}

fn item_field(scalar: ScalarType) -> Arc<Field> {
    Arc::new(Field::new_list_field(scalar_type(scalar), false))
}

/// The Arrow schema of a dataset: timestamps as `timestamp[ms, UTC]`, lists as `list<T>`.
pub fn arrow_schema(schema: &Schema) -> ArrowSchema {
    ArrowSchema::new(
        schema
            .fields
            .iter()
            .map(|f| {
                let ty = if f.ty.list {
                    DataType::List(item_field(f.ty.scalar))
                } else {
                    scalar_type(f.ty.scalar)
                };
                Field::new(&f.name, ty, f.ty.nullable)
            })
            .collect::<Vec<_>>(),
    )
}

fn column(ty: FieldType, rows: &[Row], index: usize) -> ArrayRef {
    let values = rows.iter().map(|r| &r[index]);
    if !ty.list {
        return scalar_array(ty.scalar, values, rows.len());
    }
    let lists = || {
        values.clone().map(|v| match v {
            Value::List(items) => &items[..],
            _ => &[],
        })
    };
    let offsets: OffsetBuffer<i32> = OffsetBuffer::from_lengths(lists().map(<[Value]>::len));
    let total = offsets.last() as usize;
    let items = scalar_array(ty.scalar, lists().flatten(), total);
    Arc::new(ListArray::new(item_field(ty.scalar), offsets, items, None))
}

fn scalar_array<'a>(scalar: ScalarType, values: impl Iterator<Item = &'a Value>, len: usize) -> ArrayRef {
    match scalar {
        ScalarType::Int => {
            let mut b = Int64Builder::with_capacity(len);
            values.for_each(|v| b.append_option(v.as_int()));
            Arc::new(b.finish())
        }
        ScalarType::Timestamp => {
            let mut b = TimestampMillisecondBuilder::with_capacity(len).with_timezone("UTC");
            values.for_each(|v| b.append_option(v.as_int()));
            Arc::new(b.finish())
        }
        ScalarType::Float => {
            let mut b = Float64Builder::with_capacity(len);
            values.for_each(|v| b.append_option(v.as_float()));
            Arc::new(b.finish())
        }
        ScalarType::Bool => {
            let mut b = BooleanBuilder::with_capacity(len);
            values.for_each(|v| b.append_option(if let Value::Bool(x) = v { Some(*x) } else { None }));
            Arc::new(b.finish())
        }
        ScalarType::Str => {
            let mut b = StringBuilder::new();
            values.for_each(|v| b.append_option(if let Value::Str(s) = v { Some(&**s) } else { None }));
            Arc::new(b.finish())
        }
    }
}

/// Writes `rows` of `schema` to `out` as an Arrow IPC stream.
pub fn write_arrow(schema: &Schema, rows: &[Row], out: &mut dyn Write) -> Result<(), ArrowError> {
    let arrow = Arc::new(arrow_schema(schema));
    let mut writer = StreamWriter::try_new(out, &arrow)?;
    for chunk in rows.chunks(BATCH_ROWS) {
        let columns =
            schema.fields.iter().enumerate().map(|(i, f)| column(f.ty, chunk, i)).collect::<Vec<_>>();
        writer.write(&RecordBatch::try_new(arrow.clone(), columns)?)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, TimestampMillisecondType};
    use arrow::ipc::reader::StreamReader;

    use super::*;
    use crate::schema::Field as VolgaField;

    #[test]
    fn rows_round_trip_through_an_ipc_stream() {
        let schema = Schema {
            fields: vec![
                VolgaField {
                    name: "k".into(),
                    ty: FieldType::required(ScalarType::Str),
                    key: true,
                    timestamp: false,
                },
                VolgaField {
                    name: "t".into(),
                    ty: FieldType::required(ScalarType::Timestamp),
                    key: false,
                    timestamp: true,
                },
                VolgaField {
                    name: "v".into(),
                    ty: FieldType::optional(ScalarType::Float),
                    key: false,
                    timestamp: false,
                },
            ],
        };
        let rows = vec![
            vec![Value::str("a"), Value::Int(5), Value::float(0.1)],
            vec![Value::str("b"), Value::Int(6), Value::Null],
        ];
        let mut bytes = Vec::new();
        write_arrow(&schema, &rows, &mut bytes).unwrap();
        let batches: Vec<RecordBatch> =
            StreamReader::try_new(&bytes[..], None).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(batch.column(0).as_string::<i32>().value(1), "b");
        assert_eq!(batch.column(1).as_primitive::<TimestampMillisecondType>().value(0), 5);
        let v = batch.column(2).as_primitive::<Float64Type>();
        assert_eq!(v.value(0).to_bits(), 0.1f64.to_bits());
        assert!(v.is_null(1));
    }

    #[test]
    fn lists_become_arrow_lists() {
        let field = |name: &str, ty, timestamp| VolgaField { name: name.into(), ty, key: false, timestamp };
        let schema = Schema {
            fields: vec![
                field("t", FieldType::required(ScalarType::Timestamp), true),
                field("last", FieldType::list(ScalarType::Int), false),
            ],
        };
        let list = |items: &[i64]| Value::List(items.iter().map(|&i| Value::Int(i)).collect());
        let rows = vec![vec![Value::Int(1), list(&[3, 4])], vec![Value::Int(2), list(&[])]];
        let mut bytes = Vec::new();
        write_arrow(&schema, &rows, &mut bytes).unwrap();
        let batch = StreamReader::try_new(&bytes[..], None).unwrap().next().unwrap().unwrap();
        let lists = batch.column(1).as_list::<i32>();
        assert_eq!(lists.value_offsets(), &[0, 2, 2]);
        assert_eq!(lists.values().as_primitive::<arrow::datatypes::Int64Type>().values(), &[3, 4]);
    }
}
