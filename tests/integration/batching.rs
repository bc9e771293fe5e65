//! The output history does not depend on batching, frontier steps, worker count, or the order
//! of rows within a timestamp.

use std::path::Path;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use volga::config::Config;
use volga::connector::open_table_source;
use volga::offline::{OfflineOptions, SourceReport, SourceRows, materialize_sources, read_sources};
use volga::pipeline::LoadedPipeline;
use volga::store::ColdStore;
use volga::value::Row;

use crate::reference;
use crate::support::{CSV_CONFIG, guest, write_inputs};

pub fn history(store: &Path, dataset: &str) -> Vec<Row> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = ColdStore::open(store).await.unwrap();
        let meta = store.dataset(dataset).await.unwrap();
        store.history(&meta, None, None).await.unwrap()
    })
}

/// Shuffles rows within each run of equal event time.
fn shuffle_within_times(sources: &mut [SourceRows], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for source in sources {
        let t = source.time_field;
        let mut start = 0;
        while start < source.rows.len() {
            let end = start + source.rows[start..].partition_point(|r| r[t] == source.rows[start][t]);
            source.rows[start..end].shuffle(&mut rng);
            start = end;
        }
    }
}

/// One windowed dataset and its history computed with the defaults on one worker.
struct Case {
    pipeline: LoadedPipeline,
    dataset: &'static str,
    baseline: Vec<Row>,
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    cases: Vec<Case>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let (users, orders) = reference::generate(7, 20, 2000);
        write_inputs(dir.path(), &users, &orders);
        std::fs::write(dir.path().join("volga.toml"), CSV_CONFIG).unwrap();
        let config = Config::load(Some(&dir.path().join("volga.toml"))).unwrap();
        // Sliding windows (the example), forever + sliding, tumbling + hopping (the test guest).
        let cases = [
            ("example", "OnSaleUserSpentInfo"),
            ("lambdas", "SpendTotals"),
            ("lambdas", "BucketTotals"),
            ("lambdas", "SpreadStats"),
            ("lambdas", "SessionTotals"),
            ("lambdas", "LatestOrder"),
        ]
        .into_iter()
        .map(|(guest_name, dataset)| {
            let (_host, pipeline) = LoadedPipeline::load(&config, &guest(guest_name)).unwrap();
            let baseline = run(&config, &pipeline, dataset, &OfflineOptions::default(), 1, 0, "baseline");
            assert!(baseline.len() > 1000, "a meaningful history of {dataset}: {} rows", baseline.len());
            Case { pipeline, dataset, baseline }
        })
        .collect();
        Fixture { _dir: dir, config, cases }
    })
}

pub fn run(
    config: &Config,
    pipeline: &LoadedPipeline,
    dataset: &str,
    options: &OfflineOptions,
    workers: usize,
    seed: u64,
    name: &str,
) -> Vec<Row> {
    let targets = vec![dataset.to_string()];
    let mut sources = read_sources(config, pipeline, &targets, options).unwrap();
    if seed != 0 {
        shuffle_within_times(&mut sources, seed);
    }
    let store = config.base_dir.join(format!("{name}-{dataset}.db"));
    materialize_sources(pipeline, sources, &targets, workers, &store, options).unwrap();
    history(&store, dataset)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn history_is_independent_of_batching_workers_and_order_within_a_time(
        epoch_rows in 1usize..700,
        chunk_rows in 1usize..400,
        workers in 1usize..=2,
        seed in 1u64..u64::MAX,
    ) {
        let fixture = fixture();
        let options = OfflineOptions { epoch_rows, chunk_rows, ..OfflineOptions::default() };
        let name = format!("run-{epoch_rows}-{chunk_rows}-{workers}-{seed}");
        for case in &fixture.cases {
            let history = run(&fixture.config, &case.pipeline, case.dataset, &options, workers, seed, &name);
            prop_assert_eq!(history.len(), case.baseline.len(), "{}", case.dataset);
            prop_assert!(history == case.baseline, "{}: history differs from the baseline", case.dataset);
        }
    }
}

/// The sources of `targets` with every row read: no filter run as they are read.
fn read_unfiltered(config: &Config, pipeline: &LoadedPipeline, targets: &[String]) -> Vec<SourceRows> {
    let datasets = pipeline.source_datasets(targets);
    datasets
        .into_iter()
        .map(|dataset| {
            let source = pipeline.choose_source(&dataset, &[], "offline").unwrap();
            let reader = open_table_source(&config.connectors[&source.connector], config).unwrap();
            let schema = &pipeline.plan.dataset(&dataset).unwrap().schema;
            let rows = reader.read_table(&source.name, &dataset, schema, None).unwrap();
            let report = SourceReport {
                dataset: dataset.clone(),
                location: reader.locate(&source.name),
                rows: rows.len(),
                kept: rows.len(),
            };
            SourceRows { dataset, time_field: schema.timestamp_index(), filtered: false, rows, report }
        })
        .collect()
}

#[test]
fn a_source_filtered_as_it_is_read_gives_the_history_of_its_filter_in_the_dataflow() {
    let fixture = fixture();
    let mut filtered_at_read = 0;
    for case in &fixture.cases {
        let targets = vec![case.dataset.to_string()];
        let options = OfflineOptions::default();
        let read = read_sources(&fixture.config, &case.pipeline, &targets, &options).unwrap();
        filtered_at_read += read.iter().filter(|s| s.filtered).count();
        // The baseline was computed from sources read this way; now run every filter in the
        // dataflow instead.
        let sources = read_unfiltered(&fixture.config, &case.pipeline, &targets);
        let store = fixture.config.base_dir.join(format!("unfiltered-{}.db", case.dataset));
        materialize_sources(&case.pipeline, sources, &targets, 2, &store, &options).unwrap();
        let history = history(&store, case.dataset);
        assert_eq!(history.len(), case.baseline.len(), "{}", case.dataset);
        assert!(history == case.baseline, "{}: history differs from the baseline", case.dataset);
    }
    assert!(filtered_at_read > 0, "the example's on-sale filter is its orders' only reader");
}

#[test]
fn a_job_holding_little_of_its_history_writes_it_in_many_parts_and_the_same_history() {
    let fixture = fixture();
    // 64 KiB for both workers: a few hundred rows of history each before a part is written.
    let options = OfflineOptions { history_buffer: Some(64 << 10), ..OfflineOptions::default() };
    for case in &fixture.cases {
        let history = run(&fixture.config, &case.pipeline, case.dataset, &options, 2, 0, "held-little");
        assert_eq!(history.len(), case.baseline.len(), "{}", case.dataset);
        assert!(history == case.baseline, "{}: history differs from the baseline", case.dataset);
        let store = fixture.config.base_dir.join(format!("held-little-{}.db", case.dataset));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let parts = runtime.block_on(async {
            let store = ColdStore::open(&store).await.unwrap();
            store.dataset(case.dataset).await.unwrap().parts.len()
        });
        assert!(parts > 2, "{}: {parts} parts for {} rows", case.dataset, history.len());
    }
}
