//! The `csv` connector: a folder of CSV files with a header row; table `users` is `users.csv`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use super::{
    Connector, ConnectorError, Interner, Kept, RowFilter, TableSource, file_name, parse_cell_interned,
};
use crate::config::Config;
use crate::schema::Schema;
use crate::value::Row;

/// `[connectors.NAME] kind = "csv"`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CsvConfig {
    /// The folder holding `<table>.csv` files.
    pub dir: PathBuf,
}

/// An opened `csv` connector.
pub struct CsvSource {
    dir: PathBuf,
}

impl Connector for CsvSource {
    type Config = CsvConfig;

    fn open(config: &CsvConfig, settings: &Config) -> Result<Self, ConnectorError> {
        Ok(CsvSource { dir: settings.resolve(&config.dir) })
    }
}

impl CsvSource {
    /// A source over the files of `dir`.
    pub fn new(dir: &Path) -> Self {
        CsvSource { dir: dir.to_path_buf() }
    }

    fn path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.csv"))
    }
}

impl TableSource for CsvSource {
    fn locate(&self, table: &str) -> String {
        file_name(&self.path(table))
    }

    fn read_table(
        &self,
        table: &str,
        dataset: &str,
        schema: &Schema,
        filter: Option<&dyn RowFilter>,
    ) -> Result<Vec<Row>, ConnectorError> {
        let path = self.path(table);
        let file = file_name(&path);
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let bytes = read_file(&path, threads, MIN_PIECE)
            .map_err(|e| ConnectorError::Io { file: file.clone(), message: e.to_string() })?;
        let io = |e: csv::Error| ConnectorError::Io { file: file.clone(), message: e.to_string() };
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes.as_slice());
        let headers = reader.headers().map_err(io)?.clone();
        let body_start = reader.position().byte() as usize;
        let columns: Vec<usize> = schema
            .fields
            .iter()
            .map(|field| {
                headers.iter().position(|h| h.trim() == field.name).ok_or_else(|| {
                    ConnectorError::MissingColumn {
                        file: file.clone(),
                        column: field.name.clone(),
                        dataset: dataset.to_string(),
                        found: headers.iter().collect::<Vec<_>>().join(", "),
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        let parts = split_lines(&bytes, body_start, threads);
        let lines = |(start, end): (usize, usize)| count_lines(&bytes[start..end]) + 1;
        let read = |&(start, end): &(usize, usize), capacity: usize| -> Result<Vec<Row>, ConnectorError> {
            let part = &bytes[start..end];
            // Flexible, so that record lengths are checked against the header here rather than
            // against the first record of the part.
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(part);
            // Sized from line counts: growing by doubling copied each part's rows about twice
            // over, into memory the kernel had to zero first.
            let filtering = |message| ConnectorError::Filter { file: file.clone(), message };
            let mut rows = Kept::new(Vec::with_capacity(capacity), filter).map_err(filtering)?;
            let mut record = csv::StringRecord::new();
            let mut interners: Vec<Interner> = columns.iter().map(|_| Interner::default()).collect();
            // Errors name the line in the file: the lines before this part, plus its own.
            let lines_before = || count_lines(&bytes[..start]) as u64;
            loop {
                match reader.read_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        let line = lines_before() + e.position().map_or(1, csv::Position::line);
                        let message = match e.kind() {
                            csv::ErrorKind::Utf8 { err, .. } => format!("line {line}: invalid UTF-8 ({err})"),
                            _ => format!("line {line}: {e}"),
                        };
                        return Err(ConnectorError::Io { file: file.clone(), message });
                    }
                }
                if record.len() != headers.len() {
                    let line = lines_before() + record.position().map_or(1, csv::Position::line);
                    return Err(ConnectorError::Io {
                        file: file.clone(),
                        message: format!(
                            "line {line}: {} fields where the header has {}",
                            record.len(),
                            headers.len()
                        ),
                    });
                }
                let mut row = rows.row(columns.len());
                for ((field, &column), interner) in schema.fields.iter().zip(&columns).zip(&mut interners) {
                    let text = record.get(column).unwrap_or("");
                    let value = parse_cell_interned(field.ty, text, interner).map_err(|message| {
                        ConnectorError::Value {
                            file: file.clone(),
                            line: lines_before() + record.position().map_or(1, csv::Position::line),
                            column: field.name.clone(),
                            message,
                        }
                    })?;
                    row.push(value);
                }
                rows.push(row).map_err(filtering)?;
            }
            rows.finish().map_err(filtering)
        };
        if parts.len() == 1 {
            return read(&parts[0], lines(parts[0]));
        }
        // Each thread counts its part's lines, side by side (counted up front, on one thread,
        // they took a tenth of a 10M-row read); the first part's vector then has room for every
        // row, the others being appended to it.
        let counted: Vec<AtomicUsize> = parts.iter().map(|_| AtomicUsize::new(0)).collect();
        let barrier = Barrier::new(parts.len());
        let results: Vec<Result<Vec<Row>, ConnectorError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(i, &part)| {
                    let (counted, barrier, read) = (&counted, &barrier, &read);
                    scope.spawn(move || {
                        counted[i].store(lines(part), Ordering::Relaxed);
                        // The barrier orders every count before any is read.
                        barrier.wait();
                        let capacity = if i == 0 {
                            counted.iter().map(|c| c.load(Ordering::Relaxed)).sum()
                        } else {
                            counted[i].load(Ordering::Relaxed)
                        };
                        read(&part, capacity)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a CSV reader thread panicked")).collect()
        });
        let mut results = results.into_iter();
        let mut rows = results.next().expect("one part at least")?;
        for part in results {
            rows.extend(part?);
        }
        Ok(rows)
    }
}

/// The line ends in `bytes`. Counted in pieces a byte-wide counter cannot overflow, which the
/// compiler turns into wide compares: 5-10x faster than a count one byte at a time.
fn count_lines(bytes: &[u8]) -> usize {
    bytes.chunks(255).map(|piece| piece.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')) as usize).sum()
}

/// The least a thread reads of a file read in pieces.
const MIN_PIECE: usize = 16 << 20;

/// The bytes of the file at `path`, read in up to `threads` pieces of `min_piece` bytes or
/// more, side by side: one thread copying a 400 MB file out of the page cache took a quarter of
/// a 10M-row read.
fn read_file(path: &Path, threads: usize, min_piece: usize) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if threads <= 1 || len < 2 * min_piece {
        let mut bytes = Vec::with_capacity(len);
        file.read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let mut bytes = vec![0u8; len];
    let piece = len.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = bytes
            .chunks_mut(piece)
            .enumerate()
            .map(|(i, chunk)| {
                let file = &file;
                scope.spawn(move || file.read_exact_at(chunk, (i * piece) as u64))
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().expect("a file reader thread panicked"))
    })
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            std::io::Error::new(e.kind(), "the file was cut short while it was read")
        }
        _ => e,
    })?;
    Ok(bytes)
}

/// Splits the rows of a CSV file (from byte `start`) into up to `parts` ranges that end at line
/// ends, to parse them in parallel; one range when the body is small or quoted (a quoted field
/// may hold a line break, so only the csv reader can tell where such a record ends).
fn split_lines(bytes: &[u8], start: usize, parts: usize) -> Vec<(usize, usize)> {
    const MIN_PART: usize = 1 << 20;
    let body = &bytes[start..];
    // Searched with `memchr`, many bytes at a time: this runs on one thread before the parts.
    if parts <= 1 || body.len() < 2 * MIN_PART || memchr::memchr(b'"', body).is_some() {
        return vec![(start, bytes.len())];
    }
    let step = body.len() / parts;
    let mut ranges = Vec::with_capacity(parts);
    let mut from = start;
    for i in 1..parts {
        let target = (start + i * step).max(from);
        let Some(newline) = bytes[target..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let to = target + newline + 1;
        ranges.push((from, to));
        from = to;
    }
    ranges.push((from, bytes.len()));
    ranges.retain(|(a, b)| a < b);
    ranges
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::*;
    use crate::schema::Field;
    use crate::value::{FieldType, ScalarType, Value};

    fn schema() -> Schema {
        let field = |name: &str, ty, key, timestamp| Field { name: name.into(), ty, key, timestamp };
        Schema {
            fields: vec![
                field("id", FieldType::required(ScalarType::Str), true, false),
                field("at", FieldType::required(ScalarType::Timestamp), false, true),
                field("price", FieldType::optional(ScalarType::Float), false, false),
            ],
        }
    }

    /// `rows` rows (columns in another order than the schema, one extra), big enough to be
    /// parsed in parallel from 60k rows on.
    fn write_table(dir: &Path, rows: usize, bad_row: Option<usize>) {
        let mut text = String::from("price,extra,at,id\n");
        for i in 0..rows {
            let price = if bad_row == Some(i) { "not-a-number".to_string() } else { format!("{i}.5") };
            writeln!(text, "{price},some padding to make the file bigger,{},user{}", 1000 + i, i % 97)
                .unwrap();
        }
        std::fs::write(dir.join("t.csv"), text).unwrap();
    }

    #[test]
    fn a_large_table_parses_in_parallel_into_the_rows_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let rows = 80_000;
        write_table(dir.path(), rows, None);
        let bytes = std::fs::read(dir.path().join("t.csv")).unwrap();
        assert!(split_lines(&bytes, 18, 2).len() == 2, "the test file must be split");
        let read = CsvSource::new(dir.path()).read_table("t", "T", &schema(), None).unwrap();
        assert_eq!(read.len(), rows);
        for (i, row) in read.iter().enumerate() {
            let expected = vec![
                Value::str(&format!("user{}", i % 97)),
                Value::Int(1000 + i as i64),
                Value::float(i as f64 + 0.5),
            ];
            assert_eq!(row, &expected, "row {i}");
        }
    }

    #[test]
    fn a_filtered_table_keeps_the_rows_each_reading_threads_filter_accepts() {
        // Keeps the rows whose `at` (the second field) is even.
        struct AtIsEven(std::sync::atomic::AtomicUsize);
        impl RowFilter for AtIsEven {
            fn start(&self) -> Result<crate::connector::FilterFn<'_>, String> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(Box::new(|rows: &[Row]| {
                    Ok(rows.iter().map(|r| r[1].as_int().unwrap() % 2 == 0).collect())
                }))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path(), 80_000, None);
        let filter = AtIsEven(Default::default());
        let read = CsvSource::new(dir.path()).read_table("t", "T", &schema(), Some(&filter)).unwrap();
        let bytes = std::fs::read(dir.path().join("t.csv")).unwrap();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(
            filter.0.into_inner(),
            split_lines(&bytes, 18, threads).len(),
            "one filter per reading thread"
        );
        assert_eq!(read.len(), 40_000);
        assert!(read.iter().enumerate().all(|(i, row)| row[1] == Value::Int(1000 + 2 * i as i64)));
    }

    #[test]
    fn a_bad_cell_in_a_later_part_names_its_line_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path(), 80_000, Some(70_000));
        let error = CsvSource::new(dir.path()).read_table("t", "T", &schema(), None).unwrap_err().to_string();
        // The header is line 1, row i is line i + 2.
        assert!(error.contains(":70002: column `price`"), "{error}");
    }

    #[test]
    fn a_short_record_in_a_later_part_is_an_error_naming_its_line() {
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path(), 80_000, None);
        let path = dir.path().join("t.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("1.5,only three,2000\n");
        std::fs::write(&path, text).unwrap();
        let error = CsvSource::new(dir.path()).read_table("t", "T", &schema(), None).unwrap_err().to_string();
        assert!(error.contains("line 80002: 3 fields where the header has 4"), "{error}");
    }

    #[test]
    fn a_file_read_in_pieces_is_read_whole_and_its_lines_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        // Lines of varied length, more line ends than a byte counter holds, no final line end.
        let text: String = (0..100_003).map(|i| format!("{i},{}\n", "x".repeat(i % 13))).collect();
        let text = text.trim_end();
        std::fs::write(&path, text).unwrap();
        for (threads, min_piece) in [(1, 1), (2, 1 << 20), (3, 1), (4, 7)] {
            let bytes = read_file(&path, threads, min_piece).unwrap();
            assert!(bytes == text.as_bytes(), "{threads} threads, pieces of {min_piece}");
        }
        assert_eq!(count_lines(text.as_bytes()), 100_002);
        assert_eq!(count_lines(&[b'\n'; 1000]), 1000);
        assert_eq!(count_lines(b""), 0);
    }

    #[test]
    fn quoted_files_and_small_files_are_one_part() {
        let big = format!("a,b\n{}", "1,\"x\ny\"\n".repeat(400_000));
        assert_eq!(split_lines(big.as_bytes(), 4, 2), vec![(4, big.len())]);
        let small = "a,b\n1,2\n3,4\n";
        assert_eq!(split_lines(small.as_bytes(), 4, 2), vec![(4, small.len())]);
        let plain = format!("a,b\n{}", "1,2\n".repeat(1_000_000));
        let parts = split_lines(plain.as_bytes(), 4, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0].0, parts[2].1), (4, plain.len()));
        assert!(parts.windows(2).all(|w| w[0].1 == w[1].0 && plain.as_bytes()[w[0].1 - 1] == b'\n'));
    }
}
