//! A pass-through that counts the updates flowing along an edge, for metrics.

use differential_dataflow::AsCollection;
use prometheus_client::metrics::counter::Counter;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;

use super::RowCollection;

/// Counts updates into shared counters.
pub trait CountRows<'scope> {
    /// Passes the collection through unchanged, adding each batch's length to every counter.
    fn count_rows(self, counters: Vec<Counter>) -> RowCollection<'scope>;
}

impl<'scope> CountRows<'scope> for RowCollection<'scope> {
    fn count_rows(self, counters: Vec<Counter>) -> RowCollection<'scope> {
        self.inner
            .unary(Pipeline, "CountRows", move |_, _| {
                move |input, output| {
                    input.for_each(|cap, data| {
                        for counter in &counters {
                            counter.inc_by(data.len() as u64);
                        }
                        output.session(&cap).give_container(data);
                    });
                }
            })
            .as_collection()
    }
}
