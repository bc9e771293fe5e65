//! Prometheus metrics of a running server: what sources delivered and dropped, what operators
//! and lambdas did, how far each source's watermark is, and how fast lookups are.
//!
//! Counters are shared handles (an atomic each): hot paths fetch theirs once and add batch
//! sizes, never per row.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a source of a pipeline.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// The pipeline.
    pub pipeline: String,
    /// The source dataset.
    pub dataset: String,
}

/// Labels of a dead letter count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    /// The pipeline.
    pub pipeline: String,
    /// The source dataset.
    pub dataset: String,
    /// `malformed` (did not decode or fit the schema) or `late` (behind the watermark).
    pub reason: String,
}

/// Labels of an operator of a dataset's graph.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperatorLabels {
    /// The pipeline.
    pub pipeline: String,
    /// The dataset whose graph holds the operator.
    pub dataset: String,
    /// The operator, as lineage shows it.
    pub operator: String,
    /// `in` or `out`.
    pub direction: String,
}

/// Labels of a guest lambda.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LambdaLabels {
    /// The pipeline.
    pub pipeline: String,
    /// The lambda's name.
    pub lambda: String,
}

/// Labels of a dataset.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatasetLabels {
    /// The dataset.
    pub dataset: String,
}

/// Labels of a pipeline.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PipelineLabels {
    /// The pipeline.
    pub pipeline: String,
}

/// Labels of a lookup.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// `latest` (hot store) or `point_in_time` (cold store).
    pub kind: String,
}

/// Seconds, as a float counter.
pub type Seconds = Counter<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 10 us .. ~5 s.
    Histogram::new(exponential_buckets(0.00001, 2.0, 20))
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Records received from sources (valid or not).
    pub rows_in: Family<SourceLabels, Counter>,
    /// Rows handed to the dataflow.
    pub rows_applied: Family<SourceLabels, Counter>,
    /// Rows behind the watermark on arrival.
    pub late_rows: Family<SourceLabels, Counter>,
    /// Records written to the dead-letter table, by reason.
    pub dead_letters: Family<DeadLetterLabels, Counter>,
    /// Each source's watermark (ms since the epoch).
    pub watermark: Family<SourceLabels, Gauge>,
    /// Rows into and out of each operator.
    pub operator_rows: Family<OperatorLabels, Counter>,
    /// Guest lambda calls (one per batch).
    pub lambda_calls: Family<LambdaLabels, Counter>,
    /// Rows passed to guest lambdas.
    pub lambda_rows: Family<LambdaLabels, Counter>,
    /// Time spent in guest lambdas.
    pub lambda_seconds: Family<LambdaLabels, Seconds>,
    /// Rows of history published to the stores, per dataset.
    pub rows_published: Family<DatasetLabels, Counter>,
    /// The watermark each dataset's served rows are valid at (ms since the epoch).
    pub dataset_watermark: Family<DatasetLabels, Gauge>,
    /// Lookup latency, by kind.
    pub lookup_seconds: Family<LookupLabels, Histogram>,
    /// Input rows held by each pipeline's windows.
    pub state_rows: Family<PipelineLabels, Gauge>,
    /// Bytes of each pipeline's window state.
    pub state_bytes: Family<PipelineLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("volga");
        let metrics = Metrics {
            registry: Registry::default(),
            rows_in: Family::default(),
            rows_applied: Family::default(),
            late_rows: Family::default(),
            dead_letters: Family::default(),
            watermark: Family::default(),
            operator_rows: Family::default(),
            lambda_calls: Family::default(),
            lambda_rows: Family::default(),
            lambda_seconds: Family::default(),
            rows_published: Family::default(),
            dataset_watermark: Family::default(),
            lookup_seconds: Family::new_with_constructor(latency_histogram),
            state_rows: Family::default(),
            state_bytes: Family::default(),
        };
        registry.register("source_rows_in", "Records received from a source", metrics.rows_in.clone());
        registry.register("source_rows_applied", "Rows handed to the dataflow", metrics.rows_applied.clone());
        registry.register(
            "source_late_rows",
            "Rows behind the watermark on arrival",
            metrics.late_rows.clone(),
        );
        registry.register("dead_letters", "Records dead-lettered, by reason", metrics.dead_letters.clone());
        registry.register("source_watermark_ms", "A source's watermark", metrics.watermark.clone());
        registry.register("operator_rows", "Rows into and out of an operator", metrics.operator_rows.clone());
        registry.register("lambda_calls", "Guest lambda calls (one per batch)", metrics.lambda_calls.clone());
        registry.register("lambda_rows", "Rows passed to guest lambdas", metrics.lambda_rows.clone());
        registry.register("lambda_seconds", "Time spent in guest lambdas", metrics.lambda_seconds.clone());
        registry.register(
            "dataset_rows_published",
            "Rows of history published",
            metrics.rows_published.clone(),
        );
        registry.register(
            "dataset_watermark_ms",
            "The watermark a dataset's served rows are valid at",
            metrics.dataset_watermark.clone(),
        );
        registry.register("lookup_seconds", "Lookup latency", metrics.lookup_seconds.clone());
        registry.register(
            "state_rows",
            "Input rows held by a pipeline's windows",
            metrics.state_rows.clone(),
        );
        registry.register(
            "state_bytes",
            "Bytes of a pipeline's window state (queues, kept values, per-key state)",
            metrics.state_bytes.clone(),
        );
        Metrics { registry, ..metrics }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a string");
        text
    }

    /// The labels of a source.
    pub fn source(pipeline: &str, dataset: &str) -> SourceLabels {
        SourceLabels { pipeline: pipeline.into(), dataset: dataset.into() }
    }
}
