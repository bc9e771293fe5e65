//! `filter` with a guest lambda: one call per batch of updates.

use std::cell::RefCell;
use std::rc::Rc;

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use prometheus_client::metrics::counter::Counter;

use super::{Failure, RowCollection};
use crate::metrics::Seconds;
use crate::schema::Schema;
use crate::wasm::{GuestInstance, batch_from_rows};

/// A guest lambda as an operator sees it.
#[derive(Clone)]
pub struct LambdaCall {
    /// This worker's instance of the component.
    pub guest: Rc<RefCell<GuestInstance>>,
    /// The lambda's id.
    pub lambda: u32,
    /// Its name, for the operator's name.
    pub name: String,
    /// The schema of the rows it is given.
    pub input: Schema,
    /// The fields of those rows it reads.
    pub projection: Vec<usize>,
    /// Where a failed call is reported.
    pub failure: Failure,
    /// Call counts and time, when metrics are kept.
    pub stats: Option<LambdaStats>,
}

/// A lambda's metrics.
#[derive(Clone)]
pub struct LambdaStats {
    /// Calls.
    pub calls: Counter,
    /// Rows passed.
    pub rows: Counter,
    /// Time in the guest.
    pub seconds: Seconds,
}

impl LambdaCall {
    /// Runs `call` (one guest call over `rows` rows), recording it in the stats.
    pub fn timed<T>(&self, rows: usize, call: impl FnOnce() -> T) -> T {
        let Some(stats) = &self.stats else {
            return call();
        };
        let started = std::time::Instant::now();
        let result = call();
        stats.seconds.inc_by(started.elapsed().as_secs_f64());
        stats.calls.inc();
        stats.rows.inc_by(rows as u64);
        result
    }
}

/// Filters a collection with a guest lambda.
pub trait WasmFilter<'scope> {
    /// Keeps the updates whose rows the lambda accepts. Times and diffs pass unchanged.
    fn wasm_filter(self, call: LambdaCall) -> RowCollection<'scope>;
}

impl<'scope> WasmFilter<'scope> for RowCollection<'scope> {
    fn wasm_filter(self, call: LambdaCall) -> RowCollection<'scope> {
        let name = format!("WasmFilter({})", call.name);
        self.inner
            .unary(Pipeline, &name, move |_, _| {
                move |input, output| {
                    input.for_each(|cap, data| {
                        if data.is_empty() || call.failure.is_set() {
                            data.clear();
                            return;
                        }
                        let batch = batch_from_rows(
                            &call.input,
                            &call.projection,
                            data.iter().map(|(row, _, _)| row),
                        );
                        match call.timed(data.len(), || call.guest.borrow_mut().filter(call.lambda, &batch)) {
                            Ok(verdicts) => {
                                let mut verdicts = verdicts.into_iter();
                                data.retain(|_| verdicts.next().unwrap_or(false));
                                output.session(&cap).give_container(data);
                            }
                            Err(error) => {
                                data.clear();
                                call.failure.fail(error);
                            }
                        }
                    });
                }
            })
            .as_collection()
    }
}
