//! Online materialization: a pipeline running on live input, publishing its datasets to the
//! hot store (latest row per key) and the cold store (full history) as the watermark advances.
//!
//! The dataflow is the offline one ([`crate::dataflow::render_datasets`]); only its edges
//! differ. Sources feed each worker through a channel: table sources (csv, sqlite) once, then
//! closed; streaming sources (kafka, http) as records arrive, each row at its event time, the
//! input advanced to the source's [`watermark`] after the rows it must not pass. Every operator
//! processes whole times once its frontier passes them, so the rows a dataset publishes below a
//! watermark are exactly the rows offline materialization computes for those times from the
//! same applied input: online == offline, by construction, and checked by the integration tests.

pub mod decode;
mod kafka;
mod publish;
mod source;
pub mod watermark;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::Config;
use crate::connector::{ConnectorConfig, ConnectorError, open_table_source};
use crate::dataflow::{Failure, StateRows, Time, Update};
use crate::metrics::Metrics;
use crate::pipeline::{LoadedPipeline, PipelineError};
use crate::plan::DatasetBody;
use crate::store::{DatasetMeta, HotStoreError, StoreError};

pub use publish::Stores;
use source::{Feed, Feeds, SourceWiring, Spread};
pub use source::{Offer, OnlineSource, Origin, Record, wall_clock_millis};
use watermark::Watermark;

/// An online pipeline that could not start.
#[derive(Debug, Error)]
pub enum OnlineError {
    /// The pipeline does not fit the request.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A source could not be opened or read.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The cold store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hot store failed.
    #[error(transparent)]
    Hot(#[from] HotStoreError),
    /// A source's connector is missing or misconfigured.
    #[error("pipeline `{pipeline}`: dataset `{dataset}`: {message}")]
    Source {
        /// The pipeline.
        pipeline: String,
        /// The source dataset.
        dataset: String,
        /// What is wrong.
        message: String,
    },
    /// The workers could not start.
    #[error("pipeline `{pipeline}`: {message}")]
    Start {
        /// The pipeline.
        pipeline: String,
        /// What went wrong.
        message: String,
    },
}

/// A pipeline running online.
pub struct OnlinePipeline {
    /// The pipeline.
    pub pipeline: LoadedPipeline,
    /// The datasets it publishes.
    pub targets: Vec<String>,
    /// Its streaming sources.
    pub sources: Vec<Arc<OnlineSource>>,
    /// Its table sources and the rows read from each.
    pub tables: Vec<(String, usize)>,
    feeds: Arc<Feeds>,
    state_rows: Arc<StateRows>,
    stop: Arc<AtomicBool>,
    failure: Failure,
    workers: Mutex<Option<timely::communication::initialize::WorkerGuards<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl OnlinePipeline {
    /// Starts `pipeline` on `workers` workers with its online sources, publishing every derived
    /// dataset into `stores` (their earlier contents replaced).
    pub fn start(
        config: &Config,
        pipeline: LoadedPipeline,
        workers: usize,
        stores: Stores,
        metrics: Arc<Metrics>,
    ) -> Result<OnlinePipeline, OnlineError> {
        let name = pipeline.plan.name.clone();
        let targets = pipeline.targets(&[])?;
        let inputs = pipeline.source_datasets(&targets);
        let workers = workers.max(1);

        // Check every source's connector before anything starts.
        let mut bindings = Vec::new();
        for (input, dataset) in inputs.iter().enumerate() {
            let source = pipeline.choose_source(dataset, &[], "online")?;
            let connector = config.connectors.get(&source.connector).ok_or_else(|| OnlineError::Source {
                pipeline: name.clone(),
                dataset: dataset.clone(),
                message: format!(
                    "source {source} names connector `{}`, which the config does not define (defined: {}); add [connectors.{}] to volga.toml",
                    source.connector,
                    defined(config),
                    source.connector
                ),
            })?;
            bindings.push((input, dataset.clone(), source, connector.clone()));
        }

        for target in &targets {
            let dataset = pipeline.plan.dataset(target).expect("validated");
            let lineage = match &dataset.body {
                DatasetBody::Derived(graph) => graph.to_string(),
                DatasetBody::Source(_) => String::new(),
            };
            stores.hot.reset(target)?;
            stores.runtime.block_on(stores.cold.begin_live(&DatasetMeta {
                name: target.clone(),
                pipeline: name.clone(),
                schema: dataset.schema.clone(),
                lineage,
                rows: 0,
                materialized_at: source::wall_clock_millis(),
                parts: Vec::new(),
            }))?;
        }

        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| mpsc::channel::<Feed>()).unzip();
        let feeds = Arc::new(Feeds::new(senders));
        let (publisher, published) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Failure::default();
        let state_rows = Arc::new(StateRows::default());

        // Streaming sources first: a Kafka topic must exist before the workers start.
        let mut sources = Vec::new();
        let mut consumers = Vec::new();
        let mut table_bindings = Vec::new();
        for (input, dataset, source, connector) in bindings {
            let schema = pipeline.plan.dataset(&dataset).expect("validated").schema.clone();
            let bad = |message: String| OnlineError::Source {
                pipeline: name.clone(),
                dataset: dataset.clone(),
                message,
            };
            let (kind, policy, partitions, spread) = match &connector {
                ConnectorConfig::Kafka(kafka) => {
                    let policy = kafka
                        .watermark()
                        .map_err(|e| bad(format!("connector `{}`: {e}", source.connector)))?;
                    let (consumer, partitions) = kafka.open_topic(&source.name, &format!("volga-{name}"))?;
                    consumers.push((sources.len(), consumer));
                    ("kafka", policy, partitions, Spread::ByPartition)
                }
                ConnectorConfig::Http(http) => {
                    let policy = http
                        .watermark()
                        .map_err(|e| bad(format!("connector `{}`: {e}", source.connector)))?;
                    ("http", policy, 1, Spread::RoundRobin)
                }
                ConnectorConfig::Csv(_) | ConnectorConfig::Sqlite(_) => {
                    table_bindings.push((input, dataset, source, connector));
                    continue;
                }
            };
            let wiring = SourceWiring {
                pipeline: name.clone(),
                dataset,
                source,
                schema,
                kind,
                input,
                watermark: Watermark::new(policy, partitions, Instant::now()),
                spread,
                feeds: feeds.clone(),
                dead_letters: publisher.clone(),
            };
            sources.push(Arc::new(OnlineSource::new(wiring, &metrics)));
        }

        let publish_targets = targets
            .iter()
            .map(|t| {
                let schema = pipeline.plan.dataset(t).expect("validated").schema.clone();
                publish::Target::new(t.clone(), schema, workers, &metrics)
            })
            .collect();
        let mut threads = Vec::new();
        {
            let (stop, failure) = (stop.clone(), failure.clone());
            threads.push(spawn(&name, "publisher", move || {
                publish::run(published, publish_targets, stores, stop, failure)
            })?);
        }

        let shared = Arc::new(worker::WorkerShared {
            pipeline: pipeline.clone(),
            inputs: inputs.clone(),
            targets: targets.clone(),
            feeds: feeds.clone(),
            receivers: Mutex::new(receivers.into_iter().map(Some).collect()),
            publisher: Mutex::new(publisher),
            stop: stop.clone(),
            failure: failure.clone(),
            metrics: metrics.clone(),
            state_rows: state_rows.clone(),
        });
        let guards = timely::execute(timely::Config::process(workers), move |w| worker::run(w, &shared))
            .map_err(|e| OnlineError::Start {
                pipeline: name.clone(),
                message: format!("cannot start {workers} workers: {e}"),
            })?;

        let mut running = OnlinePipeline {
            pipeline,
            targets,
            sources,
            tables: Vec::new(),
            feeds,
            state_rows,
            stop,
            failure,
            workers: Mutex::new(Some(guards)),
            threads: Mutex::new(threads),
        };
        for (input, dataset, source, connector) in table_bindings {
            // On an error, dropping `running` stops what started.
            let rows = running.load_table(config, input, &dataset, &source.name, &connector)?;
            running.tables.push((dataset, rows));
        }
        running.start_threads(consumers)?;
        Ok(running)
    }

    /// Reads a table source whole, feeds it to the workers and closes its input.
    fn load_table(
        &self,
        config: &Config,
        input: usize,
        dataset: &str,
        table: &str,
        connector: &ConnectorConfig,
    ) -> Result<usize, OnlineError> {
        let schema = &self.pipeline.plan.dataset(dataset).expect("validated").schema;
        let reader = open_table_source(connector, config)?;
        let rows = reader.read_table(table, dataset, schema, None)?;
        let count = rows.len();
        let time = schema.timestamp_index();
        let workers = self.feeds.workers();
        let mut dealt: Vec<Vec<Update>> = vec![Vec::new(); workers];
        for (i, row) in rows.into_iter().enumerate() {
            let t = row[time].as_int().unwrap_or(Time::MIN);
            dealt[i % workers].push((row, t, 1));
            if dealt[i % workers].len() >= 4096 {
                self.feeds.send(
                    i % workers,
                    Feed::Rows { input, updates: std::mem::take(&mut dealt[i % workers]) },
                );
            }
        }
        for (worker, updates) in dealt.into_iter().enumerate() {
            if !updates.is_empty() {
                self.feeds.send(worker, Feed::Rows { input, updates });
            }
            self.feeds.send(worker, Feed::Close { input });
        }
        Ok(count)
    }

    fn start_threads(
        &mut self,
        consumers: Vec<(usize, rdkafka::consumer::BaseConsumer)>,
    ) -> Result<(), OnlineError> {
        let name = self.pipeline.plan.name.clone();
        let mut threads = self.threads.lock().expect("threads");
        for (index, consumer) in consumers {
            let (source, stop) = (self.sources[index].clone(), self.stop.clone());
            let label = source.source.name.clone();
            let (poll, decode) = kafka::stages(consumer, source, stop);
            threads.push(spawn(&name, &format!("kafka {label}"), poll)?);
            threads.push(spawn(&name, &format!("decode {label}"), decode)?);
        }
        if !self.sources.is_empty() {
            let (sources, stop) = (self.sources.clone(), self.stop.clone());
            threads.push(spawn(&name, "watermark ticker", move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(50));
                    let now = Instant::now();
                    for source in &sources {
                        source.tick(now);
                    }
                }
            })?);
        }
        Ok(())
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.pipeline.plan.name
    }

    /// The streaming source reading `name` (a topic or HTTP source name), if any.
    pub fn source(&self, name: &str) -> Option<&Arc<OnlineSource>> {
        self.sources.iter().find(|s| s.source.name == name)
    }

    /// Input rows its windows hold now.
    pub fn state_rows(&self) -> i64 {
        self.state_rows.current()
    }

    /// Bytes its windows' state takes now ([`StateRows::bytes`]).
    pub fn state_bytes(&self) -> i64 {
        self.state_rows.bytes()
    }

    /// The error that stopped the pipeline, if one did.
    pub fn failure(&self) -> Option<String> {
        self.failure.message()
    }

    /// Stops the workers and threads and waits for them. Rows not yet published are dropped.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.feeds.wake();
        if let Some(guards) = self.workers.lock().expect("workers").take() {
            drop(guards.join());
        }
        for thread in self.threads.lock().expect("threads").drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for OnlinePipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

fn defined(config: &Config) -> String {
    if config.connectors.is_empty() {
        "none".into()
    } else {
        config.connectors.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn spawn(
    pipeline: &str,
    what: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, OnlineError> {
    std::thread::Builder::new().name(format!("volga {what}")).spawn(f).map_err(|e| OnlineError::Start {
        pipeline: pipeline.to_string(),
        message: format!("cannot start the {what} thread: {e}"),
    })
}
