//! Connectors: where source datasets' rows come from.
//!
//! A pipeline names a connector (`Source::table("mysql", "users")`); `volga.toml` binds that
//! name to a kind and its settings (`[connectors.mysql] kind = "csv"`). Each kind lives in its own
//! module with its config type; [`open_table_source`] is the registry.

mod csv;
mod http;
mod kafka;
mod sqlite;
mod stream;

use serde::Deserialize;
use smol_str::SmolStr;
use thiserror::Error;

use crate::config::Config;
use crate::schema::Schema;
use crate::value::{F64, FieldType, INLINE_STR, Row, ScalarType, Value};

pub use self::csv::{CsvConfig, CsvSource};
pub use self::http::HttpConfig;
pub use self::kafka::KafkaConfig;
pub use self::sqlite::{SqliteConfig, SqliteSource};
pub use self::stream::WatermarkPolicy;

/// A connector binding in `volga.toml`, by kind.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConnectorConfig {
    /// A folder of CSV files, one per table.
    Csv(CsvConfig),
    /// A SQLite database file.
    Sqlite(SqliteConfig),
    /// A Kafka topic per source (online).
    Kafka(KafkaConfig),
    /// Rows pushed over HTTP to `volga serve` (online).
    Http(HttpConfig),
}

impl ConnectorConfig {
    /// The kind's name, as written in `volga.toml`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Csv(_) => "csv",
            ConnectorConfig::Sqlite(_) => "sqlite",
            ConnectorConfig::Kafka(_) => "kafka",
            ConnectorConfig::Http(_) => "http",
        }
    }
}

/// A source that cannot be read.
#[derive(Debug, Error)]
pub enum ConnectorError {
    /// A bad value or a missing column in a file, with its position.
    #[error("{file}:{line}: column `{column}`: {message}")]
    Value {
        /// The file or table.
        file: String,
        /// The 1-based line (or row) number.
        line: u64,
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A column the dataset needs is not there.
    #[error("{file}: missing column `{column}` for dataset `{dataset}` (found: {found})")]
    MissingColumn {
        /// The file or table.
        file: String,
        /// The column.
        column: String,
        /// The dataset that needs it.
        dataset: String,
        /// The columns that are there.
        found: String,
    },
    /// The file or database could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file or table.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// The filter run over the rows as they were read failed.
    #[error("{file}: filtering the rows read: {message}")]
    Filter {
        /// The file or table.
        file: String,
        /// What went wrong.
        message: String,
    },
}

/// Rows to keep, one verdict per row of a batch, or why the batch could not be judged.
pub type FilterFn<'a> = Box<dyn FnMut(&[Row]) -> Result<Vec<bool>, String> + 'a>;

/// A filter a source read applies to its rows as it parses them, so that the rows it drops are
/// freed at once, while still in cache, and never held. Each reading thread starts its own
/// (a filter may hold per-thread state, such as a guest instance).
pub trait RowFilter: Sync {
    /// The filter of one reading thread.
    fn start(&self) -> Result<FilterFn<'_>, String>;
}

/// The rows a reading thread keeps: every row it parses, or, through the source's filter, those
/// the filter accepts (judged a batch at a time).
pub(crate) struct Kept<'a> {
    rows: Vec<Row>,
    batch: Vec<Row>,
    filter: Option<FilterFn<'a>>,
    /// Rows the filter dropped, emptied, for the rows read next to be made in: their memory is
    /// in the cache, and neither freed nor allocated again.
    dropped: Vec<Row>,
}

impl<'a> Kept<'a> {
    /// Rows the filter judges at once.
    const BATCH: usize = 4096;

    /// Collects into `rows`, through `filter`'s thread filter if there is one.
    pub(crate) fn new(rows: Vec<Row>, filter: Option<&'a dyn RowFilter>) -> Result<Self, String> {
        let filter = filter.map(RowFilter::start).transpose()?;
        let batch = if filter.is_some() { Vec::with_capacity(Self::BATCH) } else { Vec::new() };
        Ok(Kept { rows, batch, filter, dropped: Vec::new() })
    }

    /// An empty row with room for `width` values, for the reader to fill and push.
    pub(crate) fn row(&mut self, width: usize) -> Row {
        match self.dropped.pop() {
            Some(row) if row.capacity() >= width => row,
            _ => Vec::with_capacity(width),
        }
    }

    pub(crate) fn push(&mut self, row: Row) -> Result<(), String> {
        if self.filter.is_none() {
            self.rows.push(row);
            return Ok(());
        }
        self.batch.push(row);
        if self.batch.len() >= Self::BATCH { self.judge() } else { Ok(()) }
    }

    fn judge(&mut self) -> Result<(), String> {
        let Some(filter) = &mut self.filter else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let verdicts = filter(&self.batch)?;
        if verdicts.len() != self.batch.len() {
            return Err(format!("{} verdicts for {} rows", verdicts.len(), self.batch.len()));
        }
        for (mut row, keep) in self.batch.drain(..).zip(verdicts) {
            if keep {
                self.rows.push(row);
            } else {
                row.clear();
                self.dropped.push(row);
            }
        }
        Ok(())
    }

    /// The rows kept, once the last batch is judged.
    pub(crate) fn finish(mut self) -> Result<Vec<Row>, String> {
        self.judge()?;
        Ok(self.rows)
    }
}

/// A connector kind: its config type and how to open it.
pub trait Connector: Sized {
    /// The `[connectors.NAME]` table of this kind.
    type Config;
    /// Opens the connector; relative paths resolve against the config file's directory.
    fn open(config: &Self::Config, settings: &Config) -> Result<Self, ConnectorError>;
}

/// A connector that can read a whole table, for offline jobs.
pub trait TableSource {
    /// Reads every row of `table` with `schema`'s fields, in schema order, keeping those
    /// `filter` (if any) accepts.
    fn read_table(
        &self,
        table: &str,
        dataset: &str,
        schema: &Schema,
        filter: Option<&dyn RowFilter>,
    ) -> Result<Vec<Row>, ConnectorError>;
    /// Where `table` lives, for progress messages.
    fn locate(&self, table: &str) -> String;
}

/// Opens connector `name`'s table source as configured.
pub fn open_table_source(
    config: &ConnectorConfig,
    settings: &Config,
) -> Result<Box<dyn TableSource>, ConnectorError> {
    Ok(match config {
        ConnectorConfig::Csv(c) => Box::new(CsvSource::open(c, settings)?),
        ConnectorConfig::Sqlite(c) => Box::new(SqliteSource::open(c, settings)?),
        ConnectorConfig::Kafka(_) | ConnectorConfig::Http(_) => {
            return Err(ConnectorError::Io {
                file: format!("connector of kind `{}`", config.kind()),
                message: "a streaming connector has no table to read offline: give the dataset a table source (csv or sqlite) tagged for offline use".into(),
            });
        }
    })
}

/// Shares one string between the cells of a column that repeat a value longer than a
/// [`Value`] holds inline (23 bytes), so a table of millions of rows holds each distinct long
/// string once instead of allocating every cell; short strings are held inline, with no lookup.
/// Past [`Interner::LIMIT`] distinct values it stops remembering new ones (a column of unique
/// values would gain nothing).
#[derive(Debug)]
pub struct Interner {
    strings: foldhash::HashSet<SmolStr>,
    limit: usize,
}

impl Default for Interner {
    fn default() -> Self {
        Interner { strings: foldhash::HashSet::default(), limit: Self::LIMIT }
    }
}

impl Interner {
    /// Distinct strings remembered per column.
    pub const LIMIT: usize = 1 << 16;

    /// An interner that remembers nothing, for values read once (a lookup's keys): each long
    /// string is its own allocation, with no hashing.
    pub fn unshared() -> Self {
        Interner { strings: foldhash::HashSet::default(), limit: 0 }
    }

    /// The string value `text`, shared with earlier cells equal to it when it is long.
    ///
    /// Inline, so that a short string is made where the caller puts it: returned from a call,
    /// the 24-byte value written in pieces and read back whole stalled the reader on every
    /// string cell (about 3% of a 10M-order job).
    #[inline]
    pub fn intern(&mut self, text: &str) -> Value {
        if self.limit == 0 || text.len() <= INLINE_STR {
            return Value::str(text);
        }
        self.share(text)
    }

    /// [`Interner::intern`] of a long string.
    #[inline(never)]
    fn share(&mut self, text: &str) -> Value {
        if let Some(shared) = self.strings.get(text) {
            return Value::Str(shared.clone());
        }
        let value = SmolStr::new(text);
        if self.strings.len() < self.limit {
            self.strings.insert(value.clone());
        }
        Value::Str(value)
    }
}

/// [`parse_cell`], with a plain string cell shared through `interner`.
pub fn parse_cell_interned(ty: FieldType, text: &str, interner: &mut Interner) -> Result<Value, String> {
    if takes_text(ty, text) {
        return Ok(interner.intern(text));
    }
    parse_cell(ty, text)
}

/// Whether a cell of type `ty` is `text` itself, as a string (a plain string field, and not an
/// empty cell of an optional one, which is null).
#[inline]
pub fn takes_text(ty: FieldType, text: &str) -> bool {
    ty.scalar == ScalarType::Str && !ty.list && !(text.is_empty() && ty.nullable)
}

/// Parses a textual cell as a value of type `ty`; empty cells are null in optional fields.
pub fn parse_cell(ty: FieldType, text: &str) -> Result<Value, String> {
    if text.is_empty() && (ty.nullable || ty.scalar != ScalarType::Str) {
        return if ty.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("empty value for a field of type {ty}"))
        };
    }
    if ty.list {
        return crate::online::decode::list_from_text(ty, text);
    }
    let trimmed = text.trim();
    match ty.scalar {
        ScalarType::Str => Ok(Value::str(text)),
        ScalarType::Int => trimmed.parse().map(Value::Int).map_err(|_| format!("invalid int `{text}`")),
        ScalarType::Float => {
            trimmed.parse().map(|v| Value::Float(F64(v))).map_err(|_| format!("invalid float `{text}`"))
        }
        ScalarType::Bool => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("invalid bool `{text}` (expected true/false)")),
        },
        ScalarType::Timestamp => parse_timestamp(trimmed).map(Value::Int),
    }
}

/// Integer milliseconds since the epoch, or an RFC 3339 date-time.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("invalid timestamp `{text}` (expected integer milliseconds or RFC 3339)"))
}

pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the rows whose first value is even.
    struct KeepEven;

    impl RowFilter for KeepEven {
        fn start(&self) -> Result<FilterFn<'_>, String> {
            Ok(Box::new(|rows: &[Row]| Ok(rows.iter().map(|r| r[0].as_int().unwrap() % 2 == 0).collect())))
        }
    }

    /// Gives one verdict fewer than the rows it is given.
    struct Miscounts;

    impl RowFilter for Miscounts {
        fn start(&self) -> Result<FilterFn<'_>, String> {
            Ok(Box::new(|rows: &[Row]| Ok(vec![true; rows.len() - 1])))
        }
    }

    #[test]
    fn a_read_keeps_the_rows_its_filter_accepts_in_order_across_batches() {
        let mut kept = Kept::new(Vec::new(), Some(&KeepEven)).unwrap();
        for i in 0..10_000 {
            kept.push(vec![Value::Int(i)]).unwrap();
        }
        let rows = kept.finish().unwrap();
        assert_eq!(rows, (0..5_000).map(|i| vec![Value::Int(2 * i)]).collect::<Vec<_>>());
        let mut unfiltered = Kept::new(Vec::new(), None).unwrap();
        unfiltered.push(vec![Value::Int(1)]).unwrap();
        assert_eq!(unfiltered.finish().unwrap(), vec![vec![Value::Int(1)]]);
    }

    #[test]
    fn rows_read_after_a_batch_is_judged_are_made_in_the_rows_it_dropped() {
        let mut kept = Kept::new(Vec::new(), Some(&KeepEven)).unwrap();
        let mut dropped = std::collections::HashSet::new();
        for i in 0..Kept::BATCH as i64 {
            let mut row = kept.row(1);
            row.push(Value::Int(i));
            if i % 2 == 1 {
                dropped.insert(row.as_ptr());
            }
            kept.push(row).unwrap();
        }
        // The batch was judged on its last push: the next rows come empty, in dropped rows.
        let row = kept.row(1);
        assert!(row.is_empty() && dropped.contains(&row.as_ptr()));
        kept.push(vec![Value::Int(0)]).unwrap();
        assert_eq!(kept.finish().unwrap().len(), Kept::BATCH / 2 + 1);
    }

    #[test]
    fn a_filter_giving_the_wrong_number_of_verdicts_fails_the_read() {
        let mut kept = Kept::new(Vec::new(), Some(&Miscounts)).unwrap();
        kept.push(vec![Value::Int(1)]).unwrap();
        kept.push(vec![Value::Int(2)]).unwrap();
        assert_eq!(kept.finish().unwrap_err(), "1 verdicts for 2 rows");
    }

    #[test]
    fn timestamps_accept_millis_and_rfc3339() {
        assert_eq!(parse_timestamp("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Ok(1500));
        assert_eq!(parse_timestamp("2024-01-01T01:00:00+01:00"), parse_timestamp("2024-01-01T00:00:00Z"));
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn interned_cells_share_one_string_and_parse_like_plain_ones() {
        let mut interner = Interner::default();
        let text = FieldType::required(ScalarType::Str);
        let long = "a category longer than a value holds inline";
        let (Ok(Value::Str(a)), Ok(Value::Str(b))) =
            (parse_cell_interned(text, long, &mut interner), parse_cell_interned(text, long, &mut interner))
        else {
            panic!("strings parse as strings");
        };
        assert_eq!(a.as_ptr(), b.as_ptr(), "equal long cells share one allocation");
        let Ok(Value::Str(short)) = parse_cell_interned(text, "ON_SALE", &mut interner) else {
            panic!("strings parse as strings");
        };
        assert!(!short.is_heap_allocated(), "a short cell is held inline");
        let optional = FieldType::optional(ScalarType::Str);
        for (ty, cell) in
            [(optional, ""), (text, ""), (optional, "x"), (FieldType::required(ScalarType::Int), "7")]
        {
            assert_eq!(parse_cell_interned(ty, cell, &mut interner), parse_cell(ty, cell), "{ty} `{cell}`");
        }
        let list = FieldType::list(ScalarType::Str);
        assert_eq!(parse_cell_interned(list, r#"["a"]"#, &mut interner), parse_cell(list, r#"["a"]"#));
    }

    #[test]
    fn an_interner_stops_remembering_past_its_limit() {
        let mut interner = Interner::default();
        // Long enough not to be held inline, so each is remembered until the limit.
        let text = |i: usize| format!("{i:>30}");
        for i in 0..Interner::LIMIT + 10 {
            assert_eq!(interner.intern(&text(i)), Value::str(&text(i)));
        }
        assert_eq!(interner.strings.len(), Interner::LIMIT);
    }

    #[test]
    fn cells_parse_by_type() {
        let float = FieldType::required(ScalarType::Float);
        assert_eq!(parse_cell(float, "1.25"), Ok(Value::float(1.25)));
        assert!(parse_cell(float, "abc").unwrap_err().contains("invalid float"));
        assert_eq!(parse_cell(FieldType::optional(ScalarType::Int), ""), Ok(Value::Null));
        assert_eq!(parse_cell(FieldType::required(ScalarType::Str), ""), Ok(Value::str("")));
    }
}
