//! State stays bounded by the windows: the rows a sliding hour holds never exceed twice the rows
//! that fall in one hour, however long the input, and each takes a bounded number of bytes.

use volga::config::Config;
use volga::offline::{OfflineOptions, materialize_sources, read_sources};
use volga::pipeline::LoadedPipeline;

use crate::reference::{self, HOUR};
use crate::support::{CSV_CONFIG, guest, write_inputs};

#[test]
fn a_sliding_hour_holds_at_most_twice_an_hours_rows_of_bounded_size() {
    let dir = tempfile::tempdir().unwrap();
    // 100 users registered a day early; one order every 100 ms for 6 hours: 36,000 per hour.
    let users: Vec<reference::User> = (0..100)
        .map(|i| reference::User {
            id: format!("u{i}"),
            registered_at: reference::START - reference::DAY,
            name: "n".into(),
        })
        .collect();
    let step = 100;
    let orders: Vec<reference::Order> = (0..6 * HOUR / step)
        .map(|i| reference::Order {
            buyer: format!("u{}", i % 100),
            product: "p".into(),
            kind: "ON_SALE".into(),
            ts: reference::START + i * step,
            price: (i % 1000) as f64,
        })
        .collect();
    write_inputs(dir.path(), &users, &orders);
    std::fs::write(dir.path().join("volga.toml"), CSV_CONFIG).unwrap();
    let config = Config::load(Some(&dir.path().join("volga.toml"))).unwrap();
    let (_host, pipeline) = LoadedPipeline::load(&config, &guest("lambdas")).unwrap();
    let targets = vec!["HourCounts".to_string()];
    let options = OfflineOptions { epoch_rows: 2_000, ..OfflineOptions::default() };
    let sources = read_sources(&config, &pipeline, &targets, &options).unwrap();
    let store = dir.path().join("cold.db");
    materialize_sources(&pipeline, sources, &targets, 2, &store, &options).unwrap();

    let per_hour = HOUR / step;
    let peak = options.state_rows.peak();
    println!(
        "{} events through a sliding hour: peak state {peak} rows, {per_hour} rows per hour ({:.2}x); {} at the end",
        orders.len(),
        peak as f64 / per_hour as f64,
        options.state_rows.current()
    );
    assert!(peak >= per_hour / 2, "the window must hold about an hour of rows, held {peak}");
    assert!(peak <= 2 * per_hour, "state grew past twice an hour of rows: {peak}");
    assert_eq!(options.state_rows.current(), 0, "every row leaves once the input ends");

    // A held row is one queue entry (time, key id, its values inline, diff: 48 bytes); queues
    // grow by doubling, so at most twice that per row, plus the 100 keys' own state.
    let bytes = options.state_rows.peak_bytes();
    let per_row = bytes as f64 / peak as f64;
    println!("peak state {bytes} bytes: {per_row:.1} bytes per row held");
    assert!(per_row >= 48.0, "the state's bytes must count every held row: {per_row:.1} bytes per row");
    assert!(per_row <= 128.0, "window state takes {per_row:.1} bytes per row held");
}
