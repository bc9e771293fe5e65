//! Histories written in parts: an offline materialization writes its history as several SQLite
//! files, each written by one writer (a worker), so that the writes run on every core at once.
//! One SQLite file takes one writer at a time: a single file held the 10M-order reference run
//! at about one core for the whole commit. A writer holds its rows and writes them at the end
//! in key, then time, order ([`PartWriter`]); one that holds more than its
//! share of memory writes several parts, one after another.
//!
//! The files live in a directory next to the main file (`cold.db.parts/` for `cold.db`), named
//! `{dataset}.{generation}.{part}.db`, the generation being the hexadecimal nanoseconds since
//! the epoch at which the materialization began. A part holds one table named after the
//! dataset, with the same columns as a history in the main file, its rows in key, then time,
//! order, and in place of the main file's key/time index a key directory (`_volga_keys`: each
//! key's first and last rowid). Parts written before the directory have the index instead;
//! readers tell them apart by the directory.
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
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::codec;
use super::cold::{
    KEY_DIRECTORY, KEY_DIRECTORY_STRETCH, StoreError, create_table_statement, insert_statements,
    key_directory_schema, key_directory_statements,
};
use super::sqlite_insert::Bulk;
use crate::schema::Schema;
use crate::value::{Row, Value};

/// The page size of a part: 16 KiB, not SQLite's 4 KiB. A part is written once, in bulk, and
/// then only read: larger pages split and balance less often as rows are appended (2M rows
/// inserted and indexed: 0.72-0.89 s against 0.81-0.96 s with 4 KiB pages, 64 KiB no better),
/// and a key's lookup reads no more pages.
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
    /// and key directory.
    pub fn create(&self, schema: &Schema, writers: usize) -> Result<PartWriter, StoreError> {
        let file = self.open(schema)?;
        Ok(PartWriter {
            current: Some((self.clone(), file)),
            next: self.after(writers),
            step: writers,
            written: Vec::new(),
            schema: schema.clone(),
            held: HeldRows::new(schema, BLOCK_BYTES),
            limit: HELD_BYTES / writers.max(1),
        })
    }

    /// Creates the file, with the history's table and its key directory, for one writer.
    fn open(&self, schema: &Schema) -> Result<Bulk, StoreError> {
        let _ = std::fs::remove_file(&self.path);
        let table = create_table_statement(&self.dataset, schema);
        let [directory, directory_index] = key_directory_statements(schema);
        // Nothing reads a part before it is complete and synced (see the module docs).
        let setup = [
            PAGE_SIZE_PRAGMA,
            "PRAGMA journal_mode = OFF",
            "PRAGMA synchronous = OFF",
            &table,
            &directory,
            &directory_index,
        ];
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
/// The rows are held, encoded ([`codec`]), and written at the end in key, then time, order:
/// SQLite adds each row at the end of the table, and a key's rows are one run of rowids, which
/// the part's key directory records in stretches of up to 64 rows. A lookup of a key as of a
/// time finds the stretch in the directory and reads it. A key/time index instead (as the main
/// file's histories have) cost more than the table: built after the rows (SQLite sorting them in runs of its
/// page cache's size and merging the runs), 4.27M rows of the reference example's history
/// took 0.90 s to insert and 1.94 s to index; inserted in index order into a table with the
/// index, 1.57 s; without it, as now, about 0.9 s. The rows sort here, on one integer pair per
/// row, cheaper than SQLite's comparisons of its records.
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

    /// Writes the rows held and their key directory, closes each part and syncs it to disk.
    /// The parts, in the order written, are then ready to be committed.
    pub fn finish(mut self) -> Result<Vec<PartFile>, StoreError> {
        if self.current.is_some() || self.held.len() > 0 {
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

    /// Writes the rows held into the current part (creating it if need be), in key, then time,
    /// order, with its key directory, and completes it.
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
        // The rows get rowids 1, 2, 3... in the order inserted (SQLite gives a row one more
        // than the table's largest): the directory records each stretch of a key's rows (see
        // `KEY_DIRECTORY`), from its first time, first and last rowid.
        let count = self.held.len();
        let keys = self.schema.key_indexes();
        let fields = keys.last().map_or(0, |&k| k + 1);
        let mut directory: Vec<Row> = Vec::new();
        let (mut rowid, mut previous, mut stretch) = (0i64, None, 0usize);
        let written_so_far = std::fs::File::open(&file.path).ok();
        let rows = self.held.sorted().map(|(key, time, row)| {
            rowid += 1;
            if rowid % WRITEBACK_ROWS == 0
                && let Some(written) = &written_so_far
            {
                start_writeback(written);
            }
            let time = (time ^ (1 << 63)) as i64;
            let same_key = previous.is_some_and(|(k, _)| k == key);
            let same_time = previous == Some((key, time));
            previous = Some((key, time));
            match directory.last_mut() {
                Some(entry) if same_key && (stretch < KEY_DIRECTORY_STRETCH || same_time) => {
                    stretch += 1;
                    *entry.last_mut().expect("a stretch's rowids") = Value::Int(rowid);
                }
                _ => {
                    stretch = 1;
                    let values = codec::decode_first(row, fields).unwrap_or_default();
                    let mut entry: Row =
                        keys.iter().map(|&k| values.get(k).cloned().unwrap_or(Value::Null)).collect();
                    entry.extend([Value::Int(time), Value::Int(rowid), Value::Int(rowid)]);
                    directory.push(entry);
                }
            }
            row
        });
        bulk.append_encoded(count, rows).map_err(|failure| file.failed(failure.0))?;
        let insert = insert_statements(KEY_DIRECTORY, &key_directory_schema(&self.schema));
        bulk.insert_rows(&insert, &directory).map_err(|failure| file.failed(failure.0))?;
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

/// Rows a part's writer inserts between asking the kernel to start writing the file out.
const WRITEBACK_ROWS: i64 = 1 << 18;

/// Asks the kernel to start writing `file`'s dirty pages to disk, without waiting for them:
/// the sync that makes a part durable then finds most of it written (it took 56-82 ms at the
/// end of a 10M-order job, each worker waiting on its own). Best effort: a hint.
#[allow(unsafe_code)]
fn start_writeback(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a system call on an open descriptor, with no pointers; errors are ignored
        // (the sync at the end makes the part durable either way).
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Rows held by a [`PartWriter`], to be written in key, then time, order.
///
/// Each row's values are encoded ([`codec`]) one after another in blocks of [`BLOCK_BYTES`],
/// with one [`Held`] entry per row: its key as a number, its time, and where its encoding is.
/// A key of one integer, or one string of up to 7 bytes, is its own number ([`exact_key`]:
/// numbers then order as the keys do); any other key is numbered as first seen, and to write
/// the rows the distinct keys are ordered once and each number becomes its key's rank (a hash
/// lookup per row: about half of the 125 ns a row of the reference example took to hold,
/// against none for its short string keys). Then each block's entries are sorted and the
/// block's bytes rewritten in that order (a block is small enough to stay in the cache
/// meanwhile); then the sorted blocks are merged, each read from start to end. Reading the
/// rows in key order straight from where they were written instead (arrival order: every
/// key's rows spread over all the blocks) waited on memory for most of each row's write: 1.2
/// of the write's 5.6 core-seconds for the reference example's 8.5M rows.
///
/// The order is [`Value`]'s: SQLite's own for the values a key holds (strings by their bytes,
/// integers by value), and nothing but the writing speed depends on it.
struct HeldRows {
    keys: Vec<usize>,
    time: usize,
    /// Whether each key held so far is its own number ([`exact_key`]); if not, keys are
    /// numbered in `numbers`.
    exact: bool,
    /// Each distinct key's encoding (its key fields' values), and its number.
    numbers: foldhash::HashMap<Box<[u8]>, u64>,
    /// Bytes of the distinct keys' encodings.
    key_bytes: usize,
    /// The encodings, in blocks of `block_bytes` (or one row's, if larger): a full block is
    /// never copied to grow it.
    blocks: Vec<Vec<u8>>,
    block_bytes: usize,
    /// Bytes held in `blocks`.
    held: usize,
    /// The row being encoded, and its key.
    scratch: Vec<u8>,
    key_scratch: Vec<u8>,
    /// One per row, in the order held, block by block: each block's own vector (sized from
    /// the block before's rows), so that holding rows never copies the entries to grow them (a
    /// vector of all of them, grown by doubling, took 1.9% of a 10M-order job's samples).
    entries: Vec<Vec<Held>>,
    /// Rows held.
    rows: usize,
}

/// A held row: its key's number (its rank once ranked), its time (sign bit flipped, so that
/// times order as unsigned), and where its encoding is in its block. Ordered by key, then time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    key: u64,
    time: u64,
    at: u32,
    len: u32,
}

/// The size of a block of held rows' encodings.
const BLOCK_BYTES: usize = 4 << 20;

impl HeldRows {
    fn new(schema: &Schema, block_bytes: usize) -> HeldRows {
        let keys = schema.key_indexes();
        HeldRows {
            exact: keys.len() <= 1,
            keys,
            time: schema.timestamp_index(),
            numbers: foldhash::HashMap::default(),
            key_bytes: 0,
            blocks: Vec::new(),
            block_bytes,
            held: 0,
            scratch: Vec::new(),
            key_scratch: Vec::new(),
            entries: Vec::new(),
            rows: 0,
        }
    }

    /// Holds `row`, as wide as the schema.
    fn push(&mut self, row: &Row) {
        let time = match row.get(self.time) {
            Some(Value::Int(time)) => *time,
            _ => i64::MIN,
        };
        let exact = match self.keys.first() {
            Some(&k) => row.get(k).and_then(exact_key),
            None => Some(0),
        };
        let key = match exact.filter(|_| self.exact) {
            Some(key) => key,
            None => {
                if self.exact {
                    self.number_keys_held();
                }
                self.key_scratch.clear();
                codec::encode(self.keys.iter().filter_map(|&k| row.get(k)), &mut self.key_scratch);
                self.number_scratch_key()
            }
        };
        self.scratch.clear();
        codec::encode(row, &mut self.scratch);
        let fits = self.blocks.last().is_some_and(|b| b.capacity() - b.len() >= self.scratch.len());
        if !fits {
            self.blocks.push(Vec::with_capacity(self.block_bytes.max(self.scratch.len())));
            let before = self.entries.last().map_or(0, Vec::len);
            self.entries.push(Vec::with_capacity(before + before / 8));
        }
        let block = self.blocks.last_mut().expect("a block with room");
        let (at, len) = (block.len(), self.scratch.len());
        block.extend_from_slice(&self.scratch);
        self.held += len;
        let place = |n: usize| u32::try_from(n).expect("a block under 4 GiB");
        let entries = self.entries.last_mut().expect("a block's entries");
        entries.push(Held { key, time: (time as u64) ^ (1 << 63), at: place(at), len: place(len) });
        self.rows += 1;
    }

    /// The number of the key encoded in `key_scratch`, numbering it if new.
    fn number_scratch_key(&mut self) -> u64 {
        if let Some(&number) = self.numbers.get(self.key_scratch.as_slice()) {
            return number;
        }
        let number = self.numbers.len() as u64;
        self.key_bytes += self.key_scratch.len() + size_of::<(Box<[u8]>, u64)>();
        self.numbers.insert(self.key_scratch.as_slice().into(), number);
        number
    }

    /// Numbers the keys of the rows held so far, each its own number until now: a key that
    /// cannot be has come.
    fn number_keys_held(&mut self) {
        self.exact = false;
        let fields = self.keys.last().map_or(0, |&k| k + 1);
        for b in 0..self.blocks.len() {
            for e in 0..self.entries[b].len() {
                let Held { at, len, .. } = self.entries[b][e];
                let row = &self.blocks[b][at as usize..][..len as usize];
                let values = codec::decode_first(row, fields).unwrap_or_default();
                self.key_scratch.clear();
                codec::encode(self.keys.iter().filter_map(|&k| values.get(k)), &mut self.key_scratch);
                self.entries[b][e].key = self.number_scratch_key();
            }
        }
    }

    /// Bytes held: the encodings, the entries and the distinct keys.
    fn bytes(&self) -> usize {
        self.held + self.rows * size_of::<Held>() + self.key_bytes
    }

    fn len(&self) -> usize {
        self.rows
    }

    /// The rows' encodings in key, then time, order (rows of one key and time in the
    /// order held).
    fn sorted(&mut self) -> Merge<'_> {
        // Numbered keys' ranks, in place of their numbers.
        let mut keys: Vec<(Vec<Value>, u64)> = self
            .numbers
            .iter()
            .map(|(key, &number)| (codec::decode(key).unwrap_or_default(), number))
            .collect();
        keys.sort_unstable();
        let mut rank = vec![0u64; keys.len()];
        for (place, (_, number)) in keys.iter().enumerate() {
            rank[*number as usize] = place as u64;
        }
        let (mut rewritten, mut scratch) = (Vec::new(), Vec::new());
        for (block, entries) in self.blocks.iter_mut().zip(&mut self.entries) {
            if !self.exact {
                for entry in entries.iter_mut() {
                    entry.key = rank[entry.key as usize];
                }
            }
            // Rows usually come in time order (a window's output): then the entries are in
            // (time, place) order already, and a stable sort on the key alone orders them.
            if entries.is_sorted_by_key(|e| (e.time, e.at)) {
                radix_sort_by_key(entries, &mut scratch);
            } else {
                entries.sort_unstable();
            }
            rewritten.clear();
            rewritten.reserve(block.len());
            for entry in entries.iter_mut() {
                let at = rewritten.len();
                rewritten.extend_from_slice(&block[entry.at as usize..][..entry.len as usize]);
                entry.at = at as u32;
            }
            std::mem::swap(block, &mut rewritten);
        }
        // Every block holds a row at least: each block's first row starts the merge.
        let heap = self.entries.iter().enumerate().map(|(b, entries)| Reverse((entries[0], b, 0))).collect();
        Merge { blocks: &self.blocks, entries: &self.entries, heap }
    }

    fn clear(&mut self) {
        self.exact = self.keys.len() <= 1;
        self.numbers.clear();
        self.key_bytes = 0;
        self.blocks.clear();
        self.held = 0;
        self.entries.clear();
        self.rows = 0;
    }
}

/// Sorts `entries` by key, keeping the order of entries with equal keys: a least significant
/// digit radix sort, a byte a pass, skipping the bytes every key shares (most of them: a key
/// that is a short string has zeros after it, a rank is small). Over a block of the reference
/// example's history, about a third of the time of a comparison sort.
fn radix_sort_by_key(entries: &mut [Held], scratch: &mut Vec<Held>) {
    let mut counts = [[0usize; 256]; 8];
    for entry in entries.iter() {
        for (byte, count) in entry.key.to_le_bytes().iter().zip(counts.iter_mut()) {
            count[*byte as usize] += 1;
        }
    }
    scratch.clear();
    scratch.extend_from_slice(entries);
    let (mut from, mut to): (&mut [Held], &mut [Held]) = (scratch.as_mut_slice(), entries);
    let mut in_entries = false;
    for (pass, count) in counts.iter().enumerate() {
        if count.contains(&from.len()) {
            continue;
        }
        let mut next = [0usize; 256];
        let mut sum = 0;
        for (slot, &n) in next.iter_mut().zip(count) {
            *slot = sum;
            sum += n;
        }
        for entry in from.iter() {
            let byte = (entry.key >> (pass * 8)) as u8 as usize;
            to[next[byte]] = *entry;
            next[byte] += 1;
        }
        std::mem::swap(&mut from, &mut to);
        in_entries = !in_entries;
    }
    // After an odd number of passes the sorted entries are in `entries`; else in `scratch`.
    if !in_entries {
        to.copy_from_slice(from);
    }
}

/// A key of one value as a number that orders as the values do, if it can be: an integer is
/// itself (its sign bit flipped), a string of up to 7 bytes is its bytes then its length.
fn exact_key(value: &Value) -> Option<u64> {
    match value {
        Value::Int(v) => Some((*v as u64) ^ (1 << 63)),
        Value::Str(s) if s.len() < 8 => {
            let mut bytes = [0u8; 8];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            bytes[7] = s.len() as u8;
            Some(u64::from_be_bytes(bytes))
        }
        _ => None,
    }
}

/// Held rows' encodings in key, then time, order: the sorted blocks merged.
struct Merge<'a> {
    blocks: &'a [Vec<u8>],
    /// Each block's entries, sorted.
    entries: &'a [Vec<Held>],
    /// Each block's next row: its entry, its block, and the entry's place in the block.
    heap: BinaryHeap<Reverse<(Held, usize, usize)>>,
}

impl<'a> Iterator for Merge<'a> {
    /// A row's key number, time (sign bit flipped) and encoding.
    type Item = (u64, u64, &'a [u8]);

    fn next(&mut self) -> Option<(u64, u64, &'a [u8])> {
        let mut next = self.heap.peek_mut()?;
        let Reverse((entry, block, place)) = *next;
        if let Some(&following) = self.entries[block].get(place + 1) {
            *next = Reverse((following, block, place + 1));
        } else {
            PeekMut::pop(next);
        }
        Some((entry.key, entry.time, &self.blocks[block][entry.at as usize..][..entry.len as usize]))
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

    /// `rows` held in blocks of `block_bytes`, then read back in key, then time, order; and
    /// whether every key was its own number.
    fn held_in_order(schema: &Schema, rows: &[Row], block_bytes: usize) -> (bool, Vec<Row>) {
        let mut held = HeldRows::new(schema, block_bytes);
        for row in rows {
            held.push(row);
        }
        let exact = held.exact;
        let width = schema.fields.len();
        (exact, held.sorted().map(|(_, _, bytes)| codec::decode_first(bytes, width).unwrap()).collect())
    }

    /// `rows` sorted, to compare as multisets.
    fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
        rows.sort();
        rows
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
            proptest::prop_assert_eq!(sorted(parts.into_iter().flatten().collect()), sorted(rows));
        }

        #[test]
        fn held_rows_of_one_key_field_come_out_in_order_whether_or_not_every_key_is_its_own_number(
            rows in proptest::collection::vec((short_or_long_string(), 0i64..20), 0..200),
            block_bytes in 1usize..300,
        ) {
            // Strings of up to 7 bytes are their own numbers; the first longer one has the keys
            // held so far numbered, wherever it comes.
            let schema = key_and_time();
            let rows: Vec<Row> = rows.into_iter().map(|(id, at)| vec![Value::str(&id), Value::Int(at)]).collect();
            let (exact, got) = held_in_order(&schema, &rows, block_bytes);
            proptest::prop_assert_eq!(exact, rows.iter().all(|row| exact_key(&row[0]).is_some()));
            proptest::prop_assert!(got.is_sorted(), "{got:?}");
            proptest::prop_assert_eq!(sorted(got), sorted(rows));
        }

        #[test]
        fn a_radix_sort_of_entries_in_time_order_orders_them_as_a_full_sort_does(
            keys in proptest::collection::vec(proptest::prop_oneof![0u64..4, 0u64..70_000, proptest::num::u64::ANY], 0..300),
        ) {
            // Entries in (time, place) order, as rows coming in time order are held.
            let entries: Vec<Held> = keys
                .iter()
                .enumerate()
                .map(|(i, &key)| Held { key, time: i as u64 / 3, at: i as u32, len: 1 })
                .collect();
            let mut sorted = entries.clone();
            sorted.sort_unstable();
            let mut radix = entries;
            radix_sort_by_key(&mut radix, &mut Vec::new());
            proptest::prop_assert_eq!(radix, sorted);
        }

        #[test]
        fn an_exact_key_orders_as_its_value_does(a in "[ab\\x00]{0,7}", b in "[ab\\x00]{0,7}", x: i64, y: i64) {
            for (a, b) in [(Value::str(&a), Value::str(&b)), (Value::Int(x), Value::Int(y))] {
                proptest::prop_assert_eq!(exact_key(&a).cmp(&exact_key(&b)), a.cmp(&b), "{:?} {:?}", a, b);
            }
        }

        #[test]
        fn held_rows_come_out_merged_in_key_then_time_order_from_blocks_of_any_size(
            rows in proptest::collection::vec((short_or_long_string(), -3i64..3, 0i64..20, 0i64..4), 0..200),
            block_bytes in 1usize..300,
        ) {
            let schema = two_keys_and_time();
            let rows: Vec<Row> = rows
                .into_iter()
                .map(|(name, n, at, v)| vec![Value::Int(v), Value::str(&name), Value::Int(at), Value::Int(n)])
                .collect();
            let (_, got) = held_in_order(&schema, &rows, block_bytes);
            let index_key = |row: &Row| (row[1].clone(), row[3].clone(), row[2].clone());
            let keys: Vec<_> = got.iter().map(index_key).collect();
            proptest::prop_assert!(keys.is_sorted(), "{keys:?}");
            proptest::prop_assert_eq!(sorted(got), sorted(rows));
        }
    }

    #[test]
    fn a_finished_part_has_large_pages_and_a_key_directory_its_lookups_search() {
        let dir = tempfile::tempdir().unwrap();
        let schema = key_and_time();
        let part = PartFile::new(dir.path(), "Spent", 1, 0);
        let mut writer = part.create(&schema, 1).unwrap();
        // Seven keys, each with three rows at each of its times: a stretch of 64 rows ends
        // inside a time, and takes the rest of that time's rows.
        let rows: Vec<Row> =
            (0..5000).map(|i| vec![Value::str(&format!("k{}", i % 7)), Value::Int(i / 21)]).collect();
        writer.append(&rows).unwrap();
        writer.finish().unwrap();
        // The page size only takes if set before the table is created: read it back.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (page_size, stored, directory, plan) = runtime.block_on(async {
            let pool = open_for_reading(&dir.path().join(part.file())).await.unwrap();
            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&pool).await.unwrap();
            let stored: Vec<(i64, String, i64)> =
                sqlx::query_as("SELECT rowid, id, at FROM Spent ORDER BY rowid")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            let directory: Vec<(String, i64, i64, i64)> = sqlx::query_as(
                "SELECT id, _volga_from, _volga_first, _volga_last FROM _volga_keys ORDER BY id, _volga_from",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            let [_, as_of] = super::super::cold::as_of_statements("Spent", &schema);
            let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {as_of}")))
                .bind("k3")
                .bind(9)
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| sqlx::Row::get(row, "detail"))
                .collect();
            (page_size, stored, directory, plan)
        });
        assert_eq!(page_size, 16384);
        assert_eq!(stored.len(), 5000);
        // The stretches cover the rows in order, each of one key, from its first row's time;
        // each but a key's last has 64 rows or more, and no time of a key is in two of them.
        let mut next = 1;
        for (i, (id, from, first, last)) in directory.iter().enumerate() {
            assert_eq!(*first, next, "{directory:?}");
            let rows = &stored[(*first - 1) as usize..*last as usize];
            assert!(rows.iter().all(|(_, key, _)| key == id));
            assert_eq!(rows[0].2, *from);
            let key_goes_on = directory.get(i + 1).is_some_and(|(next_id, ..)| next_id == id);
            if key_goes_on {
                assert!(rows.len() >= 64, "{i}: {} rows", rows.len());
                assert!(stored[*last as usize].2 > rows[rows.len() - 1].2, "a time split at {last}");
            }
            next = last + 1;
        }
        assert_eq!(next, 5001);
        assert!(directory.iter().any(|(_, _, first, last)| last - first + 1 > 64), "a stretch took a tie");
        // A lookup finds the stretch in the directory's index and reads its rows by rowid.
        assert!(plan.iter().any(|step| step.contains("_volga_keys_key")), "{plan:?}");
        assert!(
            plan.iter().any(|step| step.contains("INTEGER PRIMARY KEY (rowid>? AND rowid<?)")),
            "{plan:?}"
        );
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
        // Two rows of this history pass 70 bytes: 15 encoded and 24 of entry each.
        let mut writer = first.create(&schema, 2).unwrap().with_held_limit(70);
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
