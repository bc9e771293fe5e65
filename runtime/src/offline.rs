//! Offline materialization: run a pipeline over its sources' history and write the full change
//! history of the target datasets to the cold store.
//!
//! Source tables are read whole (a source that only a filter reads is filtered as it is read:
//! the rows it drops are freed at once and never held) and dealt to the workers, which each sort their share by event
//! time (side by side) and feed it to the dataflow with every row at its event time. Each
//! worker's input frontier advances in coarse steps (one per `epoch_rows` rows of the largest
//! source, over all workers) and runs a few steps ahead of the output, so frontier bookkeeping
//! stays off the per-row path. Because every operator works per complete time, the result does
//! not depend on these step sizes, on the number of workers, or on how rows are spread over
//! them.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use differential_dataflow::AsCollection;
use indicatif::{ProgressBar, ProgressStyle};
use thiserror::Error;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Probe;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::config::{Config, ConfigError};
use crate::connector::{ConnectorError, FilterFn, RowFilter, open_table_source};
use crate::dataflow::{
    Failure, HistoryWriter, NativeFilter, RenderContext, SourceFilter, StateRows, Time, Update,
    render_datasets, sole_source_filters,
};
use crate::pipeline::{LoadedPipeline, PipelineError};
use crate::plan::DatasetBody;
use crate::schema::Schema;
use crate::store::{ColdStore, DatasetMeta, PartFile, PartWriter, StoreError};
use crate::value::{Row, prefetch_row};
use crate::wasm::batch_from_rows;

/// How a job reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Silently.
    Off,
    /// A progress bar (for a terminal).
    Bar,
    /// Plain lines on stderr (for logs).
    Lines,
}

/// What to materialize, and how.
#[derive(Clone)]
pub struct OfflineOptions {
    /// Datasets to materialize; empty for every derived dataset.
    pub targets: Vec<String>,
    /// `(dataset, tag)`: which source to read for a dataset with several.
    pub source_tags: Vec<(String, String)>,
    /// Workers; `None` for the config's.
    pub workers: Option<usize>,
    /// Rows of the largest source per frontier step.
    pub epoch_rows: usize,
    /// Rows per batch handed to the dataflow (and so per guest call, at most).
    pub chunk_rows: usize,
    /// How to report progress.
    pub progress: Progress,
    /// Filters to run natively instead of in the guest, by lambda id (for benchmarks).
    pub native_filters: HashMap<u32, NativeFilter>,
    /// Where the job's windows report the rows they hold (read it after the job for the peak).
    pub state_rows: Arc<StateRows>,
    /// The most the job holds of the histories it writes, in bytes, to write them in key
    /// order (see `store::PartWriter`); `None` for the config's.
    pub history_buffer: Option<usize>,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        OfflineOptions {
            targets: Vec::new(),
            source_tags: Vec::new(),
            workers: None,
            epoch_rows: 50_000,
            chunk_rows: 4096,
            progress: Progress::Off,
            native_filters: HashMap::new(),
            state_rows: Arc::default(),
            history_buffer: None,
        }
    }
}

/// An offline job that failed.
#[derive(Debug, Error)]
pub enum OfflineError {
    /// The pipeline could not be loaded or used.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A source could not be read.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The cold store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A pipeline names a connector the config does not define.
    #[error(
        "dataset `{dataset}` reads from connector `{connector}`, which the config does not define (defined: {defined}); add [connectors.{connector}] to volga.toml"
    )]
    UnknownConnector {
        /// The dataset.
        dataset: String,
        /// The connector's name.
        connector: String,
        /// The connectors the config has.
        defined: String,
    },
    /// The dataflow failed (a guest trap or error, a bad guest batch).
    #[error("{0}")]
    Dataflow(String),
}

/// One source read for a job.
#[derive(Clone, Debug)]
pub struct SourceReport {
    /// The dataset.
    pub dataset: String,
    /// Where it was read from.
    pub location: String,
    /// Rows read (before the filter run as they were read, if any).
    pub rows: usize,
    /// Rows kept: those that passed that filter.
    pub kept: usize,
}

/// What an offline job did.
#[derive(Clone, Debug)]
pub struct OfflineReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// Sources read.
    pub sources: Vec<SourceReport>,
    /// Rows fed to the dataflow.
    pub events_in: u64,
    /// `(dataset, rows of history written)`.
    pub written: Vec<(String, u64)>,
    /// Workers used.
    pub workers: usize,
    /// Reading and sorting sources.
    pub read_time: Duration,
    /// Dataflow and cold-store writes.
    pub compute_time: Duration,
    /// Of that, the workers taking history rows into their parts' writers (as their
    /// aggregations make them, or in their sinks), summed over the workers.
    pub hold_time: Duration,
    /// Of that, writing the histories once the dataflow is done (each worker sorting and
    /// inserting the rows it holds, side by side) and committing them.
    pub write_time: Duration,
    /// The whole job.
    pub elapsed: Duration,
    /// The most input rows the windows held at once.
    pub peak_state_rows: i64,
    /// The most bytes the windows' state took at once ([`StateRows::bytes`]).
    pub peak_state_bytes: i64,
}

/// Runs the pipeline in `wasm` over its offline sources and writes the targets' history.
pub fn materialize_offline(
    config: &Config,
    wasm: &Path,
    options: &OfflineOptions,
) -> Result<OfflineReport, OfflineError> {
    let started = Instant::now();
    let (_host, pipeline) = LoadedPipeline::load(config, wasm)?;
    let targets = pipeline.targets(&options.targets)?;
    let sources = read_sources(config, &pipeline, &targets, options)?;
    let read_time = started.elapsed();
    let store_path = config.cold_store_path()?;
    let workers = options.workers.unwrap_or_else(|| config.workers());
    let source_reports = sources.iter().map(|s| s.report.clone()).collect();
    let computed = Instant::now();
    let options = OfflineOptions {
        history_buffer: Some(options.history_buffer.unwrap_or_else(|| config.history_buffer_bytes())),
        ..options.clone()
    };
    let (events_in, writes) =
        materialize_sources(&pipeline, sources, &targets, workers, &store_path, &options)?;
    Ok(OfflineReport {
        pipeline: pipeline.plan.name.clone(),
        sources: source_reports,
        events_in,
        written: writes.written,
        workers,
        read_time,
        compute_time: computed.elapsed(),
        hold_time: writes.hold_time,
        write_time: writes.write_time,
        elapsed: started.elapsed(),
        peak_state_rows: options.state_rows.peak(),
        peak_state_bytes: options.state_rows.peak_bytes(),
    })
}

/// A source dataset's rows, in the source's order.
pub struct SourceRows {
    /// The dataset.
    pub dataset: String,
    /// Its rows, in the source's order (the workers sort their shares by time): all of them,
    /// or those its one reader, a filter, kept as they were read.
    pub rows: Vec<Row>,
    /// Whether that filter ran as the rows were read.
    pub filtered: bool,
    /// The timestamp field.
    pub time_field: usize,
    /// Where they came from.
    pub report: SourceReport,
}

/// Reads every source dataset `targets` need, running the filter that is a source's only
/// reader (if any) on its rows as they are read.
pub fn read_sources(
    config: &Config,
    pipeline: &LoadedPipeline,
    targets: &[String],
    options: &OfflineOptions,
) -> Result<Vec<SourceRows>, OfflineError> {
    let progress = options.progress;
    let filters = sole_source_filters(&pipeline.plan, targets);
    let mut out = Vec::new();
    for dataset in pipeline.source_datasets(targets) {
        let source = pipeline.choose_source(&dataset, &options.source_tags, "offline")?;
        let connector =
            config.connectors.get(&source.connector).ok_or_else(|| OfflineError::UnknownConnector {
                dataset: dataset.clone(),
                connector: source.connector.clone(),
                defined: if config.connectors.is_empty() {
                    "none".into()
                } else {
                    config.connectors.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })?;
        let reader = open_table_source(connector, config)?;
        let started = Instant::now();
        if progress != Progress::Off {
            eprintln!("reading {dataset} from {source} ({})", reader.locate(&source.name));
        }
        let schema = &pipeline.plan.dataset(&dataset).expect("validated").schema;
        let filter = filters.get(&dataset).map(|filter| ReadFilter {
            pipeline,
            filter,
            schema,
            native: options.native_filters.get(&filter.lambda).cloned(),
            judged: AtomicUsize::new(0),
        });
        let rows = reader.read_table(
            &source.name,
            &dataset,
            schema,
            filter.as_ref().map(|f| f as &dyn RowFilter),
        )?;
        let read = filter.as_ref().map_or(rows.len(), |f| f.judged.load(Ordering::Relaxed));
        let time_field = schema.timestamp_index();
        let report = SourceReport {
            dataset: dataset.clone(),
            location: reader.locate(&source.name),
            rows: read,
            kept: rows.len(),
        };
        if progress != Progress::Off {
            let seconds = started.elapsed().as_secs_f64();
            match &filter {
                Some(f) => eprintln!(
                    "read {read} rows of {dataset} in {seconds:.2}s, {} kept by {}",
                    rows.len(),
                    f.filter.label
                ),
                None => eprintln!("read {read} rows of {dataset} in {seconds:.2}s"),
            }
        }
        out.push(SourceRows { dataset, rows, filtered: filter.is_some(), time_field, report });
    }
    Ok(out)
}

/// A source's one filter, run by each thread that reads the source: the guest's lambda in an
/// instance of its own, or the native closure standing in for it.
struct ReadFilter<'a> {
    pipeline: &'a LoadedPipeline,
    filter: &'a SourceFilter,
    schema: &'a Schema,
    native: Option<NativeFilter>,
    /// Rows judged, over every thread.
    judged: AtomicUsize,
}

impl RowFilter for ReadFilter<'_> {
    fn start(&self) -> Result<FilterFn<'_>, String> {
        let judged = &self.judged;
        if let Some(native) = &self.native {
            return Ok(Box::new(move |rows: &[Row]| {
                judged.fetch_add(rows.len(), Ordering::Relaxed);
                Ok(rows.iter().map(|row| native(row)).collect())
            }));
        }
        let mut guest = self.pipeline.instantiate().map_err(|e| e.to_string())?;
        let (filter, schema) = (self.filter, self.schema);
        Ok(Box::new(move |rows: &[Row]| {
            judged.fetch_add(rows.len(), Ordering::Relaxed);
            let batch = batch_from_rows(schema, &filter.projection, rows.iter());
            guest.filter(filter.lambda, &batch).map_err(|e| format!("{}: {e}", filter.label))
        }))
    }
}

/// How many rows ahead of the one it sends the feeding loop prefetches.
const FEED_AHEAD: usize = 8;

/// A worker's share of a source, in time order, with each row's time beside it: feeding the
/// share then reads the times in order, not each row's time field from wherever the row was
/// made (a tenth of the feeding loop's time went to that one read, a miss per row).
struct Share {
    rows: Vec<Row>,
    times: Vec<Time>,
}

impl Share {
    /// Sorts `rows` by event time (field `time_field`), keeping the source's order within a
    /// time (the dataflow's output does not depend on it, but progress reports and errors read
    /// better in file order). Sorts compact `(time, index)` pairs, then moves each row once:
    /// comparing rows in place chases a pointer per comparison, which made this sort a tenth of
    /// a 10M-row job.
    fn sorted(mut rows: Vec<Row>, time_field: usize) -> Share {
        let time = |row: &Row| row[time_field].as_int().unwrap_or(Time::MIN);
        let times: Vec<Time> = rows.iter().map(time).collect();
        // Event logs are usually in time order already: check before sorting the pairs.
        if times.is_sorted() {
            return Share { rows, times };
        }
        let mut order: Vec<(Time, usize)> = times.into_iter().zip(0..).collect();
        order.sort_unstable();
        let mut sorted = Vec::with_capacity(rows.len());
        sorted.extend(order.iter().map(|&(_, i)| std::mem::take(&mut rows[i])));
        Share { rows: sorted, times: order.into_iter().map(|(t, _)| t).collect() }
    }
}

/// Frontier steps of a worker: every `step_rows`-th time of its largest share of a source,
/// strictly increasing.
fn epoch_boundaries(shares: &[Share], step_rows: usize) -> Vec<Time> {
    let Some(largest) = shares.iter().max_by_key(|share| share.times.len()) else {
        return Vec::new();
    };
    let mut boundaries: Vec<Time> = largest.times.iter().step_by(step_rows.max(1)).skip(1).copied().collect();
    boundaries.dedup();
    boundaries
}

/// Runs `pipeline` over `sources` (rows in any order) on `workers` workers and writes the
/// `targets`' history to the cold store at `store_path`. Returns the source rows taken in (fed,
/// or dropped by a filter as they were read) and what was written.
pub fn materialize_sources(
    pipeline: &LoadedPipeline,
    sources: Vec<SourceRows>,
    targets: &[String],
    workers: usize,
    store_path: &Path,
    options: &OfflineOptions,
) -> Result<(u64, Writes), OfflineError> {
    let plan = pipeline.plan.clone();
    let native_filters = options.native_filters.clone();
    let state_rows = options.state_rows.clone();
    let chunk_rows = options.chunk_rows.max(1);
    let history_buffer = options.history_buffer.unwrap_or(crate::store::HELD_BYTES);
    let total_events: u64 = sources.iter().map(|s| s.rows.len() as u64).sum();
    let dropped_at_read: u64 = sources.iter().map(|s| (s.report.rows - s.report.kept) as u64).sum();
    let filtered_sources: HashSet<String> =
        sources.iter().filter(|s| s.filtered).map(|s| s.dataset.clone()).collect();
    // Each worker steps its frontier once per its share of `epoch_rows` rows; the frontiers
    // need not step together (the dataflow's frontier is the least of them).
    let step_rows = (options.epoch_rows / workers.max(1)).max(1);
    let source_names: Vec<String> = sources.iter().map(|s| s.dataset.clone()).collect();
    let time_fields: Vec<usize> = sources.iter().map(|s| s.time_field).collect();
    // Deal each source's rows round-robin to the workers, so each feeds its share (and a source
    // in time order is fed by every worker at once).
    let shares: Arc<Vec<Mutex<Vec<Vec<Row>>>>> =
        Arc::new((0..workers).map(|_| Mutex::new(Vec::new())).collect());
    for source in sources {
        let mut dealt: Vec<Vec<Row>> =
            (0..workers).map(|_| Vec::with_capacity(source.rows.len() / workers + 1)).collect();
        for (i, row) in source.rows.into_iter().enumerate() {
            dealt[i % workers].push(row);
        }
        for (worker, rows) in dealt.into_iter().enumerate() {
            shares[worker].lock().expect("shares").push(rows);
        }
    }

    let progress = if options.progress == Progress::Bar {
        let bar = ProgressBar::new(total_events);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} events ({per_sec}, {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("materializing {}", targets.join(", ")));
        bar
    } else {
        ProgressBar::hidden()
    };
    let report_lines = options.progress == Progress::Lines;
    if report_lines {
        eprintln!("materializing {} from {total_events} events on {workers} workers", targets.join(", "));
    }

    let writers = HistoryWriters::start(store_path, pipeline, targets, workers)?;
    let files = writers.files_by_part();
    let failure = Failure::default();
    let job = {
        let pipeline = pipeline.clone();
        let targets = targets.to_vec();
        let failure = failure.clone();
        let progress = progress.clone();
        move |worker: &mut timely::worker::Worker| -> (u64, PartWrites) {
            let index = worker.index();
            let guest = match pipeline.instantiate() {
                Ok(guest) => Rc::new(RefCell::new(guest)),
                Err(e) => {
                    failure.fail(e);
                    return (0, PartWrites::default());
                }
            };
            let parts = match WorkerParts::create(&files[index], files.len(), history_buffer) {
                Ok(parts) => Rc::new(RefCell::new(parts)),
                Err(e) => {
                    failure.fail(e.to_string());
                    return (0, PartWrites::default());
                }
            };
            // A target made by an aggregation hands its rows straight to its part (see
            // `HistoryWriter`); any other target's rows come to its sink below.
            let history_writers = targets
                .iter()
                .enumerate()
                .map(|(target_index, target)| {
                    let (parts, failure) = (parts.clone(), failure.clone());
                    let write = move |rows: &[Row]| {
                        if let Err(e) = parts.borrow_mut().append(target_index, rows) {
                            failure.fail(e);
                        }
                    };
                    (target.clone(), HistoryWriter::new(write))
                })
                .collect();
            let context = RenderContext {
                guest,
                failure: failure.clone(),
                native_filters: native_filters.clone(),
                metrics: None,
                state_rows: state_rows.clone(),
                filtered_sources: filtered_sources.clone(),
                history_writers,
            };
            let probe = ProbeHandle::new();
            let mut inputs: Vec<InputHandleVec<Time, Update>> =
                source_names.iter().map(|_| InputHandleVec::new()).collect();
            worker.dataflow::<Time, _, _>(|scope| {
                let mut collections = HashMap::new();
                for (name, input) in source_names.iter().zip(inputs.iter_mut()) {
                    collections.insert(name.clone(), input.to_stream(scope).as_collection());
                }
                let rendered = render_datasets(&plan, &targets, &collections, &context);
                for (target_index, target) in targets.iter().enumerate() {
                    // Each worker writes its output into its own part of the history, as it
                    // comes: the rows are inserted while in this core's cache, and freed
                    // where they were made.
                    let parts = parts.clone();
                    let failure = failure.clone();
                    rendered[target].inner.clone().probe_with(&probe).sink(
                        Pipeline,
                        "ColdStoreSink",
                        move |(input, _)| {
                            input.for_each(|_, data| {
                                // A history keeps insertions, `diff` times each.
                                let mut rows: Vec<&Row> = Vec::with_capacity(data.len());
                                for (row, _, diff) in data.iter() {
                                    rows.extend(std::iter::repeat_n(row, (*diff).max(0) as usize));
                                }
                                if let Err(e) = parts.borrow_mut().append(target_index, &rows) {
                                    failure.fail(e);
                                }
                            });
                        },
                    );
                }
            });

            let mine = std::mem::take(&mut *shares[index].lock().expect("shares"));
            let mut mine: Vec<Share> =
                mine.into_iter().zip(&time_fields).map(|(rows, &field)| Share::sorted(rows, field)).collect();
            let boundaries = epoch_boundaries(&mine, step_rows);
            let mut cursors = vec![0usize; mine.len()];
            let mut fed = 0u64;
            let lag = 4;
            let park = Some(Duration::from_millis(5));
            let mut send_until = |limit: Option<Time>, inputs: &mut Vec<InputHandleVec<Time, Update>>| {
                let mut count = 0u64;
                for (s, share) in mine.iter_mut().enumerate() {
                    let start = cursors[s];
                    let end = match limit {
                        Some(limit) => start + share.times[start..].partition_point(|&t| t < limit),
                        None => share.rows.len(),
                    };
                    let mut chunk: Vec<Update> = Vec::with_capacity(chunk_rows);
                    for i in start..end {
                        // The exchange reads each row's key as the chunk is sent: fetched
                        // ahead, many rows' misses overlap instead of one waiting on another.
                        if i + FEED_AHEAD < end {
                            prefetch_row(&share.rows[i + FEED_AHEAD]);
                        }
                        chunk.push((std::mem::take(&mut share.rows[i]), share.times[i], 1));
                        if chunk.len() >= chunk_rows {
                            inputs[s].send_batch(&mut chunk);
                            chunk.clear();
                        }
                    }
                    if !chunk.is_empty() {
                        inputs[s].send_batch(&mut chunk);
                    }
                    count += (end - start) as u64;
                    cursors[s] = end;
                }
                count
            };
            for (step, &boundary) in boundaries.iter().enumerate() {
                if failure.is_set() {
                    return (fed, PartWrites::default());
                }
                let n = send_until(Some(boundary), &mut inputs);
                fed += n;
                progress.inc(n);
                if report_lines
                    && index == 0
                    && boundaries.len() >= 10
                    && step % (boundaries.len() / 10) == 0
                    && step > 0
                {
                    eprintln!("  {}% of events fed", step * 100 / boundaries.len());
                }
                for input in inputs.iter_mut() {
                    input.advance_to(boundary);
                }
                worker.step();
                if step >= lag {
                    let behind = boundaries[step - lag];
                    while probe.less_than(&behind) && !failure.is_set() {
                        worker.step_or_park(park);
                    }
                }
            }
            let n = send_until(None, &mut inputs);
            fed += n;
            progress.inc(n);
            inputs.clear();
            // Run to completion, not only until the probe is done: the sinks, after the probe,
            // may hold rows still to write. Timely then drops the dataflow and its sinks.
            while worker.has_dataflows() && !failure.is_set() {
                worker.step_or_park(park);
            }
            if failure.is_set() {
                return (fed, PartWrites::default());
            }
            // Its history writers hold the parts too.
            drop(context);
            let Ok(parts) = Rc::try_unwrap(parts) else {
                failure.fail("a history writer outlived its dataflow");
                return (fed, PartWrites::default());
            };
            // Every row is written: the worker indexes its parts, side by side with the others.
            match parts.into_inner().finish() {
                Ok(done) => (fed, done),
                Err(e) => {
                    failure.fail(e.to_string());
                    (fed, PartWrites::default())
                }
            }
        }
    };
    let guards = match timely::execute(timely::Config::process(workers), job) {
        Ok(guards) => guards,
        Err(e) => {
            writers.abandon();
            return Err(OfflineError::Dataflow(format!("cannot start {workers} workers: {e}")));
        }
    };
    let mut fed = 0;
    let mut parts = Vec::with_capacity(workers);
    for outcome in guards.join() {
        match outcome {
            Ok((worker_fed, part)) => {
                fed += worker_fed;
                parts.push(part);
            }
            Err(message) => failure.fail(format!("a worker failed: {message}")),
        }
    }
    progress.finish_and_clear();
    if let Some(message) = failure.message() {
        writers.abandon();
        return Err(OfflineError::Dataflow(message));
    }
    let writes = writers.commit(parts)?;
    Ok((fed + dropped_at_read, writes))
}

/// What was written to the cold store.
#[derive(Clone, Debug, Default)]
pub struct Writes {
    /// `(dataset, rows of history written)`.
    pub written: Vec<(String, u64)>,
    /// Time the workers spent taking rows into their writers, summed over the workers (parts a
    /// writer wrote when it held its share of memory count here too).
    pub hold_time: Duration,
    /// Time from the end of the dataflow to the histories committed: the rows held written
    /// (each worker's by that worker, side by side; the slowest counts) and the parts swapped in.
    pub write_time: Duration,
}

/// What one worker wrote: rows per target, time spent taking them, the time writing them out
/// at the end, and per target the parts written.
#[derive(Default)]
struct PartWrites {
    rows: Vec<u64>,
    hold_time: Duration,
    write_time: Duration,
    files: Vec<Vec<PartFile>>,
}

/// A worker's part of each target's history: its rows taken as they come (by the target's
/// aggregation or its sink), then written out in key order by the worker once its dataflow is
/// done (see `store::PartWriter`).
struct WorkerParts {
    writers: Vec<PartWriter>,
    done: PartWrites,
}

impl WorkerParts {
    /// Creates the part files `files` (one per target), of `parts` written side by side, the
    /// writers of every part and target holding at most `held` bytes together.
    fn create(files: &[(PartFile, Schema)], parts: usize, held: usize) -> Result<WorkerParts, StoreError> {
        let share = held / (parts * files.len()).max(1);
        let writers = files
            .iter()
            .map(|(file, schema)| file.create(schema, parts).map(|writer| writer.with_held_limit(share)))
            .collect::<Result<_, _>>()?;
        Ok(WorkerParts { writers, done: PartWrites { rows: vec![0; files.len()], ..PartWrites::default() } })
    }

    fn append<R: std::borrow::Borrow<Row>>(&mut self, target: usize, rows: &[R]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.writers[target].append(rows)?;
        self.done.hold_time += started.elapsed();
        self.done.rows[target] += rows.len() as u64;
        Ok(())
    }

    /// Writes out and syncs the parts: they are ready to be committed.
    fn finish(self) -> Result<PartWrites, StoreError> {
        let started = Instant::now();
        let files = self.writers.into_iter().map(PartWriter::finish).collect::<Result<_, _>>()?;
        Ok(PartWrites { write_time: started.elapsed(), files, ..self.done })
    }
}

/// The cold store's side of an offline job: each target's history is written in one part per
/// worker (see `store::parts`, more when a worker holds more than its share), held by that
/// worker as the rows come and written by it once the dataflow is done; then the parts are
/// committed here.
struct HistoryWriters {
    runtime: tokio::runtime::Runtime,
    store: ColdStore,
    metas: Vec<DatasetMeta>,
    /// Per target, its parts.
    files: Vec<Vec<PartFile>>,
}

impl HistoryWriters {
    /// Names the parts of each target's new history, `parts` of each.
    fn start(
        store_path: &Path,
        pipeline: &LoadedPipeline,
        targets: &[String],
        parts: usize,
    ) -> Result<HistoryWriters, OfflineError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OfflineError::Dataflow(format!("cannot open the cold store: {e}")))?;
        let store = runtime.block_on(ColdStore::open(store_path))?;
        let plan = &pipeline.plan;
        let metas: Vec<DatasetMeta> = targets
            .iter()
            .map(|name| {
                let dataset = plan.dataset(name).expect("validated");
                let lineage = match &dataset.body {
                    DatasetBody::Derived(graph) => graph.to_string(),
                    DatasetBody::Source(sources) => {
                        sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ")
                    }
                };
                DatasetMeta {
                    name: name.clone(),
                    pipeline: plan.name.clone(),
                    schema: dataset.schema.clone(),
                    lineage,
                    rows: 0,
                    materialized_at: 0,
                    parts: Vec::new(),
                }
            })
            .collect();
        let files =
            metas.iter().map(|meta| store.begin_parts(&meta.name, parts)).collect::<Result<Vec<_>, _>>()?;
        Ok(HistoryWriters { runtime, store, metas, files })
    }

    /// Per part (worker), the file of each target it writes, with the target's schema.
    fn files_by_part(&self) -> Vec<Vec<(PartFile, Schema)>> {
        let parts = self.files.first().map_or(0, Vec::len);
        (0..parts)
            .map(|part| {
                self.files
                    .iter()
                    .zip(&self.metas)
                    .map(|(files, meta)| (files[part].clone(), meta.schema.clone()))
                    .collect()
            })
            .collect()
    }

    /// Commits the histories the workers wrote (`parts`: what each did).
    fn commit(self, parts: Vec<PartWrites>) -> Result<Writes, OfflineError> {
        let started = Instant::now();
        let mut counts = vec![0u64; self.metas.len()];
        let mut writes = Writes::default();
        let mut write_time = Duration::ZERO;
        for part in &parts {
            writes.hold_time += part.hold_time;
            write_time = write_time.max(part.write_time);
            for (count, rows) in counts.iter_mut().zip(&part.rows) {
                *count += rows;
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let mut targets = self.metas.iter().zip(&self.files).zip(counts).enumerate();
        for (target, ((meta, files), count)) in targets.by_ref() {
            // Each worker's parts of the target, in the order written.
            let written = parts.iter().flat_map(|part| part.files.get(target).into_iter().flatten());
            let meta = DatasetMeta {
                rows: count as i64,
                materialized_at: now,
                parts: written.map(|f| f.file().to_string()).collect(),
                ..meta.clone()
            };
            if let Err(e) = self.runtime.block_on(self.store.commit_parts(&meta)) {
                // This target and those after it are not committed: their parts go.
                for files in std::iter::once(files).chain(targets.map(|(_, ((_, files), _))| files)) {
                    if let Some(file) = files.first() {
                        file.remove_history();
                    }
                }
                return Err(e.into());
            }
            writes.written.push((meta.name.clone(), count));
        }
        self.runtime.block_on(self.store.close());
        writes.write_time = write_time + started.elapsed();
        Ok(writes)
    }

    /// Deletes what the workers wrote: the job failed.
    fn abandon(self) {
        // Every part of each target's new history, however many each worker wrote.
        for file in self.files.iter().filter_map(|files| files.first()) {
            file.remove_history();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn frontier_steps_are_every_nth_time_of_the_largest_share_without_repeats() {
        let share = |times: &[i64]| Share::sorted(times.iter().map(|&t| vec![Value::Int(t)]).collect(), 0);
        let shares = [share(&[1, 2]), share(&[1, 2, 2, 2, 3, 5, 8, 9])];
        assert_eq!(epoch_boundaries(&shares, 2), vec![2, 3, 8]);
        assert_eq!(epoch_boundaries(&shares, 1), vec![2, 3, 5, 8, 9]);
        assert!(epoch_boundaries(&[], 2).is_empty());
    }

    #[test]
    fn rows_sort_by_time_keeping_file_order_within_a_time() {
        let row = |t: i64, tag: &str| vec![Value::str(tag), Value::Int(t)];
        let rows = vec![row(3, "a"), row(1, "b"), row(3, "c"), row(2, "d"), row(1, "e")];
        let share = Share::sorted(rows, 1);
        assert_eq!(share.rows, vec![row(1, "b"), row(1, "e"), row(2, "d"), row(3, "a"), row(3, "c")]);
        assert_eq!(share.times, vec![1, 1, 2, 3, 3]);
        let again = Share::sorted(share.rows.clone(), 1);
        assert_eq!((again.rows, again.times), (share.rows, share.times));
    }
}
