//! `group_by(keys).first()` and `.latest()`: a keyed dataset holding each key's first or
//! latest row of an event stream.
//!
//! Rows are ordered by event time, then by the row's total order (never by arrival): the first
//! row of a key is its least row at its earliest time and never changes afterwards; the latest
//! row as of `T` is its greatest row at its latest time `<= T`. Times are processed in
//! increasing order once the frontier passes them, one output per changed key, so the output is
//! a function of the input collection alone.

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::time_buffer::{HeldCapability, TimeBuffer};
use super::{KeyMap, RowCollection, Time, Update, frontier_time, insertions, key_hash};
use crate::plan::Pick;
use crate::value::{Row, Value};

/// Keeps one row per key of an event stream.
pub trait FirstLatest<'scope> {
    /// The keyed dataset of each key's first or latest row (module docs); rows keep their
    /// fields and are stamped with their own event time.
    fn first_latest(self, keys: Vec<usize>, pick: Pick, name: &str) -> RowCollection<'scope>;
}

impl<'scope> FirstLatest<'scope> for RowCollection<'scope> {
    fn first_latest(self, keys: Vec<usize>, pick: Pick, name: &str) -> RowCollection<'scope> {
        let route = keys.clone();
        let pact = Exchange::new(move |(row, _, _): &Update| key_hash(route.iter().map(|&i| &row[i])));
        let name = format!("{pick:?}({name})");
        self.inner
            .unary_frontier(pact, &name, move |_, _| {
                let mut pending: TimeBuffer<Row> = TimeBuffer::default();
                let mut held = HeldCapability::new();
                let mut kept: KeyMap<Row> = KeyMap::default();
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
                    let ready = pending.take_before(frontier_time(frontier));
                    // The candidate of each key at each time: the least row (first) or the
                    // greatest (latest) among the rows of that time.
                    let mut chosen: Vec<(Time, Vec<Value>, Row)> = Vec::new();
                    let mut at: KeyMap<usize> = KeyMap::default();
                    let mut current = None;
                    for (time, row) in ready {
                        if current != Some(time) {
                            current = Some(time);
                            at.clear();
                        }
                        let key: Vec<Value> = keys.iter().map(|&i| row[i].clone()).collect();
                        match at.get(&key) {
                            Some(&slot) => {
                                let better = match pick {
                                    Pick::First => row < chosen[slot].2,
                                    Pick::Latest => row > chosen[slot].2,
                                };
                                if better {
                                    chosen[slot].2 = row;
                                }
                            }
                            None => {
                                at.insert(key.clone(), chosen.len());
                                chosen.push((time, key, row));
                            }
                        }
                    }
                    for (time, key, row) in chosen {
                        match (pick, kept.get_mut(&key)) {
                            (Pick::First, Some(_)) => {}
                            (Pick::Latest, Some(previous)) => {
                                out.push((std::mem::replace(previous, row.clone()), time, -1));
                                out.push((row, time, 1));
                            }
                            (_, None) => {
                                kept.insert(key, row.clone());
                                out.push((row, time, 1));
                            }
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
