//! A streaming source of a running pipeline: where decoded records are checked against the
//! watermark and handed to the workers.

use std::sync::mpsc::Sender;
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use super::publish::PublishEvent;
use super::watermark::Watermark;
use crate::dataflow::{Time, Update};
use crate::metrics::{DeadLetterLabels, Metrics};
use crate::plan::SourceRef;
use crate::schema::Schema;
use crate::store::DeadLetter;
use crate::training::row_json;
use crate::value::Row;

/// What a worker is told about one of its inputs.
pub(crate) enum Feed {
    /// Rows to apply, each at its event time.
    Rows { input: usize, updates: Vec<Update> },
    /// No more rows before `to` will come on this input.
    Advance { input: usize, to: Time },
    /// No more rows at all will come on this input.
    Close { input: usize },
}

/// The channels to every worker of a pipeline, and the threads to wake after sending.
pub(crate) struct Feeds {
    senders: Vec<Sender<Feed>>,
    threads: Vec<OnceLock<Thread>>,
}

impl Feeds {
    pub(crate) fn new(senders: Vec<Sender<Feed>>) -> Feeds {
        let threads = senders.iter().map(|_| OnceLock::new()).collect();
        Feeds { senders, threads }
    }

    /// Called by worker `index` on its own thread before it first reads its channel.
    pub(crate) fn register(&self, index: usize) {
        let _ = self.threads[index].set(std::thread::current());
    }

    pub(crate) fn workers(&self) -> usize {
        self.senders.len()
    }

    /// Sends `feed` to worker `index` and wakes it. A closed channel means the pipeline is
    /// stopping; the feed is dropped with it.
    pub(crate) fn send(&self, index: usize, feed: Feed) {
        let _ = self.senders[index].send(feed);
        if let Some(thread) = self.threads[index].get() {
            thread.unpark();
        }
    }

    /// Sends a feed made by `make` to every worker.
    pub(crate) fn broadcast(&self, make: impl Fn() -> Feed) {
        for index in 0..self.senders.len() {
            self.send(index, make());
        }
    }

    /// Wakes every worker.
    pub(crate) fn wake(&self) {
        for thread in self.threads.iter().filter_map(OnceLock::get) {
            thread.unpark();
        }
    }
}

/// Where a record came from.
#[derive(Clone, Copy, Debug)]
pub enum Origin {
    /// A Kafka message.
    Kafka {
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
    },
    /// A row of an HTTP ingest request.
    Http {
        /// The request's sequence number on this server.
        request: u64,
        /// The row's index in the request.
        index: usize,
    },
}

/// One record a source received: a decoded row, or why it could not be decoded.
pub struct Record {
    /// The source partition (0 for unpartitioned sources).
    pub partition: usize,
    /// Where it came from.
    pub origin: Origin,
    /// The row, or the reason and the raw payload.
    pub row: Result<Row, (String, String)>,
}

/// What happened to a batch of records.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Offer {
    /// Rows handed to the dataflow.
    pub accepted: usize,
    /// Rows behind the watermark, dead-lettered.
    pub late: usize,
    /// Records that did not decode or fit the schema, dead-lettered.
    pub malformed: usize,
    /// The first few reasons, for the sender.
    pub errors: Vec<String>,
    /// The source's watermark after the batch.
    pub watermark: Option<Time>,
}

struct SourceState {
    watermark: Watermark,
    next_worker: usize,
    /// Kafka: the next offset to read per partition (every earlier record is applied, late or
    /// dead-lettered).
    offsets: std::collections::BTreeMap<i32, i64>,
}

struct SourceCounters {
    rows_in: Counter,
    applied: Counter,
    late: Counter,
    dead_late: Counter,
    dead_malformed: Counter,
    watermark: Gauge,
}

/// A streaming source of a running pipeline.
pub struct OnlineSource {
    /// The pipeline.
    pub pipeline: String,
    /// The source dataset.
    pub dataset: String,
    /// The source as the pipeline declares it.
    pub source: SourceRef,
    /// The dataset's schema.
    pub schema: Schema,
    /// The connector kind (`kafka`, `http`).
    pub kind: &'static str,
    input: usize,
    time_field: usize,
    by_partition: bool,
    state: Mutex<SourceState>,
    feeds: std::sync::Arc<Feeds>,
    dead_letters: Sender<PublishEvent>,
    counters: SourceCounters,
}

/// How a source spreads its rows over the workers.
pub(crate) enum Spread {
    /// Partition `p` goes to worker `p % workers` (Kafka).
    ByPartition,
    /// Batches go round-robin (HTTP).
    RoundRobin,
}

pub(crate) struct SourceWiring {
    pub pipeline: String,
    pub dataset: String,
    pub source: SourceRef,
    pub schema: Schema,
    pub kind: &'static str,
    pub input: usize,
    pub watermark: Watermark,
    pub spread: Spread,
    pub feeds: std::sync::Arc<Feeds>,
    pub dead_letters: Sender<PublishEvent>,
}

const MAX_ERRORS: usize = 10;

impl OnlineSource {
    pub(crate) fn new(wiring: SourceWiring, metrics: &Metrics) -> OnlineSource {
        let labels = Metrics::source(&wiring.pipeline, &wiring.dataset);
        let dead = |reason: &str| {
            metrics
                .dead_letters
                .get_or_create(&DeadLetterLabels {
                    pipeline: wiring.pipeline.clone(),
                    dataset: wiring.dataset.clone(),
                    reason: reason.into(),
                })
                .clone()
        };
        let counters = SourceCounters {
            rows_in: metrics.rows_in.get_or_create(&labels).clone(),
            applied: metrics.rows_applied.get_or_create(&labels).clone(),
            late: metrics.late_rows.get_or_create(&labels).clone(),
            dead_late: dead("late"),
            dead_malformed: dead("malformed"),
            watermark: metrics.watermark.get_or_create(&labels).clone(),
        };
        OnlineSource {
            time_field: wiring.schema.timestamp_index(),
            by_partition: matches!(wiring.spread, Spread::ByPartition),
            pipeline: wiring.pipeline,
            dataset: wiring.dataset,
            source: wiring.source,
            schema: wiring.schema,
            kind: wiring.kind,
            input: wiring.input,
            state: Mutex::new(SourceState {
                watermark: wiring.watermark,
                next_worker: 0,
                offsets: Default::default(),
            }),
            feeds: wiring.feeds,
            dead_letters: wiring.dead_letters,
            counters,
        }
    }

    /// The number of partitions.
    pub fn partitions(&self) -> usize {
        self.state.lock().expect("source state").watermark.partitions()
    }

    /// Kafka: the next offset per partition, after every record offered so far.
    pub fn offsets(&self) -> Vec<(i32, i64)> {
        self.state.lock().expect("source state").offsets.iter().map(|(&p, &o)| (p, o)).collect()
    }

    /// The current watermark.
    pub fn watermark(&self) -> Time {
        self.state.lock().expect("source state").watermark.current()
    }

    /// Applies a batch of records in arrival order: rows at or past the watermark go to the
    /// workers, late rows and malformed records to the dead-letter table.
    ///
    /// Everything happens under the source's lock, rows before the watermark advance that
    /// follows them: a worker never learns of a watermark before the rows it must not pass.
    pub fn offer(&self, records: Vec<Record>) -> Offer {
        let now = Instant::now();
        let workers = self.feeds.workers();
        let mut offer = Offer::default();
        let mut letters = Vec::new();
        let mut state = self.state.lock().expect("source state");
        let before = state.watermark.current();
        let mut outgoing: Vec<Vec<Update>> = vec![Vec::new(); workers];
        let round_robin = state.next_worker;
        state.next_worker = (state.next_worker + 1) % workers;
        self.counters.rows_in.inc_by(records.len() as u64);
        for record in records {
            if let Origin::Kafka { partition, offset } = record.origin {
                state.offsets.insert(partition, offset + 1);
            }
            let partition = record.partition.min(state.watermark.partitions() - 1);
            state.watermark.touch(partition, now);
            match record.row {
                Ok(row) => {
                    let time = row[self.time_field].as_int().expect("decoded timestamps are ints");
                    match state.watermark.observe(partition, time) {
                        Ok(()) => {
                            let worker = if self.by_partition { partition % workers } else { round_robin };
                            outgoing[worker].push((row, time, 1));
                            offer.accepted += 1;
                        }
                        Err(late) => {
                            offer.late += 1;
                            let reason = format!(
                                "late: event time {time} is behind the watermark {} of `{}`",
                                late.watermark, self.dataset
                            );
                            if offer.errors.len() < MAX_ERRORS {
                                offer.errors.push(format!("{}: {reason}", self.locate(record.origin)));
                            }
                            let payload = row_json(&self.schema, &row).to_string();
                            letters.push(self.letter(record.origin, reason, payload));
                        }
                    }
                }
                Err((reason, payload)) => {
                    offer.malformed += 1;
                    if offer.errors.len() < MAX_ERRORS {
                        offer.errors.push(format!("{}: {reason}", self.locate(record.origin)));
                    }
                    letters.push(self.letter(record.origin, reason, payload));
                }
            }
        }
        for (worker, updates) in outgoing.into_iter().enumerate() {
            if !updates.is_empty() {
                self.feeds.send(worker, Feed::Rows { input: self.input, updates });
            }
        }
        let after = state.watermark.current();
        self.announce(before, after);
        offer.watermark = (after > Time::MIN).then_some(after);
        drop(state);
        self.counters.applied.inc_by(offer.accepted as u64);
        self.counters.late.inc_by(offer.late as u64);
        self.counters.dead_late.inc_by(offer.late as u64);
        self.counters.dead_malformed.inc_by(offer.malformed as u64);
        if !letters.is_empty() {
            let _ = self.dead_letters.send(PublishEvent::DeadLetters(letters));
        }
        offer
    }

    /// Re-evaluates idleness at `now`, advancing the workers if the watermark moved.
    pub fn tick(&self, now: Instant) {
        let mut state = self.state.lock().expect("source state");
        let before = state.watermark.current();
        let after = state.watermark.tick(now);
        self.announce(before, after);
    }

    fn announce(&self, before: Time, after: Time) {
        if after > before {
            let input = self.input;
            self.feeds.broadcast(|| Feed::Advance { input, to: after });
            self.counters.watermark.set(after);
        }
    }

    /// `kafka:orders/2@1234`, `http:orders#17[3]`.
    pub fn locate(&self, origin: Origin) -> String {
        match origin {
            Origin::Kafka { partition, offset } => format!("kafka:{}/{partition}@{offset}", self.source.name),
            Origin::Http { request, index } => format!("http:{}#{request}[{index}]", self.source.name),
        }
    }

    fn letter(&self, origin: Origin, reason: String, mut payload: String) -> DeadLetter {
        if payload.len() > 65_536 {
            payload.truncate(payload.floor_char_boundary(65_536));
        }
        DeadLetter {
            pipeline: self.pipeline.clone(),
            dataset: self.dataset.clone(),
            location: self.locate(origin),
            reason,
            payload,
            received_at: wall_clock_millis(),
        }
    }
}

/// Milliseconds since the epoch, now.
pub fn wall_clock_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;
    use crate::connector::WatermarkPolicy;
    use crate::schema::Field;
    use crate::value::{FieldType, ScalarType, Value};

    fn record(partition: usize, time: i64) -> Record {
        Record {
            partition,
            origin: Origin::Kafka { partition: partition as i32, offset: time },
            row: Ok(vec![Value::str("k"), Value::Int(time)]),
        }
    }

    #[test]
    fn rows_reach_their_worker_before_the_watermark_and_late_rows_are_dead_lettered() {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..2).map(|_| mpsc::channel()).unzip();
        let (dead_letters, letters) = mpsc::channel();
        let schema = Schema {
            fields: vec![
                Field {
                    name: "k".into(),
                    ty: FieldType::required(ScalarType::Str),
                    key: true,
                    timestamp: false,
                },
                Field {
                    name: "t".into(),
                    ty: FieldType::required(ScalarType::Timestamp),
                    key: false,
                    timestamp: true,
                },
            ],
        };
        let policy = WatermarkPolicy { disorder: 10, idleness: None };
        let source = OnlineSource::new(
            SourceWiring {
                pipeline: "p".into(),
                dataset: "D".into(),
                source: SourceRef { connector: "kafka".into(), name: "topic".into(), tag: None },
                schema,
                kind: "kafka",
                input: 3,
                watermark: Watermark::new(policy, 2, Instant::now()),
                spread: Spread::ByPartition,
                feeds: Arc::new(Feeds::new(senders)),
                dead_letters,
            },
            &Metrics::new(),
        );
        // After (1, 120) the watermark is min(100, 120) - 10 = 90, so (0, 80) is late.
        let offer = source.offer(vec![record(0, 100), record(1, 50), record(1, 120), record(0, 80)]);
        assert_eq!((offer.accepted, offer.late, offer.watermark), (3, 1, Some(90)));
        let expected = [vec![100], vec![50, 120]];
        for (receiver, times) in receivers.iter().zip(expected) {
            let feeds: Vec<Feed> = receiver.try_iter().collect();
            let [Feed::Rows { input: 3, updates }, Feed::Advance { input: 3, to: 90 }] = &feeds[..] else {
                panic!("expected rows, then the watermark");
            };
            assert_eq!(updates.iter().map(|(_, t, _)| *t).collect::<Vec<_>>(), times);
        }
        let Ok(PublishEvent::DeadLetters(dead)) = letters.try_recv() else { panic!("no dead letters") };
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].location, "kafka:topic/0@80");
        assert!(
            dead[0].reason.starts_with("late: event time 80 is behind the watermark 90"),
            "{}",
            dead[0].reason
        );
        assert_eq!(source.offsets(), vec![(0, 81), (1, 121)]);
    }
}
