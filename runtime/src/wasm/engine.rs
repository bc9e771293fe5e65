//! The wasmtime engine, the compiled-component cache and the epoch ticker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::bindings::PipelinePre;
use super::instance::GuestState;

/// How often the epoch advances; lambda deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every guest store.
#[derive(Clone, Copy, Debug)]
pub struct WasmLimits {
    /// Largest linear memory a guest may grow, in bytes.
    pub memory_bytes: usize,
    /// Longest a single call (one batch) may run.
    pub call_timeout: Duration,
}

impl Default for WasmLimits {
    fn default() -> Self {
        WasmLimits { memory_bytes: 512 << 20, call_timeout: Duration::from_secs(30) }
    }
}

impl WasmLimits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}

/// A component that cannot be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("{name} is not WebAssembly (it does not start with the `\\0asm` header)")]
    NotWasm {
        /// The file or upload.
        name: String,
    },
    /// A core module where a component was expected.
    #[error("{name} is a core WebAssembly module, not a component: build the pipeline with `volga build`")]
    CoreModule {
        /// The file or upload.
        name: String,
    },
    /// A component that is not a Volga pipeline.
    #[error(
        "{name} is not a Volga pipeline component: it must export `volga:pipeline/guest@0.1.0` ({reason})"
    )]
    NotVolga {
        /// The file or upload.
        name: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The component did not compile or instantiate.
    #[error("{name}: invalid component: {reason}")]
    Invalid {
        /// The file or upload.
        name: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read {name}")]
    Io {
        /// The file.
        name: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Stops the epoch ticker thread when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("volga-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch ticker");
        EpochTicker { stop, thread: Some(thread) }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The host side of all pipeline components: one engine, one linker, one artifact cache.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<GuestState>,
    cache_dir: Option<PathBuf>,
    limits: WasmLimits,
    _ticker: EpochTicker,
}

/// A compiled pipeline component, ready to be instantiated cheaply on each worker.
#[derive(Clone)]
pub struct LoadedComponent {
    pub(crate) pre: PipelinePre<GuestState>,
    pub(crate) engine: Engine,
    pub(crate) limits: WasmLimits,
    /// Hex SHA-256 of the component's bytes.
    pub hash: String,
    /// Whether the compiled artifact came from the cache.
    pub cached: bool,
}

impl WasmHost {
    /// A host that caches compiled components under `cache_dir` (none: no cache).
    pub fn new(cache_dir: Option<PathBuf>, limits: WasmLimits) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let ticker = EpochTicker::start(engine.clone());
        Ok(WasmHost { engine, linker, cache_dir, limits, _ticker: ticker })
    }

    /// Loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedComponent, LoadError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { name: name.clone(), source })?;
        self.load(&name, &bytes)
    }

    /// Loads a component from bytes, compiling it unless the cache has it.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<LoadedComponent, LoadError> {
        check_header(name, bytes)?;
        let hash = hex::encode(Sha256::digest(bytes));
        let (component, cached) = self.compile_cached(name, &hash, bytes)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid { name: name.to_string(), reason: format!("{e:#}") })?;
        let pre = PipelinePre::new(pre)
            .map_err(|e| LoadError::NotVolga { name: name.to_string(), reason: format!("{e:#}") })?;
        Ok(LoadedComponent { pre, engine: self.engine.clone(), limits: self.limits, hash, cached })
    }

    fn compile_cached(&self, name: &str, hash: &str, bytes: &[u8]) -> Result<(Component, bool), LoadError> {
        let invalid =
            |e: wasmtime::Error| LoadError::Invalid { name: name.to_string(), reason: format!("{e:#}") };
        let Some(dir) = &self.cache_dir else {
            return Ok((Component::new(&self.engine, bytes).map_err(invalid)?, false));
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_fingerprint()));
        if path.exists()
            && let Ok(component) = deserialize_trusted(&self.engine, &path)
        {
            return Ok((component, true));
        }
        let compiled = self.engine.precompile_component(bytes).map_err(invalid)?;
        // A failure to write the cache only costs a recompile next time.
        if std::fs::create_dir_all(dir).is_ok() {
            let staging = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&staging, &compiled).is_ok() {
                let _ = std::fs::rename(&staging, &path);
            }
        }
        Ok((deserialize_bytes_trusted(&self.engine, &compiled).map_err(invalid)?, false))
    }

    /// Distinguishes artifacts of different wasmtime versions and engine settings.
    fn engine_fingerprint(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

fn check_header(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm { name: name.to_string() });
    }
    // Core modules have layer 0 (bytes 6..8), components layer 1.
    if bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule { name: name.to_string() });
    }
    Ok(())
}

/// Loads a compiled artifact this host wrote into its own cache.
#[allow(unsafe_code)]
fn deserialize_trusted(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file is an artifact produced by `Engine::precompile_component` of an engine
    // with the same compatibility fingerprint, written by this host into its private cache
    // (atomically, via rename); wasmtime additionally checks version and settings on load.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Loads an artifact just produced by `Engine::precompile_component`.
#[allow(unsafe_code)]
fn deserialize_bytes_trusted(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `bytes` was produced a moment ago by `precompile_component` on this engine.
    unsafe { Component::deserialize(engine, bytes) }
}
