//! Shared fixtures: guests built once per test process, temp folders, the `volga` binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds a guest once per test process: `example` is the reference example in Rust,
/// `example-python` and `example-js` the same in Python and JavaScript, other names are folders under `tests/guests/`.
pub fn guest(name: &str) -> PathBuf {
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let dir = match name {
        "example" => repo_root().join("examples/on_sale_user_spent/rust"),
        "example-python" => repo_root().join("examples/on_sale_user_spent/python"),
        "example-js" => repo_root().join("examples/on_sale_user_spent/js"),
        other => repo_root().join("tests/guests").join(other),
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("guest-{name}.wasm"));
    // Through the CLI, as a user builds it.
    volga_ok(&repo_root(), &["build", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    built.insert(name.to_string(), out.clone());
    out
}

/// Runs the `volga` binary in `dir`.
pub fn volga(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_volga"))
        .args(args)
        .current_dir(dir)
        .env_remove("VOLGA_CONFIG")
        .env_remove("VOLGA_COLD")
        .output()
        .expect("run volga")
}

/// Runs `volga` and fails the test, with its output, unless it succeeds.
pub fn volga_ok(dir: &Path, args: &[&str]) -> String {
    let output = volga(dir, args);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "volga {args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `volga`, expects it to fail, and returns its stderr.
pub fn volga_err(dir: &Path, args: &[&str]) -> String {
    let output = volga(dir, args);
    assert!(!output.status.success(), "volga {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A config binding connector `mysql` to the CSV folder `data`, with the cold store in `dir`.
pub const CSV_CONFIG: &str =
    "[storage]\ncold = \"sqlite:./cold.db\"\n\n[connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n";

/// A fresh folder with `volga.toml` and an empty `data/`.
pub fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("volga.toml"), CSV_CONFIG).unwrap();
    dir
}

/// Reads a CSV file into its header and rows of cells.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

/// Writes the reference example's `users.csv` and `orders.csv` into `dir/data`.
pub fn write_inputs(dir: &Path, users: &[crate::reference::User], orders: &[crate::reference::Order]) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/users.csv"), crate::reference::users_csv(users)).unwrap();
    std::fs::write(dir.join("data/orders.csv"), crate::reference::orders_csv(orders)).unwrap();
}
