//! Integration tests of the whole system: guests built from source, the `volga` binary, the
//! cold store, checked against an independent reference of the semantics in DESIGN.md.

mod batching;
mod errors;
mod golden;
mod languages;
mod live;
mod offline_reference;
mod online;
mod reference;
mod server_api;
mod sqlite_source;
mod state_size;
mod support;
mod wasm_host;
