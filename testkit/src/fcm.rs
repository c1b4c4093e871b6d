//! A mock of Google's OAuth2 token endpoint and the FCM HTTP v1 send API on
//! one server.
//!
//! The token endpoint verifies the RS256 assertion the way Google does
//! (signature, audience, issuer, scope, expiry) and the send endpoint only
//! accepts bearer tokens it issued, so a client that gets either wrong fails
//! here as it would in production.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Tally;
use crate::control::{Control, Server, content_type_is, group_times, lock, with_retry_after};
use crate::keys::{FCM_PRIVATE_KEY_PEM, FCM_PUBLIC_KEY_PEM};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The mock FCM project; see the module docs.
#[derive(Debug)]
pub struct FcmMock {
    state: Arc<FcmState>,
    server: Server,
}

#[derive(Debug)]
struct FcmState {
    token_url: String,
    control: Control,
    token_requests: AtomicUsize,
    token_lifetime: AtomicU64,
    issued: Mutex<HashSet<String>>,
    /// Accepted bodies with the moment each was accepted, as received: a
    /// parsed `Value` costs several kilobytes per message, and a benchmark's
    /// million of them made the mock spend a quarter of a core zeroing
    /// fresh pages — CPU taken from the client under test.
    messages: Mutex<Vec<(Instant, Box<[u8]>)>>,
    next_message: AtomicU64,
}

impl FcmMock {
    pub const PROJECT_ID: &'static str = "tocsin-test";
    pub const CLIENT_EMAIL: &'static str = "alerts@tocsin-test.iam.gserviceaccount.com";

    pub async fn start() -> FcmMock {
        let (listener, addr) = Server::listen().await;
        let state = Arc::new(FcmState {
            token_url: format!("http://{addr}/token"),
            control: Control::new(),
            token_requests: AtomicUsize::new(0),
            token_lifetime: AtomicU64::new(3600),
            issued: Mutex::new(HashSet::new()),
            messages: Mutex::new(Vec::new()),
            next_message: AtomicU64::new(1),
        });
        let router = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/{action}", post(send))
            .with_state(state.clone());
        FcmMock {
            state,
            server: Server::serve(listener, addr, router),
        }
    }

    /// For `FcmConfig::base_url`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The OAuth2 token endpoint; the service-account file points here.
    pub fn token_url(&self) -> String {
        self.state.token_url.clone()
    }

    /// Writes `service-account.json` (with the test key and this mock's
    /// token URL) into `dir` and returns its path.
    pub fn write_service_account(&self, dir: &Path) -> PathBuf {
        let account = json!({
            "type": "service_account",
            "project_id": Self::PROJECT_ID,
            "private_key_id": "testkit-key-1",
            "private_key": FCM_PRIVATE_KEY_PEM,
            "client_email": Self::CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url(),
        });
        let path = dir.join("service-account.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&account).expect("JSON"))
            .expect("write the mock service account");
        path
    }

    /// Bodies of accepted `messages:send` requests, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        lock(&self.state.messages)
            .iter()
            .map(|(_, body)| parse_accepted(body))
            .collect()
    }

    /// Accepted messages per target (the token, else `topic:…` or
    /// `condition:…`); the content is the notification and data, which
    /// stay the same on a resend while `android.ttl` counts down.
    pub fn tally(&self) -> Tally {
        let mut tally = Tally::new();
        for (_, body) in lock(&self.state.messages).iter() {
            let message = &parse_accepted(body)["message"];
            let content = (
                message["notification"].to_string(),
                message["data"].to_string(),
            );
            tally.record(&target(message), content);
        }
        tally
    }

    /// Sizes of the last `n` accepted bodies, as received: the benchmark
    /// checks its bare client sends messages of the same size.
    pub fn recent_body_bytes(&self, n: usize) -> Vec<usize> {
        let messages = lock(&self.state.messages);
        let from = messages.len().saturating_sub(n);
        messages[from..]
            .iter()
            .map(|(_, body)| body.len())
            .collect()
    }

    /// When each accepted message arrived, grouped by `key` (messages it
    /// gives `None` are left out), oldest first; benchmarks time a few
    /// notices' messages among a million others in one pass.
    pub fn accepted_at<K: Hash + Eq>(
        &self,
        key: impl Fn(&Value) -> Option<K>,
    ) -> HashMap<K, Vec<Instant>> {
        let messages = lock(&self.state.messages);
        group_times(
            messages
                .iter()
                .map(|(at, body)| (*at, key(&parse_accepted(body)))),
        )
    }

    /// An access token the send endpoint accepts, for a client that skips
    /// the OAuth2 exchange (the benchmark's bare client).
    pub fn issue_token(&self) -> String {
        let n = self.state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("mock-token-{n}");
        lock(&self.state.issued).insert(token.clone());
        token
    }

    /// Access tokens handed out so far.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// `expires_in` of future tokens (default 3600 s).
    pub fn set_token_lifetime(&self, secs: u64) {
        self.state.token_lifetime.store(secs, Ordering::SeqCst);
    }

    /// Invalidates every issued access token, as if Google had revoked them:
    /// the next send with one gets 401 UNAUTHENTICATED.
    pub fn revoke_tokens(&self) {
        lock(&self.state.issued).clear();
    }

    /// HTTP requests received by either endpoint, rejected ones included.
    pub fn request_count(&self) -> usize {
        self.state.control.requests()
    }

    /// Delays every answer of the send endpoint.
    pub fn set_delay(&self, delay: Duration) {
        self.state.control.set_delay(delay);
    }

    /// The next `count` sends get FCM's error body for `status` (429
    /// QUOTA_EXCEEDED, 500 INTERNAL, 503 UNAVAILABLE, 401 UNAUTHENTICATED, ...)
    /// with an optional Retry-After.
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<Duration>) {
        self.state.control.fail_next(count, status, retry_after);
    }

    /// Messages accepted so far, without copying them.
    pub fn accepted(&self) -> usize {
        self.state.control.accepted()
    }

    /// Waits until `count` messages have been accepted in total.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        self.state.control.wait_for(count, timeout).await
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    assertion: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    scope: Option<String>,
}

async fn token(State(state): State<Arc<FcmState>>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = state.control.count_request();
    let oauth_error = |error: &str, description: &str| {
        let body = json!({ "error": error, "error_description": description });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if !content_type_is(&headers, "application/x-www-form-urlencoded") {
        return oauth_error("invalid_request", "Bad Request");
    }
    let Ok(form) = serde_urlencoded::from_bytes::<TokenForm>(&body) else {
        return oauth_error("invalid_request", "Bad Request");
    };
    if form.grant_type.as_deref() != Some(JWT_BEARER) {
        return oauth_error("unsupported_grant_type", "Invalid grant_type: ");
    }
    let Some(assertion) = form.assertion else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let key = DecodingKey::from_rsa_pem(FCM_PUBLIC_KEY_PEM.as_bytes()).expect("test public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&state.token_url]);
    validation.set_issuer(&[FcmMock::CLIENT_EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<AssertionClaims>(&assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return oauth_error("invalid_grant", &format!("Invalid JWT: {e}")),
    };
    let scopes = claims.scope.unwrap_or_default();
    if !scopes.split(' ').any(|s| s == SCOPE) {
        return oauth_error(
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    }
    let n = state.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let access_token = format!("mock-token-{n}");
    lock(&state.issued).insert(access_token.clone());
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": state.token_lifetime.load(Ordering::SeqCst),
        "token_type": "Bearer",
    }))
    .into_response()
}

async fn send(
    State(state): State<Arc<FcmState>>,
    UrlPath((project, action)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrival = state.control.count_request();
    if action != "messages:send" {
        return fcm_error(StatusCode::NOT_FOUND, "NOT_FOUND", None, "Not found", None);
    }
    if let Some(failure) = state.control.take_failure(arrival) {
        let status =
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (grpc, code) = failure_shape(status);
        let response = fcm_error(status, grpc, code, "planned failure", None);
        return with_retry_after(response, failure.retry_after);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| lock(&state.issued).contains(token)) {
        return fcm_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            None,
        );
    }
    if project != FcmMock::PROJECT_ID {
        return fcm_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            Some("SENDER_ID_MISMATCH"),
            "SenderId mismatch",
            None,
        );
    }
    if !content_type_is(&headers, "application/json") {
        return invalid_argument(
            "Invalid JSON payload received. Unexpected Content-Type.",
            None,
        );
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return invalid_argument("Invalid JSON payload received.", None);
    };
    if let Err(response) = validate_message(&payload["message"]) {
        return *response;
    }
    let token = payload["message"]["token"].as_str().unwrap_or_default();
    if token.starts_with("unregistered") {
        return fcm_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            Some("UNREGISTERED"),
            "Requested entity was not found.",
            None,
        );
    }
    let n = state.next_message.fetch_add(1, Ordering::SeqCst);
    lock(&state.messages).push((Instant::now(), Box::from(&body[..])));
    state.control.accept();
    state.control.pause().await;
    let name = format!("projects/{}/messages/{n}", FcmMock::PROJECT_ID);
    axum::Json(json!({ "name": name })).into_response()
}

/// Whom a message is for: its token, topic or condition.
fn target(message: &Value) -> String {
    let text = |field| message[field].as_str();
    match (text("token"), text("topic"), text("condition")) {
        (Some(token), _, _) => token.to_owned(),
        (None, Some(topic), _) => format!("topic:{topic}"),
        (None, None, condition) => format!("condition:{}", condition.unwrap_or_default()),
    }
}

/// A stored body, which parsed when it was accepted.
fn parse_accepted(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("an accepted body is JSON")
}

/// The checks FCM applies that a client can get wrong.
fn validate_message(message: &Value) -> Result<(), Box<Response>> {
    if !message.is_object() {
        return Err(Box::new(invalid_argument(
            "Request contains an invalid argument.",
            Some("message"),
        )));
    }
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|t| message.get(**t).is_some())
        .count();
    if targets != 1 {
        return Err(Box::new(invalid_argument(
            "Exactly one of token, topic or condition must be set.",
            Some("message"),
        )));
    }
    match message.get("token").and_then(Value::as_str) {
        Some(token) if token.starts_with("invalid") || token.is_empty() => {
            return Err(Box::new(fcm_error(
                StatusCode::BAD_REQUEST,
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                "The registration token is not a valid FCM registration token",
                Some("message.token"),
            )));
        }
        _ => {}
    }
    if let Some(data) = message.get("data") {
        let all_strings = data
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_string));
        if !all_strings {
            return Err(Box::new(invalid_argument(
                "Invalid value at 'message.data'",
                Some("message.data"),
            )));
        }
    }
    let android = &message["android"];
    if let Some(priority) = android.get("priority")
        && !matches!(priority.as_str(), Some("HIGH" | "NORMAL"))
    {
        return Err(Box::new(invalid_argument(
            "Invalid value at 'message.android.priority'",
            Some("message.android.priority"),
        )));
    }
    if let Some(ttl) = android.get("ttl") {
        let valid = ttl
            .as_str()
            .and_then(|t| t.strip_suffix('s'))
            .is_some_and(|secs| !secs.is_empty() && secs.parse::<f64>().is_ok_and(|s| s >= 0.0));
        if !valid {
            return Err(Box::new(invalid_argument(
                "Invalid value at 'message.android.ttl'",
                Some("message.android.ttl"),
            )));
        }
    }
    Ok(())
}

fn failure_shape(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status.as_u16() {
        400 => ("INVALID_ARGUMENT", Some("INVALID_ARGUMENT")),
        401 => ("UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR")),
        403 => ("PERMISSION_DENIED", None),
        404 => ("NOT_FOUND", Some("UNREGISTERED")),
        429 => ("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")),
        503 => ("UNAVAILABLE", Some("UNAVAILABLE")),
        500 => ("INTERNAL", Some("INTERNAL")),
        _ => ("UNKNOWN", None),
    }
}

fn invalid_argument(message: &str, field: Option<&str>) -> Response {
    fcm_error(
        StatusCode::BAD_REQUEST,
        "INVALID_ARGUMENT",
        None,
        message,
        field,
    )
}

/// Google's error envelope, with the FcmError detail and the BadRequest
/// field violation where the real API includes them.
fn fcm_error(
    status: StatusCode,
    grpc_status: &str,
    fcm_code: Option<&str>,
    message: &str,
    field: Option<&str>,
) -> Response {
    let mut details = Vec::new();
    if let Some(code) = fcm_code {
        details.push(json!({
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": code,
        }));
    }
    if let Some(field) = field {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": message }],
        }));
    }
    let body = json!({
        "error": {
            "code": status.as_u16(),
            "message": message,
            "status": grpc_status,
            "details": details,
        }
    });
    (status, axum::Json(body)).into_response()
}
