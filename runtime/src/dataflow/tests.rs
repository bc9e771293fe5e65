//! Golden cases for the stateful operators, on tiny inputs computed by hand.

use std::sync::{Arc, Mutex};

use differential_dataflow::AsCollection;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::{InputHandleVec, ProbeHandle};

use super::{
    AggregateSpec, AsOfJoin, Changes, HistoryWriter, JoinSpec, RowCollection, Update, WindowAggregate,
};
use crate::plan::{AggregateFn, AggregatePlan, JoinHow, Window};
use crate::value::{FieldType, Row, ScalarType, Value};

/// Runs `build` over one collection per input and returns its consolidated output updates.
fn run<F>(inputs: Vec<Vec<Update>>, build: F) -> Vec<Update>
where
    F: for<'scope> FnOnce(Vec<RowCollection<'scope>>) -> RowCollection<'scope> + Send + Sync + 'static,
{
    let seen: Arc<Mutex<Vec<Update>>> = Arc::default();
    let sink = seen.clone();
    timely::execute_directly(move |worker| {
        let mut handles: Vec<InputHandleVec<i64, Update>> =
            inputs.iter().map(|_| InputHandleVec::new()).collect();
        let probe = ProbeHandle::new();
        worker.dataflow::<i64, _, _>(|scope| {
            let collections: Vec<RowCollection<'_>> =
                handles.iter_mut().map(|h| h.to_stream(scope).as_collection()).collect();
            let sink = sink.clone();
            build(collections).inner.probe_with(&probe).sink(Pipeline, "Capture", move |(input, _)| {
                input.for_each(|_, data| sink.lock().unwrap().extend(data.drain(..)));
            });
        });
        for (handle, updates) in handles.iter_mut().zip(inputs) {
            for update in updates {
                handle.send(update);
            }
        }
        handles.clear();
        while !probe.done() {
            worker.step();
        }
    });
    let mut updates = std::mem::take(&mut *seen.lock().unwrap());
    updates.sort();
    let mut consolidated: Vec<Update> = Vec::new();
    for (row, time, diff) in updates {
        match consolidated.last_mut() {
            Some((r, t, d)) if *r == row && *t == time => *d += diff,
            _ => consolidated.push((row, time, diff)),
        }
    }
    consolidated.retain(|(_, _, d)| *d != 0);
    consolidated
}

fn row(values: &[Value]) -> Vec<Value> {
    values.to_vec()
}

/// A count over a sliding 10 ms window and a sum over all time, per field 0, of field 2.
fn count_and_total(changes: Changes) -> AggregateSpec {
    AggregateSpec {
        state_rows: Default::default(),
        changes,
        keys: vec![0],
        aggregates: vec![
            AggregatePlan {
                function: AggregateFn::Count,
                on: None,
                window: Window::Sliding(10),
                into: "n".into(),
                ty: FieldType::required(ScalarType::Int),
            },
            AggregatePlan {
                function: AggregateFn::Sum,
                on: Some(2),
                window: Window::Forever,
                into: "total".into(),
                ty: FieldType::required(ScalarType::Int),
            },
        ],
        input_types: vec![None, Some(ScalarType::Int)],
    }
}

/// Rows of key `a` at 0, 10, 10 and 20 with values 1 to 4.
fn edge_events() -> Vec<Update> {
    let event = |t: i64, v: i64| (row(&[Value::str("a"), Value::Int(t), Value::Int(v)]), t, 1);
    vec![event(0, 1), event(10, 2), event(10, 3), event(20, 4)]
}

#[test]
fn window_edges_are_exclusive_at_t_minus_w_and_ties_all_count() {
    let a = Value::str("a");
    let spec = count_and_total(Changes::Retracting);
    let out = run(vec![edge_events()], move |mut c| c.remove(0).window_aggregate(spec, "test"));
    let state =
        |t: i64, n: i64, total: i64| row(&[a.clone(), Value::Int(t), Value::Int(n), Value::Int(total)]);
    assert_eq!(
        out,
        vec![
            (state(0, 1, 1), 0, 1),
            (state(0, 1, 1), 10, -1),
            // At 10 the row at 0 has left (10 - 10 < ts is false) and both rows at 10 count.
            (state(10, 2, 6), 10, 1),
            (state(10, 2, 6), 20, -1),
            (state(20, 1, 10), 20, 1),
            (state(20, 1, 10), 30, -1),
            // The last row leaves at 20 + 10: an empty window, a forever sum that stays.
            (state(30, 0, 10), 30, 1),
        ]
    );
}

#[test]
fn an_appending_aggregate_emits_the_new_rows_of_the_retracting_one_alone() {
    let retracting = count_and_total(Changes::Retracting);
    let appending = count_and_total(Changes::Appending);
    let full = run(vec![edge_events()], move |mut c| c.remove(0).window_aggregate(retracting, "test"));
    let history = run(vec![edge_events()], move |mut c| c.remove(0).window_aggregate(appending, "test"));
    let insertions: Vec<Update> = full.into_iter().filter(|(_, _, diff)| *diff > 0).collect();
    assert_eq!(insertions.len(), 4);
    assert_eq!(history, insertions);
}

#[test]
fn an_aggregate_with_a_writer_hands_it_every_new_row_and_sends_nothing_on() {
    // 50 keys, 4,000 events: several of the writer's batches, each made in the rows of the last.
    let events: Vec<Update> = (0..4000i64)
        .map(|i| {
            (row(&[Value::str(&format!("k{}", i * 7 % 50)), Value::Int(i / 3), Value::Int(i % 11)]), i / 3, 1)
        })
        .collect();
    let appending = count_and_total(Changes::Appending);
    let history = run(vec![events.clone()], move |mut c| c.remove(0).window_aggregate(appending, "test"));
    assert!(history.len() > 3000, "{}", history.len());
    let written: Arc<Mutex<Vec<Row>>> = Arc::default();
    let into = written.clone();
    let sent = run(vec![events], move |mut c| {
        let write = move |rows: &[Row]| into.lock().unwrap().extend_from_slice(rows);
        let writer = HistoryWriter::new(write);
        c.remove(0).window_aggregate_written(count_and_total(Changes::Retracting), writer, "test")
    });
    assert_eq!(sent, vec![]);
    let mut written = std::mem::take(&mut *written.lock().unwrap());
    written.sort();
    // Each new row is stamped with its time, which the row holds: nothing else is lost.
    assert!(history.iter().all(|(row, time, diff)| row[1] == Value::Int(*time) && *diff == 1));
    let expected: Vec<Row> = history.into_iter().map(|(row, _, _)| row).collect();
    assert_eq!(written, expected);
}

#[test]
fn as_of_join_sees_right_rows_at_equal_times_and_never_revises() {
    let user = |id: &str, t: i64, name: &str| (row(&[Value::str(id), Value::Int(t), Value::str(name)]), t, 1);
    let order = |id: &str, t: i64| (row(&[Value::str(id), Value::Int(t)]), t, 1);
    let users = vec![user("u1", 5, "A"), user("u1", 10, "B"), user("u2", 10, "C")];
    let orders = vec![
        order("u1", 4),
        order("u1", 5),
        order("u1", 9),
        order("u1", 10),
        order("u2", 3),
        order("u3", 10),
    ];
    let join = |how| JoinSpec {
        left_keys: vec![0],
        right_keys: vec![0],
        key_copies: vec![],
        right_values: vec![2],
        missing: vec![Value::Null],
        right_time: 1,
        how,
        back: None,
        forward: 0,
    };
    let joined = |id: &str, t: i64, name: Value| (row(&[Value::str(id), Value::Int(t), name]), t, 1);

    let spec = join(JoinHow::Inner);
    let inner = run(vec![orders.clone(), users.clone()], move |mut c| {
        let right = c.remove(1);
        c.remove(0).join_as_of(right, spec, "test")
    });
    assert_eq!(
        inner,
        vec![
            joined("u1", 5, Value::str("A")),
            joined("u1", 9, Value::str("A")),
            joined("u1", 10, Value::str("B")),
        ]
    );

    let spec = join(JoinHow::Left);
    let left = run(vec![orders, users], move |mut c| {
        let right = c.remove(1);
        c.remove(0).join_as_of(right, spec, "test")
    });
    assert_eq!(
        left,
        vec![
            joined("u1", 4, Value::Null),
            joined("u1", 5, Value::str("A")),
            joined("u1", 9, Value::str("A")),
            joined("u1", 10, Value::str("B")),
            joined("u2", 3, Value::Null),
            joined("u3", 10, Value::Null),
        ]
    );
}

#[test]
fn as_of_join_within_drops_stale_right_rows_and_looks_ahead() {
    let user = |id: &str, t: i64, name: &str| (row(&[Value::str(id), Value::Int(t), Value::str(name)]), t, 1);
    let order = |id: &str, t: i64| (row(&[Value::str(id), Value::Int(t)]), t, 1);
    let users = vec![user("u1", 5, "A"), user("u1", 10, "B"), user("u2", 10, "C")];
    let orders = vec![order("u1", 4), order("u1", 5), order("u1", 9), order("u1", 10), order("u2", 3)];
    let joined = |id: &str, t: i64, name: Value| (row(&[Value::str(id), Value::Int(t), name]), t, 1);
    let within = |back: Option<i64>, forward: i64| JoinSpec {
        left_keys: vec![0],
        right_keys: vec![0],
        key_copies: vec![],
        right_values: vec![2],
        missing: vec![Value::Null],
        right_time: 1,
        how: JoinHow::Left,
        back,
        forward,
    };
    let run_join = |spec: JoinSpec| {
        run(vec![orders.clone(), users.clone()], move |mut c| {
            let right = c.remove(1);
            c.remove(0).join_as_of(right, spec, "test")
        })
    };
    // At most 3 ms old: the order at 9 finds A (from 5) too stale.
    assert_eq!(
        run_join(within(Some(3), 0)),
        vec![
            joined("u1", 4, Value::Null),
            joined("u1", 5, Value::str("A")),
            joined("u1", 9, Value::Null),
            joined("u1", 10, Value::str("B")),
            joined("u2", 3, Value::Null),
        ]
    );
    // Looking 2 ms ahead: the order at 4 sees A (at 5), the one at 9 sees B (at 10); the
    // output keeps each left row's own time.
    assert_eq!(
        run_join(within(Some(3), 2)),
        vec![
            joined("u1", 4, Value::str("A")),
            joined("u1", 5, Value::str("A")),
            joined("u1", 9, Value::str("B")),
            joined("u1", 10, Value::str("B")),
            joined("u2", 3, Value::Null),
        ]
    );
}

#[test]
fn insertions_repeat_a_row_per_positive_diff_and_drop_retractions() {
    let r = row(&[Value::Int(1)]);
    assert_eq!(super::insertions(r.clone(), 3).collect::<Vec<_>>(), vec![r.clone(), r.clone(), r.clone()]);
    assert_eq!(super::insertions(r.clone(), 1).count(), 1);
    assert_eq!(super::insertions(r, -1).count(), 0);
}
