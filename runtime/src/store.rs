//! Feature storage. The cold store keeps the full change history of every materialized dataset
//! in SQL (SQLite by default) and answers point-in-time reads.

mod cold;

pub use cold::{ColdStore, DatasetMeta, StoreError};
