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
pub use parts::{PartFile, PartWriter};
