//! `dedup(by, window)`: keeps the first row of each combination of `by` values per window.
//!
//! Rows are taken in event-time order and, within a time, in the rows' total order (never by
//! arrival), so "first" is well defined:
//! - `forever`: a row is kept if no earlier row had its `by` values;
//! - `tumbling(d)`: a row is kept if no earlier row of its bucket `[n*d, (n+1)*d)` had them;
//! - `session(gap)`: a row is kept if it starts a session of its `by` values: the previous row
//!   with them (kept or not) is `gap` or more before it, or there is none.

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::time_buffer::{HeldCapability, TimeBuffer};
use super::{KeyMap, RowCollection, Time, Update, frontier_time, insertions, key_hash};
use crate::plan::Window;
use crate::value::{Row, Value};

/// Drops duplicate rows.
pub trait Dedup<'scope> {
    /// The rows that are first of their `by` values in their `window` (module docs).
    fn dedup(self, by: Vec<usize>, window: Window, name: &str) -> RowCollection<'scope>;
}

impl<'scope> Dedup<'scope> for RowCollection<'scope> {
    fn dedup(self, by: Vec<usize>, window: Window, name: &str) -> RowCollection<'scope> {
        let route = by.clone();
        let pact = Exchange::new(move |(row, _, _): &Update| key_hash(route.iter().map(|&i| &row[i])));
        self.inner
            .unary_frontier(pact, &format!("Dedup({name})"), move |_, _| {
                let mut pending: TimeBuffer<Row> = TimeBuffer::default();
                let mut held = HeldCapability::new();
                // By values -> the bucket last kept (tumbling), the last row's time (session),
                // or 0 (forever: seen).
                let mut last: KeyMap<Time> = KeyMap::default();
                let mut out: Vec<Update> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|cap, data| {
                        if let Some(cap) = cap.retain_least(0) {
                            held.merge(cap);
                        }
                        for (row, time, diff) in data.drain(..) {
                            // An event stream only inserts; each copy is a row.
                            for copy in insertions(row, diff) {
                                pending.push(time, copy);
                            }
                        }
                    });
                    let mut ready: Vec<(Time, Row)> = pending.take_before(frontier_time(frontier)).collect();
                    // Time order, then row order within a time.
                    ready.sort();
                    for (time, row) in ready {
                        let key: Vec<Value> = by.iter().map(|&i| row[i].clone()).collect();
                        let keep = match window {
                            Window::Tumbling(width) => {
                                let bucket = time.div_euclid(width);
                                last.insert(key, bucket) != Some(bucket)
                            }
                            Window::Session(gap) => {
                                last.insert(key, time).is_none_or(|previous| time - previous >= gap)
                            }
                            _ => last.insert(key, 0).is_none(),
                        };
                        if keep {
                            out.push((row, time, 1));
                        }
                    }
                    if !out.is_empty() {
                        let cap = held.get().expect("pending rows hold a capability");
                        output.session(cap).give_container(&mut out);
                        out.clear();
                    }
                    held.settle(pending.min_time());
                }
            })
            .as_collection()
    }
}
