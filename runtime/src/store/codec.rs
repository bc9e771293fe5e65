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
            Value::Str(s) => encode_str(s, out),
            Value::List(items) => {
                out.push(LIST);
                out.extend_from_slice(&(items.len() as u32).to_be_bytes());
                encode(items.iter(), out);
            }
        }
    }
}

/// Appends the encoding of the string value `text` to `out`: what [`encode`] writes for
/// `Value::Str`, from text not (yet) held in a value.
pub fn encode_str(text: &str, out: &mut Vec<u8>) {
    out.push(STR);
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Keys in this encoding, one after another: what a lookup asks for. Each key is the
/// encoding of its key fields' values in schema order, so it is found as it was stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyList {
    bytes: Vec<u8>,
    /// Where each key ends in `bytes`.
    ends: Vec<usize>,
}

impl KeyList {
    /// An empty list with room for `keys` keys of about `bytes_per_key` bytes.
    pub fn with_capacity(keys: usize, bytes_per_key: usize) -> KeyList {
        KeyList { bytes: Vec::with_capacity(keys * bytes_per_key), ends: Vec::with_capacity(keys) }
    }

    /// Appends the key whose fields hold `values`.
    pub fn push(&mut self, values: &[Value]) {
        encode(values, &mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    /// Appends a key already encoded: its fields' encodings, in schema order.
    pub fn push_encoded(&mut self, parts: impl IntoIterator<Item = impl AsRef<[u8]>>) {
        for part in parts {
            self.bytes.extend_from_slice(part.as_ref());
        }
        self.ends.push(self.bytes.len());
    }

    /// How many keys the list holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the list holds no key.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each key's encoding, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            &self.bytes[start..self.ends[i]]
        })
    }

    /// Each key's values, in order.
    pub fn decoded(&self) -> impl ExactSizeIterator<Item = Row> {
        self.iter().map(|key| decode(key).expect("a key list holds only encodings"))
    }
}

impl<K: AsRef<[Value]>> FromIterator<K> for KeyList {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> KeyList {
        let mut list = KeyList::default();
        for key in keys {
            list.push(key.as_ref());
        }
        list
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

/// Decodes the first `count` values of an encoding (bytes after them are not read); `None` if
/// the bytes do not begin with as many.
pub fn decode_first(mut bytes: &[u8], count: usize) -> Option<Row> {
    (0..count).map(|_| decode_value(&mut bytes)).collect()
}

/// One value of an encoding as [`encode`] wrote it, read in place: text is the encoding's own
/// bytes (UTF-8, as it was written). A list is decoded whole.
#[derive(Debug, PartialEq)]
pub enum Cell<'a> {
    /// A null.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string's bytes.
    Text(&'a [u8]),
    /// A list.
    List(Value),
}

/// The next value of an encoding, read in place; `None` at its end or if the bytes are not
/// such an encoding.
pub fn next_cell<'a>(bytes: &mut &'a [u8]) -> Option<Cell<'a>> {
    let (&tag, rest) = bytes.split_first()?;
    let fixed = |rest: &'a [u8]| -> Option<([u8; 8], &'a [u8])> {
        let (head, rest) = rest.split_first_chunk::<8>()?;
        Some((*head, rest))
    };
    let (cell, rest) = match tag {
        NULL => (Cell::Null, rest),
        FALSE => (Cell::Bool(false), rest),
        TRUE => (Cell::Bool(true), rest),
        INT => fixed(rest).map(|(v, rest)| (Cell::Int(i64::from_be_bytes(v)), rest))?,
        FLOAT => fixed(rest).map(|(v, rest)| (Cell::Float(f64::from_bits(u64::from_be_bytes(v))), rest))?,
        STR => {
            let (len, rest) = rest.split_first_chunk::<4>()?;
            let (text, rest) = rest.split_at_checked(u32::from_be_bytes(*len) as usize)?;
            (Cell::Text(text), rest)
        }
        _ => {
            let mut list = *bytes;
            let value = decode_value(&mut list)?;
            *bytes = list;
            return Some(Cell::List(value));
        }
    };
    *bytes = rest;
    Some(cell)
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

    #[test]
    fn cells_read_in_place_what_decode_reads_into_values() {
        let row = vec![
            Value::Null,
            Value::Bool(false),
            Value::Int(i64::MIN),
            Value::float(-0.0),
            Value::str("ünï"),
            Value::List(vec![Value::Int(1)].into()),
            Value::Int(7),
        ];
        let bytes = encoded(&row);
        let mut rest = bytes.as_slice();
        let cells: Vec<Cell> = std::iter::from_fn(|| next_cell(&mut rest)).collect();
        assert!(rest.is_empty());
        assert_eq!(
            cells,
            vec![
                Cell::Null,
                Cell::Bool(false),
                Cell::Int(i64::MIN),
                Cell::Float(-0.0),
                Cell::Text("ünï".as_bytes()),
                Cell::List(row[5].clone()),
                Cell::Int(7),
            ]
        );
        // A cut encoding reads as no cell, and leaves the bytes where they were.
        let mut cut = &bytes[..bytes.len() - 1];
        let before = cut.len();
        while next_cell(&mut cut).is_some() {}
        assert!(!cut.is_empty() && cut.len() < before);
    }

    #[test]
    fn a_key_list_holds_each_keys_encoding_whole_and_in_order() {
        let keys = [vec![Value::str("a"), Value::Int(1)], vec![], vec![Value::str("ünï"), Value::Null]];
        let list: KeyList = keys.iter().collect();
        assert_eq!(list.len(), 3);
        assert_eq!(list.iter().collect::<Vec<_>>(), keys.iter().map(encoded).collect::<Vec<_>>());
        assert_eq!(list.decoded().collect::<Vec<_>>(), keys);
        // A key assembled from its fields' encodings, as a reader of key objects writes it.
        let mut assembled = KeyList::default();
        let mut text = Vec::new();
        encode_str("ünï", &mut text);
        assembled.push_encoded([text, encoded(&[Value::Null])]);
        assert_eq!(assembled.iter().next(), Some(encoded(&keys[2]).as_slice()));
    }
}
