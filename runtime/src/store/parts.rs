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

use super::cold::{StoreError, create_table_statement, index_statement, insert_statements, sorter_threads};
use super::sqlite_insert::Bulk;
use crate::schema::Schema;
use crate::value::{PREFETCH_AHEAD, Row, Value, prefetch_row};

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

/// Helper threads for the sorter of each of `writers` index builds running side by side.
fn sorter_helpers(writers: usize) -> usize {
    let cores = sorter_threads();
    if writers >= cores { 0 } else { cores / writers.max(1) }
}

/// One part of a history about to be written: where, and under which name the catalog lists it.
#[derive(Clone, Debug)]
pub struct PartFile {
    path: PathBuf,
    file: String,
    dataset: String,
}

impl PartFile {
    pub(super) fn new(dir: &Path, dataset: &str, generation: u64, part: usize) -> PartFile {
        let file = file_name(dataset, generation, part);
        PartFile { path: dir.join(&file), file, dataset: dataset.to_string() }
    }

    /// Deletes the file, if written: its history will not be committed.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// The name the catalog lists it under.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Creates the part's file, with an empty history table of `schema`, for writing by one
    /// thread at a time: of `writers` writing parts side by side.
    pub fn create(&self, schema: &Schema, writers: usize) -> Result<PartWriter, StoreError> {
        let _ = std::fs::remove_file(&self.path);
        let table = create_table_statement(&self.dataset, schema);
        // Nothing reads a part before it is complete and synced (see the module docs). Helper
        // threads for the index build's sorter, if the parts' builds leave cores idle: with a
        // build per core, helpers only slow it (two 4.25M-row parts on 2 cores took 2.9 s to
        // index with none, 3.5 s with one or two each).
        let threads = format!("PRAGMA threads = {}", sorter_helpers(writers));
        let setup =
            [PAGE_SIZE_PRAGMA, "PRAGMA journal_mode = OFF", "PRAGMA synchronous = OFF", &threads, &table];
        let insert = insert_statements(&self.dataset, schema);
        let bulk = Bulk::create(&self.path, &setup, &insert).map_err(|failure| self.failed(failure.0))?;
        let order = IndexOrder::new(schema);
        Ok(PartWriter { bulk, part: self.clone(), schema: schema.clone(), order })
    }

    fn failed(&self, message: String) -> StoreError {
        StoreError::Write { location: self.path.display().to_string(), table: self.dataset.clone(), message }
    }
}

/// Writes one part of a history: [`PartWriter::append`] in one transaction from the first row
/// to the last, then [`PartWriter::finish`] to index it. Synchronous, on the caller's thread:
/// a worker writes its own part as its rows come, while they are in its cache.
pub struct PartWriter {
    bulk: Bulk,
    part: PartFile,
    schema: Schema,
    order: IndexOrder,
}

impl PartWriter {
    /// Appends rows (in schema order). The rows of one append are written in the order of the
    /// part's key/time index (see [`IndexOrder`]).
    pub fn append<R: Borrow<Row>>(&mut self, rows: &[R]) -> Result<(), StoreError> {
        let ordered = self.order.apply(rows);
        self.bulk.append(&ordered).map_err(|failure| self.part.failed(failure.0))
    }

    /// Commits the rows, builds the part's key/time index, closes it and syncs it to disk. It
    /// is then ready to be committed.
    pub fn finish(self) -> Result<(), StoreError> {
        // SQLite's default page cache: the sorter sizes its runs by it, and larger runs sorted
        // slower here (see `INDEX_CACHE_PRAGMA` in `cold`).
        let index = index_statement(&self.part.dataset, &self.schema);
        self.bulk
            .finish(&["PRAGMA cache_size = -2000", &index])
            .map_err(|failure| self.part.failed(failure.0))?;
        // Durable before the catalog names it (it is written without a journal or syncs).
        std::fs::File::open(&self.part.path)
            .and_then(|file| file.sync_all())
            .map_err(|e| self.part.failed(format!("cannot sync the written history: {e}")))
    }
}

/// Puts the rows of each append in the order of the key/time index the part is given at the
/// end, so that the table holds them as sorted runs. SQLite builds an index by sorting the
/// table's entries, in runs of its page cache's size, and merging the runs: runs that are
/// already partly ordered compare and merge far faster (4.25M rows with random keys, time
/// ascending: 2.45 s to index as they come, 1.81 s in sorted runs of 1,000 rows, 1.94 s of
/// 100), and an offline job appends about 1,000 rows at a time.
///
/// Rows are sorted on one integer made of a compact copy of their first key field and their
/// time (see [`order_prefix`]), then rows whose copies tie and whose keys differ are sorted on
/// the values themselves: the rows are touched again only for such ties. The order is
/// [`Value`]'s: SQLite's own for the values a key holds (strings by their bytes, integers by
/// value), and nothing but the index build's speed depends on it.
struct IndexOrder {
    keys: Vec<usize>,
    time: usize,
    /// Per row of the append being ordered: its prefix (high half) and time (low half, sign
    /// bit flipped), and its place.
    scratch: Vec<(u128, u32)>,
}

impl IndexOrder {
    fn new(schema: &Schema) -> IndexOrder {
        IndexOrder { keys: schema.key_indexes(), time: schema.timestamp_index(), scratch: Vec::new() }
    }

    /// `rows` in index order. A row too short for the key or time (refused by the write that
    /// follows) orders as if it had neither.
    fn apply<'r, R: Borrow<Row>>(&mut self, rows: &'r [R]) -> Vec<&'r Row> {
        let time = |row: &Row| match row.get(self.time) {
            Some(Value::Int(time)) => *time,
            _ => i64::MIN,
        };
        let first_key = self.keys.first().copied();
        self.scratch.clear();
        self.scratch.extend(rows.iter().enumerate().map(|(place, row)| {
            // The first read of each row: its values are their own allocation, out of cache.
            if let Some(ahead) = rows.get(place + PREFETCH_AHEAD) {
                prefetch_row(ahead.borrow());
            }
            let row = row.borrow();
            let prefix = first_key.and_then(|k| row.get(k)).map_or(0, order_prefix);
            let time = (time(row) as u64) ^ (1 << 63);
            ((u128::from(prefix) << 64) | u128::from(time), place as u32)
        }));
        self.scratch.sort_unstable_by_key(|&(order, _)| order);
        let keys = &self.keys;
        let row_at = |place: u32| -> &Row { rows[place as usize].borrow() };
        let key_of = |place: u32| keys.iter().map(move |&k| row_at(place).get(k));
        // Runs of one prefix: in order already if their rows have one key, else sorted here.
        let mut start = 0;
        while start < self.scratch.len() {
            let prefix = self.scratch[start].0 >> 64;
            let end =
                start + self.scratch[start..].iter().take_while(|(order, _)| order >> 64 == prefix).count();
            let run = &mut self.scratch[start..end];
            if run.len() > 1 && run.iter().any(|&(_, place)| key_of(place).ne(key_of(run[0].1))) {
                run.sort_unstable_by(|a, b| key_of(a.1).cmp(key_of(b.1)).then(a.0.cmp(&b.0)));
            }
            start = end;
        }
        self.scratch.iter().map(|&(_, place)| row_at(place)).collect()
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

    proptest::proptest! {
        #[test]
        fn an_append_is_written_in_key_then_time_order_and_keeps_every_row(
            rows in proptest::collection::vec((short_or_long_string(), -3i64..3, 0i64..20, 0i64..4), 0..120),
        ) {
            let schema = two_keys_and_time();
            let rows: Vec<Row> = rows
                .into_iter()
                .map(|(name, n, at, v)| vec![Value::Int(v), Value::str(&name), Value::Int(at), Value::Int(n)])
                .collect();
            let ordered = IndexOrder::new(&schema).apply(&rows);
            let index_key = |row: &Row| (row[1].clone(), row[3].clone(), row[2].clone());
            let keys: Vec<_> = ordered.iter().map(|row| index_key(row)).collect();
            proptest::prop_assert!(keys.is_sorted(), "{keys:?}");
            let mut got: Vec<Row> = ordered.into_iter().cloned().collect();
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
