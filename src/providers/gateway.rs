//! What the payment gateway clients (M-Pesa, Stripe) share: how a request
//! ended, and the dev outbox they write to when no credentials are set.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where a gateway request went.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent<T> {
    /// The gateway answered and accepted the request.
    Live(T),
    /// No credentials are configured: the request was written to this
    /// outbox file instead, and nothing was sent.
    Outbox(PathBuf),
}

/// Why a gateway request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The gateway refused the request for good (bad input, declined):
    /// retrying the same request would fail again.
    #[error("{0}")]
    Rejected(String),
    /// The gateway could not be reached or failed on its side: retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// Writes `body` to `<data_dir>/outbox/<name>.json` atomically (a file per
/// request id, so a retried request leaves one file).
pub fn write_outbox(data_dir: &Path, name: &str, body: &Value) -> Result<PathBuf, ProviderError> {
    let dir = data_dir.join("outbox");
    let io = |e: std::io::Error| ProviderError::Unavailable(format!("outbox: {e}"));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_json::to_string_pretty(body).unwrap_or_default();
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

/// Classifies a reqwest transport error (always worth a retry).
pub fn transport(e: reqwest::Error) -> ProviderError {
    ProviderError::Unavailable(format!("gateway unreachable: {e}"))
}
