//! A mock of Apple's APNs provider API, served over h2c.
//!
//! It verifies the ES256 provider token (kid, iss, age, signature) with the
//! test key, checks the headers Apple checks, answers with Apple's reason
//! bodies, and records the HTTP version so tests can prove the client
//! really spoke HTTP/2.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Tally;
use crate::control::{Control, Server, group_times, lock, random_hex, with_retry_after};
use crate::keys::{APNS_PRIVATE_KEY_PEM, APNS_PUBLIC_KEY_PEM};

const MAX_PAYLOAD_BYTES: usize = 4096;

/// One accepted notification as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApnsRequest {
    /// The device token from the path.
    pub device_token: String,
    /// `HTTP/2.0` for a correct client.
    pub http_version: String,
    pub topic: Option<String>,
    pub push_type: Option<String>,
    pub priority: Option<String>,
    pub expiration: Option<String>,
    pub collapse_id: Option<String>,
    pub apns_id: Option<String>,
    pub body: Value,
}

/// An accepted notification as kept: the body as received and parsed
/// again when read, because a parsed `Value` per message costs kilobytes
/// (see `FcmMock`'s messages).
#[derive(Debug)]
struct Accepted {
    at: Instant,
    /// Everything but the body, which is `Value::Null` here.
    head: ApnsRequest,
    body: Box<[u8]>,
}

impl Accepted {
    fn request(&self) -> ApnsRequest {
        ApnsRequest {
            body: serde_json::from_slice(&self.body).expect("an accepted body is JSON"),
            ..self.head.clone()
        }
    }
}

/// The mock APNs; see the module docs.
#[derive(Debug)]
pub struct ApnsMock {
    state: Arc<ApnsState>,
    server: Server,
}

#[derive(Debug)]
struct ApnsState {
    control: Control,
    /// Accepted notifications with the moment each was accepted.
    requests: Mutex<Vec<Accepted>>,
    /// Valid provider tokens seen, with their `iat`: verifying ES256 on
    /// every request would make the mock, not the client, the bottleneck
    /// of a load test, and Apple too checks a connection's token once.
    seen_tokens: Mutex<HashMap<String, i64>>,
    expired_tokens: Mutex<HashSet<String>>,
}

impl ApnsMock {
    pub const KEY_ID: &'static str = "TESTKEY123";
    pub const TEAM_ID: &'static str = "TESTTEAM42";
    pub const TOPIC: &'static str = "org.tocsin.app";

    pub async fn start() -> ApnsMock {
        let state = Arc::new(ApnsState {
            control: Control::new(),
            requests: Mutex::new(Vec::new()),
            seen_tokens: Mutex::new(HashMap::new()),
            expired_tokens: Mutex::new(HashSet::new()),
        });
        let router = Router::new()
            .route("/3/device/{token}", post(push))
            .with_state(state.clone());
        ApnsMock {
            state,
            server: Server::http(router).await,
        }
    }

    /// For `ApnsConfig::base_url` (plain http: the client must use h2c).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Writes the `.p8` signing key into `dir` and returns its path.
    pub fn write_key(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("AuthKey_{}.p8", Self::KEY_ID));
        std::fs::write(&path, APNS_PRIVATE_KEY_PEM).expect("write the mock APNs key");
        path
    }

    /// Accepted notifications, oldest first.
    pub fn requests(&self) -> Vec<ApnsRequest> {
        lock(&self.state.requests)
            .iter()
            .map(Accepted::request)
            .collect()
    }

    /// Accepted notifications per device token; the content is the
    /// payload as received, which is what the device shows.
    pub fn tally(&self) -> Tally {
        let requests = lock(&self.state.requests);
        requests
            .iter()
            .map(|a| (a.head.device_token.as_str(), &a.body))
            .collect()
    }

    /// The last `n` accepted notifications with the size of each body as
    /// received: the benchmark checks its bare client sends the same.
    pub fn recent(&self, n: usize) -> Vec<(ApnsRequest, usize)> {
        let requests = lock(&self.state.requests);
        let from = requests.len().saturating_sub(n);
        requests[from..]
            .iter()
            .map(|a| (a.request(), a.body.len()))
            .collect()
    }

    /// When each accepted notification arrived, grouped by `key` (see
    /// `FcmMock::accepted_at`).
    pub fn accepted_at<K: Hash + Eq>(
        &self,
        key: impl Fn(&ApnsRequest) -> Option<K>,
    ) -> HashMap<K, Vec<Instant>> {
        let requests = lock(&self.state.requests);
        group_times(requests.iter().map(|a| (a.at, key(&a.request()))))
    }

    /// A provider token this mock accepts, signed with the test key, for a
    /// client that does not build its own (the benchmark's bare client).
    pub fn provider_token() -> String {
        use jsonwebtoken::{EncodingKey, Header};
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(Self::KEY_ID.to_owned());
        let claims = json!({ "iss": Self::TEAM_ID, "iat": chrono::Utc::now().timestamp() });
        let key = EncodingKey::from_ec_pem(APNS_PRIVATE_KEY_PEM.as_bytes()).expect("test key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign the provider token")
    }

    /// Distinct valid provider tokens (JWTs) presented so far; a client that
    /// reuses its token as Apple asks keeps this at 1.
    pub fn provider_tokens_seen(&self) -> usize {
        lock(&self.state.seen_tokens).len()
    }

    /// Treats every provider token seen so far as expired, so the next
    /// request with one gets 403 ExpiredProviderToken.
    pub fn expire_provider_tokens(&self) {
        let seen: Vec<String> = lock(&self.state.seen_tokens).keys().cloned().collect();
        lock(&self.state.expired_tokens).extend(seen);
    }

    /// HTTP requests received, rejected ones included.
    pub fn request_count(&self) -> usize {
        self.state.control.requests()
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.control.set_delay(delay);
    }

    /// The next `count` requests get `status` with Apple's matching reason
    /// (429 TooManyRequests, 500 InternalServerError, 503
    /// ServiceUnavailable, 410 Unregistered, 400 BadDeviceToken, 403
    /// ExpiredProviderToken) and an optional Retry-After.
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<Duration>) {
        self.state.control.fail_next(count, status, retry_after);
    }

    /// Messages accepted so far, without copying them.
    pub fn accepted(&self) -> usize {
        self.state.control.accepted()
    }

    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        self.state.control.wait_for(count, timeout).await
    }
}

async fn push(
    State(state): State<Arc<ApnsState>>,
    UrlPath(device_token): UrlPath<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrival = state.control.count_request();
    match check(&state, arrival, &device_token, version, &headers, &body) {
        Ok(mut request) => {
            let apns_id = request
                .apns_id
                .clone()
                .unwrap_or_else(|| uuid_like(&random_hex(16)));
            request.body = Value::Null;
            lock(&state.requests).push(Accepted {
                at: Instant::now(),
                head: request,
                body: Box::from(&body[..]),
            });
            state.control.accept();
            state.control.pause().await;
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().insert(
                "apns-id",
                HeaderValue::from_str(&apns_id).expect("uuid is a valid header"),
            );
            response
        }
        Err(response) => *response,
    }
}

fn check(
    state: &ApnsState,
    arrival: usize,
    device_token: &str,
    version: Version,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ApnsRequest, Box<Response>> {
    if let Some(failure) = state.control.take_failure(arrival) {
        let status =
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = match status.as_u16() {
            400 => "BadDeviceToken",
            403 => "ExpiredProviderToken",
            410 => "Unregistered",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            _ => "InternalServerError",
        };
        let response = with_retry_after(apns_error(status, reason), failure.retry_after);
        return Err(Box::new(response));
    }
    if version != Version::HTTP_2 {
        let response = apns_error(StatusCode::HTTP_VERSION_NOT_SUPPORTED, "HTTP2Required");
        return Err(Box::new(response));
    }
    check_provider_token(state, headers)?;
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bad = |reason| Err(Box::new(apns_error(StatusCode::BAD_REQUEST, reason)));
    let is_hex = device_token.len() >= 64 && device_token.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex {
        return bad("BadDeviceToken");
    }
    match text("apns-topic").as_deref() {
        None => return bad("MissingTopic"),
        Some(ApnsMock::TOPIC) => {}
        Some(_) => return bad("DeviceTokenNotForTopic"),
    }
    let push_type = text("apns-push-type");
    if !matches!(
        push_type.as_deref(),
        None | Some("alert" | "background" | "voip" | "complication" | "fileprovider" | "mdm")
    ) {
        return bad("InvalidPushType");
    }
    let priority = text("apns-priority");
    if !matches!(priority.as_deref(), None | Some("10" | "5" | "1")) {
        return bad("BadPriority");
    }
    let expiration = text("apns-expiration");
    if expiration
        .as_deref()
        .is_some_and(|e| e.parse::<u64>().is_err())
    {
        return bad("BadExpirationDate");
    }
    let collapse_id = text("apns-collapse-id");
    if collapse_id.as_deref().is_some_and(|c| c.len() > 64) {
        return bad("BadCollapseId");
    }
    let apns_id = text("apns-id");
    if apns_id.as_deref().is_some_and(|id| !is_uuid(id)) {
        return bad("BadMessageId");
    }
    if body.is_empty() {
        return bad("PayloadEmpty");
    }
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(Box::new(apns_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
        )));
    }
    let payload: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) if v.get("aps").is_some_and(Value::is_object) => v,
        _ => return bad("BadRequest"),
    };
    if device_token.starts_with("0000") {
        let timestamp = chrono::Utc::now().timestamp_millis();
        let body = json!({ "reason": "Unregistered", "timestamp": timestamp });
        return Err(Box::new(
            (StatusCode::GONE, axum::Json(body)).into_response(),
        ));
    }
    Ok(ApnsRequest {
        device_token: device_token.to_owned(),
        http_version: format!("{version:?}"),
        topic: text("apns-topic"),
        push_type,
        priority,
        expiration,
        collapse_id,
        apns_id,
        body: payload,
    })
}

#[derive(Deserialize)]
struct ProviderClaims {
    iat: i64,
}

/// Apple's provider-token rules: ES256 with our key id, issued by our team,
/// no older than an hour.
fn check_provider_token(state: &ApnsState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let forbidden = |reason| Err(Box::new(apns_error(StatusCode::FORBIDDEN, reason)));
    let Some(jwt) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("bearer ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
    else {
        return forbidden("MissingProviderToken");
    };
    let cached = lock(&state.seen_tokens).get(jwt).copied();
    let iat = match cached {
        Some(iat) => iat,
        None => verify_provider_token(jwt)?,
    };
    let age = chrono::Utc::now().timestamp() - iat;
    if age > 3600 || lock(&state.expired_tokens).contains(jwt) {
        return forbidden("ExpiredProviderToken");
    }
    if age < -300 {
        return forbidden("InvalidProviderToken");
    }
    if cached.is_none() {
        lock(&state.seen_tokens).insert(jwt.to_owned(), iat);
    }
    Ok(())
}

/// The signature, key id and issuer of a provider token; its `iat`.
fn verify_provider_token(jwt: &str) -> Result<i64, Box<Response>> {
    let forbidden = |reason| Err(Box::new(apns_error(StatusCode::FORBIDDEN, reason)));
    let Ok(jwt_header) = jsonwebtoken::decode_header(jwt) else {
        return forbidden("InvalidProviderToken");
    };
    if jwt_header.alg != Algorithm::ES256 || jwt_header.kid.as_deref() != Some(ApnsMock::KEY_ID) {
        return forbidden("InvalidProviderToken");
    }
    let key = DecodingKey::from_ec_pem(APNS_PUBLIC_KEY_PEM.as_bytes()).expect("test public key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "iat"]);
    validation.set_issuer(&[ApnsMock::TEAM_ID]);
    let Ok(data) = jsonwebtoken::decode::<ProviderClaims>(jwt, &key, &validation) else {
        return forbidden("InvalidProviderToken");
    };
    Ok(data.claims.iat)
}

fn apns_error(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({ "reason": reason }))).into_response()
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn uuid_like(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
    .to_uppercase()
}
