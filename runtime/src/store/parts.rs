//! Histories written in parts: an offline materialization writes its history as several SQLite
//! files, one per writer, each inserted into and indexed on its own, so that the inserts and
//! the index builds run on every core at once. One SQLite file takes one writer at a time, and
//! building an index is one thread's work: a single file held the 10M-order reference run at
//! about one core for the whole commit.
//!
//! The files live in a directory next to the main file (`cold.db.parts/` for `cold.db`), named
//! `{dataset}.{generation}.{part}.db`, the generation being the hexadecimal nanoseconds since
//! the epoch at which the materialization began. A part holds one table named after the
//! dataset, with the same columns and key/time index as a history in the main file.
//!
//! Side by side means without a shared lock: SQLite is built without
//! `SQLITE_ENABLE_MEMORY_MANAGEMENT` (`.cargo/config.toml`), which would put every connection's
//! pages in one cache behind one global mutex (two writers inserting 8.5M rows: 3.1-3.7 s with
//! it, 1.5-1.6 s without).
//!
//! The catalog in the main file lists the parts of each history; a new history is swapped in by
//! one catalog transaction ([`super::ColdStore::commit_parts`]), after its files are synced. A
//! part never changes once written (it is written without a journal, since nothing reads it
//! before it is complete: a crash leaves a file the catalog never names, deleted by the next
//! commit of that dataset), so readers open it immutable, without locks.

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::codec;
use super::cold::{StoreError, create_table_statement, index_statement, insert_statements};
use super::sqlite_insert::Bulk;
use crate::schema::Schema;
use crate::value::{Row, Value};

/// The page size of a part: 16 KiB, not SQLite's 4 KiB. A part is written once, in bulk, and
/// then only read: larger pages split and balance less often as rows are appended and the index
/// is built (2M rows inserted and indexed: 0.72-0.89 s against 0.81-0.96 s with 4 KiB pages,
/// 64 KiB no better), and a key's lookup reads no more pages.
const PAGE_SIZE_PRAGMA: &str = "PRAGMA page_size = 16384";

/// The directory of the parts of the cold store at `path`.
pub(super) fn dir_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "cold".into());
    name.push(".parts");
    path.with_file_name(name)
}

/// A generation for a history begun now: later histories have greater ones.
pub(super) fn generation() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The file name of part `part` of `dataset`'s history of `generation`.
fn file_name(dataset: &str, generation: u64, part: usize) -> String {
    format!("{dataset}.{generation:016x}.{part}.db")
}

/// The dataset and generation of a part's file name (dataset names have no dots).
pub(super) fn parse(file: &str) -> Option<(&str, u64)> {
    let mut pieces = file.split('.');
    let (dataset, generation, part, ext) = (pieces.next()?, pieces.next()?, pieces.next()?, pieces.next()?);
    if pieces.next().is_some() || ext != "db" || part.parse::<usize>().is_err() {
        return None;
    }
    Some((dataset, u64::from_str_radix(generation, 16).ok()?))
}

/// Deletes the files of `dataset`'s parts in `dir` older than `generation`, except `keep`;
/// returns the names of those deleted.
pub(super) fn remove_stale(dir: &Path, dataset: &str, generation: u64, keep: &[String]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Ok(file) = entry.file_name().into_string() else { continue };
        let stale = parse(&file).is_some_and(|(name, born)| name == dataset && born < generation);
        if stale && !keep.contains(&file) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(file);
        }
    }
    removed
}

/// Opens a committed part for reading: read-only and immutable (parts never change).
pub(super) async fn open_for_reading(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    if !path.exists() {
        return Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")));
    }
    let options = SqliteConnectOptions::from_str("sqlite:")?.filename(path).read_only(true).immutable(true);
    SqlitePoolOptions::new().max_connections(4).min_connections(0).connect_with(options).await
}

/// The most the writers of an offline job hold together, in bytes, by default: 1 GiB, about
/// 15M rows of the reference example's history (an encoded row of it is about 45 bytes, and
/// its place in the order 24 more). Each writer holds at most its share (see
/// [`PartWriter::with_held_limit`]) and writes what it holds as a part whenever it reaches it.
pub const HELD_BYTES: usize = 1 << 30;

/// One part of a history about to be written: where, and under which name the catalog lists it.
#[derive(Clone, Debug)]
pub struct PartFile {
    path: PathBuf,
    file: String,
    dataset: String,
    generation: u64,
    part: usize,
}

impl PartFile {
    pub(super) fn new(dir: &Path, dataset: &str, generation: u64, part: usize) -> PartFile {
        let file = file_name(dataset, generation, part);
        PartFile { path: dir.join(&file), file, dataset: dataset.to_string(), generation, part }
    }

    /// The part `step` places after this one, of the same history.
    fn after(&self, step: usize) -> PartFile {
        let dir = self.path.parent().unwrap_or(Path::new(""));
        PartFile::new(dir, &self.dataset, self.generation, self.part + step.max(1))
    }

    /// Deletes the file, if written: its history will not be committed.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Deletes every file of this part's history (its dataset and generation): the parts a
    /// failed job's writers wrote, however many each wrote.
    pub fn remove_history(&self) {
        let Some(dir) = self.path.parent() else { return };
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let Ok(file) = entry.file_name().into_string() else { continue };
            if parse(&file) == Some((self.dataset.as_str(), self.generation)) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The name the catalog lists it under.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Starts writing this part of a history of `schema`, one of `writers` written side by
    /// side (a writer that holds more than it may goes on in the part `writers` places after
    /// this one, and so on: see [`PartWriter`]). The file is created at once, with its table
    /// and index.
    pub fn create(&self, schema: &Schema, writers: usize) -> Result<PartWriter, StoreError> {
        let file = self.open(schema)?;
        Ok(PartWriter {
            current: Some((self.clone(), file)),
            next: self.after(writers),
            step: writers,
            written: Vec::new(),
            schema: schema.clone(),
            held: HeldRows::new(schema),
            limit: HELD_BYTES / writers.max(1),
        })
    }

    /// Creates the file, with the history's table and its key/time index, for one writer.
    fn open(&self, schema: &Schema) -> Result<Bulk, StoreError> {
        let _ = std::fs::remove_file(&self.path);
        let table = create_table_statement(&self.dataset, schema);
        let index = index_statement(&self.dataset, schema);
        // Nothing reads a part before it is complete and synced (see the module docs). The
        // index exists before the first row: the rows come in its order (see `PartWriter`).
        let setup =
            [PAGE_SIZE_PRAGMA, "PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", &table, &index];
        let insert = insert_statements(&self.dataset, schema);
        Bulk::create(&self.path, &setup, &insert).map_err(|failure| self.failed(failure.0))
    }

    fn failed(&self, message: String) -> StoreError {
        StoreError::Write { location: self.path.display().to_string(), table: self.dataset.clone(), message }
    }
}

/// Writes a history in parts: [`PartWriter::append`] as the rows come, then
/// [`PartWriter::finish`]. Synchronous, on the caller's thread.
///
/// The rows are held, encoded ([`codec`]), and written at the end in the order of the part's
/// key/time index, into a table whose index already exists: SQLite then adds each row at the
/// end of the table and of the index, and sorts nothing. Building the index after the rows
/// (SQLite sorting them in runs of its page cache's size and merging the runs) took longer
/// than writing them: 4.27M rows of the reference example's history, inserted then indexed,
/// 0.90 + 1.94 s; inserted in index order into the indexed table, 1.57 s. The rows sort here,
/// on one integer pair per row, cheaper than SQLite's comparisons of its records.
///
/// A writer holds at most its share of [`HELD_BYTES`] (or [`PartWriter::with_held_limit`]):
/// beyond that it writes what it holds as a part of its own, and the rows after go into the
/// next part (parts of a history may hold the same keys: its readers read every part).
/// [`PartWriter::finish`] says which parts it wrote.
pub struct PartWriter {
    /// The part being written: `None` once one is written and until the next row.
    current: Option<(PartFile, Bulk)>,
    /// The part after it.
    next: PartFile,
    /// Parts between one of this writer's and the next (the writers writing side by side).
    step: usize,
    /// The parts written, complete and synced.
    written: Vec<PartFile>,
    schema: Schema,
    held: HeldRows,
    /// The most bytes held.
    limit: usize,
}

impl PartWriter {
    /// Appends rows (in schema order).
    pub fn append<R: Borrow<Row>>(&mut self, rows: &[R]) -> Result<(), StoreError> {
        let width = self.schema.fields.len();
        if let Some(row) = rows.iter().map(Borrow::<Row>::borrow).find(|row| row.len() != width) {
            let message = format!("a row of {} values for {width} fields", row.len());
            return Err(self.current_file().failed(message));
        }
        for row in rows {
            self.held.push(row.borrow());
            if self.held.bytes() >= self.limit {
                self.write_held()?;
            }
        }
        Ok(())
    }

    /// Writes the rows held, indexes them, closes each part and syncs it to disk. The parts,
    /// in the order written, are then ready to be committed.
    pub fn finish(mut self) -> Result<Vec<PartFile>, StoreError> {
        if self.current.is_some() || !self.held.is_empty() {
            self.write_held()?;
        }
        Ok(std::mem::take(&mut self.written))
    }

    /// Holds at most `bytes` bytes of rows at a time (by default, a `writers`-th of
    /// [`HELD_BYTES`]: see [`PartFile::create`]).
    pub fn with_held_limit(mut self, bytes: usize) -> PartWriter {
        self.limit = bytes;
        self
    }

    /// The part being written, or the next.
    fn current_file(&self) -> &PartFile {
        self.current.as_ref().map_or(&self.next, |(file, _)| file)
    }

    /// Writes the rows held into the current part (creating it if need be), in index order,
    /// and completes it.
    fn write_held(&mut self) -> Result<(), StoreError> {
        let (file, mut bulk) = match self.current.take() {
            Some(current) => current,
            None => {
                let file = self.next.clone();
                self.next = file.after(self.step);
                let bulk = file.open(&self.schema)?;
                (file, bulk)
            }
        };
        let order = self.held.sorted();
        let held = &self.held;
        bulk.append_encoded(order.len(), |i| held.row(order[i])).map_err(|failure| file.failed(failure.0))?;
        bulk.finish(&[]).map_err(|failure| file.failed(failure.0))?;
        // Durable before the catalog names it (it is written without a journal or syncs).
        std::fs::File::open(&file.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| file.failed(format!("cannot sync the written history: {e}")))?;
        self.held.clear();
        self.written.push(file);
        Ok(())
    }
}

/// Rows held by a [`PartWriter`]: each row's values encoded one after another in one buffer,
/// and per row its place in the order of the part's index (key, then time).
///
/// A row's place is one integer pair: a compact copy of its first key field (see
/// [`order_prefix`]) and its time. Rows whose copies tie but whose keys differ (strings longer
/// than 7 bytes sharing their first 7, several key fields, keys of other types) are sorted on
/// the values themselves; a history none of whose copies stands for two keys is never decoded
/// to be sorted. The order is [`Value`]'s: SQLite's own for the values a key holds (strings by
/// their bytes, integers by value), and nothing but the writing speed depends on it.
struct HeldRows {
    keys: Vec<usize>,
    time: usize,
    /// The encodings, one after another, in blocks of [`BLOCK_BYTES`] (or one row's, if
    /// larger): a full block is never copied to grow it.
    blocks: Vec<Vec<u8>>,
    /// Bytes held in `blocks`.
    held: usize,
    /// The row being encoded.
    scratch: Vec<u8>,
    /// Per row: its key prefix, its time (sign bit flipped), and where its encoding starts
    /// (its block in the high half, its offset in the low).
    order: Vec<(u64, u64, usize)>,
    /// Whether some row's key prefix may stand for more keys than its own.
    inexact: bool,
}

/// The size of a block of held rows' encodings.
const BLOCK_BYTES: usize = 4 << 20;

impl HeldRows {
    fn new(schema: &Schema) -> HeldRows {
        HeldRows {
            keys: schema.key_indexes(),
            time: schema.timestamp_index(),
            blocks: Vec::new(),
            held: 0,
            scratch: Vec::new(),
            order: Vec::new(),
            inexact: false,
        }
    }

    /// Holds `row`.
    fn push(&mut self, row: &Row) {
        let time = match row.get(self.time) {
            Some(Value::Int(time)) => *time,
            _ => i64::MIN,
        };
        let first = self.keys.first().and_then(|&k| row.get(k));
        let exact = self.keys.len() == 1
            && match first {
                Some(Value::Int(_)) => true,
                Some(Value::Str(s)) => s.len() < 8,
                _ => false,
            };
        self.inexact |= !exact && !self.keys.is_empty();
        let prefix = first.map_or(0, order_prefix);
        self.scratch.clear();
        codec::encode(row, &mut self.scratch);
        let fits = self.blocks.last().is_some_and(|b| b.capacity() - b.len() >= self.scratch.len());
        if !fits {
            self.blocks.push(Vec::with_capacity(BLOCK_BYTES.max(self.scratch.len())));
        }
        let block = self.blocks.len() - 1;
        let bytes = &mut self.blocks[block];
        self.order.push((prefix, (time as u64) ^ (1 << 63), block << 32 | bytes.len()));
        bytes.extend_from_slice(&self.scratch);
        self.held += self.scratch.len();
    }

    /// Bytes held: the encodings and the order.
    fn bytes(&self) -> usize {
        self.held + self.order.len() * std::mem::size_of::<(u64, u64, usize)>()
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The encoding of the row at `at` (a place in `order`), and the bytes after it in its block.
    fn row(&self, at: usize) -> &[u8] {
        &self.blocks[at >> 32][at & 0xffff_ffff..]
    }

    /// Where each row's encoding starts, the rows in index order (key, then time): places to
    /// read with [`HeldRows::row`].
    fn sorted(&mut self) -> Vec<usize> {
        self.order.sort_unstable();
        if self.inexact {
            self.settle_ties();
        }
        self.order.iter().map(|&(_, _, at)| at).collect()
    }

    /// Sorts each run of rows with one key prefix and different keys on the keys themselves.
    fn settle_ties(&mut self) {
        let keys = &self.keys;
        let fields = keys.last().map_or(0, |&k| k + 1);
        let row = |at: usize| &self.blocks[at >> 32][at & 0xffff_ffff..];
        // The encodings of a row's key fields, in order, read in place.
        let key_cells = |at: usize| {
            let mut rest = row(at);
            (0..fields).filter_map(move |field| {
                let before = rest;
                codec::next_cell(&mut rest)?;
                keys.contains(&field).then(|| &before[..before.len() - rest.len()])
            })
        };
        let key_of = |at: usize| -> Vec<Value> {
            let row = codec::decode_first(row(at), fields).unwrap_or_default();
            keys.iter().map(|&k| row.get(k).cloned().unwrap_or(Value::Null)).collect()
        };
        let mut start = 0;
        while start < self.order.len() {
            let prefix = self.order[start].0;
            let end = start + self.order[start..].iter().take_while(|entry| entry.0 == prefix).count();
            let run = &mut self.order[start..end];
            let first = run[0].2;
            if run[1..].iter().any(|entry| key_cells(entry.2).ne(key_cells(first))) {
                let mut keyed: Vec<(Vec<Value>, (u64, u64, usize))> =
                    run.iter().map(|&entry| (key_of(entry.2), entry)).collect();
                keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
                for (slot, (_, entry)) in run.iter_mut().zip(keyed) {
                    *slot = entry;
                }
            }
            start = end;
        }
    }

    fn clear(&mut self) {
        self.blocks.clear();
        self.held = 0;
        self.order.clear();
        self.inexact = false;
    }
}

/// A compact copy of a key value that never orders two values against [`Value`]'s order: if
/// `a < b` then `order_prefix(a) <= order_prefix(b)`, for values of one field's type. An
/// integer is itself (its sign bit flipped); a string is its first 7 bytes then its length,
/// capped at 8 (strings sharing 7 bytes and both longer tie, as do all other values). Ties
/// are settled on the values themselves.
fn order_prefix(value: &Value) -> u64 {
    match value {
        Value::Int(v) => (*v as u64) ^ (1 << 63),
        Value::Str(s) => {
            let bytes = s.as_bytes();
            let mut head = [0u8; 8];
            let n = bytes.len().min(7);
            head[..n].copy_from_slice(&bytes[..n]);
            head[7] = bytes.len().min(8) as u8;
            u64::from_be_bytes(head)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Field;
    use crate::value::{FieldType, ScalarType};

    #[test]
    #[allow(unsafe_code)]
    fn sqlite_gives_each_connection_its_own_page_cache() {
        // SAFETY: reads SQLite's compile-time options; the name is a NUL-terminated literal.
        let shared =
            unsafe { libsqlite3_sys::sqlite3_compileoption_used(c"ENABLE_MEMORY_MANAGEMENT".as_ptr()) };
        assert_eq!(
            shared, 0,
            "SQLite built with one page cache for every connection: see .cargo/config.toml"
        );
    }

    /// A required field of `scalar`: a key field, the time field, or neither.
    fn field(name: &str, scalar: ScalarType, key: bool, timestamp: bool) -> Field {
        Field { name: name.into(), ty: FieldType::required(scalar), key, timestamp }
    }

    /// A history of a string key `id` and a time `at`.
    fn key_and_time() -> Schema {
        Schema {
            fields: vec![
                field("id", ScalarType::Str, true, false),
                field("at", ScalarType::Timestamp, false, true),
            ],
        }
    }

    /// A history keyed by a string and an integer, with a time and a value.
    fn two_keys_and_time() -> Schema {
        Schema {
            fields: vec![
                field("v", ScalarType::Int, false, false),
                field("name", ScalarType::Str, true, false),
                field("at", ScalarType::Timestamp, false, true),
                field("n", ScalarType::Int, true, false),
            ],
        }
    }

    /// Strings from a two-letter alphabet, up to 10 bytes: many share their first 7 bytes.
    fn short_or_long_string() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex("[ab]{0,10}").unwrap()
    }

    /// Each part's rows of `schema` (two keys and a time, see [`two_keys_and_time`]) in the
    /// order the table holds them.
    fn rows_as_stored(dir: &Path, files: &[PartFile]) -> Vec<Vec<Row>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut parts = Vec::new();
            for file in files {
                let pool = open_for_reading(&dir.join(file.file())).await.unwrap();
                let rows: Vec<(i64, String, i64, i64)> =
                    sqlx::query_as("SELECT v, name, at, n FROM Spent ORDER BY rowid")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                parts.push(
                    rows.into_iter()
                        .map(|(v, name, at, n)| {
                            vec![Value::Int(v), Value::str(&name), Value::Int(at), Value::Int(n)]
                        })
                        .collect(),
                );
                pool.close().await;
            }
            parts
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn each_part_is_written_in_key_then_time_order_and_the_parts_keep_every_row(
            rows in proptest::collection::vec((short_or_long_string(), -3i64..3, 0i64..20, 0i64..4), 0..120),
            batch in 1usize..40,
            held in 200usize..4000,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let schema = two_keys_and_time();
            let rows: Vec<Row> = rows
                .into_iter()
                .map(|(name, n, at, v)| vec![Value::Int(v), Value::str(&name), Value::Int(at), Value::Int(n)])
                .collect();
            let mut writer = PartFile::new(dir.path(), "Spent", 1, 1).create(&schema, 3).unwrap().with_held_limit(held);
            for batch in rows.chunks(batch) {
                writer.append(batch).unwrap();
            }
            let files = writer.finish().unwrap();
            // The first part is this writer's own; the next are every third after it.
            let numbers: Vec<usize> = files.iter().map(|f| f.part).collect();
            proptest::prop_assert_eq!(numbers, (0..files.len()).map(|i| 1 + 3 * i).collect::<Vec<_>>());
            let parts = rows_as_stored(dir.path(), &files);
            let index_key = |row: &Row| (row[1].clone(), row[3].clone(), row[2].clone());
            for part in &parts {
                let keys: Vec<_> = part.iter().map(index_key).collect();
                proptest::prop_assert!(keys.is_sorted(), "{keys:?}");
            }
            let mut got: Vec<Row> = parts.into_iter().flatten().collect();
            let mut rows = rows;
            got.sort();
            rows.sort();
            proptest::prop_assert_eq!(got, rows);
        }

        #[test]
        fn a_key_prefix_never_orders_two_values_against_their_own_order(
            shared in short_or_long_string(),
            a in "[ab]{0,3}",
            b in "[ab]{0,3}",
            x: i64,
            y: i64,
        ) {
            // Two strings with a common start, so that many share their first 7 bytes.
            let (a, b) = (Value::str(&format!("{shared}{a}")), Value::str(&format!("{shared}{b}")));
            for (a, b) in [(a, b), (Value::Int(x), Value::Int(y))] {
                let (low, high) = if a <= b { (a, b) } else { (b, a) };
                proptest::prop_assert!(order_prefix(&low) <= order_prefix(&high), "{low:?} {high:?}");
            }
        }
    }

    #[test]
    fn a_finished_part_has_large_pages_and_its_rows_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let schema = key_and_time();
        let part = PartFile::new(dir.path(), "Spent", 1, 0);
        let mut writer = part.create(&schema, 1).unwrap();
        let rows: Vec<Row> =
            (0..5000).map(|i| vec![Value::str(&format!("k{}", i % 7)), Value::Int(i)]).collect();
        writer.append(&rows).unwrap();
        writer.finish().unwrap();
        // The page size only takes if set before the table is created: read it back.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (page_size, rows, plan) = runtime.block_on(async {
            let pool = open_for_reading(&dir.path().join(part.file())).await.unwrap();
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&pool).await.unwrap();
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM Spent").fetch_one(&pool).await.unwrap();
            let plan: Vec<String> =
                sqlx::query("EXPLAIN QUERY PLAN SELECT * FROM Spent WHERE id = 'k3' AND at <= 9")
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| sqlx::Row::get(row, "detail"))
                    .collect();
            (page_size, rows, plan)
        });
        assert_eq!(page_size, 16384);
        assert_eq!(rows, 5000);
        assert!(plan.iter().any(|step| step.contains("_volga_Spent_key_time")), "{plan:?}");
    }

    #[test]
    fn a_part_refuses_a_row_of_the_wrong_width_and_leaves_no_file_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let schema = key_and_time();
        let part = PartFile::new(dir.path(), "Spent", 1, 0);
        let mut writer = part.create(&schema, 1).unwrap();
        writer.append(&[vec![Value::str("a"), Value::Int(1)]]).unwrap();
        let error = writer.append(&[vec![Value::str("b")]]).unwrap_err().to_string();
        assert!(error.contains("a row of 1 values for 2 fields"), "{error}");
        assert!(error.contains("`Spent`"), "{error}");
        // A job that fails drops its writers and then deletes their files.
        drop(writer);
        part.remove();
        assert!(!dir.path().join(part.file()).exists());
    }

    #[test]
    fn a_failed_history_is_removed_with_every_part_its_writers_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let schema = key_and_time();
        let (first, other) =
            (PartFile::new(dir.path(), "Spent", 7, 0), PartFile::new(dir.path(), "Spent", 8, 0));
        // Two rows of this history pass 60 bytes (15 encoded and 24 of order each).
        let mut writer = first.create(&schema, 2).unwrap().with_held_limit(60);
        for i in 0..5 {
            writer.append(&[vec![Value::str("k"), Value::Int(i)]]).unwrap();
        }
        let kept = other.create(&schema, 1).unwrap().finish().unwrap();
        let names = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        // Parts 0 and 2 written, two rows each; the fifth row held, its part not yet begun.
        assert_eq!(
            names(dir.path()),
            vec![file_name("Spent", 7, 0), file_name("Spent", 7, 2), kept[0].file().to_string()]
        );
        drop(writer);
        first.remove_history();
        assert_eq!(names(dir.path()), vec![kept[0].file().to_string()]);
    }

    #[test]
    fn part_names_read_back_and_order_by_generation() {
        let early = file_name("Spent", 0x18a, 0);
        let late = file_name("Spent", 0x1_0000_0000, 3);
        assert_eq!(parse(&early), Some(("Spent", 0x18a)));
        assert_eq!(parse(&late), Some(("Spent", 0x1_0000_0000)));
        assert!(early < late, "fixed-width generations sort as numbers");
        for other in ["Spent.db", "Spent.xyz.0.db", "Spent.18a.0.db-journal", "Spent.18a.x.db", "a.b.0.1.db"]
        {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn only_older_parts_of_the_same_dataset_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            file_name("Spent", 1, 0),
            file_name("Spent", 1, 1),
            file_name("Spent", 2, 0),
            file_name("Spent", 3, 0),
            file_name("SpentDaily", 1, 0),
            "notes.txt".to_string(),
        ];
        for file in &files {
            std::fs::write(dir.path().join(file), b"").unwrap();
        }
        let mut removed = remove_stale(dir.path(), "Spent", 3, &[file_name("Spent", 2, 0)]);
        removed.sort();
        assert_eq!(removed, vec![file_name("Spent", 1, 0), file_name("Spent", 1, 1)]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                file_name("Spent", 2, 0),
                file_name("Spent", 3, 0),
                file_name("SpentDaily", 1, 0),
                "notes.txt".to_string()
            ]
        );
    }
}
