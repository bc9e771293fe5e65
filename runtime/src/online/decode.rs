//! Rows from JSON objects, as the streaming sources receive them: fields by name, extra fields
//! ignored, timestamps as integer milliseconds or RFC 3339 strings.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use smallvec::SmallVec;

use crate::connector::{Interner, parse_timestamp};
use crate::schema::Schema;
use crate::store::codec::{self, KeyList};
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

/// Decodes one JSON object, as text, into a row of `schema`, or says what is wrong with it: the
/// same rows and reasons as [`row_from_json`] over the parsed text, but a well-formed object is
/// read straight into the row, with no `serde_json::Value` built, and its string cells shared
/// through `interners` (one per field of `schema`). Anything unusual (a missing or mistyped
/// field, a list, a timestamp as text it cannot read) takes the general path, which names the
/// problem.
pub fn row_from_json_bytes(schema: &Schema, bytes: &[u8], interners: &mut [Interner]) -> Result<Row, String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let fast = RowSeed { schema, interners }.deserialize(&mut deserializer).and_then(|row| {
        deserializer.end()?;
        Ok(row)
    });
    if let Ok(Some(row)) = fast {
        return Ok(row);
    }
    let json: Json = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    row_from_json(schema, &json)
}

/// Decodes a JSON array of objects, as text, into a row of `schema` per object in one pass,
/// each read as [`row_from_json_bytes`] reads one (string cells shared through `interners`).
/// `None` as soon as anything is unusual (not an array, an object the fast path does not
/// read), for the caller's general path, which reads each record on its own and names what is
/// wrong with each.
pub fn rows_from_json_array(schema: &Schema, text: &str, interners: &mut [Interner]) -> Option<Vec<Row>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let rows = RowsSeed { schema, interners }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(rows)
}

/// Reads an array of objects into rows; an error as soon as one is unusual.
struct RowsSeed<'s> {
    schema: &'s Schema,
    interners: &'s mut [Interner],
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = Vec<Row>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = Vec<Row>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) =
            seq.next_element_seed(RowSeed { schema: self.schema, interners: &mut *self.interners })?
        {
            rows.push(row.ok_or_else(|| A::Error::custom("a row for the general path"))?);
        }
        Ok(rows)
    }
}

/// Reads a JSON array of key objects (a lookup's keys) straight into their encoding, as the
/// hot store keys its rows: each object's fields of `schema` (the key fields, none nullable)
/// in schema order, extra fields ignored. No value is built for a string key and nothing is
/// allocated per key. `None` when anything is unusual (not an array of objects, a missing,
/// null or mistyped field, a value in text form), for the caller's general path to decide
/// and name the problem.
pub struct KeysSeed<'s> {
    /// The key fields.
    pub schema: &'s Schema,
}

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Option<KeyList>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Option<KeyList>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of key objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = KeyList::with_capacity(seq.size_hint().unwrap_or(0), 16);
        // Each field's encoding as the current object gives it, in the object's order.
        let mut encoded = Vec::new();
        let mut spans: SmallVec<[Option<Range<usize>>; 4]> =
            smallvec::smallvec![None; self.schema.fields.len()];
        let mut readable = true;
        while let Some(read) =
            seq.next_element_seed(KeySeed { schema: self.schema, encoded: &mut encoded, spans: &mut spans })?
        {
            if read && readable {
                keys.push_encoded(spans.iter().flatten().map(|span| &encoded[span.clone()]));
            } else {
                readable = false;
            }
        }
        Ok(readable.then_some(keys))
    }
}

/// Reads one key object into the encodings of its key fields: whether each was read.
struct KeySeed<'k> {
    schema: &'k Schema,
    encoded: &'k mut Vec<u8>,
    spans: &'k mut [Option<Range<usize>>],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.encoded.clear();
        self.spans.fill(None);
        let mut readable = true;
        while let Some(index) = map.next_key_seed(FieldName(self.schema))? {
            match index {
                Some(i) => {
                    let start = self.encoded.len();
                    let seed = EncodedFieldSeed { ty: self.schema.fields[i].ty, out: &mut *self.encoded };
                    if map.next_value_seed(seed)? {
                        self.spans[i] = Some(start..self.encoded.len());
                    } else {
                        readable = false;
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(readable && self.spans.iter().all(Option::is_some))
    }
}

/// One field's value written straight into its encoding: whether it was exactly what `ty`
/// takes, by [`FieldSeed`]'s rules (a string into its bytes, with no value built).
struct EncodedFieldSeed<'o> {
    ty: FieldType,
    out: &'o mut Vec<u8>,
}

impl EncodedFieldSeed<'_> {
    /// Encodes what [`FieldSeed`] reads, if anything.
    fn read<E>(self, read: impl FnOnce(FieldSeed) -> Result<Option<Value>, E>) -> Result<bool, E> {
        let mut interner = Interner::unshared();
        let value = read(FieldSeed { ty: self.ty, interner: &mut interner })?;
        Ok(value.map(|value| codec::encode([&value], self.out)).is_some())
    }
}

impl<'de> DeserializeSeed<'de> for EncodedFieldSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EncodedFieldSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of type {}", self.ty)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.read(|field| field.visit_unit())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.read(|field| field.visit_bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.read(|field| field.visit_i64(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.read(|field| field.visit_u64(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.read(|field| field.visit_f64(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if !self.ty.list && self.ty.scalar == ScalarType::Str {
            codec::encode_str(v, self.out);
            return Ok(true);
        }
        self.read(|field| field.visit_str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.read(|field| field.visit_seq(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.read(|field| field.visit_map(map))
    }
}

/// Reads an object into a row; `None` when the general path must decide.
struct RowSeed<'s> {
    schema: &'s Schema,
    interners: &'s mut [Interner],
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Option<Row>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Option<Row>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = &self.schema.fields;
        // Per field: not seen, or what its last occurrence held (`None`: not readable here).
        let mut slots: SmallVec<[Option<Option<Value>>; 8]> = smallvec::smallvec![None; fields.len()];
        while let Some(index) = map.next_key_seed(FieldName(self.schema))? {
            match index {
                Some(i) => {
                    let seed = FieldSeed { ty: fields[i].ty, interner: &mut self.interners[i] };
                    slots[i] = Some(map.next_value_seed(seed)?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let mut row = Vec::with_capacity(fields.len());
        for (field, slot) in fields.iter().zip(slots) {
            match slot {
                Some(Some(value)) => row.push(value),
                None if field.ty.nullable => row.push(Value::Null),
                _ => return Ok(None),
            }
        }
        Ok(Some(row))
    }
}

/// A key of the object: the index of the schema field it names, if any.
struct FieldName<'s>(&'s Schema);

impl<'de> DeserializeSeed<'de> for FieldName<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldName<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        let name = name.as_bytes();
        Ok(self
            .0
            .fields
            .iter()
            .position(|f| f.name.len() == name.len() && same_bytes(f.name.as_bytes(), name)))
    }
}

/// Whether `a` and `b`, of one length, hold the same bytes. A field name is most often a few
/// bytes long and every key of every record is matched against the schema's names: compared
/// here with two overlapping loads, where `==` called `memcmp` (5-6% of an HTTP ingest's
/// handlers, a call per name of equal length).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |s: &[u8], at: usize| u32::from_ne_bytes(s[at..at + 4].try_into().expect("4 bytes"));
    match n {
        0 => true,
        // The first, middle and last bytes are every byte of one to three.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// One field's value: `Some` when it is exactly what `ty` takes, `None` for the general path.
struct FieldSeed<'i> {
    ty: FieldType,
    interner: &'i mut Interner,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value of type {}", self.ty)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.ty.nullable.then_some(Value::Null))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok((!self.ty.list && self.ty.scalar == ScalarType::Bool).then_some(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match (self.ty.list, self.ty.scalar) {
            (false, ScalarType::Int | ScalarType::Timestamp) => Some(Value::Int(v)),
            (false, ScalarType::Float) => Some(Value::Float(F64(v as f64))),
            _ => None,
        })
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) if !self.ty.list && self.ty.scalar == ScalarType::Float => {
                Ok(Some(Value::Float(F64(v as f64))))
            }
            Err(_) => Ok(None),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok((!self.ty.list && self.ty.scalar == ScalarType::Float).then_some(Value::Float(F64(v))))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match (self.ty.list, self.ty.scalar) {
            (false, ScalarType::Str) => Some(self.interner.intern(v)),
            (false, ScalarType::Timestamp) => parse_timestamp(v.trim()).ok().map(Value::Int),
            _ => None,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
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

    proptest::proptest! {
        #[test]
        fn names_of_one_length_compare_equal_exactly_when_their_bytes_are_equal(
            a in proptest::collection::vec(0u8..3, 0..24),
            flips in proptest::collection::vec(proptest::num::usize::ANY, 0..3),
        ) {
            // Bytes from a small alphabet, the second name the first with a few bytes changed
            // (or none), so that equal names and names differing anywhere both come up.
            let mut b = a.clone();
            for flip in flips.iter().filter(|_| !a.is_empty()) {
                let i = flip % a.len();
                b[i] = b[i].wrapping_add(1 + (flip / a.len() % 2) as u8);
            }
            proptest::prop_assert_eq!(same_bytes(&a, &b), a == b);
        }
    }

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

    /// The general path: parse, then decode the `Value`.
    fn general(schema: &Schema, text: &str) -> Result<Row, String> {
        let json: Json = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        row_from_json(schema, &json)
    }

    #[test]
    fn text_decodes_exactly_as_parsed_json_does() {
        let mut with_list = schema();
        with_list.fields.push(Field {
            name: "tags".into(),
            ty: FieldType::list(ScalarType::Str),
            key: false,
            timestamp: false,
        });
        let texts = [
            r#"{"id": "a", "at": 5, "price": 2.5}"#,
            r#"{"price": 2, "id": "a", "at": 5, "other": [1, {"x": null}], "note": "n"}"#,
            r#"{"id": "a\u00e9\"", "at": 5, "price": -0.0, "note": null}"#,
            r#"{"id": "a", "at": "1970-01-01T00:00:01Z", "price": 1e300}"#,
            r#"{"id": "a", "at": 5, "price": 18446744073709551615}"#,
            r#"{"id": "a", "at": 9223372036854775808, "price": 1}"#,
            r#"{"id": "a", "at": 5.0, "price": 1}"#,
            r#"{"id": "a", "at": "noon", "price": 1}"#,
            r#"{"id": 7, "at": 1, "price": 1}"#,
            r#"{"id": null, "at": 1, "price": 1}"#,
            r#"{"id": "a", "price": 1}"#,
            r#"{"id": "a", "at": 1, "price": "1"}"#,
            r#"{"id": "a", "at": 1, "price": 1, "id": "b"}"#,
            r#"{"id": 1, "at": 1, "price": 1, "id": "b"}"#,
            r#"{"id": "a", "at": 1, "price": 1, "note": {"deep": [1]}}"#,
            r#"{"id": "a", "at": 1, "price": true}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"id": "a", "at": 1, "price": 1"#,
            r#"{"id": "a", "at": 1, "price": 1} trailing"#,
        ];
        for text in texts {
            let mut interners: Vec<Interner> = schema().fields.iter().map(|_| Interner::default()).collect();
            assert_eq!(
                row_from_json_bytes(&schema(), text.as_bytes(), &mut interners),
                general(&schema(), text),
                "{text}"
            );
        }
        for text in [
            r#"{"id": "a", "at": 1, "price": 1, "tags": ["x", "y"]}"#,
            r#"{"id": "a", "at": 1, "price": 1, "tags": [1]}"#,
        ] {
            let mut interners: Vec<Interner> = with_list.fields.iter().map(|_| Interner::default()).collect();
            assert_eq!(
                row_from_json_bytes(&with_list, text.as_bytes(), &mut interners),
                general(&with_list, text),
                "{text}"
            );
        }
    }

    #[test]
    fn an_array_read_in_one_pass_gives_each_objects_row_or_defers_to_the_general_path() {
        let interners = || schema().fields.iter().map(|_| Interner::default()).collect::<Vec<_>>();
        let objects = [
            r#"{"id": "a", "at": 5, "price": 2.5}"#,
            r#"{"price": 2, "id": "b\u00e9", "at": "1970-01-01T00:00:01Z", "other": [1, {"x": null}], "note": "n"}"#,
            r#"{"id": "a", "at": 1, "price": 1, "id": "c"}"#,
        ];
        let text = format!("[{}]", objects.join(", "));
        let each: Vec<Row> = objects.iter().map(|o| general(&schema(), o).unwrap()).collect();
        assert_eq!(rows_from_json_array(&schema(), &text, &mut interners()), Some(each));
        assert_eq!(rows_from_json_array(&schema(), " [ ] ", &mut interners()), Some(vec![]));
        // One object the fast path does not read, or not an array of objects: the general path.
        for text in [
            format!("[{}, {}]", objects[0], r#"{"id": "a", "price": 1}"#),
            format!("[{}, 3]", objects[0]),
            objects[0].to_string(),
            format!("[{}] [", objects[0]),
            format!("[{}", objects[0]),
        ] {
            assert_eq!(rows_from_json_array(&schema(), &text, &mut interners()), None, "{text}");
        }
    }

    #[test]
    fn well_formed_rows_share_their_strings() {
        let mut interners: Vec<Interner> = schema().fields.iter().map(|_| Interner::default()).collect();
        let mut decode =
            |text: &str| row_from_json_bytes(&schema(), text.as_bytes(), &mut interners).unwrap();
        let id = "an id longer than a value holds inline";
        let (first, second) = (
            decode(&format!(r#"{{"id": "{id}", "at": 1, "price": 1}}"#)),
            decode(&format!(r#"{{"at": 2, "id": "{id}", "price": 3}}"#)),
        );
        let (Value::Str(a), Value::Str(b)) = (&first[0], &second[0]) else { panic!("strings") };
        assert_eq!(a.as_ptr(), b.as_ptr(), "the second row reuses the first row's string");
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
