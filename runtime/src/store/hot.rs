//! The hot store: the latest row of every key of every online dataset, on sled, plus the
//! watermark those rows are valid at.
//!
//! Only the online publisher writes it, and only with rows the dataflow has finished: each
//! [`HotStore::publish`] applies every row with a time below the new watermark together with
//! that watermark, under a write lock that lookups share for reading, so a lookup never mixes
//! rows of two watermarks. After a publish to watermark `W`, a key's row is its latest row with
//! time `< W` — the dataset's value as of `W - 1`, final.
//!
//! Lookups read a copy of each dataset's rows in memory, loaded from sled when the dataset is
//! first used and changed under the same lock as sled: a key costs a hash lookup, not a walk
//! of sled's tree and a decode. An answer borrows the rows under the read lock
//! ([`HotStore::lookup_with`]) rather than copying them, and each row keeps the JSON text its
//! first answer rendered: a row is rendered once per publish that changes it, however often it
//! is looked up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{OnceLock, RwLock};

use serde_json::value::RawValue;
use thiserror::Error;

use super::KeyOf;
use super::codec::{self, KeyList};
use crate::dataflow::Time;
use crate::value::{Row, Value};

/// A hot-store failure.
#[derive(Debug, Error)]
#[error("hot store {location}: {source}")]
pub struct HotStoreError {
    location: String,
    source: sled::Error,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// The watermark the rows are valid at (`None` before the first publish).
    pub watermark: Option<Time>,
    /// A row per key asked for, in that order; `None` where the key has no row yet.
    pub rows: Vec<Option<Row>>,
}

/// A row as the hot store holds it, with its JSON text once an answer has rendered it.
#[derive(Debug)]
pub struct HotRow {
    row: Row,
    json: OnceLock<Box<RawValue>>,
}

impl HotRow {
    /// `row`, not rendered yet.
    pub fn new(row: Row) -> Self {
        HotRow { row, json: OnceLock::new() }
    }

    /// The row's JSON text: `render`ed the first time it is asked for, kept after (a failed
    /// rendering is not kept). Every caller must render a row the same way (the server, from
    /// the dataset's schema, which cannot change while the row is held: a redeploy resets the
    /// dataset).
    pub fn json<E>(&self, render: impl FnOnce(&Row) -> Result<Box<RawValue>, E>) -> Result<&RawValue, E> {
        if let Some(json) = self.json.get() {
            return Ok(json);
        }
        let json = render(&self.row)?;
        // Another answer may have rendered it meanwhile: the same text, either is kept.
        Ok(self.json.get_or_init(|| json))
    }
}

/// The sled-backed hot store.
pub struct HotStore {
    db: sled::Db,
    meta: sled::Tree,
    location: String,
    /// Each dataset's rows and watermark as sled holds them, for the datasets used since the
    /// store was opened. Its write lock is held while sled changes.
    memory: RwLock<HashMap<String, Latest>>,
}

/// A dataset's rows, by encoded key, and its watermark.
#[derive(Default)]
struct Latest {
    watermark: Option<Time>,
    rows: foldhash::HashMap<Box<[u8]>, HotRow>,
}

impl Latest {
    /// `answer` called with the watermark and the row of each of `keys`.
    fn answer<T>(&self, keys: &KeyList, answer: impl FnOnce(Option<Time>, &[Option<&HotRow>]) -> T) -> T {
        let rows: Vec<Option<&HotRow>> = keys.iter().map(|key| self.rows.get(key)).collect();
        answer(self.watermark, &rows)
    }
}

fn tree_name(dataset: &str) -> String {
    format!("dataset/{dataset}")
}

fn watermark_key(dataset: &str) -> String {
    format!("watermark/{dataset}")
}

impl HotStore {
    /// Opens (creating if needed) the store in the directory `path`.
    pub fn open(path: &Path) -> Result<HotStore, HotStoreError> {
        let location = path.display().to_string();
        let err = |source| HotStoreError { location: location.clone(), source };
        let config = sled::Config::new().path(path).flush_every_ms(Some(200));
        // sled's flusher thread lets go of a store dropped in this process (and so of its file
        // lock) only when it next wakes, within its period: a store reopened at once may find
        // the lock still held. Another process holding it fails as before, after the wait.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < std::time::Duration::from_secs(1) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                opened => break opened.map_err(err)?,
            }
        };
        let meta = db.open_tree("meta").map_err(err)?;
        Ok(HotStore { db, meta, location, memory: RwLock::new(HashMap::new()) })
    }

    fn err(&self, source: sled::Error) -> HotStoreError {
        HotStoreError { location: self.location.clone(), source }
    }

    /// Forgets everything about `dataset`: its rows and watermark (before it is recomputed).
    pub fn reset(&self, dataset: &str) -> Result<(), HotStoreError> {
        let mut memory = self.memory.write().expect("hot store lock");
        memory.remove(dataset);
        self.db.drop_tree(tree_name(dataset)).map_err(|e| self.err(e))?;
        self.meta.remove(watermark_key(dataset)).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// `dataset` as sled holds it: its rows and watermark.
    fn load(&self, dataset: &str) -> Result<Latest, HotStoreError> {
        let tree = self.db.open_tree(tree_name(dataset)).map_err(|e| self.err(e))?;
        let watermark = self
            .meta
            .get(watermark_key(dataset))
            .map_err(|e| self.err(e))?
            .and_then(|bytes| bytes.as_ref().try_into().ok().map(i64::from_be_bytes));
        let mut rows = foldhash::HashMap::default();
        for entry in tree.iter() {
            let (key, value) = entry.map_err(|e| self.err(e))?;
            if let Some(row) = codec::decode(&value) {
                rows.insert(key.as_ref().into(), HotRow::new(row));
            }
        }
        Ok(Latest { watermark, rows })
    }

    /// Applies `rows` of `dataset` (every row with a time in `[previous watermark, watermark)`,
    /// in any order) and advances its watermark to `watermark`. A key's new row is its latest
    /// row: greatest time, ties broken by the rows' total order, as offline reads do. The
    /// store keeps those rows themselves, not copies.
    pub fn publish(
        &self,
        dataset: &str,
        keys: &[usize],
        time: usize,
        mut rows: Vec<Row>,
        watermark: Time,
    ) -> Result<(), HotStoreError> {
        // Each key's latest row, found through the rows' own key fields: only the distinct
        // keys are encoded.
        let mut latest: foldhash::HashMap<KeyOf, usize> =
            foldhash::HashMap::with_capacity_and_hasher(rows.len(), Default::default());
        for (index, row) in rows.iter().enumerate() {
            latest
                .entry(KeyOf { row, keys })
                .and_modify(|held| {
                    let other = &rows[*held];
                    if (&row[time], row) > (&other[time], other) {
                        *held = index;
                    }
                })
                .or_insert(index);
        }
        let chosen: Vec<usize> = latest.into_values().collect();
        let latest: Vec<(Vec<u8>, Row)> = chosen
            .into_iter()
            .map(|index| {
                let row = std::mem::take(&mut rows[index]);
                (codec::encoded(keys.iter().map(|&k| &row[k])), row)
            })
            .collect();
        let mut batch = sled::Batch::default();
        let mut buffer = Vec::new();
        for (key, row) in &latest {
            buffer.clear();
            codec::encode(row.iter(), &mut buffer);
            batch.insert(key.as_slice(), buffer.as_slice());
        }
        let tree = self.db.open_tree(tree_name(dataset)).map_err(|e| self.err(e))?;
        let mut memory = self.memory.write().expect("hot store lock");
        tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.meta.insert(watermark_key(dataset), &watermark.to_be_bytes()).map_err(|e| self.err(e))?;
        match memory.get_mut(dataset) {
            Some(held) => {
                held.rows.extend(latest.into_iter().map(|(key, row)| (key.into(), HotRow::new(row))));
                held.watermark = Some(watermark);
            }
            // First use since the store opened: sled now holds everything, this publish too.
            None => {
                let loaded = self.load(dataset)?;
                memory.insert(dataset.to_string(), loaded);
            }
        }
        Ok(())
    }

    /// The latest rows of `dataset` for `keys` (each the key fields' values, in schema order),
    /// with the watermark they are valid at.
    pub fn lookup(&self, dataset: &str, keys: &[Vec<Value>]) -> Result<Lookup, HotStoreError> {
        self.lookup_with(dataset, &keys.iter().collect(), |watermark, rows| Lookup {
            watermark,
            rows: rows.iter().map(|held| held.map(|held| held.row.clone())).collect(),
        })
    }

    /// `answer` called with what [`HotStore::lookup`] finds, the rows borrowed under the
    /// store's read lock: answering from them costs no reference counting. A publish waits
    /// for `answer`, so it should only copy what it needs.
    pub fn lookup_with<T>(
        &self,
        dataset: &str,
        keys: &KeyList,
        answer: impl FnOnce(Option<Time>, &[Option<&HotRow>]) -> T,
    ) -> Result<T, HotStoreError> {
        {
            let memory = self.memory.read().expect("hot store lock");
            if let Some(held) = memory.get(dataset) {
                return Ok(held.answer(keys, answer));
            }
        }
        let mut memory = self.memory.write().expect("hot store lock");
        if !memory.contains_key(dataset) {
            let loaded = self.load(dataset)?;
            memory.insert(dataset.to_string(), loaded);
        }
        Ok(memory[dataset].answer(keys, answer))
    }

    /// The watermark of `dataset`, if it was ever published.
    pub fn watermark(&self, dataset: &str) -> Result<Option<Time>, HotStoreError> {
        Ok(self.lookup(dataset, &[])?.watermark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, time: i64, value: f64) -> Row {
        vec![Value::str(key), Value::Int(time), Value::float(value)]
    }

    #[test]
    fn a_publish_keeps_each_keys_latest_row_and_the_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let store = HotStore::open(dir.path()).unwrap();
        let key = |k: &str| vec![Value::str(k)];
        assert_eq!(store.lookup("d", &[key("a")]).unwrap(), Lookup { watermark: None, rows: vec![None] });
        store.publish("d", &[0], 1, vec![row("a", 5, 2.0), row("a", 3, 9.0), row("b", 4, 1.0)], 6).unwrap();
        store.publish("d", &[0], 1, vec![row("a", 7, 3.0), row("a", 7, 1.0)], 10).unwrap();
        let found = store.lookup("d", &[key("b"), key("c"), key("a")]).unwrap();
        assert_eq!(found.watermark, Some(10));
        assert_eq!(found.rows, vec![Some(row("b", 4, 1.0)), None, Some(row("a", 7, 3.0))]);
        store.reset("d").unwrap();
        assert_eq!(store.lookup("d", &[key("a")]).unwrap().rows, vec![None]);
    }

    #[test]
    fn a_publish_groups_rows_by_every_key_field() {
        let dir = tempfile::tempdir().unwrap();
        let store = HotStore::open(dir.path()).unwrap();
        let row = |k: &str, t: i64, region: &str| vec![Value::str(k), Value::Int(t), Value::str(region)];
        let rows = [row("a", 1, "eu"), row("a", 2, "us"), row("a", 3, "eu"), row("b", 1, "eu")];
        store.publish("d", &[0, 2], 1, rows.to_vec(), 4).unwrap();
        let key = |k: &str, region: &str| vec![Value::str(k), Value::str(region)];
        let found =
            store.lookup("d", &[key("a", "eu"), key("a", "us"), key("b", "us"), key("b", "eu")]).unwrap();
        let rows: Vec<Option<&Row>> = found.rows.iter().map(Option::as_ref).collect();
        assert_eq!(
            rows,
            vec![Some(&row("a", 3, "eu")), Some(&row("a", 2, "us")), None, Some(&row("b", 1, "eu"))]
        );
    }

    #[test]
    fn a_rows_json_is_rendered_once_and_a_new_row_of_its_key_is_rendered_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = HotStore::open(dir.path()).unwrap();
        let key: KeyList = [[Value::str("a")]].iter().collect();
        let renders = std::cell::Cell::new(0);
        let render = |row: &Row| {
            renders.set(renders.get() + 1);
            serde_json::value::to_raw_value(&format!("{row:?}"))
        };
        let json = |store: &HotStore| {
            store
                .lookup_with("d", &key, |_, rows| rows[0].unwrap().json(render).unwrap().get().to_string())
                .unwrap()
        };
        store.publish("d", &[0], 1, vec![row("a", 5, 2.0)], 6).unwrap();
        let first = json(&store);
        assert_eq!(json(&store), first);
        assert_eq!(renders.get(), 1, "a second answer reuses the text");
        store.publish("d", &[0], 1, vec![row("a", 7, 3.0)], 8).unwrap();
        let second = json(&store);
        assert_eq!(renders.get(), 2);
        assert_ne!(second, first, "the key's new row is rendered, not its old text");
        assert!(second.contains("3.0"), "{second}");
        // A failed rendering is not kept.
        store.publish("d", &[0], 1, vec![row("a", 9, 4.0)], 10).unwrap();
        store
            .lookup_with("d", &key, |_, rows| {
                let held = rows[0].unwrap();
                assert!(held.json(|_| Err::<Box<RawValue>, _>("no")).is_err());
                assert!(held.json(render).unwrap().get().contains("4.0"));
            })
            .unwrap();
    }

    #[test]
    fn a_reopened_store_answers_from_what_sled_kept() {
        let dir = tempfile::tempdir().unwrap();
        let key = |k: &str| vec![Value::str(k)];
        {
            let store = HotStore::open(dir.path()).unwrap();
            store.publish("d", &[0], 1, vec![row("a", 5, 2.0), row("b", 4, 1.0)], 6).unwrap();
            // Another dataset published before this one is first read.
            store.publish("e", &[0], 1, vec![row("a", 1, 7.0)], 2).unwrap();
        }
        let store = HotStore::open(dir.path()).unwrap();
        // First use is a lookup: loaded from sled.
        let found = store.lookup("d", &[key("a"), key("b")]).unwrap();
        assert_eq!(
            found,
            Lookup { watermark: Some(6), rows: vec![Some(row("a", 5, 2.0)), Some(row("b", 4, 1.0))] }
        );
        // First use is a publish: sled's rows and the new ones.
        store.publish("e", &[0], 1, vec![row("b", 3, 1.5)], 4).unwrap();
        let found = store.lookup("e", &[key("a"), key("b")]).unwrap();
        assert_eq!(
            found,
            Lookup { watermark: Some(4), rows: vec![Some(row("a", 1, 7.0)), Some(row("b", 3, 1.5))] }
        );
    }
}
