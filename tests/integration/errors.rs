//! Errors a user will hit name the culprit, and a guest trap does not take the host down.

use crate::reference;
use crate::support::{guest, volga_err, workspace, write_inputs};

fn write_orders(dir: &std::path::Path, text: &str) {
    std::fs::write(dir.join("data/users.csv"), "user_id,registered_at,name\nu1,0,Ann\n").unwrap();
    std::fs::write(dir.join("data/orders.csv"), text).unwrap();
}

#[test]
fn a_missing_csv_column_names_the_file_and_column() {
    let dir = workspace();
    write_orders(dir.path(), "buyer_id,product_id,product_type,purchased_at\nu1,p1,ON_SALE,5\n");
    let err = volga_err(dir.path(), &["materialize-offline", guest("example").to_str().unwrap()]);
    assert!(err.contains("orders.csv") && err.contains("missing column `product_price`"), "{err}");
}

#[test]
fn an_invalid_csv_value_names_file_line_and_column() {
    let dir = workspace();
    write_orders(
        dir.path(),
        "buyer_id,product_id,product_type,purchased_at,product_price\nu1,p1,ON_SALE,5,1.5\nu1,p2,ON_SALE,6,abc\n",
    );
    let err = volga_err(dir.path(), &["materialize-offline", guest("example").to_str().unwrap()]);
    assert!(err.contains("orders.csv:3: column `product_price`: invalid float `abc`"), "{err}");

    write_orders(
        dir.path(),
        "buyer_id,product_id,product_type,purchased_at,product_price\nu1,p1,ON_SALE,noon,1.5\n",
    );
    let err = volga_err(dir.path(), &["materialize-offline", guest("example").to_str().unwrap()]);
    assert!(err.contains("orders.csv:2: column `purchased_at`: invalid timestamp `noon`"), "{err}");
}

#[test]
fn an_unknown_connector_is_named_with_the_dataset() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("volga.toml"),
        "[connectors.postgres]\nkind = \"csv\"\ndir = \"./data\"\n",
    )
    .unwrap();
    let err = volga_err(dir.path(), &["materialize-offline", guest("example").to_str().unwrap()]);
    assert!(
        err.contains("connector `mysql`") && err.contains("dataset `User`") && err.contains("postgres"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_volga_components_are_rejected_clearly() {
    let dir = workspace();
    std::fs::write(dir.path().join("text.wasm"), "hello").unwrap();
    let err = volga_err(dir.path(), &["materialize-offline", "text.wasm"]);
    assert!(err.contains("text.wasm is not WebAssembly"), "{err}");

    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let err = volga_err(dir.path(), &["materialize-offline", "core.wasm"]);
    assert!(err.contains("core.wasm is a core WebAssembly module, not a component"), "{err}");

    // An empty component: valid, but it exports no Volga pipeline.
    std::fs::write(dir.path().join("empty.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
    let err = volga_err(dir.path(), &["materialize-offline", "empty.wasm"]);
    assert!(err.contains("is not a Volga pipeline component"), "{err}");
}

#[test]
fn a_guest_trap_names_pipeline_and_lambda_and_the_host_keeps_running() {
    let dir = workspace();
    let (users, mut orders) = reference::generate(5, 5, 200);
    orders[100].kind = "BOOM".into();
    write_inputs(dir.path(), &users, &orders);
    let config = volga::config::Config::load(Some(&dir.path().join("volga.toml"))).unwrap();
    let wasm = guest("lambdas");
    let options = volga::offline::OfflineOptions { targets: vec!["LargeOrder".into()], ..Default::default() };

    let err = volga::offline::materialize_offline(&config, &wasm, &options).unwrap_err().to_string();
    assert!(err.contains("pipeline `test_lambdas`"), "{err}");
    assert!(err.contains("lambda `filter at src/lib.rs"), "{err}");
    assert!(err.contains("trapped") && err.contains("boom: product type BOOM is not allowed"), "{err}");
    // Nothing of the failed job's history is left behind.
    let parts = dir.path().join("cold.db.parts");
    let files = || -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&parts)
            .map(|entries| entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default();
        files.sort();
        files
    };
    assert_eq!(files(), Vec::<String>::new());

    // Same process, same engine: a clean run afterwards succeeds, its history in a part per
    // worker; a second run replaces those parts.
    orders[100].kind = "REGULAR".into();
    std::fs::write(dir.path().join("data/orders.csv"), reference::orders_csv(&orders)).unwrap();
    let report =
        volga::offline::materialize_offline(&config, &wasm, &options).expect("clean run after a trap");
    assert_eq!(report.events_in, 200);
    let first = files();
    assert_eq!(first.len(), report.workers, "{first:?}");
    assert!(first.iter().all(|f| f.starts_with("LargeOrder.")), "{first:?}");
    volga::offline::materialize_offline(&config, &wasm, &options).expect("a second run");
    let second = files();
    assert_eq!(second.len(), report.workers, "{second:?}");
    assert!(second.iter().all(|f| !first.contains(f)), "{first:?} -> {second:?}");
}

/// Runs the misbehaving filter on one order of kind `kind` under tight limits: the error, and
/// how long the job took (the guest build not included).
fn misbehave(kind: &str) -> (String, std::time::Duration) {
    let wasm = guest("lambdas");
    let dir = workspace();
    let config =
        format!("{}\n[runtime]\nguest-timeout-secs = 1\nguest-memory-mib = 64\n", crate::support::CSV_CONFIG);
    std::fs::write(dir.path().join("volga.toml"), config).unwrap();
    let (users, mut orders) = reference::generate(6, 5, 50);
    orders[10].kind = kind.into();
    write_inputs(dir.path(), &users, &orders);
    let config = volga::config::Config::load(Some(&dir.path().join("volga.toml"))).unwrap();
    let options = volga::offline::OfflineOptions { targets: vec!["LargeOrder".into()], ..Default::default() };
    let started = std::time::Instant::now();
    let err = volga::offline::materialize_offline(&config, &wasm, &options).unwrap_err().to_string();
    (err, started.elapsed())
}

#[test]
fn a_guest_that_runs_past_its_deadline_is_stopped() {
    let (err, took) = misbehave("LOOP");
    assert!(
        err.contains("lambda `filter at src/lib.rs") && err.contains("deadline of 1s per batch exceeded"),
        "{err}"
    );
    // A deadline of 1 s per call; generous slack for a loaded machine.
    assert!(took < std::time::Duration::from_secs(20), "stopped promptly: {took:?}");
}

#[test]
fn a_guest_memory_bomb_is_an_error_not_a_crash() {
    let (err, _) = misbehave("BOMB");
    assert!(err.contains("pipeline `test_lambdas`") && err.contains("trapped"), "{err}");
}

#[test]
fn source_tags_pick_among_several_sources() {
    let dir = workspace();
    let (users, orders) = reference::generate(8, 5, 100);
    write_inputs(dir.path(), &users, &orders);
    let wasm = guest("example");
    let wasm = wasm.to_str().unwrap();
    // Order has an `online` (kafka) and an `offline` (mysql) source; offline is the default.
    crate::support::volga_ok(dir.path(), &["materialize-offline", wasm]);
    let err = volga_err(dir.path(), &["materialize-offline", wasm, "--source-tag", "Order=online"]);
    assert!(err.contains("dataset `Order` reads from connector `kafka`"), "{err}");
    let err = volga_err(dir.path(), &["materialize-offline", wasm, "--source-tag", "Order=nightly"]);
    assert!(err.contains("dataset `Order` has no source tagged `nightly`"), "{err}");
    let err = volga_err(dir.path(), &["materialize-offline", wasm, "--targets", "Nope"]);
    assert!(err.contains("has no dataset `Nope`") && err.contains("OnSaleUserSpentInfo"), "{err}");
}
