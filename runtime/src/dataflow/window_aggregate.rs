//! Windowed aggregation per key, with aggregates carried in invertible accumulators.
//!
//! The output is a keyed dataset whose value at time `T` holds, for each aggregate, its value
//! over the input rows of the key inside its window: sliding `w` covers `T - w < ts <= T`,
//! `forever` covers `ts <= T`. The dataset changes at every input time of a key and at every
//! time a row leaves one of its windows (`ts + w`), and the operator emits a new row (and
//! retracts the previous one) for the key at exactly those times, stamped with that time.
//!
//! Times are processed in increasing order once the input frontier passes them: first every
//! input update at `T`, then every expiry at `T`, then one output per touched key. Accumulators
//! are exact and order-independent (see [`crate::aggregate`]), so the output depends on the
//! input collection only — not on batching, arrival order within a time, or worker count.
//!
//! State stays bounded by the windows: each sliding window keeps the values of the rows still
//! inside it, in a queue ordered by time, and drops them as they expire. Pending expiries hold
//! the operator's capability, so downstream frontiers wait for them.

use std::collections::{HashMap, VecDeque};

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::time_buffer::{HeldCapability, TimeBuffer};
use super::{RowCollection, Time, Update, frontier_time, key_hash};
use crate::aggregate::Accumulator;
use crate::plan::{AggregatePlan, Window};
use crate::value::{Row, ScalarType, Value};

/// The shape of a windowed aggregation, from the plan.
#[derive(Clone, Debug)]
pub struct AggregateSpec {
    /// Group key fields of the input.
    pub keys: Vec<usize>,
    /// The aggregates, in output order.
    pub aggregates: Vec<AggregatePlan>,
    /// The input's scalar type of each aggregate's field.
    pub input_types: Vec<Option<ScalarType>>,
}

/// Aggregates a collection per key over windows.
pub trait WindowAggregate<'scope> {
    /// Rows `(keys..., T, aggregates...)`, one per key and change time `T` (module docs).
    fn window_aggregate(self, spec: AggregateSpec, name: &str) -> RowCollection<'scope>;
}

/// The aggregates sharing one sliding window, and the values of the rows inside it.
struct SlidingWindow {
    width: Time,
    /// Indexes of the aggregates over this window.
    aggregates: Vec<usize>,
    /// Rows inside the window, oldest first: time, key, the input value of each aggregate that
    /// reads a field (row counts need none, and store nothing), diff.
    rows: VecDeque<(Time, u32, Vec<Value>, isize)>,
}

impl SlidingWindow {
    fn next_expiry(&self) -> Option<Time> {
        self.rows.front().map(|(t, ..)| t + self.width)
    }
}

struct KeyState {
    key: Vec<Value>,
    accumulators: Vec<Accumulator>,
    current: Option<Row>,
    touched_at: Option<Time>,
}

struct State {
    spec: AggregateSpec,
    keys: HashMap<Vec<Value>, u32>,
    states: Vec<KeyState>,
    windows: Vec<SlidingWindow>,
    touched: Vec<u32>,
    scratch: Vec<Value>,
}

impl State {
    fn new(spec: AggregateSpec) -> Self {
        let mut windows: Vec<SlidingWindow> = Vec::new();
        for (index, aggregate) in spec.aggregates.iter().enumerate() {
            if let Window::Sliding(width) = aggregate.window {
                match windows.iter_mut().find(|w| w.width == width) {
                    Some(window) => window.aggregates.push(index),
                    None => {
                        windows.push(SlidingWindow { width, aggregates: vec![index], rows: VecDeque::new() })
                    }
                }
            }
        }
        State {
            spec,
            keys: HashMap::new(),
            states: Vec::new(),
            windows,
            touched: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn key_id(&mut self, row: &Row) -> u32 {
        // Look up through a reused buffer; a key is allocated only when first seen.
        self.scratch.clear();
        self.scratch.extend(self.spec.keys.iter().map(|&i| row[i].clone()));
        if let Some(&id) = self.keys.get(self.scratch.as_slice()) {
            return id;
        }
        let key = self.scratch.clone();
        let id = self.states.len() as u32;
        let accumulators = self
            .spec
            .aggregates
            .iter()
            .zip(&self.spec.input_types)
            .map(|(a, ty)| Accumulator::new(a.function, *ty))
            .collect();
        self.states.push(KeyState { key: key.clone(), accumulators, current: None, touched_at: None });
        self.keys.insert(key, id);
        id
    }

    fn touch(&mut self, id: u32, time: Time) {
        let state = &mut self.states[id as usize];
        if state.touched_at != Some(time) {
            state.touched_at = Some(time);
            self.touched.push(id);
        }
    }

    fn apply_input(&mut self, time: Time, row: Row, diff: isize) {
        let id = self.key_id(&row);
        let state = &mut self.states[id as usize];
        for (aggregate, accumulator) in self.spec.aggregates.iter().zip(&mut state.accumulators) {
            accumulator.update(aggregate.on.map(|i| &row[i]), diff);
        }
        for window in &mut self.windows {
            let values = window
                .aggregates
                .iter()
                .filter_map(|&a| self.spec.aggregates[a].on.map(|i| row[i].clone()))
                .collect();
            window.rows.push_back((time, id, values, diff));
        }
        self.touch(id, time);
    }

    fn next_expiry(&self) -> Option<Time> {
        self.windows.iter().filter_map(SlidingWindow::next_expiry).min()
    }

    /// Removes the rows that leave their windows at `time`.
    fn expire(&mut self, time: Time) {
        for w in 0..self.windows.len() {
            while self.windows[w].next_expiry().is_some_and(|t| t <= time) {
                let (_, id, values, diff) = self.windows[w].rows.pop_front().expect("non-empty");
                let state = &mut self.states[id as usize];
                let mut values = values.iter();
                for &a in &self.windows[w].aggregates {
                    let value =
                        self.spec.aggregates[a].on.map(|_| values.next().expect("one value per field read"));
                    state.accumulators[a].update(value, -diff);
                }
                self.touch(id, time);
            }
        }
    }

    /// The new row of every key touched at `time`, with the retraction of its previous row.
    fn emit(&mut self, time: Time, out: &mut Vec<Update>) {
        for id in self.touched.drain(..) {
            let state = &mut self.states[id as usize];
            let mut row = Vec::with_capacity(state.key.len() + 1 + state.accumulators.len());
            row.extend(state.key.iter().cloned());
            row.push(Value::Int(time));
            row.extend(state.accumulators.iter().map(Accumulator::value));
            if let Some(previous) = state.current.replace(row.clone()) {
                out.push((previous, time, -1));
            }
            out.push((row, time, 1));
        }
    }
}

impl<'scope> WindowAggregate<'scope> for RowCollection<'scope> {
    fn window_aggregate(self, spec: AggregateSpec, name: &str) -> RowCollection<'scope> {
        let keys = spec.keys.clone();
        let pact = Exchange::new(move |(row, _, _): &Update| key_hash(keys.iter().map(|&i| &row[i])));
        let name = format!("WindowAggregate({name})");
        self.inner
            .unary_frontier(pact, &name, move |_, _| {
                let mut pending: TimeBuffer<(Row, isize)> = TimeBuffer::default();
                let mut state = State::new(spec);
                let mut held = HeldCapability::new();
                let mut out: Vec<Update> = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|cap, data| {
                        if let Some(cap) = cap.retain_least(0) {
                            held.merge(cap);
                        }
                        for (row, time, diff) in data.drain(..) {
                            pending.push(time, (row, diff));
                        }
                    });
                    let frontier = frontier_time(frontier);
                    let mut inputs = pending.take_before(frontier).into_iter().peekable();
                    loop {
                        let next_input = inputs.peek().map(|(t, _)| *t);
                        let time = match (next_input, state.next_expiry()) {
                            (Some(a), Some(b)) => a.min(b),
                            (a, b) => match a.or(b) {
                                Some(t) => t,
                                None => break,
                            },
                        };
                        if frontier.is_some_and(|f| time >= f) {
                            break;
                        }
                        while let Some((_, (row, diff))) = inputs.next_if(|(t, _)| *t == time) {
                            state.apply_input(time, row, diff);
                        }
                        state.expire(time);
                        state.emit(time, &mut out);
                    }
                    if !out.is_empty() {
                        let cap = held.get().expect("pending work holds a capability");
                        output.session(cap).give_container(&mut out);
                        out.clear();
                    }
                    let next = match (pending.min_time(), state.next_expiry()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    held.settle(next);
                }
            })
            .as_collection()
    }
}
