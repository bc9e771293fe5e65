//! `transform` with a guest lambda: one call per batch, 0..n output rows per input row.

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::wasm_filter::LambdaCall;
use super::{RowCollection, Update};
use crate::schema::Schema;
use crate::value::Value;
use crate::wasm::{batch_from_rows, rows_from_batch};

/// Transforms a collection with a guest lambda.
pub trait WasmTransform<'scope> {
    /// Maps each update's row to the rows the lambda emits for it, each with the input's time
    /// and diff. An output row whose timestamp differs from its input's event time is an error:
    /// transforms preserve event time.
    fn wasm_transform(self, call: LambdaCall, output: Schema) -> RowCollection<'scope>;
}

impl<'scope> WasmTransform<'scope> for RowCollection<'scope> {
    fn wasm_transform(self, call: LambdaCall, output_schema: Schema) -> RowCollection<'scope> {
        let name = format!("WasmTransform({})", call.name);
        let ts_index = output_schema.timestamp_index();
        self.inner
            .unary(Pipeline, &name, move |_, _| {
                move |input, output| {
                    input.for_each(|cap, data| {
                        if data.is_empty() || call.failure.is_set() {
                            data.clear();
                            return;
                        }
                        let batch = batch_from_rows(&call.input, &call.projection, data.iter().map(|(row, _, _)| row));
                        let mut guest = call.guest.borrow_mut();
                        let result = call.timed(data.len(), || guest.transform(call.lambda, &batch)).and_then(|out| {
                            let rows = rows_from_batch(&output_schema, out.rows)
                                .map_err(|e| guest.bad_output(call.lambda, e.to_string()))?;
                            let mut updates: Vec<Update> = Vec::with_capacity(rows.len());
                            for (row, index) in rows.into_iter().zip(out.input_index) {
                                let (_, time, diff) = &data[index as usize];
                                if row[ts_index] != Value::Int(*time) {
                                    return Err(guest.bad_output(
                                        call.lambda,
                                        format!(
                                            "an output row has {} = {:?}, but its input row's event time is {time}: a transform must keep event time",
                                            output_schema.timestamp_name(),
                                            row[ts_index]
                                        ),
                                    ));
                                }
                                updates.push((row, *time, *diff));
                            }
                            Ok(updates)
                        });
                        data.clear();
                        match result {
                            Ok(mut updates) => output.session(&cap).give_container(&mut updates),
                            Err(error) => call.failure.fail(error),
                        }
                    });
                }
            })
            .as_collection()
    }
}
