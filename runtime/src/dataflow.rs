//! The timely / differential-dataflow graph of a plan.
//!
//! Every edge is a differential collection of rows: updates `(row, time, diff)` where `time` is
//! the row's event time in milliseconds. The one exception is the output of a dataset that only
//! a store reads, which may be its history (insertions only; see [`render_datasets`]).
//! Operators are extension traits on [`RowCollection`], one per file. The stateful ones (as-of
//! join, windowed aggregation) buffer updates until the input frontier passes their time and
//! then process whole times in increasing order; that is what makes their output a function of
//! the input collection alone, independent of how the input was batched or ordered within a
//! time.

mod as_of_join;
mod count_rows;
mod dedup;
mod failure;
mod first_latest;
mod render;
mod state_rows;
mod time_buffer;
mod wasm_assign;
mod wasm_filter;
mod wasm_transform;
mod window_aggregate;

use std::hash::{BuildHasher, Hash, Hasher};

use differential_dataflow::collection::VecCollection;

use crate::value::{Row, Value};

pub use as_of_join::{AsOfJoin, JoinSpec};
pub use count_rows::CountRows;
pub use dedup::Dedup;
pub use failure::Failure;
pub use first_latest::FirstLatest;
pub use render::{NativeFilter, RenderContext, SourceFilter, render_datasets, sole_source_filters};
pub use state_rows::StateRows;
pub use wasm_assign::WasmAssign;
pub use wasm_filter::{LambdaCall, LambdaStats, WasmFilter};
pub use wasm_transform::WasmTransform;
pub use window_aggregate::{AggregateSpec, Changes, HistoryWriter, WindowAggregate};

/// Event time: milliseconds since the Unix epoch.
pub type Time = i64;

/// One change to a collection of rows.
pub type Update = (Row, Time, isize);

/// Operator state by key: a fast hash, seeded per process.
pub type KeyMap<V> = foldhash::HashMap<Vec<Value>, V>;

/// A collection of rows in a dataflow over event time.
pub type RowCollection<'scope> = VecCollection<'scope, Time, Row, isize>;

/// A hash of the values at `indexes`, equal on every worker and every run: routes a key to
/// its worker.
pub fn key_hash<'a>(values: impl Iterator<Item = &'a Value>) -> u64 {
    // A fixed seed: every process of a cluster must send a key to the same worker.
    let mut hasher = foldhash::fast::FixedState::with_seed(0x0076_6f6c_6761).build_hasher();
    for value in values {
        value.hash(&mut hasher);
    }
    hasher.finish()
}

/// The rows an update inserts: `diff` copies of its row when `diff > 0`, none otherwise.
/// Histories and event streams keep insertions; a retraction is implied by the key's next row.
pub fn insertions(row: Row, diff: isize) -> impl Iterator<Item = Row> {
    let copies = diff.max(0) as usize;
    let mut row = Some(row);
    (0..copies).map(
        move |i| if i + 1 == copies { row.take().expect("last copy") } else { row.clone().expect("row") },
    )
}

/// The least time of a frontier, or `None` once it is empty (the input is complete).
pub(crate) fn frontier_time(frontier: &timely::progress::frontier::MutableAntichain<Time>) -> Option<Time> {
    frontier.frontier().iter().next().copied()
}

#[cfg(test)]
mod tests;
