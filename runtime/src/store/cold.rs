//! The cold store: one SQL table per dataset holding its change history, `(fields...)` with the
//! timestamp field as each row's `valid_from`, plus a catalog table `_volga_datasets`.
//!
//! Two layouts of a history, both read the same way:
//! - in the main file: a live (online) history, appended to as the pipeline runs, and any
//!   history written through [`ColdStore::begin`] / [`ColdStore::commit`]: a staging table
//!   swapped in, in one transaction;
//! - in parts (an offline materialization): one SQLite file per writer, written and indexed
//!   side by side, then listed in the catalog in one transaction (see [`super::parts`]).
//!
//! Either way a reader sees the previous history or the new one, never a half-written one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row as _, SqlitePool, ValueRef};
use thiserror::Error;

use super::KeyOf;
use super::parts::{self, PartFile};
use super::{sqlite_insert, sqlite_scan};
use crate::schema::{Field, Schema};
use crate::value::{F64, FieldType, PREFETCH_AHEAD, Row, ScalarType, Value, prefetch_row};

/// The page cache of a connection appending to a live history, in KiB (negative: a size, not
/// a page count). A key's newest rows share an index page, so this holds the pages being
/// written for about 16k keys.
const LIVE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -65536";

/// The page cache of a connection building a history's index: SQLite's default, 2 MB. The
/// sorter sizes its runs by the cache, and larger runs sorted slower here (an 8.5M-row index:
/// 5.3 s with 2 MB, 10-11 s with 64 MB). Set again on each build, since a pooled connection
/// may have appended to a live history before.
const INDEX_CACHE_PRAGMA: &str = "PRAGMA cache_size = -2000";

/// A cold-store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed.
    #[error("cold store {location}")]
    Sql {
        /// The database.
        location: String,
        /// The error.
        source: sqlx::Error,
    },
    /// Rows could not be written.
    #[error("cold store {location}: cannot write to `{table}`: {message}")]
    Write {
        /// The database.
        location: String,
        /// The table.
        table: String,
        /// SQLite's reason.
        message: String,
    },
    /// Rows could not be read.
    #[error("cold store {location}: cannot read `{table}`: {message}")]
    Read {
        /// The database.
        location: String,
        /// The table.
        table: String,
        /// SQLite's reason.
        message: String,
    },
    /// The dataset was never materialized.
    #[error("dataset `{name}` is not in the cold store {location}{hint}")]
    UnknownDataset {
        /// The dataset.
        name: String,
        /// The database.
        location: String,
        /// What is there instead.
        hint: String,
    },
    /// There is no cold store to read.
    #[error(
        "no cold store at {location}: run `volga materialize-offline` first, or check storage.cold in the config"
    )]
    Missing {
        /// The database.
        location: String,
    },
    /// The catalog or a dataset holds something unreadable.
    #[error("cold store {location}: corrupt entry for `{name}`: {message}")]
    Corrupt {
        /// The database.
        location: String,
        /// The dataset.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// What the catalog knows of a materialized dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetMeta {
    /// The dataset.
    pub name: String,
    /// The pipeline component that computed it.
    pub pipeline: String,
    /// Its schema.
    pub schema: Schema,
    /// How it was computed, from sources to output.
    pub lineage: String,
    /// Rows of history.
    pub rows: i64,
    /// When it was written (ms since the epoch, wall clock).
    pub materialized_at: i64,
    /// The files its history is kept in, next to the main file (see [`super::parts`]); empty
    /// when it is a table of the main file.
    pub parts: Vec<String>,
}

/// A source record that could not be applied, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The pipeline that read it.
    pub pipeline: String,
    /// The source dataset it was for.
    pub dataset: String,
    /// Where it came from: `kafka:orders/2@1234` (topic/partition@offset), `http:orders#17`.
    pub location: String,
    /// Why it was not applied.
    pub reason: String,
    /// The record as received (truncated to 64 KiB).
    pub payload: String,
    /// When it arrived (ms since the epoch, wall clock).
    pub received_at: i64,
}

/// A handle on the cold store.
#[derive(Clone)]
pub struct ColdStore {
    pool: SqlitePool,
    location: String,
    /// Where histories written in parts live.
    parts_dir: PathBuf,
    /// Read connections to the part files of the histories the catalog lists, by file name.
    part_pools: Arc<Mutex<HashMap<String, HistorySource>>>,
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn sql_type(scalar: ScalarType) -> &'static str {
    match scalar {
        ScalarType::Int | ScalarType::Timestamp | ScalarType::Bool => "INTEGER",
        ScalarType::Float => "REAL",
        ScalarType::Str => "TEXT",
    }
}

/// Helper threads SQLite's sorter may use: one per core, at most eight (SQLite's own limit).
pub(super) fn sorter_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from).min(8)
}

impl ColdStore {
    /// Opens the SQLite cold store at `path` for reading; it must exist.
    pub async fn open_existing(path: &Path) -> Result<ColdStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing { location: path.display().to_string() });
        }
        Self::open(path).await
    }

    /// Opens (creating if needed) the SQLite cold store at `path`.
    pub async fn open(path: &Path) -> Result<ColdStore, StoreError> {
        let location = path.display().to_string();
        let sql = |source| StoreError::Sql { location: location.clone(), source };
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| sql(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(sql)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(30))
            // Index builds (`commit`) sort with helper threads: building the key/time index of
            // an 8.5M-row history took 5.3 s on one thread and 4.0 s with two (2 cores).
            .pragma("threads", sorter_threads().to_string());
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(sql)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS _volga_datasets (
                name TEXT PRIMARY KEY,
                pipeline TEXT NOT NULL,
                schema TEXT NOT NULL,
                lineage TEXT NOT NULL,
                rows INTEGER NOT NULL,
                materialized_at INTEGER NOT NULL,
                parts TEXT NOT NULL DEFAULT '[]'
            )",
        )
        .execute(&pool)
        .await
        .map_err(sql)?;
        // Stores written before histories had parts: every history is in the main file.
        let has_parts: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pragma_table_info('_volga_datasets') WHERE name = 'parts'",
        )
        .fetch_one(&pool)
        .await
        .map_err(sql)?;
        if has_parts == 0 {
            sqlx::query("ALTER TABLE _volga_datasets ADD COLUMN parts TEXT NOT NULL DEFAULT '[]'")
                .execute(&pool)
                .await
                .map_err(sql)?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS _volga_dead_letters (
                pipeline TEXT NOT NULL,
                dataset TEXT NOT NULL,
                location TEXT NOT NULL,
                reason TEXT NOT NULL,
                payload TEXT NOT NULL,
                received_at INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(sql)?;
        Ok(ColdStore { pool, location, parts_dir: parts::dir_of(path), part_pools: Arc::default() })
    }

    /// Closes the connections, checkpointing the write-ahead log into the database file.
    pub async fn close(self) {
        self.pool.close().await;
    }

    fn sql(&self, source: sqlx::Error) -> StoreError {
        StoreError::Sql { location: self.location.clone(), source }
    }

    fn staging(name: &str) -> String {
        format!("_volga_staging_{name}")
    }

    /// Starts a new history for dataset `name`: an empty staging table.
    pub async fn begin(&self, name: &str, schema: &Schema) -> Result<(), StoreError> {
        let staging = Self::staging(name);
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", quote(&staging))))
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        sqlx::query(AssertSqlSafe(create_table_statement(&staging, schema)))
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Appends rows (in schema order) to the history being written for `name`.
    pub async fn append(&self, name: &str, schema: &Schema, rows: &[Row]) -> Result<(), StoreError> {
        self.insert(&Self::staging(name), schema, rows, None).await
    }

    /// Starts an empty live history for `meta`'s dataset, replacing any earlier one: online
    /// materialization then appends to it with [`ColdStore::append_live`].
    pub async fn begin_live(&self, meta: &DatasetMeta) -> Result<(), StoreError> {
        self.begin(&meta.name, &meta.schema).await?;
        self.commit(meta).await
    }

    /// Appends rows to the live history of `name` (begun with [`ColdStore::begin_live`]) and
    /// counts them in the catalog, in one transaction.
    pub async fn append_live(&self, name: &str, schema: &Schema, rows: &[Row]) -> Result<(), StoreError> {
        // A key's rows next to each other, in time order, keys in order: the live history's
        // key/time index then takes them as runs of neighbouring entries, not one descent to a
        // random page per row (HTTP ingest of 1M orders: 352-409k -> 446-494k events/s).
        let ordered = key_time_order(rows, &schema.key_indexes(), schema.timestamp_index());
        self.insert(name, schema, &ordered, Some(name)).await
    }

    /// Inserts `rows` into `table` in one transaction (and raises `count_for`'s catalog row
    /// count by their number).
    async fn insert<R: std::borrow::Borrow<Row>>(
        &self,
        table: &str,
        schema: &Schema,
        rows: &[R],
        count_for: Option<&str>,
    ) -> Result<(), StoreError> {
        // A live history is indexed while it grows, and its rows land all over the index: keep
        // the index pages in memory (1M rows of the reference example: 292k -> 424k events/s
        // end to end). Staged histories are indexed once, at commit, where a small cache sorts
        // faster.
        let before: &[&str] = if count_for.is_some() { &[LIVE_CACHE_PRAGMA] } else { &[] };
        insert_rows(&self.pool, &self.location, table, schema, rows, before, count_for).await
    }

    /// Records records that could not be applied.
    pub async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.sql(e))?;
        for letter in letters {
            sqlx::query("INSERT INTO _volga_dead_letters VALUES (?, ?, ?, ?, ?, ?)")
                .bind(&letter.pipeline)
                .bind(&letter.dataset)
                .bind(&letter.location)
                .bind(&letter.reason)
                .bind(&letter.payload)
                .bind(letter.received_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.sql(e))?;
        }
        tx.commit().await.map_err(|e| self.sql(e))
    }

    /// Every dead letter of `pipeline`, oldest first.
    pub async fn dead_letters(&self, pipeline: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let records = sqlx::query(
            "SELECT pipeline, dataset, location, reason, payload, received_at FROM _volga_dead_letters WHERE pipeline = ? ORDER BY rowid",
        )
        .bind(pipeline)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.sql(e))?;
        Ok(records
            .iter()
            .map(|r| DeadLetter {
                pipeline: r.get(0),
                dataset: r.get(1),
                location: r.get(2),
                reason: r.get(3),
                payload: r.get(4),
                received_at: r.get(5),
            })
            .collect())
    }

    /// The row of `meta`'s dataset for `key` (the key fields' values, in schema order) as of
    /// `time`: its latest row with timestamp `<= time`, the greatest row among ties.
    pub async fn as_of(
        &self,
        meta: &DatasetMeta,
        key: &[Value],
        time: i64,
    ) -> Result<Option<Row>, StoreError> {
        let [indexed, directory] = as_of_statements(&meta.name, &meta.schema);
        let mut rows = Vec::new();
        for source in self.history_parts(meta).await? {
            let (sql, keys) = if source.directory { (&directory, 1) } else { (&indexed, 2) };
            let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
            for value in std::iter::repeat_n(key, keys).flatten() {
                query = bind_value(query, value);
            }
            for record in query.bind(time).fetch_all(&source.pool).await.map_err(|e| self.sql(e))? {
                rows.push(self.decode_row(meta, &record)?);
            }
        }
        // Each part answers with its own latest rows: the latest of all, the greatest among ties.
        let ts = meta.schema.timestamp_index();
        Ok(rows.into_iter().max_by(|a, b| a[ts].cmp(&b[ts]).then_with(|| a.cmp(b))))
    }

    /// Replaces `meta.name`'s history with the staged one and records it in the catalog.
    pub async fn commit(&self, meta: &DatasetMeta) -> Result<(), StoreError> {
        let table = quote(&meta.name);
        let staging = quote(&Self::staging(&meta.name));
        let mut tx = self.pool.begin().await.map_err(|e| self.sql(e))?;
        sqlx::query(INDEX_CACHE_PRAGMA).execute(&mut *tx).await.map_err(|e| self.sql(e))?;
        for statement in [
            format!("DROP TABLE IF EXISTS {table}"),
            format!("ALTER TABLE {staging} RENAME TO {table}"),
            index_statement(&meta.name, &meta.schema),
        ] {
            sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await.map_err(|e| self.sql(e))?;
        }
        Self::record(&mut tx, &DatasetMeta { parts: Vec::new(), ..meta.clone() })
            .await
            .map_err(|e| self.sql(e))?;
        tx.commit().await.map_err(|e| self.sql(e))?;
        self.remove_stale_parts(&meta.name, parts::generation(), &[]);
        Ok(())
    }

    /// Files for a new history of dataset `name` written in `count` parts: each is written by
    /// its own [`super::PartWriter`], then [`ColdStore::commit_parts`] swaps them in.
    pub fn begin_parts(&self, name: &str, count: usize) -> Result<Vec<PartFile>, StoreError> {
        std::fs::create_dir_all(&self.parts_dir).map_err(|e| StoreError::Write {
            location: self.location.clone(),
            table: name.to_string(),
            message: format!("cannot create {}: {e}", self.parts_dir.display()),
        })?;
        let generation = parts::generation();
        Ok((0..count.max(1)).map(|part| PartFile::new(&self.parts_dir, name, generation, part)).collect())
    }

    /// Replaces `meta.name`'s history with the parts `meta.parts` (each written and finished by
    /// its [`super::PartWriter`], so on disk) and records it in the catalog, in one
    /// transaction; then deletes the parts of the history it replaced.
    pub async fn commit_parts(&self, meta: &DatasetMeta) -> Result<(), StoreError> {
        let mut generation = 0;
        for file in &meta.parts {
            generation = generation.max(parts::parse(file).map_or(0, |(_, generation)| generation));
            let path = self.parts_dir.join(file);
            if let Err(e) = std::fs::metadata(&path) {
                return Err(StoreError::Write {
                    location: self.location.clone(),
                    table: meta.name.clone(),
                    message: format!(
                        "history part {} is gone ({e}): was it replaced meanwhile?",
                        path.display()
                    ),
                });
            }
        }
        // The parts' names durable before the catalog names them (the parts synced themselves).
        if let Ok(dir) = std::fs::File::open(&self.parts_dir) {
            let _ = dir.sync_all();
        }
        let mut tx = self.pool.begin().await.map_err(|e| self.sql(e))?;
        // A history kept in the main file before (live, or written by an older version).
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {}", quote(&meta.name))))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        Self::record(&mut tx, meta).await.map_err(|e| self.sql(e))?;
        tx.commit().await.map_err(|e| self.sql(e))?;
        self.remove_stale_parts(&meta.name, generation, &meta.parts);
        Ok(())
    }

    /// Writes `meta`'s catalog row.
    async fn record(tx: &mut sqlx::SqliteConnection, meta: &DatasetMeta) -> Result<(), sqlx::Error> {
        let schema = serde_json::to_string(&meta.schema).expect("schemas serialize");
        let parts = serde_json::to_string(&meta.parts).expect("names serialize");
        sqlx::query(
            "INSERT OR REPLACE INTO _volga_datasets (name, pipeline, schema, lineage, rows, materialized_at, parts) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&meta.name)
        .bind(&meta.pipeline)
        .bind(schema)
        .bind(&meta.lineage)
        .bind(meta.rows)
        .bind(meta.materialized_at)
        .bind(parts)
        .execute(tx)
        .await
        .map(drop)
    }

    /// Deletes the part files of `name`'s histories older than `generation` but `keep`, and
    /// closes this handle's connections to them. A reader elsewhere that still has one open
    /// reads on from it; one that has yet to open it finds the newer history in the catalog.
    /// Files that cannot be deleted are left for the next commit to retry.
    fn remove_stale_parts(&self, name: &str, generation: u64, keep: &[String]) {
        let removed = parts::remove_stale(&self.parts_dir, name, generation, keep);
        let mut pools = self.part_pools.lock().expect("part pools");
        for file in removed {
            pools.remove(&file);
        }
    }

    /// The databases and table holding `meta`'s history: the main file's table, or each part.
    async fn history_sources(&self, meta: &DatasetMeta) -> Result<Vec<HistorySource>, StoreError> {
        if meta.parts.is_empty() {
            return Ok(vec![HistorySource { pool: self.pool.clone(), directory: false }]);
        }
        let mut sources = Vec::with_capacity(meta.parts.len());
        for file in &meta.parts {
            let cached = self.part_pools.lock().expect("part pools").get(file).cloned();
            let source = match cached {
                Some(source) => source,
                None => {
                    let corrupt = |e: sqlx::Error| StoreError::Corrupt {
                        location: self.location.clone(),
                        name: meta.name.clone(),
                        message: format!("cannot open history part {file}: {e}"),
                    };
                    let pool = parts::open_for_reading(&self.parts_dir.join(file)).await.map_err(corrupt)?;
                    // Parts written before they had a key directory have a key/time index.
                    let directory: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                    )
                    .bind(KEY_DIRECTORY)
                    .fetch_one(&pool)
                    .await
                    .map_err(corrupt)?;
                    let source = HistorySource { pool, directory: directory > 0 };
                    self.part_pools.lock().expect("part pools").insert(file.clone(), source.clone());
                    source
                }
            };
            sources.push(source);
        }
        Ok(sources)
    }

    /// The databases holding `meta`'s history. A history replaced since `meta` was read from
    /// the catalog is read as the catalog now has it.
    async fn history_pools(&self, meta: &DatasetMeta) -> Result<Vec<SqlitePool>, StoreError> {
        Ok(self.history_parts(meta).await?.into_iter().map(|source| source.pool).collect())
    }

    /// [`ColdStore::history_pools`], with how each is laid out.
    async fn history_parts(&self, meta: &DatasetMeta) -> Result<Vec<HistorySource>, StoreError> {
        match self.history_sources(meta).await {
            Ok(sources) => Ok(sources),
            Err(first) => {
                let now = self.dataset(&meta.name).await?;
                if now.parts == meta.parts {
                    return Err(first);
                }
                self.history_sources(&now).await
            }
        }
    }

    /// Every materialized dataset.
    pub async fn datasets(&self) -> Result<Vec<DatasetMeta>, StoreError> {
        let records = sqlx::query(
            "SELECT name, pipeline, schema, lineage, rows, materialized_at, parts FROM _volga_datasets ORDER BY name",
        )
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        let metas: Vec<DatasetMeta> = records.iter().map(|r| self.meta_from(r)).collect::<Result<_, _>>()?;
        // Close connections to parts no history has any more (replaced by another handle,
        // another process maybe): an open connection would keep a deleted file's space.
        self.part_pools
            .lock()
            .expect("part pools")
            .retain(|file, _| metas.iter().any(|meta| meta.parts.contains(file)));
        Ok(metas)
    }

    fn meta_from(&self, record: &SqliteRow) -> Result<DatasetMeta, StoreError> {
        let name: String = record.get(0);
        let schema: String = record.get(2);
        let schema = serde_json::from_str(&schema).map_err(|e| StoreError::Corrupt {
            location: self.location.clone(),
            name: name.clone(),
            message: e.to_string(),
        })?;
        Ok(DatasetMeta {
            name,
            pipeline: record.get(1),
            schema,
            lineage: record.get(3),
            rows: record.get(4),
            materialized_at: record.get(5),
            parts: serde_json::from_str(record.get(6)).map_err(|e| StoreError::Corrupt {
                location: self.location.clone(),
                name: record.get(0),
                message: format!("its list of history parts: {e}"),
            })?,
        })
    }

    /// The catalog entry of `name`.
    pub async fn dataset(&self, name: &str) -> Result<DatasetMeta, StoreError> {
        let all = self.datasets().await?;
        let known: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
        all.into_iter().find(|m| m.name == name).ok_or_else(|| StoreError::UnknownDataset {
            name: name.to_string(),
            location: self.location.clone(),
            hint: if known.is_empty() {
                ": nothing is materialized yet (run `volga materialize-offline`)".into()
            } else {
                format!(" (materialized: {})", known.join(", "))
            },
        })
    }

    /// The history of `meta`'s dataset with `start <= ts < end`, ordered by time, then key,
    /// then the whole row.
    pub async fn history(
        &self,
        meta: &DatasetMeta,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<Row>, StoreError> {
        let ts = quote(meta.schema.timestamp_name());
        let columns: Vec<String> = meta.schema.fields.iter().map(|f| quote(&f.name)).collect();
        // Unordered: the rows are ordered here, once, after the parts are read.
        let sql =
            format!("SELECT {} FROM {} WHERE {ts} >= ? AND {ts} < ?", columns.join(", "), quote(&meta.name));
        let binds = [start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX)];
        let pools = self.history_pools(meta).await?;
        let mut connections = Vec::with_capacity(pools.len());
        for pool in &pools {
            connections.push(pool.acquire().await.map_err(|e| self.sql(e))?);
        }
        let mut locked = Vec::with_capacity(connections.len());
        for connection in &mut connections {
            locked.push(connection.lock_handle().await.map_err(|e| self.sql(e))?);
        }
        let handles: Vec<ScanHandle> = locked.iter_mut().map(|h| ScanHandle(h.as_raw_handle())).collect();
        let scan = |handle: &ScanHandle| {
            // SAFETY: the connection is locked (`locked` outlives every scan), so sqlx's worker
            // thread makes no call on it, and each handle is scanned by one thread.
            #[allow(unsafe_code)]
            unsafe {
                sqlite_scan::scan(handle.0, &sql, &binds, &meta.schema)
            }
        };
        // The parts side by side, each on its own thread; the calling thread waits.
        let scanned = blocking(|| match handles.as_slice() {
            [one] => vec![scan(one)],
            many => std::thread::scope(|threads| {
                let running: Vec<_> = many.iter().map(|handle| threads.spawn(move || scan(handle))).collect();
                running.into_iter().map(|thread| thread.join().expect("a history scan panicked")).collect()
            }),
        });
        drop(locked);
        let mut rows = Vec::new();
        for part in scanned {
            let part = part.map_err(|e| match e {
                sqlite_scan::ScanError::Sqlite(failure) => StoreError::Read {
                    location: self.location.clone(),
                    table: meta.name.clone(),
                    message: failure.0,
                },
                sqlite_scan::ScanError::Cell { field, message } => StoreError::Corrupt {
                    location: self.location.clone(),
                    name: meta.name.clone(),
                    message: format!("field `{field}`: {message}"),
                },
            })?;
            if rows.is_empty() {
                rows = part;
            } else {
                rows.extend(part);
            }
        }
        sort_history(&mut rows, &meta.schema);
        Ok(rows)
    }
}

/// Inserts `rows` into `table` of the database behind `pool` in one transaction, after the
/// statements `before` (and raises `count_for`'s catalog row count by their number). The insert
/// runs on the calling thread, through the connection's C handle: it blocks that thread, not
/// only the task, until the rows are written.
async fn insert_rows<R: std::borrow::Borrow<Row>>(
    pool: &SqlitePool,
    location: &str,
    table: &str,
    schema: &Schema,
    rows: &[R],
    before: &[&str],
    count_for: Option<&str>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = |source| StoreError::Sql { location: location.to_string(), source };
    let width = schema.fields.len();
    // Checked before any bind: a short row would leave parameters bound to the previous
    // row's text, which the insert binds without a copy.
    if let Some(row) = rows.iter().find(|row| row.borrow().len() != width) {
        return Err(StoreError::Write {
            location: location.to_string(),
            table: table.to_string(),
            message: format!("a row of {} values for {width} fields", row.borrow().len()),
        });
    }
    let insert = insert_statements(table, schema);
    let append = sqlite_insert::Append { before, insert: &insert, rows, count_for };
    let mut connection = pool.acquire().await.map_err(sql)?;
    let outcome = {
        let mut handle = connection.lock_handle().await.map_err(sql)?;
        // SAFETY: the handle is locked, so sqlx's worker thread makes no call on the
        // connection until it is dropped, after this returns.
        #[allow(unsafe_code)]
        unsafe {
            sqlite_insert::append(handle.as_raw_handle(), &append)
        }
    };
    outcome.map_err(|(failure, usable)| {
        if !usable {
            // Still in a transaction sqlx does not know of: never hand it out again.
            connection.close_on_drop();
        }
        StoreError::Write { location: location.to_string(), table: table.to_string(), message: failure.0 }
    })
}

/// The inserts into history table `table` of `schema`'s fields (see [`sqlite_insert::InsertSql`]).
pub(super) fn insert_statements(table: &str, schema: &Schema) -> sqlite_insert::InsertSql {
    let width = schema.fields.len();
    let rows = sqlite_insert::rows_per_statement(width);
    let row = format!("({})", vec!["?"; width].join(", "));
    // `OR FAIL`: a row that cannot be written stops the statement without undoing the rows
    // before it, so that SQLite keeps no statement journal; the caller drops the whole write.
    let into = format!("INSERT OR FAIL INTO {} VALUES", quote(table));
    sqlite_insert::InsertSql {
        one: format!("{into} {row}"),
        many: format!("{into} {}", vec![row; rows].join(", ")),
        rows,
        width,
    }
}

/// The statement creating an empty history table `table` of `schema`'s fields.
pub(super) fn create_table_statement(table: &str, schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields
        .iter()
        .map(|f| {
            let null = if f.ty.nullable { "" } else { " NOT NULL" };
            let ty = if f.ty.list { "TEXT" } else { sql_type(f.ty.scalar) };
            format!("{} {ty}{null}", quote(&f.name))
        })
        .collect();
    format!("CREATE TABLE {} ({})", quote(table), columns.join(", "))
}

/// A database holding a history (or part of one), and whether it has a key directory (a part
/// written in key order) rather than a key/time index.
#[derive(Clone)]
struct HistorySource {
    pool: SqlitePool,
    directory: bool,
}

/// The statements reading the rows of history `name` for a key as of a time (binds: the key
/// fields' values, then the time): in a table with a key/time index (binds: the key twice),
/// and in a part with a key directory. Both answer the key's rows at its latest time `<=` the
/// time given.
pub(super) fn as_of_statements(name: &str, schema: &Schema) -> [String; 2] {
    let ts = quote(schema.timestamp_name());
    let table = quote(name);
    let columns: Vec<String> = schema.fields.iter().map(|f| format!("t.{}", quote(&f.name))).collect();
    let key_match = |on: &str| {
        schema.key_names().iter().map(|k| format!(" AND {on}.{} = ?", quote(k))).collect::<String>()
    };
    let indexed = format!(
        "SELECT {} FROM {table} AS t WHERE 1{} AND t.{ts} = \
         (SELECT MAX(m.{ts}) FROM {table} AS m WHERE 1{} AND m.{ts} <= ?)",
        columns.join(", "),
        key_match("t"),
        key_match("m"),
    );
    // A stretch of a key's rows is rowids `first..=last`, in time order, and holds all of the
    // key's rows at each time it holds: the stretch from the latest time `<=` the one asked,
    // then in it the last such time, then its rows. The binds are numbered (the keys, then the
    // time), and the time found once: `LIMIT` keeps the subqueries from being folded into the
    // outer one, which would search again for each of its rows.
    let time = format!("?{}", schema.key_names().len() + 1);
    let keys: String = schema
        .key_names()
        .iter()
        .enumerate()
        .map(|(i, k)| format!(" AND d.{} = ?{}", quote(k), i + 1))
        .collect();
    let directory = format!(
        "SELECT {} FROM (SELECT s.a, s.b, (SELECT m.{ts} FROM {table} AS m \
           WHERE m.rowid BETWEEN s.a AND s.b AND m.{ts} <= {time} ORDER BY m.rowid DESC LIMIT 1) AS at \
         FROM (SELECT d._volga_first AS a, d._volga_last AS b FROM \"{KEY_DIRECTORY}\" AS d \
           WHERE 1{keys} AND d._volga_from <= {time} ORDER BY d._volga_from DESC LIMIT 1) AS s LIMIT 1) AS r, \
         {table} AS t WHERE t.rowid BETWEEN r.a AND r.b AND t.{ts} = r.at",
        columns.join(", "),
    );
    [indexed, directory]
}

/// The key directory of a history part: a part's rows are in key, then time, order (see
/// [`super::PartWriter`]), and the directory has a row per stretch of up to
/// [`KEY_DIRECTORY_STRETCH`] rows of a key (more if its last time has more): the key, the
/// stretch's first time, and its first and last rowid. A stretch holds every row of its key at
/// each time it holds.
pub(super) const KEY_DIRECTORY: &str = "_volga_keys";

/// The rows of a stretch of a key's rows in a part's key directory, at most (but for ties): a
/// point-in-time lookup reads at most two stretches' worth of rows.
pub(super) const KEY_DIRECTORY_STRETCH: usize = 64;

/// The columns of a part's key directory for histories of `schema`: the key fields, then the
/// stretch's first time, first rowid and last rowid.
pub(super) fn key_directory_schema(schema: &Schema) -> Schema {
    let int = |name: &str| Field {
        name: name.into(),
        ty: FieldType::required(ScalarType::Int),
        key: false,
        timestamp: false,
    };
    let mut fields: Vec<Field> = schema.fields.iter().filter(|f| f.key).cloned().collect();
    fields.extend([int("_volga_from"), int("_volga_first"), int("_volga_last")]);
    Schema { fields }
}

/// The statements creating a part's key directory for histories of `schema`
/// ([`key_directory_schema`]), and its index on the key fields and first time.
pub(super) fn key_directory_statements(schema: &Schema) -> [String; 2] {
    let mut keys: Vec<String> = schema.key_names().iter().map(|k| quote(k)).collect();
    keys.push("\"_volga_from\"".into());
    let table = create_table_statement(KEY_DIRECTORY, &key_directory_schema(schema));
    let index = format!("CREATE INDEX \"{KEY_DIRECTORY}_key\" ON \"{KEY_DIRECTORY}\" ({})", keys.join(", "));
    [table, index]
}

/// The statement building the key/time index of dataset `name`'s history table.
pub(super) fn index_statement(name: &str, schema: &Schema) -> String {
    let mut columns: Vec<String> = schema.key_names().iter().map(|k| quote(k)).collect();
    columns.push(quote(schema.timestamp_name()));
    format!(
        "CREATE INDEX {} ON {} ({})",
        quote(&format!("_volga_{name}_key_time")),
        quote(name),
        columns.join(", ")
    )
}

/// A locked connection's C handle, scanned on another thread while the lock is held.
struct ScanHandle(std::ptr::NonNull<libsqlite3_sys::sqlite3>);

// SAFETY: the handle's connection is locked for the scan, and only the one thread scanning it
// uses it meanwhile (SQLite connections may move between threads in its multi-thread mode).
#[allow(unsafe_code)]
unsafe impl Send for ScanHandle {}
// SAFETY: as above; a shared reference only moves the handle to its one scanning thread.
#[allow(unsafe_code)]
unsafe impl Sync for ScanHandle {}

/// Runs `work`, which blocks its thread, without stalling a multi-threaded async runtime's
/// other tasks (its worker hands them over first).
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded { tokio::task::block_in_place(work) } else { work() }
}

/// Orders history rows by time, then key, then the whole row (SQL would order strings by
/// bytes and floats numerically). Sorts compact `(time, index)` pairs, comparing rows only
/// for ties of time, then moves each row once.
fn sort_history(rows: &mut Vec<Row>, schema: &Schema) {
    let ts = schema.timestamp_index();
    let keys = schema.key_indexes();
    let time = |row: &Row| row[ts].as_int().unwrap_or(i64::MIN);
    let mut order: Vec<(i64, usize)> = rows.iter().enumerate().map(|(i, row)| (time(row), i)).collect();
    order.sort_unstable_by(|&(ta, a), &(tb, b)| {
        ta.cmp(&tb).then_with(|| {
            let (a, b) = (&rows[a], &rows[b]);
            keys.iter()
                .map(|&k| a[k].cmp(&b[k]))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.cmp(b))
        })
    });
    let mut sorted = Vec::with_capacity(rows.len());
    sorted.extend(order.into_iter().map(|(_, i)| std::mem::take(&mut rows[i])));
    *rows = sorted;
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// `rows` ordered by key, and by time within a key.
///
/// Rows are grouped by key through a hash of their key fields and only the distinct keys are
/// compared: sorting every row on copies of its key and time took 1.6-2x as long for appends
/// of 50k-200k rows over 10k keys, the appends of a publisher that has fallen behind. Rows
/// that come in time order (as the publisher's do) keep it within their key; others are put
/// in it.
fn key_time_order<'r>(rows: &'r [Row], keys: &[usize], time: usize) -> Vec<&'r Row> {
    let mut slots: foldhash::HashMap<KeyOf, u32> = foldhash::HashMap::default();
    // Per key, in order of first appearance: a row of it, and its number of rows.
    let mut firsts: Vec<&Row> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    // Rows made elsewhere, each its own allocation: fetched a few ahead, their misses overlap.
    // Whether they came in time order is noted on the way (a publish's rows do).
    let mut in_time_order = true;
    let mut last_time: Option<&Value> = None;
    let slot_of: Vec<u32> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if let Some(ahead) = rows.get(i + PREFETCH_AHEAD) {
                prefetch_row(ahead);
            }
            in_time_order &= last_time.is_none_or(|last| *last <= row[time]);
            last_time = Some(&row[time]);
            let slot = *slots.entry(KeyOf { row, keys }).or_insert_with(|| {
                firsts.push(row);
                counts.push(0);
                (firsts.len() - 1) as u32
            });
            counts[slot as usize] += 1;
            slot
        })
        .collect();
    let mut by_key: Vec<u32> = (0..firsts.len() as u32).collect();
    by_key.sort_unstable_by(|&a, &b| {
        let (a, b) = (firsts[a as usize], firsts[b as usize]);
        keys.iter().map(|&k| &a[k]).cmp(keys.iter().map(|&k| &b[k]))
    });
    // Where each key's run starts, then each row placed in its key's run, in input order.
    let mut next = vec![0usize; firsts.len()];
    let mut runs = Vec::with_capacity(firsts.len());
    let mut at = 0;
    for &slot in &by_key {
        next[slot as usize] = at;
        runs.push(at..at + counts[slot as usize]);
        at += counts[slot as usize];
    }
    let mut ordered: Vec<&Row> = rows.iter().collect();
    for (row, &slot) in rows.iter().zip(&slot_of) {
        ordered[next[slot as usize]] = row;
        next[slot as usize] += 1;
    }
    // Each key's run holds its rows in input order: in time order already when the input was
    // (then not read again); else a stable sort orders it.
    if !in_time_order {
        for run in runs {
            ordered[run].sort_by(|a, b| a[time].cmp(&b[time]));
        }
    }
    ordered
}

fn bind_value<'q>(query: Query<'q>, value: &Value) -> Query<'q> {
    match value {
        Value::Null => query.bind(None::<i64>),
        Value::Bool(b) => query.bind(*b),
        Value::Int(v) => query.bind(*v),
        Value::Float(F64(v)) => query.bind(*v),
        Value::Str(s) => query.bind(s.to_string()),
        Value::List(_) => query.bind(crate::training::format_cell(value)),
    }
}

impl ColdStore {
    /// A row of `meta`'s dataset; a list cell that does not parse (the file was edited by
    /// hand) is a [`StoreError::Corrupt`] naming the dataset and field.
    fn decode_row(&self, meta: &DatasetMeta, record: &SqliteRow) -> Result<Row, StoreError> {
        meta.schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                if record.try_get_raw(i).map(|v| v.is_null()).unwrap_or(true) {
                    return Ok(Value::Null);
                }
                if field.ty.list {
                    // Lists are stored as the JSON text this store wrote.
                    let text = record.get::<&str, _>(i);
                    return crate::online::decode::list_from_text(field.ty, text).map_err(|message| {
                        StoreError::Corrupt {
                            location: self.location.clone(),
                            name: meta.name.clone(),
                            message: format!("field `{}`: {message}", field.name),
                        }
                    });
                }
                Ok(match field.ty.scalar {
                    ScalarType::Int | ScalarType::Timestamp => Value::Int(record.get(i)),
                    ScalarType::Float => Value::Float(F64(record.get(i))),
                    ScalarType::Bool => Value::Bool(record.get(i)),
                    ScalarType::Str => Value::str(record.get::<&str, _>(i)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: FieldType, key: bool, timestamp: bool) -> Field {
        Field { name: name.into(), ty, key, timestamp }
    }

    fn meta(name: &str, schema: &Schema) -> DatasetMeta {
        DatasetMeta {
            name: name.into(),
            pipeline: "p".into(),
            schema: schema.clone(),
            lineage: "test".into(),
            rows: 0,
            materialized_at: 0,
            parts: Vec::new(),
        }
    }

    fn with_store(test: impl AsyncFnOnce(ColdStore)) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { test(ColdStore::open(&dir.path().join("cold.db")).await.unwrap()).await });
    }

    /// A schema of every scalar kind: a string key, a time, then an optional field of each kind.
    fn every_kind() -> Schema {
        Schema {
            fields: vec![
                field("id", FieldType::required(ScalarType::Str), true, false),
                field("ts", FieldType::required(ScalarType::Timestamp), false, true),
                field("n", FieldType::optional(ScalarType::Int), false, false),
                field("x", FieldType::optional(ScalarType::Float), false, false),
                field("flag", FieldType::optional(ScalarType::Bool), false, false),
                field("note", FieldType::optional(ScalarType::Str), false, false),
            ],
        }
    }

    /// A row of [`every_kind`] with key `id`, time `ts` and count `n`, the rest null.
    fn counted(id: &str, ts: i64, n: i64) -> Row {
        vec![Value::str(id), Value::Int(ts), Value::Int(n), Value::Null, Value::Null, Value::Null]
    }

    #[test]
    fn every_kind_of_value_reads_back_as_written() {
        with_store(async |store| {
            let schema = every_kind();
            let long = "long ".repeat(20_000);
            let rows: Vec<Row> = vec![
                vec![
                    Value::str("a"),
                    Value::Int(1),
                    Value::Int(i64::MIN),
                    Value::float(-0.5),
                    Value::Bool(true),
                    Value::str("O'Neil \"q\" é 漢"),
                ],
                vec![
                    Value::str("a"),
                    Value::Int(2),
                    Value::Int(i64::MAX),
                    Value::float(1e300),
                    Value::Bool(false),
                    Value::str(&long),
                ],
                vec![Value::str("b"), Value::Int(1), Value::Null, Value::Null, Value::Null, Value::Null],
                vec![
                    Value::str(""),
                    Value::Int(-7),
                    Value::Int(0),
                    Value::float(f64::MIN_POSITIVE),
                    Value::Bool(true),
                    Value::str(""),
                ],
            ];
            store.begin("Kinds", &schema).await.unwrap();
            store.append("Kinds", &schema, &rows[..2]).await.unwrap();
            store.append("Kinds", &schema, &rows[2..]).await.unwrap();
            store.commit(&meta("Kinds", &schema)).await.unwrap();
            let mut expected = rows.clone();
            expected.sort_by(|a, b| a[1].cmp(&b[1]).then_with(|| a[0].cmp(&b[0])));
            assert_eq!(store.history(&meta("Kinds", &schema), None, None).await.unwrap(), expected);
        });
    }

    #[test]
    fn an_append_with_a_bad_row_writes_none_of_its_rows_and_names_the_table() {
        with_store(async |store| {
            let schema = every_kind();
            let row = |id: &str, ts: i64| {
                vec![Value::str(id), Value::Int(ts), Value::Null, Value::Null, Value::Null, Value::Null]
            };
            store.begin("Bad", &schema).await.unwrap();
            store.append("Bad", &schema, &[row("a", 1)]).await.unwrap();
            // A null in a required field, after two good rows of the same append.
            let batch = vec![
                row("b", 2),
                row("c", 3),
                vec![Value::Null, Value::Int(4), Value::Null, Value::Null, Value::Null, Value::Null],
            ];
            let error = store.append("Bad", &schema, &batch).await.unwrap_err().to_string();
            assert!(error.contains("cannot write to `_volga_staging_Bad`"), "{error}");
            assert!(error.contains("NOT NULL constraint failed"), "{error}");
            // A row of the wrong width never reaches SQLite.
            let error = store.append("Bad", &schema, &[vec![Value::str("d")]]).await.unwrap_err().to_string();
            assert!(error.contains("a row of 1 values for 6 fields"), "{error}");
            // The store goes on: the next append and the commit see only the good rows.
            store.append("Bad", &schema, &[row("e", 5)]).await.unwrap();
            store.commit(&meta("Bad", &schema)).await.unwrap();
            let history = store.history(&meta("Bad", &schema), None, None).await.unwrap();
            assert_eq!(history, vec![row("a", 1), row("e", 5)]);
        });
    }

    #[test]
    fn live_appends_count_their_rows_in_the_catalog_and_read_back_in_time_order() {
        with_store(async |store| {
            let schema = every_kind();
            let live = meta("Live", &schema);
            store.begin_live(&live).await.unwrap();
            store
                .append_live("Live", &schema, &[counted("b", 2, 1), counted("a", 2, 2), counted("b", 1, 3)])
                .await
                .unwrap();
            store.append_live("Live", &schema, &[counted("a", 1, 4)]).await.unwrap();
            assert_eq!(store.dataset("Live").await.unwrap().rows, 4);
            // A failed live append neither adds rows nor counts them.
            let bad = vec![
                counted("c", 3, 5),
                vec![Value::Null, Value::Int(3), Value::Null, Value::Null, Value::Null, Value::Null],
            ];
            assert!(store.append_live("Live", &schema, &bad).await.is_err());
            assert_eq!(store.dataset("Live").await.unwrap().rows, 4);
            let history = store.history(&live, None, None).await.unwrap();
            assert_eq!(
                history,
                vec![counted("a", 1, 4), counted("b", 1, 3), counted("a", 2, 2), counted("b", 2, 1)]
            );
            assert_eq!(store.as_of(&live, &[Value::str("b")], 1).await.unwrap(), Some(counted("b", 1, 3)));
        });
    }

    #[test]
    fn many_rows_written_at_once_read_back_whole_and_a_bad_row_among_them_writes_none() {
        with_store(async |store| {
            let schema = every_kind();
            // Three statements' worth of rows and some over, text of every length.
            let rows: Vec<Row> = (0..3 * sqlite_insert::rows_per_statement(schema.fields.len()) + 5)
                .map(|i| {
                    vec![
                        Value::str(&format!("key {i} {}", "x".repeat(i % 40))),
                        Value::Int(i as i64),
                        if i % 3 == 0 { Value::Null } else { Value::Int(7 * i as i64) },
                        Value::float(i as f64 / 3.0),
                        Value::Bool(i % 2 == 0),
                        Value::str(&"n".repeat(i)),
                    ]
                })
                .collect();
            let live = meta("Many", &schema);
            store.begin_live(&live).await.unwrap();
            store.append_live("Many", &schema, &rows).await.unwrap();
            // A null key in the middle of a statement of many rows: none of the append's rows.
            let mut bad: Vec<Row> = (0..rows.len()).map(|i| counted(&format!("bad {i}"), 1000, 1)).collect();
            bad[100][0] = Value::Null;
            let error = store.append_live("Many", &schema, &bad).await.unwrap_err().to_string();
            assert!(error.contains("NOT NULL constraint failed"), "{error}");
            assert_eq!(store.dataset("Many").await.unwrap().rows, rows.len() as i64);
            assert_eq!(store.history(&live, None, None).await.unwrap(), rows);
            let parted =
                write_parts(&store, "Parted", &schema, &[rows[..130].to_vec(), rows[130..].to_vec()]).await;
            assert_eq!(store.history(&parted, None, None).await.unwrap(), rows);
        });
    }

    /// Writes `parts` (each part's rows) as a history of `name` in parts, and commits it.
    async fn write_parts(store: &ColdStore, name: &str, schema: &Schema, parts: &[Vec<Row>]) -> DatasetMeta {
        write_parts_holding(store, name, schema, parts, super::super::parts::HELD_BYTES, 1).await
    }

    /// Writes `parts` as [`write_parts`] does, each writer holding at most `held` bytes and
    /// appending `batch` rows at a time.
    async fn write_parts_holding(
        store: &ColdStore,
        name: &str,
        schema: &Schema,
        parts: &[Vec<Row>],
        held: usize,
        batch: usize,
    ) -> DatasetMeta {
        let files = store.begin_parts(name, parts.len()).unwrap();
        let mut written = Vec::new();
        for (file, rows) in files.iter().zip(parts) {
            let mut writer = file.create(schema, parts.len()).unwrap().with_held_limit(held);
            for rows in rows.chunks(batch.max(1)) {
                writer.append(rows).unwrap();
            }
            written.extend(writer.finish().unwrap());
        }
        let meta = DatasetMeta {
            rows: parts.iter().map(Vec::len).sum::<usize>() as i64,
            parts: written.iter().map(|f| f.file().to_string()).collect(),
            ..meta(name, schema)
        };
        store.commit_parts(&meta).await.unwrap();
        meta
    }

    proptest::proptest! {
        #[test]
        fn a_live_append_orders_its_rows_by_key_then_time_and_keeps_every_row(
            rows in proptest::collection::vec((0u8..6, 0u8..3, 0i64..20, 0i64..4), 0..80),
            time_ordered: bool,
        ) {
            // Keys of two fields (one a string), times with ties, a value to tell rows apart.
            let mut rows: Vec<Row> = rows
                .into_iter()
                .map(|(a, b, t, v)| vec![Value::str(&format!("k{a}")), Value::Int(b.into()), Value::Int(t), Value::Int(v)])
                .collect();
            if time_ordered {
                rows.sort_by(|x, y| x[2].cmp(&y[2]));
            }
            let ordered = key_time_order(&rows, &[0, 1], 2);
            let sort_key = |row: &Row| (row[0].clone(), row[1].clone(), row[2].clone());
            let keys: Vec<_> = ordered.iter().map(|row| sort_key(row)).collect();
            proptest::prop_assert!(keys.is_sorted());
            let mut got: Vec<Row> = ordered.into_iter().cloned().collect();
            got.sort();
            rows.sort();
            proptest::prop_assert_eq!(got, rows);
        }
    }

    fn part_files(store: &ColdStore) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&store.parts_dir)
            .map(|entries| entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }

    #[test]
    fn a_history_in_parts_reads_as_one_table_and_a_key_split_over_parts_reads_its_latest_row() {
        with_store(async |store| {
            let schema = every_kind();
            // Key `a` has rows in both parts; the latest of them, at 3, is in the second.
            let first = vec![counted("a", 1, 10), counted("b", 2, 20), counted("a", 2, 11)];
            let second = vec![counted("c", 1, 30), counted("a", 3, 12), counted("a", 2, 13)];
            let meta = write_parts(&store, "Split", &schema, &[first.clone(), second.clone()]).await;
            assert_eq!(store.dataset("Split").await.unwrap(), meta);
            assert_eq!(part_files(&store), meta.parts);

            let mut expected: Vec<Row> = first.iter().chain(&second).cloned().collect();
            expected.sort_by(|a, b| a[1].cmp(&b[1]).then_with(|| a[0].cmp(&b[0])).then_with(|| a.cmp(b)));
            assert_eq!(store.history(&meta, None, None).await.unwrap(), expected);
            assert_eq!(store.history(&meta, Some(2), Some(3)).await.unwrap(), expected[2..5].to_vec());

            let as_of =
                async |key: &str, time: i64| store.as_of(&meta, &[Value::str(key)], time).await.unwrap();
            assert_eq!(as_of("a", 9).await, Some(counted("a", 3, 12)), "the latest, from the second part");
            // At 2 each part has a row of `a`: the greatest of the two, as within one table.
            assert_eq!(as_of("a", 2).await, Some(counted("a", 2, 13)));
            assert_eq!(as_of("a", 1).await, Some(counted("a", 1, 10)));
            assert_eq!(as_of("a", 0).await, None);
            assert_eq!(as_of("b", 5).await, Some(counted("b", 2, 20)));
        });
    }

    #[test]
    fn a_lookup_in_a_part_finds_the_latest_rows_of_a_key_across_its_directory_stretches() {
        with_store(async |store| {
            let schema = every_kind();
            // Two keys of hundreds of rows each (many directory stretches), several rows at a
            // time, times and values in no order.
            let rows: Vec<Row> = (0..900)
                .map(|i: i64| counted(if i % 3 == 0 { "b" } else { "a" }, (i * 7919) % 173, (i * 31) % 97))
                .collect();
            let meta = write_parts(&store, "Stretched", &schema, std::slice::from_ref(&rows)).await;
            for key in ["a", "b", "c"] {
                for time in -1..175 {
                    let expected = rows
                        .iter()
                        .filter(|row| row[0] == Value::str(key) && row[1] <= Value::Int(time))
                        .max_by(|a, b| a[1].cmp(&b[1]).then_with(|| a.cmp(b)))
                        .cloned();
                    let got = store.as_of(&meta, &[Value::str(key)], time).await.unwrap();
                    assert_eq!(got, expected, "{key} at {time}");
                }
            }
        });
    }

    #[test]
    fn a_part_written_with_a_key_time_index_before_key_directories_reads_and_answers_lookups() {
        with_store(async |store| {
            let schema = every_kind();
            let rows =
                vec![counted("a", 1, 10), counted("b", 2, 20), counted("a", 3, 11), counted("a", 3, 12)];
            // A part as written before parts had a key directory: its rows as they came, then
            // the key/time index.
            let file = store.begin_parts("Old", 1).unwrap().remove(0);
            let options = SqliteConnectOptions::from_str("sqlite:")
                .unwrap()
                .filename(store.parts_dir.join(file.file()))
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
            sqlx::query(AssertSqlSafe(create_table_statement("Old", &schema))).execute(&pool).await.unwrap();
            insert_rows(&pool, "old", "Old", &schema, &rows, &[], None).await.unwrap();
            sqlx::query(AssertSqlSafe(index_statement("Old", &schema))).execute(&pool).await.unwrap();
            pool.close().await;
            let meta = DatasetMeta { rows: 4, parts: vec![file.file().to_string()], ..meta("Old", &schema) };
            store.commit_parts(&meta).await.unwrap();

            let mut expected = rows.clone();
            sort_history(&mut expected, &schema);
            assert_eq!(store.history(&meta, None, None).await.unwrap(), expected);
            let as_of =
                async |key: &str, time: i64| store.as_of(&meta, &[Value::str(key)], time).await.unwrap();
            assert_eq!(as_of("a", 2).await, Some(counted("a", 1, 10)));
            assert_eq!(as_of("a", 9).await, Some(counted("a", 3, 12)), "the greatest of the rows at 3");
            assert_eq!(as_of("b", 1).await, None);
        });
    }

    #[test]
    fn writers_holding_little_write_several_parts_each_and_the_history_reads_back_whole() {
        with_store(async |store| {
            let schema = every_kind();
            // Each key's rows spread over time, so that each writer's parts hold the same keys.
            let rows = |keys: &[&str]| -> Vec<Row> {
                (0..60).map(|i| counted(keys[i % keys.len()], i as i64 / 3, i as i64)).collect()
            };
            let (first, second) = (rows(&["a", "b", "c"]), rows(&["d", "a"]));
            // A few rows' worth of bytes: a part every few appends of 4 rows.
            let meta =
                write_parts_holding(&store, "Spilled", &schema, &[first.clone(), second.clone()], 600, 4)
                    .await;
            assert!(meta.parts.len() > 4, "{:?}", meta.parts);
            assert_eq!(part_files(&store), {
                let mut p = meta.parts.clone();
                p.sort();
                p
            });

            let mut expected: Vec<Row> = first.iter().chain(&second).cloned().collect();
            sort_history(&mut expected, &schema);
            assert_eq!(store.history(&meta, None, None).await.unwrap(), expected);
            for (key, time) in [("a", 0), ("a", 7), ("a", 19), ("b", 12), ("d", 30), ("c", -1)] {
                let latest = expected
                    .iter()
                    .filter(|row| row[0] == Value::str(key) && row[1] <= Value::Int(time))
                    .max_by(|a, b| a[1].cmp(&b[1]).then_with(|| a.cmp(b)))
                    .cloned();
                assert_eq!(
                    store.as_of(&meta, &[Value::str(key)], time).await.unwrap(),
                    latest,
                    "{key} at {time}"
                );
            }
        });
    }

    #[test]
    fn a_new_history_replaces_the_parts_of_the_previous_one_and_a_reader_holding_the_old_entry_reads_the_new()
    {
        with_store(async |store| {
            let schema = every_kind();
            let row = |id: &str, ts: i64| {
                vec![Value::str(id), Value::Int(ts), Value::Null, Value::Null, Value::Null, Value::Null]
            };
            let old = write_parts(&store, "Replaced", &schema, &[vec![row("a", 1)], vec![row("b", 1)]]).await;
            // A second store handle (a server, say) reads the old parts and keeps them open.
            let reader = ColdStore::open_existing(&store.parts_dir.with_file_name("cold.db")).await.unwrap();
            assert_eq!(reader.history(&old, None, None).await.unwrap().len(), 2);

            let new = write_parts(&store, "Replaced", &schema, &[vec![row("c", 2)]]).await;
            assert_ne!(new.parts, old.parts);
            assert_eq!(part_files(&store), new.parts, "the old parts are deleted");
            assert_eq!(store.history(&new, None, None).await.unwrap(), vec![row("c", 2)]);
            // The reader learns from the catalog that the old parts are gone, and closes them.
            assert_eq!(reader.dataset("Replaced").await.unwrap(), new);
            assert!(reader.part_pools.lock().unwrap().is_empty());
            // An entry read before the replacement names deleted parts: it reads what the
            // catalog has now.
            assert_eq!(reader.history(&old, None, None).await.unwrap(), vec![row("c", 2)]);
            assert_eq!(reader.as_of(&old, &[Value::str("c")], 5).await.unwrap(), Some(row("c", 2)));

            // A history written in the main file (a live one) replaces parts too.
            store.begin_live(&meta("Replaced", &schema)).await.unwrap();
            store.append_live("Replaced", &schema, &[row("d", 3)]).await.unwrap();
            assert!(part_files(&store).is_empty());
            let live = store.dataset("Replaced").await.unwrap();
            assert!(live.parts.is_empty());
            assert_eq!(store.history(&live, None, None).await.unwrap(), vec![row("d", 3)]);
            // And parts replace a history in the main file.
            let again = write_parts(&store, "Replaced", &schema, &[vec![row("e", 4)]]).await;
            assert_eq!(store.history(&again, None, None).await.unwrap(), vec![row("e", 4)]);
        });
    }

    #[test]
    fn a_store_from_before_parts_opens_and_reads_its_histories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cold.db");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let schema = every_kind();
            let row = vec![Value::str("a"), Value::Int(1), Value::Null, Value::Null, Value::Null, Value::Null];
            {
                // The catalog as it was: no `parts` column.
                let options = SqliteConnectOptions::from_str("sqlite:").unwrap().filename(&path).create_if_missing(true);
                let pool = SqlitePoolOptions::new().connect_with(options).await.unwrap();
                sqlx::query(
                    "CREATE TABLE _volga_datasets (name TEXT PRIMARY KEY, pipeline TEXT NOT NULL, \
                     schema TEXT NOT NULL, lineage TEXT NOT NULL, rows INTEGER NOT NULL, materialized_at INTEGER NOT NULL)",
                )
                .execute(&pool)
                .await
                .unwrap();
                pool.close().await;
            }
            let store = ColdStore::open(&path).await.unwrap();
            store.begin("Old", &schema).await.unwrap();
            store.append("Old", &schema, std::slice::from_ref(&row)).await.unwrap();
            store.commit(&meta("Old", &schema)).await.unwrap();
            let meta = store.dataset("Old").await.unwrap();
            assert!(meta.parts.is_empty());
            assert_eq!(store.history(&meta, None, None).await.unwrap(), vec![row]);
        });
    }

    #[test]
    fn lists_round_trip_and_a_corrupt_list_is_an_error_naming_the_field() {
        with_store(async |store| {
            let schema = Schema {
                fields: vec![
                    field("ts", FieldType::required(ScalarType::Timestamp), false, true),
                    field("tags", FieldType::list(ScalarType::Str), false, false),
                ],
            };
            let meta = meta("Tagged", &schema);
            let row = vec![Value::Int(5), Value::List(vec![Value::str("a"), Value::str("b,\"c\"")].into())];
            store.begin("Tagged", &schema).await.unwrap();
            store.append("Tagged", &schema, std::slice::from_ref(&row)).await.unwrap();
            store.commit(&meta).await.unwrap();
            assert_eq!(store.history(&meta, None, None).await.unwrap(), vec![row]);

            sqlx::query("UPDATE \"Tagged\" SET \"tags\" = '[1, 2'").execute(&store.pool).await.unwrap();
            let err = store.history(&meta, None, None).await.unwrap_err().to_string();
            assert!(err.contains("corrupt entry for `Tagged`: field `tags`"), "{err}");
        });
    }
}
