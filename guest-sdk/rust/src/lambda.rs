//! Lambdas registered by the builder and called by the host one batch at a time.

use crate::bindings::volga::pipeline::description as wit;
use crate::bindings::volga::pipeline::types::{Batch, Column};
use crate::row::{Columns, Row};

/// A transform's output rows and, for each, the index of its input row.
pub(crate) type Emitted = (Batch, Vec<u32>);

/// A type-erased lambda body.
pub(crate) enum LambdaFn {
    Filter(Box<dyn Fn(Columns) -> Result<Vec<bool>, String>>),
    Transform(Box<dyn Fn(Columns) -> Result<Emitted, String>>),
    Assign(Box<dyn Fn(Columns) -> Result<Column, String>>),
}

/// A lambda and its declaration.
pub(crate) struct Lambda {
    pub(crate) def: wit::LambdaDef,
    pub(crate) call: LambdaFn,
}

/// Encodes rows of `O` as a batch.
pub(crate) fn encode_batch<O: Row>(rows: &[O]) -> Batch {
    Batch {
        len: rows.len() as u32,
        names: O::fields().iter().map(|f| f.name.to_string()).collect(),
        columns: O::encode(rows),
    }
}
