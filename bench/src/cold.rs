//! The cold store alone: how long SQLite takes to take an offline run's history, without the
//! dataflow competing for the cores. This is the floor under the offline figure: every change
//! of the target dataset is a row of its history, held by its part's writer (a writer per
//! core, side by side), then each writer's rows written into its SQLite file in key/time
//! order, and the parts committed, as an offline materialization does.

use std::path::Path;
use std::sync::Barrier;
use std::time::Instant;

use anyhow::{Context, Result};
use volga::schema::Schema;
use volga::store::{ColdStore, DatasetMeta};
use volga::value::{Row, ScalarType, Value};

/// Rows per append, as a worker's sink hands them on (a window operator's output batch).
const APPEND_ROWS: usize = 1024;

/// What writing a history took.
pub struct ColdWrite {
    /// Seconds taking the rows into the writers (side by side).
    pub hold_s: f64,
    /// Seconds writing the parts (side by side) and committing them.
    pub write_s: f64,
}

/// Writes `rows` generated rows of `schema` (keys spread over `keys` values, times rising, as
/// a history arrives) into a fresh store in `dir`, in one part per core, as an offline
/// materialization does.
pub fn write_history(schema: &Schema, rows: usize, keys: usize, dir: &Path) -> Result<ColdWrite> {
    let writers = std::thread::available_parallelism().map_or(1, usize::from);
    let history = generate(schema, rows, keys.max(1));
    let path = dir.join("cold-alone.db");
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let _ = std::fs::remove_dir_all(dir.join("cold-alone.db.parts"));
    };
    remove();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store = runtime.block_on(ColdStore::open(&path))?;
    let name = "History";
    let files = store.begin_parts(name, writers)?;
    // Each writer's share: every `writers`-th row, as the workers' outputs interleave.
    let shares: Vec<Vec<&Row>> =
        (0..writers).map(|w| history.iter().skip(w).step_by(writers).collect()).collect();
    let barrier = Barrier::new(writers + 1);
    let (hold_s, write_s) = std::thread::scope(|scope| -> Result<(f64, f64)> {
        let threads: Vec<_> = files
            .iter()
            .zip(&shares)
            .map(|(file, share)| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<Vec<String>> {
                    // Every writer reaches both barriers, failed or not, so none waits forever.
                    let created = file.create(schema, writers);
                    barrier.wait();
                    let inserted = created.and_then(|mut part| {
                        for chunk in share.chunks(APPEND_ROWS) {
                            part.append(chunk)?;
                        }
                        Ok(part)
                    });
                    barrier.wait();
                    Ok(inserted?.finish()?.iter().map(|f| f.file().to_string()).collect())
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        let hold_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut parts = Vec::new();
        for thread in threads {
            parts.extend(thread.join().map_err(|_| anyhow::anyhow!("a writer panicked"))??);
        }
        let meta = DatasetMeta {
            name: name.into(),
            pipeline: "bench".into(),
            schema: schema.clone(),
            lineage: "generated".into(),
            rows: rows as i64,
            materialized_at: 0,
            parts,
        };
        runtime.block_on(store.commit_parts(&meta)).context("committing the parts")?;
        runtime.block_on(store.close());
        Ok((hold_s, started.elapsed().as_secs_f64()))
    })?;
    remove();
    Ok(ColdWrite { hold_s, write_s })
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
