//! The publisher: the one writer of a running pipeline's outputs.
//!
//! Each worker's sink sends the rows it finishes (exchanged by dataset key, so one worker owns
//! each key) and its input frontier. When every worker's frontier of a dataset has passed `F`,
//! every row with a time below `F` has arrived; the publisher appends them to the dataset's
//! cold-store history, then applies them to the hot store together with the watermark `F`.
//! Cold before hot: a point-in-time read below a watermark the hot store shows always finds
//! its rows in the cold store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    pending: BTreeMap<Time, Vec<Row>>,
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
            pending: BTreeMap::new(),
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

/// Runs until `stop` is set and the channel is drained, or until every sender is gone.
pub(crate) fn run(
    events: Receiver<PublishEvent>,
    mut targets: Vec<Target>,
    stores: Stores,
    stop: Arc<AtomicBool>,
    failure: Failure,
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
                PublishEvent::Rows { target, rows } => {
                    let pending = &mut targets[target].pending;
                    for (row, time) in rows {
                        pending.entry(time).or_default().push(row);
                    }
                }
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
        for target in &mut targets {
            if failure.is_set() {
                break;
            }
            if let Err(message) = publish(target, &stores) {
                failure.fail(message);
            }
        }
    }
}

/// Publishes `target`'s rows below its frontier, if the frontier moved.
fn publish(target: &mut Target, stores: &Stores) -> Result<(), String> {
    let frontier = target.frontier();
    if frontier <= target.published {
        return Ok(());
    }
    let later = if frontier < Time::MAX { target.pending.split_off(&frontier) } else { BTreeMap::new() };
    let ready: Vec<Row> = std::mem::replace(&mut target.pending, later).into_values().flatten().collect();
    stores
        .runtime
        .block_on(stores.cold.append_live(&target.name, &target.schema, &ready))
        .map_err(|e| format!("dataset `{}`: {e}", target.name))?;
    let keys = target.schema.key_indexes();
    let time = target.schema.timestamp_index();
    stores
        .hot
        .publish(&target.name, &keys, time, &ready, frontier)
        .map_err(|e| format!("dataset `{}`: {e}", target.name))?;
    target.published = frontier;
    target.rows_published.inc_by(ready.len() as u64);
    target.watermark.set(frontier);
    Ok(())
}
