//! The peers, run on the same data as Volga: DuckDB (window functions) and Pathway (a
//! differential-dataflow engine with a Python API). Their scripts are in `bench/peers/`; their
//! pinned versions in `bench/peers/requirements.txt` are installed into a venv by the harness.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// A peer's run, as its script reports it.
#[derive(Debug, Deserialize)]
pub struct PeerRun {
    pub peer: String,
    pub version: String,
    /// Source rows read (users + orders).
    pub events: u64,
    /// Feature rows written.
    pub rows_out: u64,
    /// Wall time from the start of reading to the last row written.
    pub total_s: f64,
}

impl PeerRun {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.total_s.max(1e-9)
    }
}

/// A venv holding the pinned peers.
pub struct Peers {
    python: PathBuf,
    scripts: PathBuf,
}

impl Peers {
    /// The venv at `venv`, created and filled from `requirements.txt` unless it already holds
    /// exactly those requirements.
    pub fn install(venv: &Path) -> Result<Peers> {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
        let requirements = scripts.join("requirements.txt");
        let wanted = std::fs::read_to_string(&requirements)?;
        let stamp = venv.join("volga-requirements.txt");
        let python = venv.join("bin/python");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) || !python.exists() {
            eprintln!(
                "installing the peers into {} (pathway, duckdb; a few minutes the first time)",
                venv.display()
            );
            run(Command::new("python3").arg("-m").arg("venv").arg(venv))
                .context("creating the peers' venv")?;
            run(Command::new(&python).args(["-m", "pip", "install", "-q", "-r"]).arg(&requirements))
                .context("installing the peers")?;
            std::fs::write(&stamp, &wanted)?;
        }
        Ok(Peers { python, scripts })
    }

    /// Runs `peer` (`duckdb` or `pathway`) over `data` (users.csv, orders.csv) with `threads`
    /// threads, writing its features to `out`; its log goes next to `out`.
    pub fn run(&self, peer: &str, data: &Path, out: &Path, threads: usize) -> Result<PeerRun> {
        let script = self.scripts.join(format!("{peer}_features.py"));
        let log = out.with_extension("log");
        let _ = std::fs::remove_file(out);
        let output = Command::new(&self.python)
            .arg(&script)
            .arg(data)
            .arg(out)
            .env("PATHWAY_THREADS", threads.to_string())
            .env("PATHWAY_PROCESSES", "1")
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        std::fs::write(&log, [&output.stdout[..], &output.stderr[..]].concat())?;
        if !output.status.success() {
            bail!("{peer} failed ({}); its output is in {}", output.status, log.display());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last =
            stdout.lines().rev().find(|l| l.starts_with('{')).context("the peer printed no figures")?;
        serde_json::from_str(last).with_context(|| format!("{peer} printed {last}"))
    }
}

/// How a peer's features compare with Volga's history.
#[derive(Debug, Deserialize)]
pub struct Comparison {
    /// Feature rows of the peer checked.
    pub checked: u64,
    /// Rows whose values differ from Volga's row as of the same time.
    pub mismatches: u64,
    /// The first such row, the peer's and Volga's.
    pub first_mismatch: Option<serde_json::Value>,
}

impl Peers {
    /// Compares a peer's feature rows with Volga's history (`volga_csv`, as `get-offline`
    /// writes it): `compare_features.py`.
    pub fn compare(&self, volga_csv: &Path, peer_csv: &Path) -> Result<Comparison> {
        let script = self.scripts.join("compare_features.py");
        let output = Command::new(&self.python).arg(&script).arg(volga_csv).arg(peer_csv).output()?;
        if !output.status.success() {
            bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr));
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
