//! Values, rows and field types as the host holds them.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

/// The scalar types a field can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalarType {
    /// 64-bit signed integer.
    Int,
    /// 64-bit IEEE-754 float.
    Float,
    /// UTF-8 string.
    Str,
    /// Boolean.
    Bool,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScalarType::Int => "int",
            ScalarType::Float => "float",
            ScalarType::Str => "string",
            ScalarType::Bool => "bool",
            ScalarType::Timestamp => "timestamp",
        })
    }
}

/// The type of a field: a scalar type, possibly nullable, or a list of non-null scalars (never
/// null itself: an empty list instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldType {
    /// The scalar type (of the items, for a list).
    pub scalar: ScalarType,
    /// Whether the field may be null (`optional<T>`).
    pub nullable: bool,
    /// Whether the field holds a list of `scalar` values (`list<T>`).
    #[serde(default)]
    pub list: bool,
}

impl FieldType {
    /// A non-null field of type `scalar`.
    pub const fn required(scalar: ScalarType) -> Self {
        FieldType { scalar, nullable: false, list: false }
    }

    /// A nullable field of type `scalar`.
    pub const fn optional(scalar: ScalarType) -> Self {
        FieldType { scalar, nullable: true, list: false }
    }

    /// A list of non-null `scalar` values.
    pub const fn list(scalar: ScalarType) -> Self {
        FieldType { scalar, nullable: false, list: true }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.list {
            write!(f, "list<{}>", self.scalar)
        } else if self.nullable {
            write!(f, "optional<{}>", self.scalar)
        } else {
            write!(f, "{}", self.scalar)
        }
    }
}

/// A float with a total order and bitwise equality (`-0.0 != 0.0`, `NaN == NaN` bit for bit), so
/// that rows can be sorted, hashed and compared deterministically.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for F64 {}

impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for F64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Hash for F64 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// One value of a row. Timestamps are held as `Int` milliseconds; the schema says which is which.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    /// The null of an optional field.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer or a timestamp.
    Int(i64),
    /// A float.
    Float(F64),
    /// A string: held inline up to 23 bytes (copied, never counted or freed), longer ones
    /// shared between the rows that carry them.
    Str(SmolStr),
    /// A list of non-null values of one scalar type.
    List(Arc<[Value]>),
}

impl Clone for Value {
    /// A value that owns nothing (all but a long string and a list) is copied whole, as its 24
    /// bytes. The derived clone rebuilt a short string's value in pieces on the stack and read
    /// them back in other pieces, a stalled load per string copied (a tenth of the window
    /// operator's samples, copying each key into the rows it makes).
    #[inline]
    #[allow(unsafe_code)]
    fn clone(&self) -> Self {
        match self {
            Value::Str(s) if s.is_heap_allocated() => Value::Str(s.clone()),
            Value::List(items) => Value::List(items.clone()),
            // SAFETY: what is left holds no pointer it owns and has no drop glue: `Null`,
            // `Bool`, `Int` and `Float` are plain data, and a string not on the heap is
            // `SmolStr`'s inline or static form, which its own `Clone` copies bitwise (it owns
            // only its heap form, excluded above). So two bitwise copies are two valid values
            // and dropping either frees nothing.
            _ => unsafe { std::ptr::read(self) },
        }
    }
}

impl Value {
    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a float, if it is one.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(v.0),
            _ => None,
        }
    }

    /// A string value. A short one is copied inline here, a byte at a time: `SmolStr::new`,
    /// out of line, copied it with a call to `memcpy`, a sixth of reading a CSV file.
    #[inline]
    pub fn str(s: &str) -> Value {
        if s.len() <= INLINE_STR { Value::Str(SmolStr::new_inline(s)) } else { Value::Str(SmolStr::new(s)) }
    }

    /// A float value.
    pub fn float(v: f64) -> Value {
        Value::Float(F64(v))
    }
}

/// The longest string a [`Value`] holds inline, in bytes.
pub const INLINE_STR: usize = 23;

/// A row: one value per field of its schema, in the schema's order.
pub type Row = Vec<Value>;

/// How many rows ahead of the one it reads a loop over held rows prefetches (`prefetch_row`).
pub(crate) const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to bring `row`'s values into the cache, for a loop that will read them a few
/// rows from now: each row's values are their own allocation, which no hardware prefetcher
/// follows, and rows held for a while (until their time is complete, or their batch is written)
/// are read after the cache has moved on.
#[inline]
pub(crate) fn prefetch_row(row: &Row) {
    prefetch(row.as_slice());
}

/// Asks the CPU to bring the bytes of `item` into the cache, for a loop that will read them
/// soon: a hint, which changes nothing the program sees.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T: ?Sized>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = std::ptr::from_ref(item).cast::<i8>();
        let bytes = std::mem::size_of_val(item);
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot
            // fault; the address is within `item`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}

/// Formats a float as the shortest string that parses back to the same bits.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".to_string() } else { "-inf".to_string() }
    } else {
        ryu::Buffer::new().format_finite(v).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_of_every_kind_of_value_equals_it_and_outlives_it() {
        let long = "a string too long to be held inline in a value";
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(F64(2.5)),
            Value::str(""),
            Value::str("u1234"),
            Value::str("twenty-three bytes long"),
            Value::Str(SmolStr::new_static("static")),
            Value::str(long),
            Value::List(vec![Value::str(long), Value::Int(1)].into()),
        ];
        let clones: Vec<Value> = values.iter().map(Value::clone).collect();
        assert_eq!(clones, values);
        let Value::Str(shared) = &values[8] else { unreachable!() };
        assert!(shared.is_heap_allocated());
        // The originals dropped, the clones still read as they were (a copied short string
        // owns nothing; a long one holds its own count of the shared text).
        drop(values);
        assert_eq!(clones[5], Value::str("u1234"));
        assert_eq!(clones[8], Value::str(long));
        assert_eq!(clones[9], Value::List(vec![Value::str(long), Value::Int(1)].into()));
    }

    #[test]
    fn float_order_is_total_and_bitwise() {
        assert!(F64(-0.0) < F64(0.0));
        assert_eq!(F64(f64::NAN), F64(f64::NAN));
        assert!(Value::Null < Value::Int(0));
    }

    #[test]
    fn a_value_takes_24_bytes_and_holds_short_strings_inline() {
        assert_eq!(size_of::<Value>(), 24);
        let Value::Str(short) = Value::str(&"x".repeat(INLINE_STR)) else { unreachable!() };
        assert!(!short.is_heap_allocated());
        let Value::Str(long) = Value::str(&"x".repeat(INLINE_STR + 1)) else { unreachable!() };
        assert!(long.is_heap_allocated());
        // Equal strings are equal values, hash alike and order by their text, however held.
        let hash = |v: &Value| std::hash::BuildHasher::hash_one(&foldhash::fast::FixedState::with_seed(1), v);
        let shared = Value::Str(SmolStr::from(Arc::<str>::from("ab")));
        assert_eq!(shared, Value::str("ab"));
        assert_eq!(hash(&shared), hash(&Value::str("ab")));
        assert!(Value::str("ab") < Value::str(&"b".repeat(40)));
    }

    #[test]
    fn floats_format_shortest_round_trip() {
        for v in [0.1, 1.0 / 3.0, 1e21, 5e-324, -2.5, 123456.789] {
            assert_eq!(format_float(v).parse::<f64>().unwrap().to_bits(), v.to_bits());
        }
        assert_eq!(format_float(0.1), "0.1");
    }
}
