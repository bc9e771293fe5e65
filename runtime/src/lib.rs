//! Volga: a real-time feature engine. Pipelines written against the guest SDKs compile to one
//! WebAssembly component; Volga validates its description into a [`plan::Plan`], renders it as a
//! timely / differential-dataflow graph ([`dataflow`]) whose lambdas run in the component
//! ([`wasm`]), and materializes datasets into the cold store ([`store`]) for point-in-time
//! reads and training sets.
//!
//! ```no_run
//! use volga::{config::Config, offline::{materialize_offline, OfflineOptions}};
//!
//! let config = Config::load(Some("volga.toml".as_ref()))?;
//! let report = materialize_offline(&config, "pipeline.wasm".as_ref(), &OfflineOptions::default())?;
//! println!("{} events in {:?}", report.events_in, report.elapsed);
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod aggregate;
pub mod allocator;
pub mod config;
pub mod connector;
pub mod dataflow;
pub mod duration;
pub mod guest_build;
pub mod metrics;
pub mod offline;
pub mod online;
pub mod pipeline;
pub mod plan;
pub mod sample;
pub mod schema;
pub mod server;
pub mod store;
pub mod toolchain;
pub mod training;
pub mod value;
pub mod wasm;
