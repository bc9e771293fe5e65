//! The `http` connector: rows pushed as JSON to `POST /v1/ingest/{source}` of `volga serve`.
//! The embedded default for online work without a broker.

use serde::Deserialize;

use super::stream::WatermarkPolicy;
use crate::duration::DurationError;

/// `[connectors.NAME] kind = "http"`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpConfig {
    /// Allowed disorder of event times, e.g. `"5s"` (default `"0s"`).
    pub disorder: Option<String>,
    /// Idle time after which the watermark follows the wall clock, or `"off"` (default `"5s"`).
    pub idleness: Option<String>,
}

impl HttpConfig {
    /// The source's watermark policy.
    pub fn watermark(&self) -> Result<WatermarkPolicy, DurationError> {
        WatermarkPolicy::parse(self.disorder.as_deref(), self.idleness.as_deref())
    }
}
