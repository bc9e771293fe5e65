//! The cold store: one SQL table per dataset holding its change history, `(fields...)` with the
//! timestamp field as each row's `valid_from`, plus a catalog table `_volga_datasets`.
//!
//! A materialization writes into a staging table and swaps it in, in one transaction, so a
//! reader sees the previous history or the new one, never a half-written one.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row as _, SqlitePool, ValueRef};
use thiserror::Error;

use super::sqlite_insert;
use crate::schema::Schema;
use crate::value::{F64, Row, ScalarType, Value};

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
fn sorter_threads() -> usize {
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
                materialized_at INTEGER NOT NULL
            )",
        )
        .execute(&pool)
        .await
        .map_err(sql)?;
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
        Ok(ColdStore { pool, location })
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
        let staging = quote(&Self::staging(name));
        let columns: Vec<String> = schema
            .fields
            .iter()
            .map(|f| {
                let null = if f.ty.nullable { "" } else { " NOT NULL" };
                let ty = if f.ty.list { "TEXT" } else { sql_type(f.ty.scalar) };
                format!("{} {ty}{null}", quote(&f.name))
            })
            .collect();
        sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS {staging}")))
            .execute(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        sqlx::query(AssertSqlSafe(format!("CREATE TABLE {staging} ({})", columns.join(", "))))
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
        // A key's rows next to each other, in time order: the live history's key/time index
        // then takes them as runs of neighbouring entries, not one descent to a random page per
        // row (HTTP ingest of 1M orders: 352-409k -> 446-494k events/s).
        let keys = schema.key_indexes();
        let time = schema.timestamp_index();
        let mut sorted: Vec<&Row> = rows.iter().collect();
        sorted.sort_unstable_by(|a, b| {
            keys.iter()
                .map(|&k| a[k].cmp(&b[k]))
                .find(|order| order.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a[time].cmp(&b[time]))
        });
        self.insert(name, schema, &sorted, Some(name)).await
    }

    /// Inserts `rows` into `table` in one transaction (and raises `count_for`'s catalog row
    /// count by their number). The insert runs on the calling thread, through the connection's
    /// C handle: it blocks that thread, not only the task, until the rows are written.
    async fn insert<R: std::borrow::Borrow<Row>>(
        &self,
        table: &str,
        schema: &Schema,
        rows: &[R],
        count_for: Option<&str>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let width = schema.fields.len();
        // Checked before any bind: a short row would leave parameters bound to the previous
        // row's text, which the insert binds without a copy.
        if let Some(row) = rows.iter().find(|row| row.borrow().len() != width) {
            return Err(StoreError::Write {
                location: self.location.clone(),
                table: table.to_string(),
                message: format!("a row of {} values for {width} fields", row.borrow().len()),
            });
        }
        let insert = format!("INSERT INTO {} VALUES ({})", quote(table), vec!["?"; width].join(", "));
        // A live history is indexed while it grows, and its rows land all over the index: keep
        // the index pages in memory (1M rows of the reference example: 292k -> 424k events/s
        // end to end). Staged histories are indexed once, at commit, where a small cache sorts
        // faster.
        let before: &[&str] = if count_for.is_some() { &[LIVE_CACHE_PRAGMA] } else { &[] };
        let append = sqlite_insert::Append { before, insert: &insert, rows, count_for };
        let mut connection = self.pool.acquire().await.map_err(|e| self.sql(e))?;
        let outcome = {
            let mut handle = connection.lock_handle().await.map_err(|e| self.sql(e))?;
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
            StoreError::Write {
                location: self.location.clone(),
                table: table.to_string(),
                message: failure.0,
            }
        })
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
        let ts = quote(meta.schema.timestamp_name());
        let table = quote(&meta.name);
        let columns: Vec<String> = meta.schema.fields.iter().map(|f| quote(&f.name)).collect();
        let key_match = meta
            .schema
            .key_names()
            .iter()
            .map(|k| format!("{} = ?", quote(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "SELECT {} FROM {table} WHERE {key_match} AND {ts} = \
             (SELECT MAX({ts}) FROM {table} WHERE {key_match} AND {ts} <= ?)",
            columns.join(", "),
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in key.iter().chain(key) {
            query = bind_value(query, value);
        }
        let records = query.bind(time).fetch_all(&self.pool).await.map_err(|e| self.sql(e))?;
        let rows = records.iter().map(|r| self.decode_row(meta, r)).collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().max())
    }

    /// Replaces `meta.name`'s history with the staged one and records it in the catalog.
    pub async fn commit(&self, meta: &DatasetMeta) -> Result<(), StoreError> {
        let table = quote(&meta.name);
        let staging = quote(&Self::staging(&meta.name));
        let mut index_columns: Vec<String> = meta.schema.key_names().iter().map(|k| quote(k)).collect();
        index_columns.push(quote(meta.schema.timestamp_name()));
        let schema = serde_json::to_string(&meta.schema).expect("schemas serialize");
        let mut tx = self.pool.begin().await.map_err(|e| self.sql(e))?;
        sqlx::query(INDEX_CACHE_PRAGMA).execute(&mut *tx).await.map_err(|e| self.sql(e))?;
        for statement in [
            format!("DROP TABLE IF EXISTS {table}"),
            format!("ALTER TABLE {staging} RENAME TO {table}"),
            format!(
                "CREATE INDEX {} ON {table} ({})",
                quote(&format!("_volga_{}_key_time", meta.name)),
                index_columns.join(", ")
            ),
        ] {
            sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await.map_err(|e| self.sql(e))?;
        }
        sqlx::query("INSERT OR REPLACE INTO _volga_datasets VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&meta.name)
            .bind(&meta.pipeline)
            .bind(schema)
            .bind(&meta.lineage)
            .bind(meta.rows)
            .bind(meta.materialized_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.sql(e))?;
        tx.commit().await.map_err(|e| self.sql(e))
    }

    /// Every materialized dataset.
    pub async fn datasets(&self) -> Result<Vec<DatasetMeta>, StoreError> {
        let records = sqlx::query("SELECT name, pipeline, schema, lineage, rows, materialized_at FROM _volga_datasets ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        records.iter().map(|r| self.meta_from(r)).collect()
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
        let mut order = vec![ts.clone()];
        order.extend(meta.schema.key_names().iter().map(|k| quote(k)));
        let sql = format!(
            "SELECT {} FROM {} WHERE {ts} >= ? AND {ts} < ? ORDER BY {}",
            columns.join(", "),
            quote(&meta.name),
            order.join(", ")
        );
        let records = sqlx::query(AssertSqlSafe(sql))
            .bind(start.unwrap_or(i64::MIN))
            .bind(end.unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.sql(e))?;
        let mut rows: Vec<Row> =
            records.iter().map(|r| self.decode_row(meta, r)).collect::<Result<_, _>>()?;
        let ts_index = meta.schema.timestamp_index();
        let keys = meta.schema.key_indexes();
        // SQL orders strings by bytes and floats numerically; settle ties by the row order.
        rows.sort_by(|a, b| {
            a[ts_index]
                .cmp(&b[ts_index])
                .then_with(|| {
                    keys.iter()
                        .map(|&k| a[k].cmp(&b[k]))
                        .find(|o| o.is_ne())
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .then_with(|| a.cmp(b))
        });
        Ok(rows)
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_value<'q>(query: Query<'q>, value: &Value) -> Query<'q> {
    match value {
        Value::Null => query.bind(None::<i64>),
        Value::Bool(b) => query.bind(*b),
        Value::Int(v) => query.bind(*v),
        Value::Float(F64(v)) => query.bind(*v),
        // By value: sqlx keeps the shared string, no copy per cell.
        Value::Str(s) => query.bind(s.clone()),
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
    use crate::schema::Field;
    use crate::value::FieldType;

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
            let row = |id: &str, ts: i64, n: i64| {
                vec![Value::str(id), Value::Int(ts), Value::Int(n), Value::Null, Value::Null, Value::Null]
            };
            let live = meta("Live", &schema);
            store.begin_live(&live).await.unwrap();
            store
                .append_live("Live", &schema, &[row("b", 2, 1), row("a", 2, 2), row("b", 1, 3)])
                .await
                .unwrap();
            store.append_live("Live", &schema, &[row("a", 1, 4)]).await.unwrap();
            assert_eq!(store.dataset("Live").await.unwrap().rows, 4);
            // A failed live append neither adds rows nor counts them.
            let bad = vec![
                row("c", 3, 5),
                vec![Value::Null, Value::Int(3), Value::Null, Value::Null, Value::Null, Value::Null],
            ];
            assert!(store.append_live("Live", &schema, &bad).await.is_err());
            assert_eq!(store.dataset("Live").await.unwrap().rows, 4);
            let history = store.history(&live, None, None).await.unwrap();
            assert_eq!(history, vec![row("a", 1, 4), row("b", 1, 3), row("a", 2, 2), row("b", 2, 1)]);
            assert_eq!(store.as_of(&live, &[Value::str("b")], 1).await.unwrap(), Some(row("b", 1, 3)));
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
