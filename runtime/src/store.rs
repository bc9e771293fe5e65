//! Feature storage. The cold store keeps the full change history of every materialized dataset
//! in SQL (SQLite by default) and answers point-in-time reads; the hot store keeps the latest
//! row per key of online datasets, for serving.

pub mod codec;
mod cold;
mod hot;
mod parts;
mod sqlite_insert;
mod sqlite_scan;

pub use cold::{ColdStore, DatasetMeta, DeadLetter, StoreError};
pub use hot::{HotRow, HotStore, HotStoreError, Lookup};
pub use parts::{HELD_BYTES, PartFile, PartWriter};

use std::hash::{Hash, Hasher};

use crate::value::Row;

/// A row's key fields, hashed and compared as the values they hold (equal values encode to
/// equal bytes, so this groups rows as their encoded keys would).
pub(crate) struct KeyOf<'r> {
    row: &'r Row,
    keys: &'r [usize],
}

impl Hash for KeyOf<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for &k in self.keys {
            self.row[k].hash(state);
        }
    }
}

impl PartialEq for KeyOf<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.keys.iter().all(|&k| self.row[k] == other.row[k])
    }
}

impl Eq for KeyOf<'_> {}
