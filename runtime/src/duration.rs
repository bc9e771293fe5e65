//! Durations as users write them: `"30s"`, `"15m"`, `"1h"`, `"7d"`, `"1w"`, `"250ms"`.

use thiserror::Error;

/// A duration string that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid duration `{text}`: expected a positive number and a unit (ms, s, m, h, d, w), e.g. \"7d\"")]
pub struct DurationError {
    /// The text as written.
    pub text: String,
}

/// Parses a duration into milliseconds. `1w` is 7 days; several parts add up (`"1h30m"`).
pub fn parse_millis(text: &str) -> Result<i64, DurationError> {
    let error = || DurationError { text: text.to_string() };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(error());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
        if digits == 0 {
            return Err(error());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| error())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(error()),
        };
        rest = &rest[unit_len..];
        total = number.checked_mul(scale).and_then(|part| total.checked_add(part)).ok_or_else(error)?;
    }
    if total == 0 { Err(error()) } else { Ok(total) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_millis() {
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("1h"), Ok(3_600_000));
        assert_eq!(parse_millis("7d"), parse_millis("1w"));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("250ms"), Ok(250));
    }

    #[test]
    fn bad_durations_are_rejected() {
        for bad in ["", "7", "d", "7x", "-1h", "0s", "1.5h"] {
            assert!(parse_millis(bad).is_err(), "{bad} parsed");
        }
    }
}
