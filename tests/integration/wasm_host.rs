//! The component host: compiled artifacts are cached by content hash.

use std::time::Instant;

use volga::wasm::{WasmHost, WasmLimits};

use crate::support::guest;

#[test]
fn a_second_load_comes_from_the_artifact_cache() {
    let cache = tempfile::tempdir().unwrap();
    let wasm = guest("example");
    let host = WasmHost::new(Some(cache.path().to_path_buf()), WasmLimits::default()).unwrap();
    let started = Instant::now();
    let first = host.load_file(&wasm).unwrap();
    let compile = started.elapsed();
    let started = Instant::now();
    let second = host.load_file(&wasm).unwrap();
    let load = started.elapsed();
    assert!(!first.cached && second.cached);
    assert_eq!(first.hash, second.hash);
    let artifacts: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(artifacts.len(), 1, "one artifact per component and engine");
    println!("compile {compile:?}, cached load {load:?}");

    // A fresh host (a new process, say) finds the artifact too.
    let other = WasmHost::new(Some(cache.path().to_path_buf()), WasmLimits::default()).unwrap();
    assert!(other.load_file(&wasm).unwrap().cached);
}
