//! `assign` with a guest lambda: one call per batch, one value per row.

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::RowCollection;
use super::wasm_filter::LambdaCall;
use crate::schema::Field;
use crate::wasm::{batch_from_rows, column_values};

/// Computes a field with a guest lambda.
pub trait WasmAssign<'scope> {
    /// Sets column `column` of each update's row (replacing it, or appending it when `column`
    /// is the row's length) to the lambda's value for the row. Times and diffs pass unchanged;
    /// the lambda is a function of the row, so a retraction gets the value its insertion got.
    fn wasm_assign(self, call: LambdaCall, field: Field, column: usize) -> RowCollection<'scope>;
}

impl<'scope> WasmAssign<'scope> for RowCollection<'scope> {
    fn wasm_assign(self, call: LambdaCall, field: Field, column: usize) -> RowCollection<'scope> {
        let name = format!("WasmAssign({})", call.name);
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
                        let mut guest = call.guest.borrow_mut();
                        let result =
                            call.timed(data.len(), || guest.assign(call.lambda, &batch)).and_then(|values| {
                                column_values(&field, values, data.len())
                                    .map_err(|e| guest.bad_output(call.lambda, e.to_string()))
                            });
                        match result {
                            Ok(values) => {
                                for ((row, _, _), value) in data.iter_mut().zip(values) {
                                    if column == row.len() {
                                        row.push(value);
                                    } else {
                                        row[column] = value;
                                    }
                                }
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
