//! Rows from JSON objects, as the streaming sources receive them: fields by name, extra fields
//! ignored, timestamps as integer milliseconds or RFC 3339 strings.

use serde_json::{Map, Value as Json};

use crate::connector::parse_timestamp;
use crate::schema::Schema;
use crate::value::{F64, FieldType, Row, ScalarType, Value};

/// Decodes one JSON object into a row of `schema`, or says what is wrong with it.
pub fn row_from_json(schema: &Schema, json: &Json) -> Result<Row, String> {
    let Json::Object(object) = json else {
        return Err(format!("expected a JSON object, got {}", kind(json)));
    };
    row_from_object(schema, object)
}

/// Decodes the fields of `object` into a row of `schema`.
pub fn row_from_object(schema: &Schema, object: &Map<String, Json>) -> Result<Row, String> {
    schema
        .fields
        .iter()
        .map(|field| {
            let value = object.get(&field.name).unwrap_or(&Json::Null);
            if value.is_null() {
                return if field.ty.nullable {
                    Ok(Value::Null)
                } else if object.contains_key(&field.name) {
                    Err(format!("field `{}` is null but has type {}", field.name, field.ty))
                } else {
                    Err(format!("missing field `{}` ({})", field.name, field.ty))
                };
            }
            field_from_json(field.ty, value).map_err(|expected| {
                format!("field `{}`: expected {expected}, got {}", field.name, show(value))
            })
        })
        .collect()
}

/// A non-null JSON value as a value of type `ty` (an array for a list), or what was expected.
pub fn field_from_json(ty: FieldType, value: &Json) -> Result<Value, &'static str> {
    if !ty.list {
        return value_from_json(ty.scalar, value);
    }
    let Json::Array(items) = value else {
        return Err("an array");
    };
    let items = items.iter().map(|item| value_from_json(ty.scalar, item)).collect::<Result<Vec<_>, _>>();
    items.map(|items| Value::List(items.into())).map_err(|_| "an array of one type")
}

/// A list written as JSON text (`[1, 2]`), as CSV cells and SQL text columns hold them.
pub fn list_from_text(ty: FieldType, text: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("invalid list `{text}`: {e}"))?;
    field_from_json(ty, &json).map_err(|expected| format!("invalid {ty} `{text}`: expected {expected}"))
}

/// A JSON value as a value of `scalar`, or what was expected instead.
pub fn value_from_json(scalar: ScalarType, value: &Json) -> Result<Value, &'static str> {
    match scalar {
        ScalarType::Str => value.as_str().map(Value::str).ok_or("a string"),
        ScalarType::Int => value.as_i64().map(Value::Int).ok_or("an integer"),
        ScalarType::Float => value.as_f64().map(|v| Value::Float(F64(v))).ok_or("a number"),
        ScalarType::Bool => value.as_bool().map(Value::Bool).ok_or("true or false"),
        ScalarType::Timestamp => match value {
            Json::Number(n) => n.as_i64().map(Value::Int).ok_or("integer milliseconds or RFC 3339"),
            Json::String(s) => {
                parse_timestamp(s.trim()).map(Value::Int).map_err(|_| "integer milliseconds or RFC 3339")
            }
            _ => Err("integer milliseconds or RFC 3339"),
        },
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn show(json: &Json) -> String {
    let text = json.to_string();
    if text.len() > 60 { format!("{}...", &text[..text.floor_char_boundary(57)]) } else { text }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::Field;

    fn schema() -> Schema {
        let field = |name: &str, scalar, nullable, timestamp| Field {
            name: name.into(),
            ty: FieldType { scalar, nullable, list: false },
            key: name == "id",
            timestamp,
        };
        Schema {
            fields: vec![
                field("id", ScalarType::Str, false, false),
                field("at", ScalarType::Timestamp, false, true),
                field("price", ScalarType::Float, false, false),
                field("note", ScalarType::Str, true, false),
            ],
        }
    }

    #[test]
    fn objects_decode_by_field_name_ignoring_extras() {
        let row = row_from_json(&schema(), &json!({"price": 2, "id": "a", "at": 5, "other": [1]})).unwrap();
        assert_eq!(row, vec![Value::str("a"), Value::Int(5), Value::float(2.0), Value::Null]);
        let row = row_from_json(&schema(), &json!({"id": "a", "at": "1970-01-01T00:00:01Z", "price": 0.1}));
        assert_eq!(row.unwrap()[1], Value::Int(1000));
    }

    #[test]
    fn lists_decode_from_arrays_of_one_type() {
        let ints = FieldType::list(ScalarType::Int);
        assert_eq!(
            list_from_text(ints, "[1, -2]"),
            Ok(Value::List(vec![Value::Int(1), Value::Int(-2)].into()))
        );
        assert_eq!(list_from_text(ints, "[]"), Ok(Value::List(Vec::new().into())));
        assert!(list_from_text(ints, "[1, \"a\"]").unwrap_err().contains("expected an array of one type"));
        assert!(list_from_text(ints, "1").unwrap_err().contains("expected an array"));
    }

    #[test]
    fn floats_decode_to_the_nearest_double() {
        let text = r#"{"id": "a", "at": 1, "price": 1234567.8912345679}"#;
        let row = row_from_json(&schema(), &serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(row[2], Value::float("1234567.8912345679".parse().unwrap()));
    }

    #[test]
    fn bad_objects_name_the_field_and_the_problem() {
        let err = row_from_json(&schema(), &json!({"id": "a", "price": 1})).unwrap_err();
        assert_eq!(err, "missing field `at` (timestamp)");
        let err = row_from_json(&schema(), &json!({"id": 7, "at": 1, "price": 1})).unwrap_err();
        assert_eq!(err, "field `id`: expected a string, got 7");
        let err = row_from_json(&schema(), &json!({"id": "a", "at": "noon", "price": 1})).unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
        assert_eq!(
            row_from_json(&schema(), &json!([1])).unwrap_err(),
            "expected a JSON object, got an array"
        );
    }
}
