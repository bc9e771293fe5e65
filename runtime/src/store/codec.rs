//! A compact, self-describing binary encoding of values, for hot-store keys and rows. Equal
//! values encode to equal bytes, so encoded keys can be looked up directly.

use crate::value::{F64, Row, Value};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;
const LIST: u8 = 6;

/// Appends the encoding of `values` to `out`.
pub fn encode<'a>(values: impl IntoIterator<Item = &'a Value>, out: &mut Vec<u8>) {
    for value in values {
        match value {
            Value::Null => out.push(NULL),
            Value::Bool(false) => out.push(FALSE),
            Value::Bool(true) => out.push(TRUE),
            Value::Int(v) => {
                out.push(INT);
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::Float(F64(v)) => {
                out.push(FLOAT);
                out.extend_from_slice(&v.to_bits().to_be_bytes());
            }
            Value::Str(s) => {
                out.push(STR);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::List(items) => {
                out.push(LIST);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                encode(items.iter(), out);
            }
        }
    }
}

/// The encoding of `values`.
pub fn encoded<'a>(values: impl IntoIterator<Item = &'a Value>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(values, &mut out);
    out
}

/// Decodes a row written by [`encode`]; `None` if the bytes are not such an encoding.
pub fn decode(mut bytes: &[u8]) -> Option<Row> {
    let mut row = Vec::new();
    while !bytes.is_empty() {
        row.push(decode_value(&mut bytes)?);
    }
    Some(row)
}

fn decode_value(bytes: &mut &[u8]) -> Option<Value> {
    let (&tag, rest) = bytes.split_first()?;
    *bytes = rest;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = bytes.split_at_checked(n)?;
        *bytes = rest;
        Some(head)
    };
    Some(match tag {
        NULL => Value::Null,
        FALSE => Value::Bool(false),
        TRUE => Value::Bool(true),
        INT => Value::Int(i64::from_be_bytes(take(8)?.try_into().ok()?)),
        FLOAT => Value::Float(F64(f64::from_bits(u64::from_be_bytes(take(8)?.try_into().ok()?)))),
        STR => {
            let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
            Value::str(std::str::from_utf8(take(len)?).ok()?)
        }
        LIST => {
            let len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
            let items = (0..len).map(|_| decode_value(bytes)).collect::<Option<Vec<Value>>>()?;
            Value::List(items.into())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_bit_for_bit() {
        let row = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::float(-0.0),
            Value::float(f64::NAN),
            Value::str("ünïcode"),
            Value::str(""),
            Value::List(vec![Value::Int(1), Value::Int(-2)].into()),
            Value::List(Vec::new().into()),
            Value::Int(7),
        ];
        assert_eq!(decode(&encoded(&row)), Some(row));
        assert_eq!(decode(&[STR, 0, 0, 0, 9, b'a']), None);
    }
}
