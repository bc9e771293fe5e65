//! The `csv` connector: a folder of CSV files with a header row; table `users` is `users.csv`.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Deserialize;

use super::{
    Connector, ConnectorError, Interner, Kept, RowFilter, TableSource, file_name, parse_cell, takes_text,
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
        let io_error = |e: std::io::Error| ConnectorError::Io { file: file.clone(), message: e.to_string() };
        let io = |e: csv::Error| ConnectorError::Io { file: file.clone(), message: e.to_string() };
        let handle = File::open(&path).map_err(io_error)?;
        let len = handle.metadata().map_err(io_error)?.len();
        let mut reader =
            csv::ReaderBuilder::new().has_headers(true).from_reader(Piece::new(&handle, 0, len, None));
        let headers = reader.headers().map_err(io)?.clone();
        let body_start = reader.position().byte();
        drop(reader);
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
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let parts = split_lines(&handle, body_start, len, threads, MIN_PART).map_err(io_error)?;
        let line_length = mean_line_length(&handle, body_start, len).map_err(io_error)?;
        let lines =
            |(start, end): (u64, u64)| line_length.map_or(0, |l| ((end - start) as f64 / l * 1.05) as usize);
        // Set by a part's reader that meets a quote: a quoted field may hold a line end, and so
        // may cross from one part into the next; the file is then read again as one part.
        let quoted = AtomicBool::new(false);
        let read = |&(start, end): &(u64, u64),
                    capacity: usize,
                    quoted: Option<&AtomicBool>|
         -> Result<Vec<Row>, ConnectorError> {
            // Flexible, so that record lengths are checked against the header here rather than
            // against the first record of the part.
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(READ_BUFFER)
                .from_reader(Piece::new(&handle, start, end, quoted));
            // Sized from the file's mean line length: growing by doubling copied each part's
            // rows about twice over, into memory the kernel had to zero first.
            let filtering = |message| ConnectorError::Filter { file: file.clone(), message };
            let mut rows = Kept::new(Vec::with_capacity(capacity), filter).map_err(filtering)?;
            let mut record = csv::StringRecord::new();
            let mut interners: Vec<Interner> = columns.iter().map(|_| Interner::default()).collect();
            // Errors name the line in the file: the lines before this part, plus its own.
            let lines_before = || count_lines_before(&handle, start).unwrap_or(0);
            loop {
                match reader.read_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        if quoted.is_some_and(|q| q.load(Ordering::Relaxed)) {
                            return Ok(Vec::new());
                        }
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
                    // A string cell is made in place, through the interner's inline call: it
                    // cannot fail, and returned inside a `Result` it was written in pieces and
                    // read back whole, a stall on every string cell (about 3% of a 10M-order
                    // job).
                    if takes_text(field.ty, text) {
                        row.push(interner.intern(text));
                        continue;
                    }
                    let value = parse_cell(field.ty, text).map_err(|message| ConnectorError::Value {
                        file: file.clone(),
                        line: lines_before() + record.position().map_or(1, csv::Position::line),
                        column: field.name.clone(),
                        message,
                    })?;
                    row.push(value);
                }
                rows.push(row).map_err(filtering)?;
            }
            rows.finish().map_err(filtering)
        };
        let whole = (body_start, len);
        if parts.len() == 1 {
            return read(&whole, lines(whole), None);
        }
        // The first part's vector has room for every row, the others being appended to it.
        let results: Vec<Result<Vec<Row>, ConnectorError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let (read, quoted) = (&read, &quoted);
                    let capacity = if i == 0 { lines(whole) } else { lines(*part) };
                    scope.spawn(move || read(part, capacity, Some(quoted)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a CSV reader thread panicked")).collect()
        });
        if quoted.load(Ordering::Relaxed) {
            return read(&whole, lines(whole), None);
        }
        let mut results = results.into_iter();
        let mut rows = results.next().expect("one part at least")?;
        for part in results {
            rows.extend(part?);
        }
        Ok(rows)
    }
}

/// Bytes a part's reader asks the file for at a time: the parser reads them while they are
/// in the cache, and no buffer the size of the file is allocated (the kernel zeroed every page
/// of one before the file was copied into it: a tenth of a 1M-row read).
const READ_BUFFER: usize = 256 << 10;

/// The least a reading thread parses of a file read in parallel.
const MIN_PART: u64 = 1 << 20;

/// The bytes `[at, end)` of a file, as a reader; it notes in `quoted`, if given, that a quote
/// was among them, and then stops (the caller reads the file again as one part).
struct Piece<'f> {
    file: &'f File,
    at: u64,
    end: u64,
    quoted: Option<&'f AtomicBool>,
}

impl<'f> Piece<'f> {
    fn new(file: &'f File, at: u64, end: u64, quoted: Option<&'f AtomicBool>) -> Self {
        Piece { file, at, end, quoted }
    }
}

impl Read for Piece<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min(usize::try_from(self.end - self.at).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..want], self.at)?;
        if got == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file was cut short while it was read",
            ));
        }
        self.at += got as u64;
        if let Some(quoted) = self.quoted
            && memchr::memchr(b'"', &buf[..got]).is_some()
        {
            quoted.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("a quoted field: read as one part"));
        }
        Ok(got)
    }
}

/// The line ends in `bytes`. Counted in pieces a byte-wide counter cannot overflow, which the
/// compiler turns into wide compares: 5-10x faster than a count one byte at a time.
fn count_lines(bytes: &[u8]) -> usize {
    bytes.chunks(255).map(|piece| piece.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')) as usize).sum()
}

/// The line ends in the file before byte `end` (for an error's line number).
fn count_lines_before(file: &File, end: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut piece = Piece::new(file, 0, end, None);
    let mut lines = 0;
    loop {
        match piece.read(&mut buf)? {
            0 => return Ok(lines),
            n => lines += count_lines(&buf[..n]) as u64,
        }
    }
}

/// The mean length of the first lines of the body `[start, end)`, to size the rows' vectors;
/// none without a line end among them.
fn mean_line_length(file: &File, start: u64, end: u64) -> std::io::Result<Option<f64>> {
    let mut buf = vec![0u8; (end - start).min(64 << 10) as usize];
    file.read_exact_at(&mut buf, start)?;
    let lines = count_lines(&buf);
    Ok((lines > 0).then(|| buf.len() as f64 / lines as f64))
}

/// Splits the body of a CSV file (bytes `[start, end)`) into up to `parts` ranges of
/// `min_part` bytes or more that end at line ends, to parse them in parallel; one range when
/// the body is small.
fn split_lines(
    file: &File,
    start: u64,
    end: u64,
    parts: usize,
    min_part: u64,
) -> std::io::Result<Vec<(u64, u64)>> {
    let body = end - start;
    if parts <= 1 || body < 2 * min_part {
        return Ok(vec![(start, end)]);
    }
    let step = body / parts as u64;
    let mut ranges = Vec::with_capacity(parts);
    let mut from = start;
    let mut window = vec![0u8; 64 << 10];
    for i in 1..parts as u64 {
        // The first line end at or after the target, searched a window at a time.
        let mut at = (start + i * step).max(from);
        let newline = loop {
            let n = file.read_at(&mut window, at)?;
            if n == 0 {
                break None;
            }
            if let Some(offset) = memchr::memchr(b'\n', &window[..n]) {
                break Some(at + offset as u64);
            }
            at += n as u64;
        };
        let Some(newline) = newline else {
            break;
        };
        ranges.push((from, newline + 1));
        from = newline + 1;
    }
    ranges.push((from, end));
    ranges.retain(|(a, b)| a < b);
    Ok(ranges)
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
        assert!(parts_of(&dir.path().join("t.csv"), 2).len() == 2, "the test file must be split");
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
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(
            filter.0.into_inner(),
            parts_of(&dir.path().join("t.csv"), threads).len(),
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
    fn lines_are_counted_before_any_byte_of_a_file_read_in_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        // Lines of varied length, more line ends than a byte counter holds, no final line end;
        // longer than one read buffer.
        let text: String = (0..100_003).map(|i| format!("{i},{}\n", "x".repeat(i % 13))).collect();
        let text = text.trim_end();
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        for end in [0, 1, 5, 4096, READ_BUFFER as u64 + 3, text.len() as u64] {
            let expected = count_lines(&text.as_bytes()[..end as usize]) as u64;
            assert_eq!(count_lines_before(&file, end).unwrap(), expected, "before byte {end}");
        }
        assert_eq!(count_lines(text.as_bytes()), 100_002);
        assert_eq!(count_lines(&[b'\n'; 1000]), 1000);
        assert_eq!(count_lines(b""), 0);
        let mean = mean_line_length(&file, 0, text.len() as u64).unwrap().unwrap();
        assert!((5.0..20.0).contains(&mean), "{mean}");
    }

    /// The parts `split_lines` makes of the body of the CSV file at `path` (header: one line).
    fn parts_of(path: &Path, parts: usize) -> Vec<(u64, u64)> {
        let text = std::fs::read(path).unwrap();
        let start = text.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
        split_lines(&File::open(path).unwrap(), start, text.len() as u64, parts, MIN_PART).unwrap()
    }

    #[test]
    fn small_files_are_one_part_and_large_ones_split_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b\n1,2\n3,4\n").unwrap();
        assert_eq!(parts_of(&path, 2), vec![(4, 12)]);
        let plain = format!("a,b\n{}", "1,2\n".repeat(1_000_000));
        std::fs::write(&path, &plain).unwrap();
        let parts = parts_of(&path, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0].0, parts[2].1), (4, plain.len() as u64));
        assert!(parts.windows(2).all(|w| w[0].1 == w[1].0 && plain.as_bytes()[w[0].1 as usize - 1] == b'\n'));
    }

    #[test]
    fn a_large_file_with_line_ends_inside_quoted_fields_reads_as_written() {
        // A quoted field of many lines in the middle of the file, where it is split: the
        // parts' readers meet its quotes, and the file is read again as one part.
        let dir = tempfile::tempdir().unwrap();
        let long = "line\n".repeat(400_000);
        let mut text = String::from("id,at,price\n");
        for i in 0..120_001 {
            if i == 60_000 {
                writeln!(text, "\"{long}\",{},{i}.5", 1000 + i).unwrap();
            } else {
                writeln!(text, "user{},{},{i}.5", i % 97, 1000 + i).unwrap();
            }
        }
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &text).unwrap();
        let parts = parts_of(&path, 2);
        let split = parts[0].1 as usize;
        assert!(
            parts.len() == 2 && text[..split].ends_with("line\n"),
            "the split must fall inside the field"
        );
        let read = CsvSource::new(dir.path()).read_table("t", "T", &schema(), None).unwrap();
        assert_eq!(read.len(), 120_001);
        for (i, row) in read.iter().enumerate() {
            let id = if i == 60_000 { long.clone() } else { format!("user{}", i % 97) };
            let expected = vec![Value::str(&id), Value::Int(1000 + i as i64), Value::float(i as f64 + 0.5)];
            assert_eq!(row, &expected, "row {i}");
        }
    }
}
