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
            assert_eq!(rust_training, training, "seed {seed}: training sets differ between Rust and {language}");
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
