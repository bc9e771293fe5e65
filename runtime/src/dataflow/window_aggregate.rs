//! Windowed aggregation per key, with aggregates carried in invertible accumulators.
//!
//! The output is a keyed dataset whose value at time `T` holds, for each aggregate, its value
//! over the input rows of the key that count at `T` in its window ([`Window::interval`]):
//! sliding `w` covers `T - w < ts <= T`, `forever` covers `ts <= T`, tumbling and hopping
//! windows cover the last bucket or hop closed at or before `T`. The dataset changes whenever a
//! row starts or stops counting (at `ts` for sliding and forever windows, at bucket and hop
//! ends otherwise), and the operator emits a new row (and retracts the previous one) for the
//! key at exactly those times, stamped with that time. Where only a store reads the dataset
//! ([`Changes::Appending`]), it emits the new row alone: a store keeps a dataset's history, in
//! which a key's row lasts until its next one, so the retraction would only be dropped there.
//!
//! Times are processed in increasing order once the input frontier passes them: first every
//! input update at `T`, then every row entering or leaving a window at `T`, then one output per
//! touched key. Accumulators are exact and order-independent (see [`crate::aggregate`]), so the
//! output depends on the input collection only — not on batching, arrival order within a time,
//! or worker count.
//!
//! State stays bounded by the windows: each window keeps the values of the rows waiting to
//! count or still counting, in queues ordered by time (enter and leave times grow with event
//! time), and drops them when they leave. Pending events hold the operator's capability, so
//! downstream frontiers wait for them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::mem::size_of;
use std::rc::Rc;
use std::sync::Arc;

use differential_dataflow::AsCollection;
use smallvec::SmallVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

use super::state_rows::Reported;
use super::time_buffer::{HeldCapability, TimeBuffer};
use super::{KeyMap, RowCollection, StateRows, Time, Update, frontier_time, key_hash};
use crate::aggregate::Accumulator;
use crate::plan::{AggregatePlan, Window};
use crate::value::{Row, ScalarType, Value, prefetch};

/// The shape of a windowed aggregation, from the plan.
#[derive(Clone, Debug)]
pub struct AggregateSpec {
    /// Group key fields of the input.
    pub keys: Vec<usize>,
    /// The aggregates, in output order.
    pub aggregates: Vec<AggregatePlan>,
    /// The input's scalar type of each aggregate's field.
    pub input_types: Vec<Option<ScalarType>>,
    /// Where the operator reports the rows its windows hold.
    pub state_rows: Arc<StateRows>,
    /// Whether a key's new row comes with the retraction of the one it replaces.
    pub changes: Changes,
}

/// Takes the new rows of an aggregation whose output only a store reads, in batches, as the
/// operator makes them, in place of its output, which then carries nothing
/// ([`WindowAggregate::window_aggregate_written`]). An offline job writes them straight into
/// the worker's part of the history: the rows are made in the same few allocations batch after
/// batch and bound while in cache, where rows sent on were each allocated, handed to the
/// store's sink after the operator's whole activation, read there cold, and freed.
#[derive(Clone)]
pub struct HistoryWriter(Rc<WriteRows>);

/// What a [`HistoryWriter`] calls with each batch of rows.
type WriteRows = dyn Fn(&[Row]);

impl HistoryWriter {
    /// A writer that calls `write` with each batch (which handles its own failures).
    pub fn new(write: impl Fn(&[Row]) + 'static) -> HistoryWriter {
        HistoryWriter(Rc::new(write))
    }
}

impl fmt::Debug for HistoryWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HistoryWriter")
    }
}

/// What the operator emits when a key's row changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changes {
    /// A collection's changes: the new row, and the retraction of the row it replaces. What
    /// any operator reading the output needs.
    Retracting,
    /// A history's: the new row alone. Only for an output that goes straight to a store, which
    /// keeps insertions ([`super::insertions`]) and so would drop the retraction.
    Appending,
}

/// Aggregates a collection per key over windows.
pub trait WindowAggregate<'scope> {
    /// Rows `(keys..., T, aggregates...)`, one per key and change time `T` (module docs).
    fn window_aggregate(self, spec: AggregateSpec, name: &str) -> RowCollection<'scope>;

    /// The same rows, appending (the spec's [`Changes`] aside), handed to `writer` in batches
    /// instead of sent on: the collection returned carries nothing, and completes when the
    /// rows are written.
    fn window_aggregate_written(
        self,
        spec: AggregateSpec,
        writer: HistoryWriter,
        name: &str,
    ) -> RowCollection<'scope>;
}

/// The input values a window keeps of a row: one per aggregate of the window that reads a
/// field (row counts need none). Held inline for the common case of one.
type Values = SmallVec<[Value; 1]>;

/// A row waiting to enter or to leave a window: its time there, key, values, and diff (48
/// bytes: a window holds many of these).
type Pending = (Time, u32, Values, i32);

/// Updates the operator sends downstream at a time: it hands a batch on once it holds this
/// many (and what is left when it has caught up with the frontier).
const OUTPUT_BATCH: usize = 1024;

/// Room past [`OUTPUT_BATCH`] for the changes of the time that fills it (a retraction and a new
/// row per touched key), so that a batch is rarely grown.
const OUTPUT_SLACK: usize = 256;

/// How many held rows ahead of the one it applies the operator prefetches the key state of:
/// rows leave their windows in time order, their keys in no order a cache foresees, and the
/// queue says which key comes next long before it is due.
const STATE_AHEAD: usize = 8;

/// Applied input rows kept for output rows: a time's inputs, in the common case.
const SPARE_ROWS: usize = 16;

/// `diff` in parts that fit the `i32` a held row keeps: one part, but for multiplicities past
/// 2^31 at one time.
fn diff_parts(diff: isize) -> SmallVec<[i32; 1]> {
    let mut parts = SmallVec::new();
    let mut rest = diff;
    while rest != 0 {
        let part = rest.clamp(-(i32::MAX as isize), i32::MAX as isize) as i32;
        parts.push(part);
        rest -= part as isize;
    }
    parts
}

/// Heap bytes of `values` beyond the entry that holds them.
fn spilled_bytes(values: &Values) -> usize {
    if values.spilled() { values.capacity() * size_of::<Value>() } else { 0 }
}

/// One key's sessions in a session window: the rows of the open session, and those of the
/// last closed one (which count until the open one closes).
#[derive(Default)]
struct Sessions {
    open: Vec<(Values, i32)>,
    closes_at: Time,
    closed: Vec<(Values, i32)>,
}

/// The aggregates sharing one window, and the rows waiting to enter or leave it. Enter and
/// leave times grow with event time, and times are processed in order, so both are queues.
struct WindowGroup {
    window: Window,
    /// Indexes of the aggregates over this window.
    aggregates: Vec<usize>,
    /// Rows that count only from a later time (the close of their bucket or hop), with the
    /// time they stop counting.
    enters: VecDeque<(Option<Time>, Pending)>,
    /// Rows that count now and stop counting at a later time.
    leaves: VecDeque<Pending>,
    /// Session windows: each key's sessions, and the times open sessions close (an entry is
    /// stale when the key's session was extended since).
    sessions: HashMap<u32, Sessions>,
    closes: BTreeMap<Time, Vec<u32>>,
    /// Rows in the sessions of every key (open and last closed).
    session_rows: usize,
    /// Heap bytes of the held values (queues and sessions) that did not fit inline.
    spilled: usize,
}

impl WindowGroup {
    fn next_event(&self) -> Option<Time> {
        let enter = self.enters.front().map(|(_, (t, ..))| *t);
        let leave = self.leaves.front().map(|(t, ..)| *t);
        let close = self.closes.keys().next().copied();
        [enter, leave, close].into_iter().flatten().min()
    }

    /// Input rows held: waiting to count, counting until a later time, or in a session.
    fn rows_held(&self) -> usize {
        self.enters.len() + self.leaves.len() + self.session_rows
    }

    /// Bytes of the rows the group holds: its queues by capacity, session rows and keys, and
    /// values that spilled to the heap. Kept by counters, so reading it costs no scan.
    fn bytes_held(&self) -> usize {
        self.enters.capacity() * size_of::<(Option<Time>, Pending)>()
            + self.leaves.capacity() * size_of::<Pending>()
            + self.session_rows * size_of::<(Values, i32)>()
            + self.sessions.len() * size_of::<(u32, Sessions)>()
            + self.spilled
    }

    fn push_enter(&mut self, leave: Option<Time>, pending: Pending) {
        self.spilled += spilled_bytes(&pending.2);
        self.enters.push_back((leave, pending));
    }

    fn push_leave(&mut self, pending: Pending) {
        self.spilled += spilled_bytes(&pending.2);
        self.leaves.push_back(pending);
    }
}

/// A key's aggregate values, held inline for up to four aggregates.
type Aggregates = SmallVec<[Value; 4]>;

/// A key's fields, held inline for keys of up to two fields.
type KeyFields = SmallVec<[Value; 2]>;

/// A key's accumulators, held inline for up to four aggregates.
type Accumulators = SmallVec<[Accumulator; 4]>;

/// A key's state, in one place: the key and its accumulators held inline rather than behind
/// pointers of their own, so that reaching a key's state (once per row entering or leaving a
/// window, in no order a cache foresees) waits on one miss, not a chain of them.
struct KeyState {
    key: KeyFields,
    accumulators: Accumulators,
    /// The time and aggregates of the key's last emitted row (its key fields are `key`).
    current: Option<(Time, Aggregates)>,
    touched_at: Option<Time>,
}

impl KeyState {
    /// The key's row at `time` with `aggregates`: key fields, time, aggregates; in one of the
    /// `spare` rows when it has room.
    fn row(&self, time: Time, aggregates: &[Value], spare: &mut Vec<Row>) -> Row {
        let width = self.key.len() + 1 + aggregates.len();
        let mut row = match spare.pop() {
            Some(row) if row.capacity() >= width => row,
            _ => Vec::with_capacity(width),
        };
        self.fill(&mut row, time, aggregates);
        row
    }

    /// Makes `row` (empty) the key's row at `time` with `aggregates`.
    fn fill(&self, row: &mut Row, time: Time, aggregates: &[Value]) {
        row.extend(self.key.iter().cloned());
        row.push(Value::Int(time));
        row.extend(aggregates.iter().cloned());
    }
}

/// The rows made for a [`HistoryWriter`] and not yet written: the first `len` of `rows`,
/// whose allocations are kept and made again into the next batch's rows.
#[derive(Default)]
struct Unwritten {
    rows: Vec<Row>,
    len: usize,
}

impl Unwritten {
    /// A row to make: emptied, in an allocation of an earlier batch when there is one.
    fn next(&mut self) -> &mut Row {
        if self.len == self.rows.len() {
            self.rows.push(Vec::new());
        }
        let row = &mut self.rows[self.len];
        row.clear();
        self.len += 1;
        row
    }

    fn write(&mut self, writer: &HistoryWriter) {
        if self.len > 0 {
            (writer.0)(&self.rows[..self.len]);
            self.len = 0;
        }
    }
}

struct State {
    spec: AggregateSpec,
    keys: KeyMap<u32>,
    states: Vec<KeyState>,
    groups: Vec<WindowGroup>,
    touched: Vec<u32>,
    scratch: Vec<Value>,
    /// Input rows applied, emptied, for output rows to be made in (see [`State::recycle`]).
    spare: Vec<Row>,
    /// Where new rows go instead of the output, if anywhere, and those not yet written.
    writer: Option<HistoryWriter>,
    unwritten: Unwritten,
    /// Bytes of the per-key state (key, accumulators, index entry), counted as keys appear.
    key_bytes: usize,
}

impl State {
    fn new(spec: AggregateSpec, writer: Option<HistoryWriter>) -> Self {
        let mut groups: Vec<WindowGroup> = Vec::new();
        for (index, aggregate) in spec.aggregates.iter().enumerate() {
            match groups.iter_mut().find(|g| g.window == aggregate.window) {
                Some(group) => group.aggregates.push(index),
                None => groups.push(WindowGroup {
                    window: aggregate.window,
                    aggregates: vec![index],
                    enters: VecDeque::new(),
                    leaves: VecDeque::new(),
                    sessions: HashMap::new(),
                    closes: BTreeMap::new(),
                    session_rows: 0,
                    spilled: 0,
                }),
            }
        }
        State {
            spec,
            keys: KeyMap::default(),
            states: Vec::new(),
            groups,
            touched: Vec::new(),
            scratch: Vec::new(),
            spare: Vec::with_capacity(SPARE_ROWS),
            writer,
            unwritten: Unwritten::default(),
            key_bytes: 0,
        }
    }

    fn key_id(&mut self, row: &Row) -> u32 {
        // Look up through a reused buffer; a key is allocated only when first seen.
        self.scratch.clear();
        self.scratch.extend(self.spec.keys.iter().map(|&i| row[i].clone()));
        if let Some(&id) = self.keys.get(self.scratch.as_slice()) {
            return id;
        }
        let key: KeyFields = self.scratch.iter().cloned().collect();
        let id = self.states.len() as u32;
        let accumulators: Accumulators = self
            .spec
            .aggregates
            .iter()
            .zip(&self.spec.input_types)
            .map(|(a, ty)| {
                let accumulator = Accumulator::new(a.function, *ty);
                if a.window == Window::Forever { accumulator.never_removing() } else { accumulator }
            })
            .collect();
        // The state (key and accumulators inline), the map's entry and its copy of the key,
        // and whatever did not fit inline.
        self.key_bytes += size_of::<KeyState>()
            + size_of::<(Vec<Value>, u32)>()
            + key.len() * size_of::<Value>()
            + if key.spilled() { key.len() * size_of::<Value>() } else { 0 }
            + if accumulators.spilled() { accumulators.len() * size_of::<Accumulator>() } else { 0 };
        self.keys.insert(self.scratch.clone(), id);
        self.states.push(KeyState { key, accumulators, current: None, touched_at: None });
        id
    }

    fn touch(&mut self, id: u32, time: Time) {
        let state = &mut self.states[id as usize];
        if state.touched_at != Some(time) {
            state.touched_at = Some(time);
            self.touched.push(id);
        }
    }

    /// Applies `diff` copies of `values` (one per field-reading aggregate of group `g`) to the
    /// key's accumulators of that group.
    fn update(&mut self, g: usize, id: u32, values: &[Value], diff: i32) {
        let state = &mut self.states[id as usize];
        let mut values = values.iter();
        for &a in &self.groups[g].aggregates {
            let value = self.spec.aggregates[a].on.map(|_| values.next().expect("one value per field read"));
            state.accumulators[a].update(value, diff as isize);
        }
    }

    /// Keeps an applied input row's allocation for an output row. A row just applied is in
    /// the cache; an output row allocated afresh was, in an offline job, most often a block
    /// freed long before (its first write waited on memory: an eighth of the workers' time).
    fn recycle(&mut self, mut row: Row) {
        if self.spare.len() < SPARE_ROWS && self.writer.is_none() {
            row.clear();
            self.spare.push(row);
        }
    }

    fn apply_input(&mut self, time: Time, row: &Row, diff: i32) {
        let id = self.key_id(row);
        for g in 0..self.groups.len() {
            let window = self.groups[g].window;
            let interval = window.interval(time);
            // A row that counts now and never leaves (forever) is applied straight from the
            // row; only rows the window must remember have their values copied out.
            if let Some((enter, None)) = interval
                && enter == time
            {
                let state = &mut self.states[id as usize];
                for &a in &self.groups[g].aggregates {
                    let plan = &self.spec.aggregates[a];
                    match plan.on {
                        Some(i) if plan.function.is_timed() => state.accumulators[a]
                            .update(Some(&Accumulator::timed(time, &row[i])), diff as isize),
                        on => state.accumulators[a].update(on.map(|i| &row[i]), diff as isize),
                    }
                }
                self.touch(id, time);
                continue;
            }
            let values: Values = self.groups[g]
                .aggregates
                .iter()
                .filter_map(|&a| {
                    let plan = &self.spec.aggregates[a];
                    let i = plan.on?;
                    Some(if plan.function.is_timed() {
                        Accumulator::timed(time, &row[i])
                    } else {
                        row[i].clone()
                    })
                })
                .collect();
            if let Window::Session(gap) = window {
                self.add_to_session(g, id, time, gap, values, diff);
                continue;
            }
            let Some((enter, leave)) = interval else {
                continue;
            };
            if enter > time {
                self.groups[g].push_enter(leave, (enter, id, values, diff));
                continue;
            }
            self.update(g, id, &values, diff);
            self.touch(id, time);
            if let Some(leave) = leave {
                self.groups[g].push_leave((leave, id, values, diff));
            }
        }
    }

    /// Adds a row at `time` to the key's open session in group `g`, first closing that session
    /// if the row is `gap` or more after its last row.
    fn add_to_session(&mut self, g: usize, id: u32, time: Time, gap: Time, values: Values, diff: i32) {
        let due = self.groups[g].sessions.get(&id).is_some_and(|s| !s.open.is_empty() && s.closes_at <= time);
        if due {
            self.close_session(g, id, time);
        }
        let closes_at = time.saturating_add(gap);
        let group = &mut self.groups[g];
        group.session_rows += 1;
        group.spilled += spilled_bytes(&values);
        let sessions = group.sessions.entry(id).or_default();
        sessions.open.push((values, diff));
        sessions.closes_at = closes_at;
        group.closes.entry(closes_at).or_default().push(id);
    }

    /// Closes the key's open session at `time`: its rows start counting, the previous closed
    /// session's rows stop.
    fn close_session(&mut self, g: usize, id: u32, time: Time) {
        let sessions = self.groups[g].sessions.get_mut(&id).expect("the key has sessions");
        let open = std::mem::take(&mut sessions.open);
        let previous = std::mem::take(&mut sessions.closed);
        for (values, diff) in &previous {
            self.update(g, id, values, -diff);
        }
        let group = &mut self.groups[g];
        group.session_rows -= previous.len();
        group.spilled -= previous.iter().map(|(values, _)| spilled_bytes(values)).sum::<usize>();
        for (values, diff) in &open {
            self.update(g, id, values, *diff);
        }
        self.groups[g].sessions.get_mut(&id).expect("the key has sessions").closed = open;
        self.touch(id, time);
    }

    fn next_event(&self) -> Option<Time> {
        self.groups.iter().filter_map(WindowGroup::next_event).min()
    }

    /// Input rows held by every window.
    fn rows_held(&self) -> usize {
        self.groups.iter().map(WindowGroup::rows_held).sum()
    }

    /// Bytes of the state: the rows held, and every key's fixed state.
    fn bytes_held(&self) -> usize {
        self.key_bytes + self.groups.iter().map(WindowGroup::bytes_held).sum::<usize>()
    }

    /// Applies the rows that enter or leave their windows at `time`.
    fn enter_and_leave(&mut self, time: Time) {
        for g in 0..self.groups.len() {
            while self.groups[g].enters.front().is_some_and(|(_, (t, ..))| *t <= time) {
                if let Some((_, (_, ahead, ..))) = self.groups[g].enters.get(STATE_AHEAD) {
                    prefetch(&self.states[*ahead as usize]);
                }
                let (leave, (_, id, values, diff)) = self.groups[g].enters.pop_front().expect("non-empty");
                self.groups[g].spilled -= spilled_bytes(&values);
                self.update(g, id, &values, diff);
                self.touch(id, time);
                if let Some(leave) = leave {
                    self.groups[g].push_leave((leave, id, values, diff));
                }
            }
            while self.groups[g].leaves.front().is_some_and(|(t, ..)| *t <= time) {
                if let Some((_, ahead, ..)) = self.groups[g].leaves.get(STATE_AHEAD) {
                    prefetch(&self.states[*ahead as usize]);
                }
                let (_, id, values, diff) = self.groups[g].leaves.pop_front().expect("non-empty");
                self.groups[g].spilled -= spilled_bytes(&values);
                self.update(g, id, &values, -diff);
                self.touch(id, time);
            }
            while let Some(entry) = self.groups[g].closes.first_entry().filter(|e| *e.key() <= time) {
                for id in entry.remove() {
                    let session = &self.groups[g].sessions[&id];
                    // Skip entries left by sessions extended (or closed early) since.
                    if !session.open.is_empty() && session.closes_at <= time {
                        self.close_session(g, id, time);
                    }
                }
            }
        }
    }

    /// The new row of every key touched at `time` whose values changed (or that has no row
    /// yet), after the retraction of its previous row when retracting; to the writer's batch
    /// instead when there is a writer. A key touched without a change (a row entering as
    /// another leaves, a row waiting for its bucket to close) keeps its row, so the history
    /// holds exactly the changes.
    fn emit(&mut self, time: Time, out: &mut Vec<Update>) {
        let retracting = self.spec.changes == Changes::Retracting;
        let writing = self.writer.is_some();
        for id in self.touched.drain(..) {
            let state = &mut self.states[id as usize];
            let aggregates: Aggregates = state.accumulators.iter_mut().map(|a| a.value_at(time)).collect();
            if state.current.as_ref().is_some_and(|(_, previous)| *previous == aggregates) {
                continue;
            }
            if writing {
                state.fill(self.unwritten.next(), time, &aggregates);
                state.current = Some((time, aggregates));
                continue;
            }
            let row = state.row(time, &aggregates, &mut self.spare);
            if let Some((at, previous)) = state.current.replace((time, aggregates))
                && retracting
            {
                out.push((state.row(at, &previous, &mut self.spare), time, -1));
            }
            out.push((row, time, 1));
        }
    }
}

impl<'scope> WindowAggregate<'scope> for RowCollection<'scope> {
    fn window_aggregate(self, spec: AggregateSpec, name: &str) -> RowCollection<'scope> {
        aggregate(self, spec, None, name)
    }

    fn window_aggregate_written(
        self,
        spec: AggregateSpec,
        writer: HistoryWriter,
        name: &str,
    ) -> RowCollection<'scope> {
        aggregate(self, AggregateSpec { changes: Changes::Appending, ..spec }, Some(writer), name)
    }
}

/// The operator behind both methods of [`WindowAggregate`]: its new rows go to `writer` when
/// there is one, and on in its output otherwise.
fn aggregate<'scope>(
    input: RowCollection<'scope>,
    spec: AggregateSpec,
    writer: Option<HistoryWriter>,
    name: &str,
) -> RowCollection<'scope> {
    let keys = spec.keys.clone();
    let pact = Exchange::new(move |(row, _, _): &Update| key_hash(keys.iter().map(|&i| &row[i])));
    let name = format!("WindowAggregate({name})");
    input
        .inner
        .unary_frontier(pact, &name, move |_, _| {
            let mut pending: TimeBuffer<(Row, isize)> = TimeBuffer::default();
            let mut state = State::new(spec, writer);
            let mut held = HeldCapability::new();
            let mut out: Vec<Update> = Vec::with_capacity(OUTPUT_BATCH + OUTPUT_SLACK);
            let mut reported = Reported::new(state.spec.state_rows.clone());
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
                let mut inputs = pending.take_before(frontier).peekable();
                loop {
                    let next_input = inputs.peek().map(|(t, _)| *t);
                    let time = match (next_input, state.next_event()) {
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
                        for part in diff_parts(diff) {
                            state.apply_input(time, &row, part);
                        }
                        state.recycle(row);
                    }
                    state.enter_and_leave(time);
                    state.emit(time, &mut out);
                    if let Some(writer) = &state.writer
                        && state.unwritten.len >= OUTPUT_BATCH
                    {
                        state.unwritten.write(writer);
                    }
                    // Sent in bounded batches, while still in cache, rather than all of
                    // an epoch's changes in one container grown by doubling.
                    if out.len() >= OUTPUT_BATCH {
                        let cap = held.get().expect("pending work holds a capability");
                        output.session(cap).give_container(&mut out);
                        out = Vec::with_capacity(OUTPUT_BATCH + OUTPUT_SLACK);
                    }
                }
                // Every input taken was before the frontier, so the loop applied it.
                debug_assert!(inputs.peek().is_none());
                drop(inputs);
                if let Some(writer) = &state.writer {
                    state.unwritten.write(writer);
                }
                if !out.is_empty() {
                    let cap = held.get().expect("pending work holds a capability");
                    output.session(cap).give_container(&mut out);
                    out = Vec::with_capacity(OUTPUT_BATCH + OUTPUT_SLACK);
                }
                let next = match (pending.min_time(), state.next_event()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                held.settle(next);
                reported.set(state.rows_held() as i64, state.bytes_held() as i64);
            }
        })
        .as_collection()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_row_takes_48_bytes() {
        assert_eq!(size_of::<Pending>(), 48);
    }

    #[test]
    fn diffs_split_into_parts_that_sum_to_them() {
        assert_eq!(diff_parts(1).as_slice(), &[1]);
        assert_eq!(diff_parts(-3).as_slice(), &[-3]);
        assert!(diff_parts(0).is_empty());
        for diff in [i32::MAX as isize + 5, -(i32::MAX as isize) * 3 - 1, 1 << 40] {
            let parts = diff_parts(diff);
            assert_eq!(parts.iter().map(|&p| p as isize).sum::<isize>(), diff);
            assert!(parts.iter().all(|p| p.signum() as isize == diff.signum()));
        }
    }
}
