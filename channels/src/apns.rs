//! iOS push through Apple's APNs provider API (HTTP/2, token auth).
//!
//! The `a2` crate cannot target a custom host, which local mocks and the
//! sandbox need, so this builds the requests itself on reqwest: an ES256 JWT
//! from the team's `.p8` key, reused for 40 minutes (Apple wants renewal
//! between 20 and 60), and one `POST /3/device/{token}` per message.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::http::{
    base_url, build_client, client_builder, error_body, retry_after, transport_error,
};
use crate::{
    Address, Channel, ChannelKind, ConfigError, Content, OutboundMessage, Secret, SendError,
    SendReceipt,
};

const PROVIDER: &str = "apns";
const DEFAULT_BASE_URL: &str = "https://api.push.apple.com";
const JWT_LIFETIME: Duration = Duration::from_secs(40 * 60);
const MAX_PAYLOAD_BYTES: usize = 4096;
const MAX_COLLAPSE_ID_BYTES: usize = 64;
/// Namespace for the name-based (v5) UUIDs sent as `apns-id`.
const APNS_ID_NAMESPACE: [u8; 16] = [
    247, 137, 238, 70, 124, 115, 64, 113, 131, 119, 38, 133, 57, 119, 235, 4,
];

/// The `[apns]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The `.p8` signing key from the Apple developer account.
    pub key_file: PathBuf,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    /// Defaults to production; `https://api.sandbox.push.apple.com` for development builds.
    pub base_url: Option<String>,
}

/// Sends [`Content::Push`] to [`Address::Apns`] device tokens.
pub struct ApnsChannel {
    client: reqwest::Client,
    base_url: String,
    /// `{base_url}/3/device`, parsed once: parsing each request's URL took
    /// 4 % of the service's CPU in a fan-out.
    device_url: reqwest::Url,
    topic: String,
    key_id: String,
    team_id: String,
    key: EncodingKey,
    /// Signing is cheap but Apple throttles providers that change tokens too
    /// often, so one token is shared until it is due for renewal.
    jwt: Mutex<Option<ProviderToken>>,
}

struct ProviderToken {
    value: Secret,
    issued: Instant,
}

impl std::fmt::Debug for ApnsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsChannel")
            .field("base_url", &self.base_url)
            .field("topic", &self.topic)
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ApnsChannel {
    pub fn new(cfg: &ApnsConfig) -> Result<Self, ConfigError> {
        for (field, value) in [("key_id", &cfg.key_id), ("team_id", &cfg.team_id)] {
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::InvalidField {
                    provider: PROVIDER,
                    field,
                    reason: format!("{value:?} must be the alphanumeric id Apple shows"),
                });
            }
        }
        if cfg.topic.trim().is_empty() {
            return Err(ConfigError::InvalidField {
                provider: PROVIDER,
                field: "topic",
                reason: "the app's bundle id is required".to_owned(),
            });
        }
        let pem = std::fs::read(&cfg.key_file).map_err(|e| ConfigError::ReadFile {
            provider: PROVIDER,
            path: cfg.key_file.clone(),
            reason: e.to_string(),
        })?;
        let bad_key = || ConfigError::BadFile {
            provider: PROVIDER,
            path: cfg.key_file.clone(),
            reason: "not a PKCS#8 P-256 private key (.p8)".to_owned(),
        };
        let key = EncodingKey::from_ec_pem(&pem).map_err(|_| bad_key())?;
        let base = base_url(
            cfg.base_url.as_deref(),
            DEFAULT_BASE_URL,
            PROVIDER,
            "base_url",
        )?;
        // Plain http means a local mock: APNs only speaks HTTP/2, and without
        // TLS there is no ALPN to negotiate it, so we must assume it.
        let builder = if base.starts_with("http://") {
            client_builder().http2_prior_knowledge()
        } else {
            client_builder()
        };
        let device_url = reqwest::Url::parse(&format!("{base}/3/device")).map_err(|e| {
            ConfigError::InvalidField {
                provider: PROVIDER,
                field: "base_url",
                reason: e.to_string(),
            }
        })?;
        let channel = ApnsChannel {
            client: build_client(builder, PROVIDER)?,
            base_url: base,
            device_url,
            topic: cfg.topic.trim().to_owned(),
            key_id: cfg.key_id.clone(),
            team_id: cfg.team_id.clone(),
            key,
            jwt: Mutex::new(None),
        };
        // Surfaces a key that parses but cannot sign at startup, not at the first alert.
        channel.sign().map_err(|_| bad_key())?;
        Ok(channel)
    }

    fn sign(&self) -> Result<Secret, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = ProviderClaims {
            iss: &self.team_id,
            iat: Utc::now().timestamp(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key).map(Secret::new)
    }

    fn provider_token(&self) -> Result<Secret, SendError> {
        let mut cached = self.jwt.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = cached.as_ref()
            && token.issued.elapsed() < JWT_LIFETIME
        {
            return Ok(token.value.clone());
        }
        let value = self
            .sign()
            .map_err(|e| SendError::permanent(format!("apns: cannot sign provider token: {e}")))?;
        *cached = Some(ProviderToken {
            value: value.clone(),
            issued: Instant::now(),
        });
        Ok(value)
    }

    /// Drops the cached token if it is still the one Apple called expired.
    fn discard_token(&self, rejected: &Secret) {
        let mut cached = self.jwt.lock().unwrap_or_else(|e| e.into_inner());
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose() == rejected.expose())
        {
            *cached = None;
        }
    }

    async fn post(&self, request: &ApnsRequest, jwt: &Secret) -> Result<SendReceipt, SendError> {
        let mut url = self.device_url.clone();
        // An http(s) URL always has a path; the token is percent-encoded.
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(&request.device_token);
        }
        let mut builder = self
            .client
            .post(url)
            .header("authorization", format!("bearer {}", jwt.expose()))
            .header("content-type", "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, e))?;
        let status = response.status();
        if status.is_success() {
            let apns_id = response
                .headers()
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok(SendReceipt {
                provider_id: apns_id,
                delivered: false,
            });
        }
        let wait = retry_after(response.headers());
        let body = error_body(response).await;
        Err(classify_error(status, &body, wait))
    }
}

#[async_trait::async_trait]
impl Channel for ApnsChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Apns
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(ChannelKind::Apns)?;
        let request = build_request(msg, &self.topic)?;
        let jwt = self.provider_token()?;
        let mut result = self.post(&request, &jwt).await;
        if is_expired_token(&result) {
            // Clock drift or a long-idle process: renew once and try again
            // right away rather than delaying an alert by a whole retry cycle.
            tracing::info!("apns: provider token expired, renewing");
            self.discard_token(&jwt);
            let fresh = self.provider_token()?;
            result = self.post(&request, &fresh).await;
        }
        if result.is_ok() {
            tracing::debug!(
                delivery_id = msg.delivery_id,
                to = %msg.address.masked(),
                "apns: accepted"
            );
        }
        result
    }
}

fn is_expired_token(result: &Result<SendReceipt, SendError>) -> bool {
    matches!(result, Err(SendError::Retryable { reason, .. }) if reason.contains("ExpiredProviderToken"))
}

/// Everything about one APNs request except the provider token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApnsRequest {
    pub device_token: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The notification's JSON, serialised from borrowed structs rather than
/// a `serde_json::Value` (see the FCM channel's `SendRequest`).
#[derive(Debug, Serialize)]
struct Payload<'a> {
    aps: Aps<'a>,
    /// Custom keys sit beside `aps`, at the top level.
    #[serde(flatten)]
    data: &'a BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct Aps<'a> {
    alert: Alert<'a>,
    sound: &'static str,
    #[serde(rename = "interruption-level", skip_serializing_if = "Option::is_none")]
    interruption_level: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Alert<'a> {
    title: &'a str,
    body: &'a str,
}

/// Builds headers and JSON body. Pure, so the wire format is unit-tested.
pub(crate) fn build_request(msg: &OutboundMessage, topic: &str) -> Result<ApnsRequest, SendError> {
    let Address::Apns(token) = &msg.address else {
        return Err(msg.wrong_address(ChannelKind::Apns));
    };
    let Content::Push { title, body, data } = &msg.content else {
        return Err(msg.wrong_content(ChannelKind::Apns));
    };
    if data.contains_key("aps") {
        return Err(SendError::permanent("apns: data key \"aps\" is reserved"));
    }
    let payload = Payload {
        aps: Aps {
            alert: Alert { title, body },
            sound: "default",
            // Lets the alert break through Focus modes when the app has the
            // Time Sensitive capability; ignored otherwise.
            interruption_level: msg.urgent.then_some("time-sensitive"),
        },
        data,
    };
    let body = serde_json::to_string(&payload)
        .map_err(|e| SendError::permanent(format!("apns: cannot encode the payload: {e}")))?;
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(SendError::permanent(format!(
            "apns: payload is {} bytes, APNs accepts at most {MAX_PAYLOAD_BYTES}",
            body.len()
        )));
    }
    let mut headers = vec![
        ("apns-topic", topic.to_owned()),
        ("apns-push-type", "alert".to_owned()),
        (
            "apns-priority",
            if msg.urgent { "10" } else { "5" }.to_owned(),
        ),
        ("apns-id", apns_id(&msg.idempotency_key)),
    ];
    // Without the header APNs stores the notification and retries; sending
    // 0 would make it try only once, which loses alerts to a dead zone.
    if let Some(expires_at) = msg.expires_at {
        headers.push(("apns-expiration", expiration(expires_at)));
    }
    if let Some(collapse) = &msg.collapse_id {
        headers.push((
            "apns-collapse-id",
            truncate_collapse_id(collapse).to_owned(),
        ));
    }
    Ok(ApnsRequest {
        device_token: token.as_str().to_owned(),
        headers,
        body,
    })
}

/// Epoch seconds; an already-past time becomes 1 ("deliver now or drop")
/// because 0 has the same effect but reads like "unset".
fn expiration(at: DateTime<Utc>) -> String {
    at.timestamp().max(1).to_string()
}

/// The longest prefix of at most 64 bytes that ends on a character boundary.
pub(crate) fn truncate_collapse_id(id: &str) -> &str {
    if id.len() <= MAX_COLLAPSE_ID_BYTES {
        return id;
    }
    let mut end = MAX_COLLAPSE_ID_BYTES;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    &id[..end]
}

/// A v5 UUID of the idempotency key, so a retried send carries the same
/// `apns-id` and shows up as the same notification in Apple's logs.
pub(crate) fn apns_id(idempotency_key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(APNS_ID_NAMESPACE);
    hasher.update(idempotency_key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn classify_error(status: StatusCode, body: &str, wait: Option<Duration>) -> SendError {
    let reason_code = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.reason)
        .unwrap_or_default();
    let reason = format!("apns: HTTP {} {reason_code}", status.as_u16());
    match (status.as_u16(), reason_code.as_str()) {
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => {
            SendError::invalid_address(reason)
        }
        (403, "ExpiredProviderToken") | (429, _) | (500..=599, _) => {
            SendError::retryable(reason, wait)
        }
        _ => SendError::permanent(reason),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    reason: String,
}

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: i64,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::ApnsToken;

    fn message() -> OutboundMessage {
        OutboundMessage {
            delivery_id: 1,
            notice_id: 2,
            idempotency_key: "delivery-1".into(),
            address: Address::Apns(ApnsToken::parse(&"AB".repeat(32)).unwrap()),
            content: Content::Push {
                title: "Gas".into(),
                body: "Leak reported".into(),
                data: BTreeMap::from([("notice_id".into(), "2".into())]),
            },
            urgent: false,
            expires_at: None,
            collapse_id: None,
            status_callback: None,
            unsubscribe_url: None,
        }
    }

    #[test]
    fn request_has_apples_shape() {
        let request = build_request(&message(), "org.example.app").unwrap();
        assert_eq!(request.device_token, "ab".repeat(32));
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({
                "aps": {"alert": {"title": "Gas", "body": "Leak reported"}, "sound": "default"},
                "notice_id": "2",
            })
        );
        let names: Vec<_> = request.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["apns-topic", "apns-push-type", "apns-priority", "apns-id"]
        );
        assert_eq!(request.headers[2].1, "5");
    }

    #[test]
    fn urgent_expiring_collapsing_message() {
        let mut msg = message();
        msg.urgent = true;
        msg.expires_at = DateTime::from_timestamp(1_900_000_000, 0);
        msg.collapse_id = Some("ї".repeat(40));
        let request = build_request(&msg, "t").unwrap();
        let header = |name| {
            request
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("apns-priority"), Some("10"));
        assert_eq!(header("apns-expiration"), Some("1900000000"));
        assert_eq!(header("apns-collapse-id").unwrap(), "ї".repeat(32));
    }

    #[test]
    fn urgent_alert_is_time_sensitive_and_aps_is_not_a_data_key() {
        let mut msg = message();
        msg.urgent = true;
        let body: Value = serde_json::from_str(&build_request(&msg, "t").unwrap().body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "time-sensitive");
        assert_eq!(body["notice_id"], "2");
        if let Content::Push { data, .. } = &mut msg.content {
            data.insert("aps".into(), "x".into());
        }
        assert!(matches!(
            build_request(&msg, "t"),
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn apns_id_is_a_stable_v5_uuid() {
        let id = apns_id("delivery-1");
        assert_eq!(id, apns_id("delivery-1"));
        assert_ne!(id, apns_id("delivery-2"));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "5");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn oversized_payload_is_permanent() {
        let mut msg = message();
        msg.content = Content::Push {
            title: "x".into(),
            body: "y".repeat(5000),
            data: BTreeMap::new(),
        };
        assert!(matches!(
            build_request(&msg, "t"),
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn errors_are_classified() {
        let bad = r#"{"reason":"BadDeviceToken"}"#;
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, bad, None),
            SendError::InvalidAddress { .. }
        ));
        assert!(matches!(
            classify_error(
                StatusCode::GONE,
                r#"{"reason":"Unregistered","timestamp":1}"#,
                None
            ),
            SendError::InvalidAddress { .. }
        ));
        assert!(matches!(
            classify_error(
                StatusCode::FORBIDDEN,
                r#"{"reason":"InvalidProviderToken"}"#,
                None
            ),
            SendError::Permanent { .. }
        ));
        assert!(classify_error(StatusCode::SERVICE_UNAVAILABLE, "", None).is_retryable());
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, r#"{"reason":"BadTopic"}"#, None),
            SendError::Permanent { .. }
        ));
    }
}
