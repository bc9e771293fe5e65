//! The publisher: the one writer of a running pipeline's outputs.
//!
//! Each worker's sink sends the rows it finishes (exchanged by dataset key, so one worker owns
//! each key) and its input frontier. When every worker's frontier of a dataset has passed `F`,
//! every row with a time below `F` has arrived; the publisher appends them to the dataset's
//! cold-store history, then applies them to the hot store together with the watermark `F`.
//! Cold before hot: a point-in-time read below a watermark the hot store shows always finds
//! its rows in the cold store. The two writes run on two threads, as a pipeline: the hot
//! store's thread applies a batch the cold store already holds while the publisher appends the
//! next one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::dataflow::{Failure, Time};
use crate::metrics::{DatasetLabels, Metrics};
use crate::schema::Schema;
use crate::store::{ColdStore, DeadLetter, HotStore};
use crate::value::Row;

/// What the workers and sources tell the publisher.
pub(crate) enum PublishEvent {
    /// Finished rows of target `target`, each with its time.
    Rows { target: usize, rows: Vec<(Row, Time)> },
    /// Worker `worker`'s sink of `target` will see no more rows before `frontier` (`None`:
    /// no more rows at all).
    Frontier { target: usize, worker: usize, frontier: Option<Time> },
    /// Records to write to the dead-letter table.
    DeadLetters(Vec<DeadLetter>),
}

/// A dataset the publisher writes.
pub(crate) struct Target {
    pub name: String,
    pub schema: Schema,
    /// Rows received and not yet published, in arrival order, each with its time.
    pending: Vec<(Row, Time)>,
    frontiers: Vec<Time>,
    published: Time,
    rows_published: Counter,
    watermark: Gauge,
}

impl Target {
    pub(crate) fn new(name: String, schema: Schema, workers: usize, metrics: &Metrics) -> Target {
        let labels = DatasetLabels { dataset: name.clone() };
        Target {
            rows_published: metrics.rows_published.get_or_create(&labels).clone(),
            watermark: metrics.dataset_watermark.get_or_create(&labels).clone(),
            name,
            schema,
            pending: Vec::new(),
            frontiers: vec![Time::MIN; workers],
            published: Time::MIN,
        }
    }

    fn frontier(&self) -> Time {
        self.frontiers.iter().copied().min().unwrap_or(Time::MAX)
    }
}

/// The stores the publisher writes, and the runtime its SQL runs on.
#[derive(Clone)]
pub struct Stores {
    /// The hot store.
    pub hot: Arc<HotStore>,
    /// The cold store.
    pub cold: ColdStore,
    /// A tokio runtime for the cold store's futures.
    pub runtime: tokio::runtime::Handle,
}

/// Rows the cold store has taken, for the hot store to show with their watermark.
struct Visible {
    target: usize,
    rows: Vec<Row>,
    watermark: Time,
}

/// Batches the cold stage may be ahead of the hot one.
const HOT_QUEUE: usize = 4;

/// Runs until `stop` is set and the channel is drained, or until every sender is gone.
///
/// Two stages on two threads: this one appends each dataset's finished rows to the cold
/// store, then hands them to the hot store's thread, which applies them with their watermark
/// in the same order. A batch is shown by the hot store only after the cold store holds it,
/// and the cold store appends the next batch while the hot store applies this one.
pub(crate) fn run(
    events: Receiver<PublishEvent>,
    mut targets: Vec<Target>,
    stores: Stores,
    stop: Arc<AtomicBool>,
    failure: Failure,
) {
    let hot_targets: Vec<HotTarget> = targets.iter().map(HotTarget::of).collect();
    let (visible, to_show) = std::sync::mpsc::sync_channel::<Visible>(HOT_QUEUE);
    std::thread::scope(|scope| {
        let hot = std::thread::Builder::new()
            .name("volga hot store".into())
            .spawn_scoped(scope, || show(to_show, &hot_targets, &stores.hot, &failure));
        if let Err(e) = hot {
            failure.fail(format!("starting the hot store's thread: {e}"));
            return;
        }
        append(events, &mut targets, &stores, &stop, &failure, &visible);
        // Dropping the sender lets the hot store's thread finish what it was given.
        drop(visible);
    });
}

/// What the hot store's thread needs of a dataset.
struct HotTarget {
    name: String,
    keys: Vec<usize>,
    time: usize,
    rows_published: Counter,
    watermark: Gauge,
}

impl HotTarget {
    fn of(target: &Target) -> HotTarget {
        HotTarget {
            name: target.name.clone(),
            keys: target.schema.key_indexes(),
            time: target.schema.timestamp_index(),
            rows_published: target.rows_published.clone(),
            watermark: target.watermark.clone(),
        }
    }
}

/// The hot store's stage: applies each batch, in order, until the cold stage is done or a
/// write fails. Batches that queued while it applied the last one are applied together, per
/// dataset: a key's row is its latest across them, and the last watermark covers them all, so a
/// stage that falls behind writes each key once rather than once per batch.
fn show(batches: Receiver<Visible>, targets: &[HotTarget], hot: &HotStore, failure: &Failure) {
    while let Ok(first) = batches.recv() {
        let mut merged = vec![first];
        while let Ok(next) = batches.try_recv() {
            match merged.iter_mut().find(|held| held.target == next.target) {
                Some(held) => {
                    held.rows.extend(next.rows);
                    held.watermark = next.watermark;
                }
                None => merged.push(next),
            }
        }
        for Visible { target, rows, watermark } in merged {
            let target = &targets[target];
            let count = rows.len() as u64;
            if let Err(e) = hot.publish(&target.name, &target.keys, target.time, rows, watermark) {
                failure.fail(format!("dataset `{}`: {e}", target.name));
                return;
            }
            target.rows_published.inc_by(count);
            target.watermark.set(watermark);
        }
    }
}

/// The cold store's stage.
fn append(
    events: Receiver<PublishEvent>,
    targets: &mut [Target],
    stores: &Stores,
    stop: &AtomicBool,
    failure: &Failure,
    visible: &SyncSender<Visible>,
) {
    loop {
        let first = match events.recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Acquire) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut letters = Vec::new();
        // Take what else is waiting, so one write covers many small updates.
        for event in std::iter::once(first).chain(std::iter::from_fn(|| events.try_recv().ok()).take(10_000))
        {
            match event {
                PublishEvent::Rows { target, rows } => targets[target].pending.extend(rows),
                PublishEvent::Frontier { target, worker, frontier } => {
                    targets[target].frontiers[worker] = frontier.unwrap_or(Time::MAX);
                }
                PublishEvent::DeadLetters(batch) => letters.extend(batch),
            }
        }
        if !letters.is_empty()
            && let Err(e) = stores.runtime.block_on(stores.cold.dead_letter(&letters))
        {
            failure.fail(format!("writing dead letters: {e}"));
        }
        for (index, target) in targets.iter_mut().enumerate() {
            if failure.is_set() {
                break;
            }
            if let Err(message) = publish(index, target, stores, visible) {
                failure.fail(message);
            }
        }
    }
}

/// Takes the rows of `pending` before `frontier` (all of them when it is `Time::MAX`), in time
/// order, rows of one time in the order they came; the rest stay, in the order they came.
///
/// Each worker sends its rows in time order, so the rows taken are a few sorted runs, which the
/// stable sort merges: a publish of 1M rows costs a pass or two over them, where a map keyed by
/// time cost a tree insert and a vector per row as they came.
fn ready_in_time_order(pending: &mut Vec<(Row, Time)>, frontier: Time) -> Vec<Row> {
    let mut ready = if pending.iter().all(|(_, time)| *time < frontier) {
        std::mem::take(pending)
    } else {
        let (ready, later) = std::mem::take(pending).into_iter().partition(|(_, time)| *time < frontier);
        *pending = later;
        ready
    };
    ready.sort_by_key(|(_, time)| *time);
    ready.into_iter().map(|(row, _)| row).collect()
}

/// Appends `target`'s rows below its frontier to the cold store, if the frontier moved, and
/// hands them to the hot store's stage.
fn publish(
    index: usize,
    target: &mut Target,
    stores: &Stores,
    visible: &SyncSender<Visible>,
) -> Result<(), String> {
    let frontier = target.frontier();
    if frontier <= target.published {
        return Ok(());
    }
    let ready = ready_in_time_order(&mut target.pending, frontier);
    stores
        .runtime
        .block_on(stores.cold.append_live(&target.name, &target.schema, &ready))
        .map_err(|e| format!("dataset `{}`: {e}", target.name))?;
    target.published = frontier;
    // Gone only if the hot store's stage stopped on a failure, which it has reported.
    let _ = visible.send(Visible { target: index, rows: ready, watermark: frontier });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    proptest::proptest! {
        #[test]
        fn a_publish_takes_the_rows_before_the_frontier_in_time_order_and_keeps_the_rest_as_they_came(
            batches in proptest::collection::vec(proptest::collection::vec(0i64..12, 0..20), 0..6),
            frontier in 0i64..14,
            everything: bool,
        ) {
            // Batches as workers send them: each in time order, the batches interleaved; a
            // row's place in arrival is its value.
            let mut pending: Vec<(Row, Time)> = Vec::new();
            for mut times in batches {
                times.sort();
                for time in times {
                    pending.push((vec![Value::Int(pending.len() as i64), Value::Int(time)], time));
                }
            }
            let frontier = if everything { Time::MAX } else { frontier };
            let arrived = pending.clone();
            let ready = ready_in_time_order(&mut pending, frontier);
            // What a map from time to the rows of that time, in arrival order, gives.
            let mut by_time: std::collections::BTreeMap<Time, Vec<Row>> = Default::default();
            for (row, time) in arrived.iter().filter(|(_, t)| *t < frontier) {
                by_time.entry(*time).or_default().push(row.clone());
            }
            proptest::prop_assert_eq!(ready, by_time.into_values().flatten().collect::<Vec<_>>());
            let later: Vec<_> = arrived.into_iter().filter(|(_, t)| *t >= frontier).collect();
            proptest::prop_assert_eq!(pending, later);
        }
    }

    #[test]
    fn batches_queued_for_the_hot_store_show_each_keys_latest_row_and_the_last_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let hot = HotStore::open(dir.path()).unwrap();
        let target = |name: &str| HotTarget {
            name: name.to_string(),
            keys: vec![0],
            time: 1,
            rows_published: Counter::default(),
            watermark: Gauge::default(),
        };
        let targets = [target("a"), target("b")];
        let row = |k: &str, t: i64, v: i64| vec![Value::str(k), Value::Int(t), Value::Int(v)];
        let (send, batches) = std::sync::mpsc::sync_channel(8);
        // Queued before the stage runs: the stage finds them all waiting.
        for (target, rows, watermark) in [
            (0, vec![row("x", 1, 10), row("y", 2, 20)], 3),
            (1, vec![row("x", 1, 5)], 2),
            (0, vec![row("x", 4, 11)], 5),
            (0, vec![row("z", 6, 30), row("x", 6, 12), row("x", 6, 13)], 7),
        ] {
            send.send(Visible { target, rows, watermark }).unwrap();
        }
        drop(send);
        let failure = Failure::default();
        show(batches, &targets, &hot, &failure);
        assert!(!failure.is_set());
        let keys = [vec![Value::str("x")], vec![Value::str("y")], vec![Value::str("z")]];
        let a = hot.lookup("a", &keys).unwrap();
        assert_eq!(a.watermark, Some(7));
        // A key's latest row across the batches; ties at one time go to the greatest row.
        assert_eq!(a.rows, vec![Some(row("x", 6, 13)), Some(row("y", 2, 20)), Some(row("z", 6, 30))]);
        assert_eq!(targets[0].rows_published.get(), 6);
        assert_eq!(targets[0].watermark.get(), 7);
        let b = hot.lookup("b", &keys).unwrap();
        assert_eq!((b.watermark, b.rows), (Some(2), vec![Some(row("x", 1, 5)), None, None]));
        assert_eq!(targets[1].rows_published.get(), 1);
    }
}
