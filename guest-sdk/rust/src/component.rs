//! The component's exports, called through `export_pipeline!`.

use std::cell::OnceCell;

use crate::app::App;
use crate::bindings::exports::volga::pipeline::guest::TransformOutput;
use crate::bindings::volga::pipeline::description::PipelineSpec;
use crate::bindings::volga::pipeline::types::{Batch, Column};
use crate::lambda::LambdaFn;
use crate::row::Columns;

thread_local! {
    /// The app, built once per instance; building is deterministic, so lambda ids agree with
    /// the description the host read from another instance.
    static APP: OnceCell<App> = const { OnceCell::new() };
}

fn with_app<R>(build: fn() -> App, f: impl FnOnce(&App) -> R) -> R {
    APP.with(|cell| f(cell.get_or_init(build)))
}

/// `describe` export.
pub fn describe(build: fn() -> App) -> PipelineSpec {
    with_app(build, App::describe)
}

/// `filter` export.
pub fn filter(build: fn() -> App, lambda: u32, rows: Batch) -> Result<Vec<bool>, String> {
    with_app(build, |app| {
        app.with_lambda(lambda, |l| match &l.call {
            LambdaFn::Filter(f) => f(Columns::new(rows)),
            _ => Err(format!("lambda {lambda} is not a filter")),
        })
        .unwrap_or_else(|| Err(format!("no lambda {lambda}")))
    })
}

/// `transform` export.
pub fn transform(build: fn() -> App, lambda: u32, rows: Batch) -> Result<TransformOutput, String> {
    with_app(build, |app| {
        app.with_lambda(lambda, |l| match &l.call {
            LambdaFn::Transform(f) => {
                f(Columns::new(rows)).map(|(rows, input_index)| TransformOutput { rows, input_index })
            }
            _ => Err(format!("lambda {lambda} is not a transform")),
        })
        .unwrap_or_else(|| Err(format!("no lambda {lambda}")))
    })
}

/// `assign` export.
pub fn assign(build: fn() -> App, lambda: u32, rows: Batch) -> Result<Column, String> {
    with_app(build, |app| {
        app.with_lambda(lambda, |l| match &l.call {
            LambdaFn::Assign(f) => f(Columns::new(rows)),
            _ => Err(format!("lambda {lambda} is not an assign")),
        })
        .unwrap_or_else(|| Err(format!("no lambda {lambda}")))
    })
}
