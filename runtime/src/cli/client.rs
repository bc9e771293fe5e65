//! What the client subcommands share: the server address and error handling.

use anyhow::{Result, anyhow};
use serde_json::Value;

/// The default server URL.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8765";

/// The body of a response, or the server's `{"error"}` message as an error.
pub async fn json_or_error(response: reqwest::Response) -> Result<(reqwest::StatusCode, Value)> {
    let status = response.status();
    let text = response.text().await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        return Ok((status, body));
    }
    let message =
        body.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| body.to_string());
    Err(anyhow!("server answered {status}: {message}"))
}

/// `url` without a trailing slash.
pub fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}
