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

/// Parses a bound that may be zero (`"0s"`, `"0ms"`), such as a join's `within`.
pub fn parse_bound_millis(text: &str) -> Result<i64, DurationError> {
    let digits = text.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty() && digits.bytes().all(|b| b == b'0') {
        // Zero of a valid unit: check the unit by parsing one of it.
        return parse_millis(&text.trim().replacen(digits, "1", 1)).map(|_| 0);
    }
    parse_millis(text)
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
    fn bounds_may_be_zero() {
        assert_eq!(parse_bound_millis("0s"), Ok(0));
        assert_eq!(parse_bound_millis("0ms"), Ok(0));
        assert_eq!(parse_bound_millis("3ms"), Ok(3));
        assert!(parse_bound_millis("0x").is_err());
        assert!(parse_bound_millis("0").is_err());
    }

    #[test]
    fn bad_durations_are_rejected() {
        for bad in ["", "7", "d", "7x", "-1h", "0s", "1.5h"] {
            assert!(parse_millis(bad).is_err(), "{bad} parsed");
        }
    }
}
