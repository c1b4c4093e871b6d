//! Android (and Firebase-routed iOS) push through the FCM HTTP v1 API.
//!
//! The legacy server-key API is shut down, so this speaks v1: a service
//! account signs an RS256 JWT, trades it for an OAuth2 access token, and each
//! message is a separate `messages:send` call carrying that bearer token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{
    base_url, build_client, client_builder, error_body, retry_after, transport_error,
};
use crate::{
    Address, Channel, ChannelKind, ConfigError, Content, OutboundMessage, Secret, SendError,
    SendReceipt,
};

const PROVIDER: &str = "fcm";
const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google answers with one-hour tokens; renewing five minutes early keeps a
/// send from racing the expiry.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// FCM's maximum time-to-live (28 days).
const MAX_TTL_SECS: i64 = 28 * 24 * 3600;

/// The `[fcm]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// Service-account JSON downloaded from the Firebase console.
    pub service_account_file: PathBuf,
    /// Defaults to `https://fcm.googleapis.com`.
    pub base_url: Option<String>,
    /// Overrides `token_uri` from the service-account file.
    pub token_url: Option<String>,
    /// Overrides `project_id` from the service-account file.
    pub project_id: Option<String>,
}

/// Sends [`Content::Push`] to [`Address::Fcm`] tokens.
pub struct FcmChannel {
    client: reqwest::Client,
    /// Parsed once: parsing it for every send showed in the profile.
    send_url: reqwest::Url,
    token_url: String,
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    /// Held across the token request, so concurrent senders wait for one
    /// refresh instead of each asking Google for a token.
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: Secret,
    refresh_at: Instant,
}

impl std::fmt::Debug for FcmChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmChannel")
            .field("send_url", &self.send_url.as_str())
            .field("token_url", &self.token_url)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl FcmChannel {
    pub fn new(cfg: &FcmConfig) -> Result<Self, ConfigError> {
        let account = ServiceAccount::load(&cfg.service_account_file)?;
        let project_id = cfg.project_id.clone().unwrap_or(account.project_id);
        if project_id.is_empty()
            || !project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(ConfigError::InvalidField {
                provider: PROVIDER,
                field: "project_id",
                reason: format!("{project_id:?} is not a Firebase project id"),
            });
        }
        let base = base_url(
            cfg.base_url.as_deref(),
            DEFAULT_BASE_URL,
            PROVIDER,
            "base_url",
        )?;
        let token_url = match &cfg.token_url {
            Some(url) => base_url(Some(url), "", PROVIDER, "token_url")?,
            None => base_url(Some(&account.token_uri), "", PROVIDER, "token_uri")?,
        };
        Ok(FcmChannel {
            client: build_client(client_builder(), PROVIDER)?,
            send_url: format!("{base}/v1/projects/{project_id}/messages:send")
                .parse()
                .map_err(|e| ConfigError::InvalidField {
                    provider: PROVIDER,
                    field: "base_url",
                    reason: format!("does not make a valid send URL: {e}"),
                })?,
            token_url,
            client_email: account.client_email,
            key_id: account.private_key_id,
            key: account.key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Returns a cached access token, fetching a new one when it is close to
    /// expiry or when `rejected` (a token the send endpoint refused) is still
    /// the cached one.
    async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, SendError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            let refused = rejected.is_some_and(|r| r.expose() == token.value.expose());
            if !refused && Instant::now() < token.refresh_at {
                return Ok(token.value.clone());
            }
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<AccessToken, SendError> {
        let assertion = self.assertion()?;
        let response = self
            .client
            .post(&self.token_url)
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| transport_error("fcm token endpoint", e))?;
        let status = response.status();
        if status.is_success() {
            let body: TokenResponse = response.json().await.map_err(|e| {
                SendError::retryable(format!("fcm token endpoint: unreadable answer: {e}"), None)
            })?;
            let lifetime = Duration::from_secs(body.expires_in.unwrap_or(3600));
            tracing::debug!(
                lifetime_secs = lifetime.as_secs(),
                "fcm: obtained access token"
            );
            return Ok(AccessToken {
                value: Secret::new(body.access_token),
                refresh_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
            });
        }
        let wait = retry_after(response.headers());
        let body = error_body(response).await;
        let detail = serde_json::from_str::<OAuthError>(&body)
            .map(|e| format!("{} ({})", e.error, e.error_description.unwrap_or_default()))
            .unwrap_or_else(|_| format!("HTTP {status}"));
        let reason = format!("fcm token endpoint rejected the service account: {detail}");
        Err(
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                SendError::retryable(reason, wait)
            } else {
                SendError::permanent(reason)
            },
        )
    }

    /// The self-signed JWT that proves we hold the service account's key.
    fn assertion(&self) -> Result<String, SendError> {
        let iat = Utc::now().timestamp();
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_url,
            iat,
            exp: iat + 3600,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| SendError::permanent(format!("fcm: cannot sign the OAuth assertion: {e}")))
    }

    async fn post(
        &self,
        payload: &SendRequest<'_>,
        token: &Secret,
    ) -> Result<SendReceipt, Failure> {
        let response = self
            .client
            .post(self.send_url.clone())
            .bearer_auth(token.expose())
            .json(payload)
            .send()
            .await
            .map_err(|e| Failure::Other(transport_error(PROVIDER, e)))?;
        let status = response.status();
        if status.is_success() {
            let body: SendResponse = response.json().await.map_err(|e| {
                Failure::Other(SendError::retryable(
                    format!("fcm: accepted but unreadable answer: {e}"),
                    None,
                ))
            })?;
            return Ok(SendReceipt {
                provider_id: Some(body.name),
                delivered: false,
            });
        }
        let wait = retry_after(response.headers());
        let body = error_body(response).await;
        Err(classify_error(status, &body, wait))
    }
}

#[async_trait::async_trait]
impl Channel for FcmChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Fcm
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(ChannelKind::Fcm)?;
        let payload = build_payload(msg, Utc::now())?;
        let token = self.access_token(None).await?;
        let result = match self.post(&payload, &token).await {
            Err(Failure::Unauthorized(_)) => {
                tracing::info!("fcm: access token refused, refreshing once");
                let fresh = self.access_token(Some(&token)).await?;
                self.post(&payload, &fresh).await
            }
            other => other,
        };
        match result {
            Ok(receipt) => {
                tracing::debug!(
                    delivery_id = msg.delivery_id,
                    to = %msg.address.masked(),
                    "fcm: accepted"
                );
                Ok(receipt)
            }
            Err(Failure::Unauthorized(e) | Failure::Other(e)) => Err(e),
        }
    }
}

/// A failed send, split by whether a fresh access token might fix it.
enum Failure {
    Unauthorized(SendError),
    Other(SendError),
}

/// The `messages:send` body, borrowed from the message: serialised
/// straight from these structs, a send builds no `serde_json::Value`
/// (building, serialising and dropping one was 6 % of the service's CPU
/// in a fan-out profile).
#[derive(Debug, Serialize)]
pub(crate) struct SendRequest<'a> {
    message: FcmMessage<'a>,
}

#[derive(Debug, Serialize)]
struct FcmMessage<'a> {
    token: &'a str,
    notification: Notification<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    data: &'a BTreeMap<String, String>,
    android: Android<'a>,
    apns: ApnsOverride<'a>,
}

#[derive(Debug, Serialize)]
struct Notification<'a> {
    title: &'a str,
    body: &'a str,
}

#[derive(Debug, Serialize)]
struct Android<'a> {
    priority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapse_key: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ApnsOverride<'a> {
    headers: ApnsHeaders<'a>,
}

#[derive(Debug, Serialize)]
struct ApnsHeaders<'a> {
    #[serde(rename = "apns-priority")]
    priority: &'static str,
    #[serde(rename = "apns-expiration", skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
    #[serde(rename = "apns-collapse-id", skip_serializing_if = "Option::is_none")]
    collapse_id: Option<&'a str>,
}

/// Builds the `messages:send` body. Pure, so the exact JSON is unit-tested.
pub(crate) fn build_payload(
    msg: &OutboundMessage,
    now: DateTime<Utc>,
) -> Result<SendRequest<'_>, SendError> {
    let Address::Fcm(token) = &msg.address else {
        return Err(msg.wrong_address(ChannelKind::Fcm));
    };
    let Content::Push { title, body, data } = &msg.content else {
        return Err(msg.wrong_content(ChannelKind::Fcm));
    };
    if let Some(key) = data.keys().find(|k| is_reserved_data_key(k)) {
        return Err(SendError::permanent(format!(
            "fcm: data key {key:?} is reserved by FCM"
        )));
    }
    let ttl = msg
        .expires_at
        .map(|end| (end - now).num_seconds().clamp(0, MAX_TTL_SECS));
    let collapse = msg.collapse_id.as_deref();
    Ok(SendRequest {
        message: FcmMessage {
            token: token.as_str(),
            notification: Notification { title, body },
            data,
            android: Android {
                priority: if msg.urgent { "HIGH" } else { "NORMAL" },
                ttl: ttl.map(|secs| format!("{secs}s")),
                collapse_key: collapse,
            },
            apns: ApnsOverride {
                headers: ApnsHeaders {
                    priority: if msg.urgent { "10" } else { "5" },
                    expiration: msg.expires_at.map(|end| end.timestamp().max(1).to_string()),
                    collapse_id: collapse.map(crate::apns::truncate_collapse_id),
                },
            },
        },
    })
}

/// Keys FCM rejects in `data` with INVALID_ARGUMENT; caught early for a clearer reason.
fn is_reserved_data_key(key: &str) -> bool {
    matches!(key, "from" | "notification" | "message_type")
        || key.starts_with("google.")
        || key.starts_with("gcm.")
}

/// Maps an FCM v1 error response onto [`SendError`].
fn classify_error(status: StatusCode, body: &str, wait: Option<Duration>) -> Failure {
    let info = serde_json::from_str::<ErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_default();
    let fcm_code = info.details.iter().find_map(|d| {
        let is_fcm = d["@type"].as_str().is_some_and(|t| t.ends_with("FcmError"));
        is_fcm.then(|| d["errorCode"].as_str()).flatten()
    });
    let label = fcm_code.or(info.status.as_deref()).unwrap_or("error");
    let reason = format!(
        "fcm: HTTP {} {label}: {}",
        status.as_u16(),
        info.message.as_deref().unwrap_or("no message")
    );
    if matches!(fcm_code, Some("UNREGISTERED" | "SENDER_ID_MISMATCH")) {
        return Failure::Other(SendError::invalid_address(reason));
    }
    if status == StatusCode::BAD_REQUEST && is_token_problem(&info) {
        return Failure::Other(SendError::invalid_address(reason));
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Failure::Unauthorized(SendError::permanent(reason));
    }
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Failure::Other(SendError::retryable(reason, wait));
    }
    Failure::Other(SendError::permanent(reason))
}

/// INVALID_ARGUMENT covers both a malformed token (the contact is dead) and
/// a malformed message (our bug); only the former deactivates the contact.
fn is_token_problem(info: &ErrorInfo) -> bool {
    let about_token_field = info.details.iter().any(|d| {
        d["fieldViolations"].as_array().is_some_and(|violations| {
            violations
                .iter()
                .any(|v| v["field"].as_str() == Some("message.token"))
        })
    });
    let message = info.message.as_deref().unwrap_or("").to_lowercase();
    about_token_field || message.contains("registration token")
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorInfo,
}

#[derive(Deserialize, Default)]
struct ErrorInfo {
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

#[derive(Deserialize)]
struct SendResponse {
    name: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The parts of a service-account file we use.
struct ServiceAccount {
    project_id: String,
    client_email: String,
    token_uri: String,
    private_key_id: Option<String>,
    key: EncodingKey,
}

impl ServiceAccount {
    /// Reads fields one by one from untyped JSON so that no error message can
    /// quote the private key back.
    fn load(path: &Path) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::BadFile {
            provider: PROVIDER,
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ReadFile {
            provider: PROVIDER,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let field = |name: &str| -> Result<String, ConfigError> {
            match json.get(name).and_then(Value::as_str) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
                _ => Err(bad(format!("missing string field `{name}`"))),
            }
        };
        if let Some(kind) = json.get("type").and_then(Value::as_str)
            && kind != "service_account"
        {
            return Err(bad(format!(
                "`type` is {kind:?}, expected \"service_account\""
            )));
        }
        let not_rsa = || bad("`private_key` is not an RSA private key in PEM form".to_owned());
        let key =
            EncodingKey::from_rsa_pem(field("private_key")?.as_bytes()).map_err(|_| not_rsa())?;
        // The PEM parser does not look inside the key; signing once here turns
        // a corrupt key into a startup error instead of failed sends.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &json!({}), &key)
            .map_err(|_| not_rsa())?;
        Ok(ServiceAccount {
            project_id: field("project_id")?,
            client_email: field("client_email")?,
            token_uri: field("token_uri")?,
            private_key_id: field("private_key_id").ok(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::FcmToken;

    fn message(urgent: bool) -> OutboundMessage {
        OutboundMessage {
            delivery_id: 1,
            notice_id: 2,
            idempotency_key: "d1".into(),
            address: Address::Fcm(FcmToken::parse("tok:en-1").unwrap()),
            content: Content::Push {
                title: "Water".into(),
                body: "Off until 14:00".into(),
                data: BTreeMap::from([("notice_id".into(), "2".into())]),
            },
            urgent,
            expires_at: None,
            collapse_id: None,
            status_callback: None,
            unsubscribe_url: None,
        }
    }

    fn json_of(msg: &OutboundMessage, now: DateTime<Utc>) -> Value {
        serde_json::to_value(build_payload(msg, now).unwrap()).unwrap()
    }

    #[test]
    fn payload_has_the_v1_shape() {
        let now = Utc::now();
        let mut msg = message(true);
        msg.expires_at = Some(now + chrono::Duration::seconds(600));
        msg.collapse_id = Some("notice-2".into());
        let payload = json_of(&msg, now);
        assert_eq!(
            payload,
            json!({"message": {
                "token": "tok:en-1",
                "notification": {"title": "Water", "body": "Off until 14:00"},
                "data": {"notice_id": "2"},
                "android": {"priority": "HIGH", "ttl": "600s", "collapse_key": "notice-2"},
                "apns": {"headers": {
                    "apns-priority": "10",
                    "apns-expiration": (now.timestamp() + 600).to_string(),
                    "apns-collapse-id": "notice-2",
                }},
            }})
        );
    }

    #[test]
    fn normal_priority_without_optional_fields() {
        let mut msg = message(false);
        if let Content::Push { data, .. } = &mut msg.content {
            data.clear();
        }
        let payload = json_of(&msg, Utc::now());
        assert_eq!(payload["message"]["android"], json!({"priority": "NORMAL"}));
        assert_eq!(
            payload["message"]["apns"]["headers"],
            json!({"apns-priority": "5"})
        );
        assert!(payload["message"].get("data").is_none());
    }

    #[test]
    fn reserved_data_keys_and_wrong_content_are_permanent() {
        let mut msg = message(false);
        if let Content::Push { data, .. } = &mut msg.content {
            data.insert("google.x".into(), "1".into());
        }
        assert!(matches!(
            build_payload(&msg, Utc::now()),
            Err(SendError::Permanent { .. })
        ));
        msg.content = Content::Sms { body: "x".into() };
        assert!(matches!(
            build_payload(&msg, Utc::now()),
            Err(SendError::Permanent { .. })
        ));
    }

    #[test]
    fn errors_are_classified() {
        let unregistered = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert!(matches!(
            classify_error(StatusCode::NOT_FOUND, unregistered, None),
            Failure::Other(SendError::InvalidAddress { .. })
        ));
        let bad_token = r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, bad_token, None),
            Failure::Other(SendError::InvalidAddress { .. })
        ));
        let bad_ttl = r#"{"error":{"code":400,"message":"Invalid value at 'message.android.ttl'","status":"INVALID_ARGUMENT"}}"#;
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, bad_ttl, None),
            Failure::Other(SendError::Permanent { .. })
        ));
        let wait = Some(Duration::from_secs(3));
        match classify_error(StatusCode::SERVICE_UNAVAILABLE, "<html>", wait) {
            Failure::Other(SendError::Retryable { retry_after, .. }) => {
                assert_eq!(retry_after, wait)
            }
            _ => panic!("503 must be retryable"),
        }
        assert!(matches!(
            classify_error(StatusCode::UNAUTHORIZED, "{}", None),
            Failure::Unauthorized(SendError::Permanent { .. })
        ));
    }
}
