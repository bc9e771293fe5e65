//! Settings shared by the streaming connector kinds (`kafka`, `http`): how much disorder a
//! source's event times may have, and when an idle source lets the watermark advance anyway.

use std::time::Duration;

use crate::duration::{DurationError, parse_bound_millis, parse_millis};

/// Where a source's watermark comes from: the `disorder` and `idleness` keys of its connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatermarkPolicy {
    /// Allowed lateness in milliseconds: the watermark trails the newest event time by this much.
    pub disorder: i64,
    /// After this long without input a partition stops holding the watermark back; `None`
    /// (`idleness = "off"`) never advances it without input.
    pub idleness: Option<Duration>,
}

impl Default for WatermarkPolicy {
    fn default() -> Self {
        WatermarkPolicy { disorder: 0, idleness: Some(Duration::from_secs(5)) }
    }
}

impl WatermarkPolicy {
    /// Parses the connector keys: `disorder` (default `"0s"`) and `idleness` (default `"5s"`,
    /// or `"off"`).
    pub fn parse(disorder: Option<&str>, idleness: Option<&str>) -> Result<WatermarkPolicy, DurationError> {
        let disorder = match disorder.map(str::trim) {
            None | Some("0") => 0,
            Some(text) => parse_bound_millis(text)?,
        };
        let idleness = match idleness.map(str::trim) {
            None => WatermarkPolicy::default().idleness,
            Some("off") => None,
            Some(text) => Some(Duration::from_millis(parse_millis(text)? as u64)),
        };
        Ok(WatermarkPolicy { disorder, idleness })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_defaults_to_no_disorder_and_five_seconds_idleness() {
        assert_eq!(WatermarkPolicy::parse(None, None), Ok(WatermarkPolicy::default()));
        let policy = WatermarkPolicy::parse(Some("2s"), Some("off")).unwrap();
        assert_eq!(policy, WatermarkPolicy { disorder: 2000, idleness: None });
        assert!(WatermarkPolicy::parse(Some("soon"), None).is_err());
    }
}
