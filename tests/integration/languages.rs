//! The same pipeline written in Rust, Python and JavaScript gives byte-identical features, and a
//! Python exception or JavaScript throw reaches the user with the lambda's name and the guest's
//! own message and stack.

use crate::offline_reference::training_set;
use crate::reference;
use crate::support::{guest, read_csv, volga_ok, workspace, write_inputs};

/// `volga materialize-offline` + `volga get-offline` + `volga training-set` of the example
/// built in `language`, on the given data: the history CSV and the training-set CSV, as bytes.
fn outputs(language: &str, seed: u64) -> (String, (Vec<String>, Vec<Vec<String>>)) {
    let wasm = guest(language);
    let (users, orders) = reference::generate(seed, 30, 3000);
    let dir = workspace();
    write_inputs(dir.path(), &users, &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    let history = volga_ok(dir.path(), &["get-offline", "OnSaleUserSpentInfo"]);
    let spine: Vec<(String, i64)> =
        orders.iter().step_by(7).map(|o| (o.buyer.clone(), o.ts)).chain([("u999".into(), 0)]).collect();
    (history, training_set(&wasm, "OnSaleUserSpentInfo", &users, &orders, &spine))
}

#[test]
fn rust_python_and_javascript_pipelines_write_identical_features() {
    for seed in [11, 12] {
        let (rust_history, rust_training) = outputs("example", seed);
        assert!(rust_history.lines().count() > 1000, "a meaningful history");
        for language in ["example-python", "example-js"] {
            let (history, training) = outputs(language, seed);
            assert!(rust_history == history, "seed {seed}: histories differ between Rust and {language}");
            assert_eq!(
                rust_training, training,
                "seed {seed}: training sets differ between Rust and {language}"
            );
        }
        println!(
            "seed {seed}: {} history rows, {} training rows identical in Rust, Python and JavaScript",
            rust_history.lines().count() - 1,
            rust_training.1.len()
        );
    }
}

#[test]
fn a_python_exception_names_the_lambda_and_carries_the_traceback() {
    let dir = workspace();
    let (_, mut orders) = reference::generate(5, 5, 200);
    orders[100].kind = "BOOM".into();
    write_inputs(dir.path(), &[], &orders);
    let wasm = guest("python_errors");
    let err = crate::support::volga_err(dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    assert!(err.contains("pipeline `python_errors`"), "{err}");
    assert!(err.contains("lambda `filter at app.py:"), "{err}");
    assert!(err.contains("Traceback (most recent call last)"), "{err}");
    assert!(err.contains("in reject_boom"), "{err}");
    assert!(err.contains("ValueError: boom: product type BOOM is not allowed"), "{err}");

    // The same component runs clean data.
    orders[100].kind = "REGULAR".into();
    write_inputs(dir.path(), &[], &orders);
    volga_ok(dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    let out = dir.path().join("checked.csv");
    volga_ok(dir.path(), &["get-offline", "CheckedOrder", "-o", out.to_str().unwrap()]);
    assert_eq!(read_csv(&out).1.len(), 200);
}

#[test]
fn a_javascript_throw_names_the_lambda_and_carries_the_stack() {
    let dir = workspace();
    let (_, mut orders) = reference::generate(5, 5, 200);
    orders[100].kind = "BOOM".into();
    write_inputs(dir.path(), &[], &orders);
    let wasm = guest("js_errors");
    let err = crate::support::volga_err(dir.path(), &["materialize-offline", wasm.to_str().unwrap()]);
    assert!(err.contains("pipeline `js_errors`"), "{err}");
    assert!(err.contains("lambda `filter at "), "{err}");
    assert!(err.contains("RangeError: boom: product type BOOM is not allowed"), "{err}");
    assert!(err.contains("rejectBoom"), "the stack names the function: {err}");
}

#[test]
fn a_failing_python_pipeline_leaves_the_server_and_other_pipelines_serving() {
    use crate::live::{Server, wait_for};
    let dir = workspace();
    let (users, mut orders) = reference::generate(9, 10, 500);
    orders[250].kind = "BOOM".into();
    write_inputs(dir.path(), &users, &orders);
    let config = std::fs::read_to_string(dir.path().join("volga.toml")).unwrap();
    std::fs::write(
        dir.path().join("volga.toml"),
        format!("{config}\n[connectors.kafka]\nkind = \"http\"\n\n[server]\ntoken = \"t\"\n")
            .replace("[storage]\n", "[storage]\nhot = \"sled:./hot\"\n"),
    )
    .unwrap();
    let server = Server::start(dir.path());
    // The Rust example reads its orders live (pushed over HTTP); the Python one from the CSV,
    // where order 250 makes its filter raise.
    server.deploy(&guest("example"), "t");
    server.deploy(&guest("python_errors"), "t");
    let mut live = orders.clone();
    live.sort_by_key(|o| o.ts);
    let rows: Vec<serde_json::Value> = live
        .iter()
        .map(|o| {
            serde_json::json!({"buyer_id": o.buyer, "product_id": o.product, "product_type": o.kind,
                "purchased_at": o.ts, "product_price": o.price})
        })
        .collect();
    let (code, body) = server.post("/v1/ingest/orders", &serde_json::Value::Array(rows));
    assert_eq!(code, 200, "{body}");
    let status = |name: &str| -> String {
        let (_, text) = server.get_text("/v1/pipelines");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let pipelines = body["pipelines"].as_array().cloned().unwrap_or_default();
        let found = pipelines.into_iter().find(|p| p["name"] == name);
        found.map(|p| p["status"].as_str().unwrap_or_default().to_string()).unwrap_or_default()
    };
    wait_for("the Python pipeline to fail", std::time::Duration::from_secs(60), || {
        status("python_errors").starts_with("failed")
    });
    let failed = status("python_errors");
    assert!(failed.contains("filter at app.py:") && failed.contains("ValueError: boom"), "{failed}");
    assert_eq!(status("on_sale_user_spent"), "running");
    // The Rust pipeline goes on: its features become visible to lookups as its watermark moves.
    let keys: Vec<serde_json::Value> = users.iter().map(|u| serde_json::json!({"user_id": u.id})).collect();
    let request = serde_json::json!({"dataset": "OnSaleUserSpentInfo", "keys": keys});
    wait_for("the Rust pipeline's features", std::time::Duration::from_secs(60), || {
        let (code, body) = server.post("/v1/lookup", &request);
        assert_eq!(code, 200, "{body}");
        body["rows"].as_array().unwrap().iter().any(|r| !r.is_null())
    });
    assert_eq!(status("on_sale_user_spent"), "running");
}
