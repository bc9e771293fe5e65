//! `volga.toml`: typed, documented, unknown keys rejected, layered
//! built-in defaults < file < environment (`VOLGA_COLD`, `VOLGA_HOT`, `VOLGA_WORKERS`,
//! `VOLGA_CACHE_DIR`, `VOLGA_TOKEN`).
//!
//! ```toml
//! [storage]
//! hot = "sled:./volga-data/hot"          # default
//! cold = "sqlite:./volga-data/cold.db"   # default
//!
//! [runtime]
//! workers = 2                            # default: the number of cores
//! history-buffer-mib = 1024              # default: offline history held to be written in order
//!
//! [server]
//! listen = "127.0.0.1:8765"              # default
//! token = "s3cret"                       # bearer token for deploys; none: deploys refused
//!
//! [connectors.mysql]                     # the name a pipeline's source uses
//! kind = "csv"                           # csv | sqlite
//! dir = "./data"                         # table `users` is ./data/users.csv
//! ```
//! Relative paths are resolved against the directory of the config file (the current
//! directory for built-in defaults).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::connector::ConnectorConfig;

/// A config that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// An environment variable is not valid.
    #[error("invalid environment variable {name}={value}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
}

/// Where features are stored.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageConfig {
    /// The hot store: latest row per key, for serving. `sled:<dir>`.
    #[serde(default = "default_hot")]
    pub hot: String,
    /// The cold store: the full history of every dataset. `sqlite:<file>`.
    #[serde(default = "default_cold")]
    pub cold: String,
}

fn default_hot() -> String {
    "sled:./volga-data/hot".into()
}

fn default_cold() -> String {
    "sqlite:./volga-data/cold.db".into()
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { hot: default_hot(), cold: default_cold() }
    }
}

/// How jobs run.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuntimeConfig {
    /// Timely workers (threads) per process; default: the number of cores.
    pub workers: Option<usize>,
    /// Where compiled components and the guest toolchain are cached; default:
    /// `$XDG_CACHE_HOME/volga` or `~/.cache/volga`.
    pub cache_dir: Option<PathBuf>,
    /// Largest linear memory of a guest, in MiB (default 512).
    pub guest_memory_mib: Option<usize>,
    /// Longest a guest may spend on one batch, in seconds (default 30).
    pub guest_timeout_secs: Option<u64>,
    /// The most an offline job holds of the history it writes, in MiB (default 1024): its
    /// writers hold their rows to write them in the order of the history's index, and write
    /// what they hold as a part of the history whenever they reach their share of this.
    pub history_buffer_mib: Option<usize>,
}

/// The HTTP server (`volga serve`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerConfig {
    /// The address to listen on (default `127.0.0.1:8765`).
    pub listen: Option<String>,
    /// The bearer token deploys must present. Without one the server refuses deploys.
    pub token: Option<String>,
}

/// The default address of `volga serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Hot and cold stores.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Job execution.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// The HTTP server.
    #[serde(default)]
    pub server: ServerConfig,
    /// Connectors by the name pipelines use for them.
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// The directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Config {
    /// Loads `path`; when `path` is `None`, `./volga.toml` if it exists, else the defaults.
    /// Environment variables override both.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let default_path = Path::new("volga.toml");
        let path = match path {
            Some(p) => Some(p),
            None if default_path.exists() => Some(default_path),
            None => None,
        };
        let mut config = match path {
            None => Config { base_dir: PathBuf::from("."), ..Config::default() },
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                let mut config = Config::parse(&text)
                    .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
                config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                if config.base_dir.as_os_str().is_empty() {
                    config.base_dir = PathBuf::from(".");
                }
                config
            }
        };
        config.apply_env()?;
        Ok(config)
    }

    /// Parses config text (no environment, base directory `.`).
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.base_dir = PathBuf::from(".");
        Ok(config)
    }

    fn apply_env(&mut self) -> Result<(), ConfigError> {
        if let Ok(value) = std::env::var("VOLGA_COLD") {
            self.storage.cold = value;
        }
        if let Ok(value) = std::env::var("VOLGA_HOT") {
            self.storage.hot = value;
        }
        if let Ok(value) = std::env::var("VOLGA_CACHE_DIR") {
            self.runtime.cache_dir = Some(PathBuf::from(value));
        }
        if let Ok(value) = std::env::var("VOLGA_TOKEN") {
            self.server.token = Some(value).filter(|t| !t.is_empty());
        }
        if let Ok(value) = std::env::var("VOLGA_WORKERS") {
            let workers = value.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| ConfigError::Env {
                name: "VOLGA_WORKERS",
                value: value.clone(),
                message: "expected a positive integer".into(),
            })?;
            self.runtime.workers = Some(workers);
        }
        Ok(())
    }

    /// `path` resolved against the config's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let relative = path.strip_prefix("./").unwrap_or(path);
        if self.base_dir == Path::new(".") { relative.to_path_buf() } else { self.base_dir.join(relative) }
    }

    /// The most an offline job holds of the history it writes, in bytes.
    pub fn history_buffer_bytes(&self) -> usize {
        self.runtime.history_buffer_mib.map_or(crate::store::HELD_BYTES, |mib| mib.max(1) << 20)
    }

    /// The number of timely workers.
    pub fn workers(&self) -> usize {
        self.runtime
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.runtime.cache_dir {
            return self.resolve(dir);
        }
        default_cache_dir()
    }

    /// Guest limits.
    pub fn wasm_limits(&self) -> crate::wasm::WasmLimits {
        let mut limits = crate::wasm::WasmLimits::default();
        if let Some(mib) = self.runtime.guest_memory_mib {
            limits.memory_bytes = mib << 20;
        }
        if let Some(secs) = self.runtime.guest_timeout_secs {
            limits.call_timeout = std::time::Duration::from_secs(secs);
        }
        limits
    }

    /// The hot store's directory, from `storage.hot`.
    pub fn hot_store_path(&self) -> Result<PathBuf, ConfigError> {
        match self.storage.hot.strip_prefix("sled:") {
            Some(path) => Ok(self.resolve(Path::new(path.trim_start_matches("//")))),
            None => Err(ConfigError::Invalid {
                path: self.base_dir.join("volga.toml"),
                message: format!(
                    "storage.hot = \"{}\": only sled:<dir> hot stores are supported",
                    self.storage.hot
                ),
            }),
        }
    }

    /// The cold store's SQLite file, from `storage.cold`.
    pub fn cold_store_path(&self) -> Result<PathBuf, ConfigError> {
        match self.storage.cold.strip_prefix("sqlite:") {
            Some(path) => Ok(self.resolve(Path::new(path.trim_start_matches("//")))),
            None => Err(ConfigError::Invalid {
                path: self.base_dir.join("volga.toml"),
                message: format!(
                    "storage.cold = \"{}\": only sqlite:<file> cold stores are supported so far",
                    self.storage.cold
                ),
            }),
        }
    }
}

/// `$VOLGA_CACHE_DIR`, else `$XDG_CACHE_HOME/volga`, else `~/.cache/volga`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VOLGA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("volga");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("volga"),
        None => std::env::temp_dir().join("volga-cache"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let config = Config::parse("").unwrap();
        assert_eq!(config.storage, StorageConfig::default());
        assert!(config.connectors.is_empty());
    }

    #[test]
    fn connectors_parse_by_kind() {
        let config = Config::parse(
            "[connectors.mysql]\nkind = \"csv\"\ndir = \"./data\"\n[connectors.db]\nkind = \"sqlite\"\npath = \"x.db\"\n",
        )
        .unwrap();
        assert!(matches!(config.connectors["mysql"], ConnectorConfig::Csv(_)));
        assert!(matches!(config.connectors["db"], ConnectorConfig::Sqlite(_)));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::parse("[storage]\ncolde = \"x\"\n").unwrap_err();
        assert!(err.contains("colde"), "{err}");
        let err = Config::parse("[connectors.m]\nkind = \"csv\"\ndir = \"d\"\nfoo = 1\n").unwrap_err();
        assert!(err.contains("foo"), "{err}");
        let err = Config::parse("[connectors.m]\nkind = \"oracle\"\n").unwrap_err();
        assert!(err.contains("oracle"), "{err}");
    }
}
