//! What the HTTP-based providers share: one client recipe, base-URL
//! validation and the mapping of transport failures and Retry-After.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{ConfigError, SendError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("tocsin/", env!("CARGO_PKG_VERSION"));

/// The builder every provider starts from, so timeouts and the user agent
/// are the same everywhere.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(USER_AGENT)
}

pub(crate) fn build_client(
    builder: reqwest::ClientBuilder,
    provider: &'static str,
) -> Result<reqwest::Client, ConfigError> {
    builder.build().map_err(|e| ConfigError::Client {
        provider,
        reason: e.to_string(),
    })
}

/// Validates an optional base URL (falling back to the provider's public
/// endpoint) and strips the trailing slash so paths can be appended.
pub(crate) fn base_url(
    configured: Option<&str>,
    default: &str,
    provider: &'static str,
    field: &'static str,
) -> Result<String, ConfigError> {
    let raw = configured.unwrap_or(default).trim();
    let invalid = |reason: String| ConfigError::InvalidField {
        provider,
        field,
        reason,
    };
    let parsed = url::Url::parse(raw).map_err(|e| invalid(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "{raw:?} must start with http:// or https://"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(format!(
            "{raw:?} must not have a query or fragment"
        )));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Network-level failures are always worth a retry; a request we could not
/// even build is our bug and is not. The URL is dropped from the message
/// because it can contain a device token.
pub(crate) fn transport_error(provider: &str, error: reqwest::Error) -> SendError {
    if error.is_builder() {
        let error = error.without_url();
        return SendError::permanent(format!("{provider}: cannot build the request: {error}"));
    }
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let error = error.without_url();
    SendError::retryable(format!("{provider}: {what}: {error}"), None)
}

/// Retry-After as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Reads the body of an error response, capped so a misbehaving gateway
/// cannot make us buffer megabytes of HTML.
pub(crate) async fn error_body(response: reqwest::Response) -> String {
    const LIMIT: usize = 4096;
    let bytes = response.bytes().await.unwrap_or_default();
    let end = bytes.len().min(LIMIT);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("17"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(17)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn base_url_is_validated_and_trimmed() {
        assert_eq!(
            base_url(None, "https://api.twilio.com", "twilio", "base_url").unwrap(),
            "https://api.twilio.com"
        );
        assert_eq!(
            base_url(Some("http://127.0.0.1:9/"), "x", "twilio", "base_url").unwrap(),
            "http://127.0.0.1:9"
        );
        let err = base_url(Some("ftp://x"), "x", "twilio", "base_url").unwrap_err();
        assert!(err.to_string().contains("invalid base_url"), "{err}");
    }
}
