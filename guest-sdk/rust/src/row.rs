//! Typed rows and their columnar encoding.

use crate::bindings::volga::pipeline::types as wit;

pub use wit::Column;

/// The type of a field, as declared to the host.
pub type FieldType = wit::FieldType;

/// A field of a row type, as produced by `#[derive(Dataset)]`.
#[derive(Clone, Debug)]
pub struct FieldDef {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Part of the dataset's key.
    pub key: bool,
    /// The dataset's event-time field.
    pub timestamp: bool,
}

impl FieldDef {
    pub(crate) fn to_wit(&self) -> wit::FieldDef {
        wit::FieldDef { name: self.name.to_string(), ty: self.ty, key: self.key, timestamp: self.timestamp }
    }
}

/// Event time or any instant: milliseconds since the Unix epoch, UTC.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

/// A typed row: a dataset's schema plus its columnar encoding. Derive it with
/// `#[derive(Dataset)]`.
pub trait Row: Sized + 'static {
    /// The dataset's name.
    const DATASET: &'static str;
    /// The fields, in declaration order.
    fn fields() -> Vec<FieldDef>;
    /// Decodes every row of a batch whose columns are this type's fields, in order.
    fn decode(columns: &mut Columns) -> Result<Vec<Self>, String>;
    /// Reads the rows of such a batch in turn into one value of this type and hands each to
    /// `visit`: a lambda called row by row allocates nothing per row, its strings and lists
    /// read into the same buffers (`#[derive(Dataset)]` does so; this default decodes them all).
    fn visit(columns: &mut Columns, mut visit: impl FnMut(&Self)) -> Result<(), String> {
        for row in Self::decode(columns)? {
            visit(&row);
        }
        Ok(())
    }
    /// Encodes rows as columns, one per field, in order.
    fn encode(rows: &[Self]) -> Vec<Column>;
}

/// The columns of a batch, handed out one at a time to a row decoder.
pub struct Columns {
    len: usize,
    names: Vec<String>,
    columns: Vec<Option<Column>>,
}

impl Columns {
    /// The columns of `batch` (the SDK's exports make them from each call's batch).
    pub fn new(batch: wit::Batch) -> Self {
        Columns {
            len: batch.len as usize,
            names: batch.names,
            columns: batch.columns.into_iter().map(Some).collect(),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes column `index`, checking that it is the field `name` and holds `len` values.
    pub fn take(&mut self, index: usize, name: &str) -> Result<Column, String> {
        match self.names.get(index) {
            Some(found) if found == name => {}
            Some(found) => {
                return Err(format!("batch column {index} is `{found}`, expected `{name}`"));
            }
            None => return Err(format!("batch has no column {index} (`{name}`)")),
        }
        let column =
            self.columns[index].take().ok_or_else(|| format!("batch column `{name}` taken twice"))?;
        let len = data_len(&column.data);
        if len != self.len || column.nulls.as_ref().is_some_and(|n| n.len() != self.len) {
            return Err(format!("batch column `{name}` has {len} values for {} rows", self.len));
        }
        Ok(column)
    }
}

fn data_len(data: &wit::ColumnData) -> usize {
    match data {
        wit::ColumnData::Int(v) | wit::ColumnData::Timestamp(v) => v.len(),
        wit::ColumnData::Float(v) => v.len(),
        wit::ColumnData::Str(v) => v.offsets.len().saturating_sub(1),
        wit::ColumnData::Boolean(v) => v.len(),
        wit::ColumnData::List(v) => v.offsets.len().saturating_sub(1),
    }
}

/// A non-null value type a column can hold.
pub trait Scalar: Sized + Clone {
    /// Its scalar type.
    const SCALAR: wit::ScalarType;
    /// The value stored under a null.
    fn placeholder() -> Self;
    /// Unpacks column data of this type.
    fn from_data(data: wit::ColumnData) -> Result<Vec<Self>, String>;
    /// Packs values into column data.
    fn to_data(values: Vec<Self>) -> wit::ColumnData;
    /// Column data of this type, checked, to read values from one at a time.
    type Values;
    /// Checks column data of this type.
    fn values(data: wit::ColumnData) -> Result<Self::Values, String>;
    /// Reads value `index` (within the column) into `target`, reusing its allocation.
    fn read_into(values: &Self::Values, index: usize, target: &mut Self);
}

macro_rules! scalar {
    ($ty:ty, $scalar:ident, $variant:ident, $placeholder:expr, $wrap:expr, $unwrap:expr) => {
        impl Scalar for $ty {
            const SCALAR: wit::ScalarType = wit::ScalarType::$scalar;
            fn placeholder() -> Self {
                $placeholder
            }
            fn from_data(data: wit::ColumnData) -> Result<Vec<Self>, String> {
                match data {
                    wit::ColumnData::$variant(values) => Ok(values.into_iter().map($wrap).collect()),
                    _ => Err(format!("column is not of type {:?}", wit::ScalarType::$scalar)),
                }
            }
            fn to_data(values: Vec<Self>) -> wit::ColumnData {
                wit::ColumnData::$variant(values.into_iter().map($unwrap).collect())
            }
            type Values = Vec<Self>;
            fn values(data: wit::ColumnData) -> Result<Self::Values, String> {
                Self::from_data(data)
            }
            fn read_into(values: &Self::Values, index: usize, target: &mut Self) {
                *target = values[index];
            }
        }
    };
}

scalar!(i64, Int, Int, 0, |v| v, |v| v);
scalar!(f64, Float, Float, 0.0, |v| v, |v| v);
scalar!(bool, Boolean, Boolean, false, |v| v, |v| v);
scalar!(Timestamp, Timestamp, Timestamp, Timestamp(0), Timestamp, |v: Timestamp| v.0);

impl Scalar for String {
    const SCALAR: wit::ScalarType = wit::ScalarType::Str;

    fn placeholder() -> Self {
        String::new()
    }

    fn from_data(data: wit::ColumnData) -> Result<Vec<Self>, String> {
        let wit::ColumnData::Str(column) = data else {
            return Err("column is not of type Str".to_string());
        };
        split_strings(&column).map(|parts| parts.into_iter().map(str::to_string).collect())
    }

    fn to_data(values: Vec<Self>) -> wit::ColumnData {
        let mut bytes = String::with_capacity(values.iter().map(String::len).sum());
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0);
        for value in &values {
            bytes.push_str(value);
            offsets.push(bytes.len() as u32);
        }
        wit::ColumnData::Str(wit::StrColumn { bytes, offsets })
    }

    type Values = wit::StrColumn;

    fn values(data: wit::ColumnData) -> Result<Self::Values, String> {
        let wit::ColumnData::Str(column) = data else {
            return Err("column is not of type Str".to_string());
        };
        split_strings(&column)?;
        Ok(column)
    }

    fn read_into(column: &Self::Values, index: usize, target: &mut Self) {
        let (start, end) = (column.offsets[index] as usize, column.offsets[index + 1] as usize);
        target.clear();
        // Checked when the column was read (`values`).
        target.push_str(&column.bytes[start..end]);
    }
}

/// The strings of a concatenated string column, checking its offsets.
pub fn split_strings(column: &wit::StrColumn) -> Result<Vec<&str>, String> {
    if column.offsets.first() != Some(&0) {
        return Err("string offsets must start at 0".to_string());
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

/// A type a row field can have: a [`Scalar`], or an `Option` of one for a nullable field.
pub trait FieldValue: Sized {
    /// The declared field type.
    const TYPE: FieldType;
    /// Unpacks a column into values.
    fn take_column(column: Column) -> Result<Vec<Self>, String>;
    /// Packs values into a column.
    fn put_column<'a>(values: impl Iterator<Item = &'a Self>) -> Column
    where
        Self: 'a;
    /// A column, checked, to read values from one at a time (see [`Row::visit`]).
    type Reader;
    /// Checks a column and makes its reader.
    fn reader(column: Column) -> Result<Self::Reader, String>;
    /// A value to read into.
    fn blank() -> Self;
    /// Reads value `index` of the column into `target`, reusing what `target` holds.
    fn read_into(reader: &Self::Reader, index: usize, target: &mut Self);
}

impl<T: Scalar> FieldValue for T {
    const TYPE: FieldType = wit::FieldType::Scalar(T::SCALAR);

    fn take_column(column: Column) -> Result<Vec<Self>, String> {
        if column.nulls.as_ref().is_some_and(|nulls| nulls.iter().any(|&n| n)) {
            return Err("null value in a field that is not optional".to_string());
        }
        T::from_data(column.data)
    }

    fn put_column<'a>(values: impl Iterator<Item = &'a Self>) -> Column
    where
        Self: 'a,
    {
        Column { data: T::to_data(values.cloned().collect()), nulls: None }
    }

    type Reader = T::Values;

    fn reader(column: Column) -> Result<Self::Reader, String> {
        if column.nulls.as_ref().is_some_and(|nulls| nulls.iter().any(|&n| n)) {
            return Err("null value in a field that is not optional".to_string());
        }
        T::values(column.data)
    }

    fn blank() -> Self {
        T::placeholder()
    }

    fn read_into(reader: &Self::Reader, index: usize, target: &mut Self) {
        T::read_into(reader, index, target);
    }
}

impl<T: Scalar> FieldValue for Option<T> {
    const TYPE: FieldType = wit::FieldType::Optional(T::SCALAR);

    fn take_column(column: Column) -> Result<Vec<Self>, String> {
        let values = T::from_data(column.data)?;
        Ok(match column.nulls {
            None => values.into_iter().map(Some).collect(),
            Some(nulls) => values
                .into_iter()
                .zip(nulls)
                .map(|(value, null)| if null { None } else { Some(value) })
                .collect(),
        })
    }

    fn put_column<'a>(values: impl Iterator<Item = &'a Self>) -> Column
    where
        Self: 'a,
    {
        let mut nulls = Vec::new();
        let mut data = Vec::new();
        for value in values {
            nulls.push(value.is_none());
            data.push(value.clone().unwrap_or_else(T::placeholder));
        }
        Column { data: T::to_data(data), nulls: Some(nulls) }
    }

    type Reader = (T::Values, Option<Vec<bool>>);

    fn reader(column: Column) -> Result<Self::Reader, String> {
        Ok((T::values(column.data)?, column.nulls))
    }

    fn blank() -> Self {
        None
    }

    fn read_into((values, nulls): &Self::Reader, index: usize, target: &mut Self) {
        if nulls.as_ref().is_some_and(|nulls| nulls[index]) {
            *target = None;
            return;
        }
        T::read_into(values, index, target.get_or_insert_with(T::placeholder));
    }
}

/// A list field: `Vec<T>` of a [`Scalar`] (never null; an empty list instead).
impl<T: Scalar> FieldValue for Vec<T> {
    const TYPE: FieldType = wit::FieldType::List(T::SCALAR);

    fn take_column(column: Column) -> Result<Vec<Self>, String> {
        let wit::ColumnData::List(lists) = column.data else {
            return Err(format!("column is not a list of {:?}", T::SCALAR));
        };
        let data = match lists.items {
            wit::ListItems::Int(v) => wit::ColumnData::Int(v),
            wit::ListItems::Float(v) => wit::ColumnData::Float(v),
            wit::ListItems::Str(v) => wit::ColumnData::Str(v),
            wit::ListItems::Boolean(v) => wit::ColumnData::Boolean(v),
            wit::ListItems::Timestamp(v) => wit::ColumnData::Timestamp(v),
        };
        let mut items = T::from_data(data)?.into_iter();
        if lists.offsets.first() != Some(&0) {
            return Err("list offsets must start at 0".to_string());
        }
        lists
            .offsets
            .windows(2)
            .map(|pair| {
                let len = pair[1].checked_sub(pair[0]).ok_or("list offsets must not decrease")?;
                let list: Vec<T> = items.by_ref().take(len as usize).collect();
                if list.len() == len as usize {
                    Ok(list)
                } else {
                    Err("list offsets run past the items".to_string())
                }
            })
            .collect()
    }

    fn put_column<'a>(values: impl Iterator<Item = &'a Self>) -> Column
    where
        Self: 'a,
    {
        let mut offsets = vec![0u32];
        let mut items = Vec::new();
        for list in values {
            items.extend(list.iter().cloned());
            offsets.push(items.len() as u32);
        }
        let items = match T::to_data(items) {
            wit::ColumnData::Int(v) => wit::ListItems::Int(v),
            wit::ColumnData::Float(v) => wit::ListItems::Float(v),
            wit::ColumnData::Str(v) => wit::ListItems::Str(v),
            wit::ColumnData::Boolean(v) => wit::ListItems::Boolean(v),
            wit::ColumnData::Timestamp(v) => wit::ListItems::Timestamp(v),
            wit::ColumnData::List(_) => unreachable!("scalars encode as scalar data"),
        };
        Column { data: wit::ColumnData::List(wit::ListColumn { offsets, items }), nulls: None }
    }

    type Reader = Vec<Vec<T>>;

    fn reader(column: Column) -> Result<Self::Reader, String> {
        Self::take_column(column)
    }

    fn blank() -> Self {
        Vec::new()
    }

    fn read_into(lists: &Self::Reader, index: usize, target: &mut Self) {
        target.clone_from(&lists[index]);
    }
}
