//! The WebAssembly component host: compiles pipeline components once, caches the compiled
//! artifacts by content hash, and instantiates them per worker under memory and time limits.
//!
//! A pipeline component is called once per batch (never per row): [`GuestInstance::filter`] and
//! [`GuestInstance::transform`] take a columnar batch. A trap, a timeout or a memory bomb in a
//! guest becomes a [`LambdaError`] naming the pipeline and the lambda; the host keeps running.

mod batch;
#[allow(missing_docs)]
mod bindings;
mod engine;
mod instance;

pub use batch::{BatchError, batch_from_rows, column_values, rows_from_batch};
pub use engine::{LoadError, LoadedComponent, WasmHost, WasmLimits};
pub use instance::{GuestInstance, LambdaError};

/// The pipeline description types produced by a guest's `describe` (validated by
/// [`crate::plan::Plan::from_spec`]).
pub mod spec {
    pub use super::bindings::volga::pipeline::description::*;
    pub use super::bindings::volga::pipeline::types::{FieldDef, FieldType, ScalarType};
}

/// The columnar batch types of lambda calls.
pub mod wire {
    pub use super::bindings::exports::volga::pipeline::guest::TransformOutput;
    pub use super::bindings::volga::pipeline::types::{
        Batch, Column, ColumnData, ListColumn, ListItems, StrColumn,
    };
}
