//! As-of join: each left row at time `t` meets the right side's row for its key **as of `t`**.
//!
//! The right side is a keyed dataset; its value as of `t` for a key is its latest row with
//! timestamp `<= t` (ties at one timestamp broken by the rows' total order). Right updates at
//! time `t` are applied before left rows at `t` are joined, so the bound is inclusive. A left
//! row's result is emitted once, at its own time, and never revised: later right versions only
//! affect later left rows. Both sides are routed to workers by key.
//!
//! `within = (back, forward)` bounds the match: a left row at `t` meets the right side as of
//! `t + forward` (so it waits until the right side is complete up to `t + forward`, and is
//! emitted at `t`), and only a right row with timestamp `>= t - back` matches; an older one
//! counts as no match. The output is the left row,
//! then the right key fields the left side lacks (copies of the matched left values), then the
//! right side's other non-timestamp fields.
//!
//! State: per key, the live right rows; once the frontier passes a time, only the latest live
//! row can still be the answer for a future left row, so older ones are discarded.

use differential_dataflow::AsCollection;
use smallvec::SmallVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::time_buffer::{HeldCapability, TimeBuffer};
use super::{RowCollection, Time, Update, frontier_time, key_hash};
use crate::plan::JoinHow;
use crate::value::{Row, Value};

/// The shape of an as-of join, from the plan.
#[derive(Clone, Debug)]
pub struct JoinSpec {
    /// Left fields matched with the right keys, in `right_keys` order.
    pub left_keys: Vec<usize>,
    /// The right side's key fields.
    pub right_keys: Vec<usize>,
    /// Left key fields appended again, under the names of right keys the left side lacks.
    pub key_copies: Vec<usize>,
    /// The right fields appended to each left row, after the key copies.
    pub right_values: Vec<usize>,
    /// What a left join appends for them without a match: null, or an empty list.
    pub missing: Vec<Value>,
    /// The right side's timestamp field.
    pub right_time: usize,
    /// Inner or left.
    pub how: JoinHow,
    /// A right row older than `t - back` does not match a left row at `t`; none: any age.
    pub back: Option<Time>,
    /// A left row at `t` meets the right side as of `t + forward`.
    pub forward: Time,
}

/// As-of joins a collection with a keyed dataset.
pub trait AsOfJoin<'scope> {
    /// Joins every left update with `right` as of its time (see the module docs).
    fn join_as_of(self, right: RowCollection<'scope>, spec: JoinSpec, name: &str) -> RowCollection<'scope>;
}

/// A right key's fields, held inline in the state's map for keys of up to two fields.
type JoinKey = SmallVec<[Value; 2]>;

/// The right side's live rows per key. Keys and (in the common case of one live row) rows'
/// entries are held inline in the map, so a left row's lookup waits on the map's entry and its
/// match's values, not on a chain of allocations besides.
type RightState = foldhash::HashMap<JoinKey, Versions>;

/// The live rows of one right key.
#[derive(Default)]
struct Versions(SmallVec<[(Row, isize); 1]>);

impl Versions {
    fn apply(&mut self, row: Row, diff: isize) {
        match self.0.iter_mut().find(|(r, _)| *r == row) {
            Some((_, count)) => *count += diff,
            None => self.0.push((row, diff)),
        }
        self.0.retain(|(_, count)| *count != 0);
    }

    /// The latest live row: greatest timestamp, then greatest row.
    fn current(&self, time_field: usize) -> Option<&Row> {
        self.0
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(row, _)| row)
            .max_by(|a, b| a[time_field].cmp(&b[time_field]).then_with(|| a.cmp(b)))
    }

    /// Drops rows that can no longer be current.
    fn compact(&mut self, time_field: usize) {
        if self.0.len() > 1 && self.0.iter().all(|(_, count)| *count > 0) {
            let latest = self.current(time_field).cloned();
            self.0.retain(|(row, _)| Some(&*row) == latest.as_ref());
        }
    }
}

/// Applies right updates (whole times at once), then discards versions no longer needed.
fn apply_right(state: &mut RightState, spec: &JoinSpec, updates: impl Iterator<Item = (Time, (Row, isize))>) {
    let mut touched: Vec<JoinKey> = Vec::new();
    for (_, (row, diff)) in updates {
        let key: JoinKey = spec.right_keys.iter().map(|&i| row[i].clone()).collect();
        state.entry(key.clone()).or_default().apply(row, diff);
        touched.push(key);
    }
    for key in touched {
        if let Some(versions) = state.get_mut(&key) {
            versions.compact(spec.right_time);
            if versions.0.is_empty() {
                state.remove(&key);
            }
        }
    }
}

impl<'scope> AsOfJoin<'scope> for RowCollection<'scope> {
    fn join_as_of(self, right: RowCollection<'scope>, spec: JoinSpec, name: &str) -> RowCollection<'scope> {
        let left_keys = spec.left_keys.clone();
        let right_keys = spec.right_keys.clone();
        let left_pact =
            Exchange::new(move |(row, _, _): &Update| key_hash(left_keys.iter().map(|&i| &row[i])));
        let right_pact =
            Exchange::new(move |(row, _, _): &Update| key_hash(right_keys.iter().map(|&i| &row[i])));
        let name = format!("AsOfJoin({name})");
        self.inner
            .binary_frontier(right.inner, left_pact, right_pact, &name, move |_, _| {
                let mut left_pending: TimeBuffer<(Row, isize)> = TimeBuffer::default();
                let mut right_pending: TimeBuffer<(Row, isize)> = TimeBuffer::default();
                let mut state = RightState::default();
                let mut held = HeldCapability::new();
                let mut scratch: Vec<Value> = Vec::new();
                move |(left_in, left_frontier), (right_in, right_frontier), output| {
                    left_in.for_each(|cap, data| {
                        if let Some(cap) = cap.retain_least(0) {
                            held.merge(cap);
                        }
                        for (row, time, diff) in data.drain(..) {
                            left_pending.push(time, (row, diff));
                        }
                    });
                    right_in.for_each(|cap, data| {
                        if let Some(cap) = cap.retain_least(0) {
                            held.merge(cap);
                        }
                        for (row, time, diff) in data.drain(..) {
                            right_pending.push(time, (row, diff));
                        }
                    });
                    // Left rows at `t` are ready once the left side is complete at `t` and the
                    // right side up to `t + forward`; right updates are applied once no left row
                    // still to come can be joined as of a time before them.
                    let (left_done, right_done) =
                        (frontier_time(left_frontier), frontier_time(right_frontier));
                    let ready = match (left_done, right_done.map(|r| r.saturating_sub(spec.forward))) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let applicable = match (ready.map(|t| t.saturating_add(spec.forward)), right_done) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let mut lefts = left_pending.take_before(ready).peekable();
                    let mut rights = right_pending.take_before(applicable).peekable();
                    if lefts.peek().is_some() {
                        let cap = held.get().expect("pending updates hold a capability");
                        let mut session = output.session(cap);
                        for (time, (row, diff)) in lefts.by_ref() {
                            let as_of = time.saturating_add(spec.forward);
                            // Right updates up to and including the as-of time come first.
                            let due = std::iter::from_fn(|| rights.next_if(|(t, _)| *t <= as_of));
                            apply_right(&mut state, &spec, due);
                            scratch.clear();
                            scratch.extend(spec.left_keys.iter().map(|&i| row[i].clone()));
                            let matched = if scratch.contains(&Value::Null) {
                                None
                            } else {
                                state.get(scratch.as_slice()).and_then(|v| v.current(spec.right_time)).filter(
                                    |right_row| match spec.back {
                                        None => true,
                                        Some(back) => {
                                            right_row[spec.right_time]
                                                >= Value::Int(time.saturating_sub(back))
                                        }
                                    },
                                )
                            };
                            let matched = match (matched, spec.how) {
                                (None, JoinHow::Inner) => continue,
                                (matched, _) => matched,
                            };
                            // One reallocation per row: the key copies and the right values (or
                            // what a left join puts for them) are appended in place.
                            let mut joined = row;
                            joined.reserve_exact(spec.key_copies.len() + spec.right_values.len());
                            for &i in &spec.key_copies {
                                joined.push(joined[i].clone());
                            }
                            match matched {
                                Some(right_row) => {
                                    joined.extend(spec.right_values.iter().map(|&i| right_row[i].clone()))
                                }
                                None => joined.extend(spec.missing.iter().cloned()),
                            }
                            session.give((joined, time, diff));
                        }
                    }
                    drop(lefts);
                    apply_right(&mut state, &spec, rights);
                    let next = match (left_pending.min_time(), right_pending.min_time()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    held.settle(next);
                }
            })
            .as_collection()
    }
}
