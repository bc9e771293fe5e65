//! The cold store alone: how long SQLite takes to take an offline run's history, without the
//! dataflow competing for the cores. This is the floor under the offline figure: every change
//! of the target dataset is a row of its history, inserted, then indexed by key and time when
//! the materialization commits.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use volga::schema::Schema;
use volga::store::{ColdStore, DatasetMeta};
use volga::value::{Row, ScalarType, Value};

/// Rows per append, as the offline writer batches them.
const APPEND_ROWS: usize = 50_000;

/// What writing a history took.
pub struct ColdWrite {
    /// Seconds inserting the rows.
    pub insert_s: f64,
    /// Seconds committing them (building the key/time index).
    pub commit_s: f64,
}

/// Writes `rows` generated rows of `schema` (keys spread over `keys` values, times rising, as
/// a history arrives) into a fresh store in `dir`, as an offline materialization does.
pub fn write_history(schema: &Schema, rows: usize, keys: usize, dir: &Path) -> Result<ColdWrite> {
    let history = generate(schema, rows, keys.max(1));
    let path = dir.join("cold-alone.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = ColdStore::open(&path).await?;
        let meta = DatasetMeta {
            name: "History".into(),
            pipeline: "bench".into(),
            schema: schema.clone(),
            lineage: "generated".into(),
            rows: rows as i64,
            materialized_at: 0,
        };
        store.begin(&meta.name, schema).await?;
        let started = Instant::now();
        for chunk in history.chunks(APPEND_ROWS) {
            store.append(&meta.name, schema, chunk).await?;
        }
        let insert_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        store.commit(&meta).await?;
        store.close().await;
        let commit_s = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&path);
        Ok(ColdWrite { insert_s, commit_s })
    })
}

/// Rows of `schema`: row `i` has key `u{i * 7919 % keys}` (keys interleaved, as changes of
/// many keys arrive), time `i * 100 ms` from an epoch, and numbers that vary by row.
fn generate(schema: &Schema, rows: usize, keys: usize) -> Vec<Row> {
    let names: Vec<Value> = (0..keys).map(|k| Value::str(&format!("u{k}"))).collect();
    let key_fields = schema.key_indexes();
    (0..rows)
        .map(|i| {
            schema
                .fields
                .iter()
                .enumerate()
                .map(|(f, field)| match field.ty.scalar {
                    _ if field.ty.list => Value::List(Vec::new().into()),
                    _ if field.timestamp => Value::Int(1_700_000_000_000 + i as i64 * 100),
                    ScalarType::Str if key_fields.contains(&f) => names[i * 7919 % keys].clone(),
                    ScalarType::Str => Value::str("x"),
                    ScalarType::Int | ScalarType::Timestamp => Value::Int((i % 50) as i64),
                    ScalarType::Float => Value::float(100.0 + (i % 997) as f64 / 7.0),
                    ScalarType::Bool => Value::Bool(i % 2 == 0),
                })
                .collect()
        })
        .collect()
}
