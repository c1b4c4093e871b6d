//! A mock of Twilio's Messages and Calls REST resources for one account,
//! plus the other direction: signed status callbacks and keypresses posted
//! to the URLs the client supplied, and incoming SMS from residents.
//!
//! Like Twilio it checks Basic auth, the required form fields and the
//! number format, and answers with Twilio's error JSON. Like a real
//! gateway it does not deduplicate: every accepted request is a new message
//! or call, even one that repeats an earlier idempotency key, so a test sees
//! each resend as the second SMS a resident would get.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::Tally;
use crate::control::{Control, Server, content_type_is, lock, random_hex, with_retry_after};

const API_VERSION: &str = "2010-04-01";
/// Twilio's magic test number for "invalid To".
const INVALID_NUMBER: &str = "+15005550001";

/// One message or call the mock created.
#[derive(Debug, Clone, PartialEq)]
pub struct TwilioRequest {
    /// `SM…` or `CA…`, as returned to the client.
    pub sid: String,
    /// The form fields in the order sent; repeated fields appear repeatedly.
    pub params: Vec<(String, String)>,
    /// The `I-Twilio-Idempotency-Token` header.
    pub idempotency_token: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// All request headers with lowercase names, except Authorization.
    pub headers: Vec<(String, String)>,
}

impl TwilioRequest {
    /// The first value of a form field.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A request header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated form field, e.g. `StatusCallbackEvent`.
    pub fn params_named(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Resource {
    Messages,
    Calls,
}

/// What the service answered to a webhook the mock posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// The mock Twilio account; see the module docs.
#[derive(Debug)]
pub struct TwilioMock {
    state: Arc<TwilioState>,
    server: Server,
    http: reqwest::Client,
}

#[derive(Debug)]
struct TwilioState {
    control: Control,
    messages: Mutex<Vec<TwilioRequest>>,
    calls: Mutex<Vec<TwilioRequest>>,
    /// Idempotency keys of created messages and calls, by resource.
    keys_seen: Mutex<HashSet<(Resource, String)>>,
    repeated_keys: AtomicUsize,
}

impl TwilioMock {
    pub const ACCOUNT_SID: &'static str = "AC0123456789abcdef0123456789abcdef";
    pub const AUTH_TOKEN: &'static str = "testkit-auth-token-0123456789abcd";

    pub async fn start() -> TwilioMock {
        let state = Arc::new(TwilioState {
            control: Control::new(),
            messages: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            keys_seen: Mutex::new(HashSet::new()),
            repeated_keys: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/2010-04-01/Accounts/{account}/{resource}", post(create))
            .with_state(state.clone());
        TwilioMock {
            state,
            server: Server::http(router).await,
            http: reqwest::Client::new(),
        }
    }

    /// For `base_url` in the SMS and voice configs.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Created messages, oldest first.
    pub fn messages(&self) -> Vec<TwilioRequest> {
        lock(&self.state.messages).clone()
    }

    /// Created calls, oldest first.
    pub fn calls(&self) -> Vec<TwilioRequest> {
        lock(&self.state.calls).clone()
    }

    /// Created messages per `To` number, identical copies counted.
    pub fn tally(&self) -> Tally {
        tally_of(&self.state.messages, "Body")
    }

    /// Created calls per `To` number; the content is the TwiML (or Url).
    pub fn call_tally(&self) -> Tally {
        tally_of(&self.state.calls, "Twiml")
    }

    /// Created messages and calls whose idempotency key an earlier created
    /// one of the same resource already carried. Informational only: each
    /// of them was created and recorded like any other.
    pub fn repeated_keys(&self) -> usize {
        self.state.repeated_keys.load(Ordering::SeqCst)
    }

    /// Every request in arrival order, with its time and planned failure.
    pub fn arrivals(&self) -> Vec<crate::Arrival> {
        self.state.control.arrivals()
    }

    /// HTTP requests received, rejected ones included.
    pub fn request_count(&self) -> usize {
        self.state.control.requests()
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.control.set_delay(delay);
    }

    /// The next `count` requests get `status` with Twilio's error JSON (code
    /// 20429 for 429, 20500 otherwise) and an optional Retry-After.
    pub fn fail_next(&self, count: usize, status: u16, retry_after: Option<Duration>) {
        self.state.control.fail_next(count, status, retry_after);
    }

    /// Messages and calls created so far, without copying them.
    pub fn accepted(&self) -> usize {
        self.state.control.accepted()
    }

    /// Waits until `count` messages and calls have been created in total.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> bool {
        self.state.control.wait_for(count, timeout).await
    }

    /// Posts Twilio's status callback for a created message or call to the
    /// StatusCallback URL it was created with, signed with
    /// `X-Twilio-Signature`, and returns the HTTP status the receiver
    /// answered. Failed/undelivered messages carry ErrorCode 30008.
    ///
    /// Panics when the sid is unknown, had no StatusCallback, or the
    /// receiver is unreachable: all are test bugs.
    pub async fn send_status_callback(&self, sid: &str, status: &str) -> u16 {
        self.send_status_callback_with_error(sid, status, None)
            .await
    }

    /// Like [`TwilioMock::send_status_callback`] with a chosen ErrorCode
    /// (e.g. "30005" unknown handset).
    pub async fn send_status_callback_with_error(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
    ) -> u16 {
        let (resource, request) = self.find(sid);
        let url = request
            .param("StatusCallback")
            .unwrap_or_else(|| panic!("{sid} was created without a StatusCallback"))
            .to_owned();
        let mut params = common_params(&request);
        match resource {
            Resource::Messages => {
                params.extend(pairs(&[
                    ("MessageSid", sid),
                    ("SmsSid", sid),
                    ("MessageStatus", status),
                    ("SmsStatus", status),
                ]));
                let failed = matches!(status, "failed" | "undelivered");
                if let Some(code) = error_code.or(failed.then_some("30008")) {
                    params.push(("ErrorCode".to_owned(), code.to_owned()));
                }
            }
            Resource::Calls => {
                params.extend(pairs(&[
                    ("CallSid", sid),
                    ("CallStatus", status),
                    ("Direction", "outbound-api"),
                    ("CallbackSource", "call-progress-events"),
                ]));
                if status == "completed" {
                    params.push(("CallDuration".to_owned(), "12".to_owned()));
                }
                if let Some(code) = error_code {
                    params.push(("ErrorCode".to_owned(), code.to_owned()));
                }
            }
        }
        self.post_signed(&url, &params).await
    }

    /// Simulates the resident pressing `digits` during a call: posts the
    /// `<Gather>` result to the action URL from the call's TwiML, signed.
    pub async fn press_digits(&self, call_sid: &str, digits: &str) -> u16 {
        let (_, request) = self.find(call_sid);
        let twiml = request.param("Twiml").unwrap_or_default();
        let url = gather_action(twiml)
            .unwrap_or_else(|| panic!("{call_sid} has no <Gather action=...> in its TwiML"));
        let mut params = common_params(&request);
        params.extend(pairs(&[
            ("CallSid", call_sid),
            ("CallStatus", "in-progress"),
            ("Direction", "outbound-api"),
            ("Digits", digits),
            ("FinishedOnKey", ""),
        ]));
        self.post_signed(&url, &params).await
    }

    /// Simulates a resident texting `body` from `from` to the city's number
    /// `to`: posts Twilio's incoming-message webhook to `url`, signed, and
    /// returns what the receiver answered (TwiML for Twilio to act on).
    pub async fn send_inbound_sms(&self, url: &str, from: &str, to: &str, body: &str) -> Reply {
        let sid = format!("SM{}", random_hex(16));
        let params = pairs(&[
            ("AccountSid", Self::ACCOUNT_SID),
            ("ApiVersion", API_VERSION),
            ("MessageSid", &sid),
            ("SmsMessageSid", &sid),
            ("SmsSid", &sid),
            ("SmsStatus", "received"),
            ("From", from),
            ("To", to),
            ("Body", body),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
        ]);
        let response = self.signed_request(url, &params).await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.unwrap_or_default();
        Reply {
            status,
            content_type,
            body,
        }
    }

    fn find(&self, sid: &str) -> (Resource, TwilioRequest) {
        let in_list =
            |list: &Mutex<Vec<TwilioRequest>>| lock(list).iter().find(|r| r.sid == sid).cloned();
        in_list(&self.state.messages)
            .map(|r| (Resource::Messages, r))
            .or_else(|| in_list(&self.state.calls).map(|r| (Resource::Calls, r)))
            .unwrap_or_else(|| panic!("the Twilio mock never created {sid}"))
    }

    async fn post_signed(&self, url: &str, params: &[(String, String)]) -> u16 {
        self.signed_request(url, params).await.status().as_u16()
    }

    async fn signed_request(&self, url: &str, params: &[(String, String)]) -> reqwest::Response {
        self.http
            .post(url)
            .header(
                "X-Twilio-Signature",
                signature(Self::AUTH_TOKEN, url, params),
            )
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .form(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("posting a Twilio callback to {url} failed: {e}"))
    }
}

/// Computes `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, url + each
/// distinct name and value, sorted by name then value)).
///
/// Implemented here as well as in tocsin-channels on purpose: the testkit
/// must not depend on the code it tests, and a test checks both agree.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn common_params(request: &TwilioRequest) -> Vec<(String, String)> {
    pairs(&[
        ("AccountSid", TwilioMock::ACCOUNT_SID),
        ("From", request.param("From").unwrap_or_default()),
        ("To", request.param("To").unwrap_or_default()),
        ("ApiVersion", API_VERSION),
    ])
}

/// The unescaped `action` attribute of the first `<Gather>`.
fn gather_action(twiml: &str) -> Option<String> {
    let gather = &twiml[twiml.find("<Gather")?..];
    let start = gather.find("action=\"")? + "action=\"".len();
    let end = start + gather[start..].find('"')?;
    Some(
        gather[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

async fn create(
    State(state): State<Arc<TwilioState>>,
    UrlPath((account, resource)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrival = state.control.count_request();
    let resource = match resource.as_str() {
        "Messages.json" => Resource::Messages,
        "Calls.json" => Resource::Calls,
        _ => {
            return twilio_error(
                StatusCode::NOT_FOUND,
                20404,
                "The requested resource was not found",
            );
        }
    };
    if let Some(failure) = state.control.take_failure(arrival) {
        let status =
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = if status == StatusCode::TOO_MANY_REQUESTS {
            20429
        } else {
            20500
        };
        let response = twilio_error(status, code, "planned failure");
        return with_retry_after(response, failure.retry_after);
    }
    if !authorized(&headers) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if account != TwilioMock::ACCOUNT_SID {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let idempotency_token = header_text("I-Twilio-Idempotency-Token");
    let idempotency_key = header_text("Idempotency-Key");
    // Twilio reads the form regardless of content type, so a JSON body
    // simply looks like a request with no fields.
    let params: Vec<(String, String)> =
        if content_type_is(&headers, "application/x-www-form-urlencoded") {
            serde_urlencoded::from_bytes(&body).unwrap_or_default()
        } else {
            Vec::new()
        };
    let request = TwilioRequest {
        sid: String::new(),
        params,
        idempotency_token,
        idempotency_key,
        headers: headers
            .iter()
            .filter(|(name, _)| *name != header::AUTHORIZATION)
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
    };
    if let Err(response) = validate(resource, &request) {
        return *response;
    }
    let prefix = match resource {
        Resource::Messages => "SM",
        Resource::Calls => "CA",
    };
    let request = TwilioRequest {
        sid: format!("{prefix}{}", random_hex(16)),
        ..request
    };
    let answer = resource_json(resource, &request);
    note_key(&state, resource, &request);
    match resource {
        Resource::Messages => lock(&state.messages).push(request),
        Resource::Calls => lock(&state.calls).push(request),
    }
    state.control.accept();
    state.control.pause().await;
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

/// Counts a created request whose idempotency key was used before.
fn note_key(state: &TwilioState, resource: Resource, request: &TwilioRequest) {
    let key = request.idempotency_token.as_ref();
    if let Some(key) = key.or(request.idempotency_key.as_ref())
        && !lock(&state.keys_seen).insert((resource, key.clone()))
    {
        state.repeated_keys.fetch_add(1, Ordering::SeqCst);
    }
}

/// Per `To` number, with the `content` field (or `Url` when absent) as
/// what the person reads or hears.
fn tally_of(list: &Mutex<Vec<TwilioRequest>>, content: &str) -> Tally {
    let mut tally = Tally::new();
    for request in lock(list).iter() {
        let text = request.param(content).or_else(|| request.param("Url"));
        tally.record(request.param("To").unwrap_or_default(), text);
    }
    tally
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!("{}:{}", TwilioMock::ACCOUNT_SID, TwilioMock::AUTH_TOKEN);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| BASE64.decode(b64.trim()).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes())
}

/// Twilio's checks on required fields, with its own error codes.
fn validate(resource: Resource, request: &TwilioRequest) -> Result<(), Box<Response>> {
    let bad = |code, message: String| {
        Err(Box::new(twilio_error(
            StatusCode::BAD_REQUEST,
            code,
            &message,
        )))
    };
    let to = request.param("To").unwrap_or_default();
    let from = request.param("From").unwrap_or_default();
    match resource {
        Resource::Messages => {
            if to.is_empty() {
                return bad(21604, "A 'To' phone number is required.".into());
            }
            if from.is_empty() {
                return bad(21603, "A 'From' phone number is required.".into());
            }
            if request.param("Body").is_none_or(str::is_empty) {
                return bad(21602, "Message body is required.".into());
            }
        }
        Resource::Calls => {
            if to.is_empty() {
                return bad(21201, "No 'To' number is specified".into());
            }
            if from.is_empty() {
                return bad(21213, "No 'From' number is specified".into());
            }
            match (request.param("Twiml"), request.param("Url")) {
                (None, None) => return bad(21205, "Url parameter is required.".into()),
                (Some(twiml), _) if !twiml.contains("<Response>") => {
                    return bad(12100, "Document parse failure".into());
                }
                _ => {}
            }
            if request
                .param("Timeout")
                .is_some_and(|t| t.parse::<u32>().is_err())
            {
                return bad(21216, "Timeout must be a number of seconds".into());
            }
        }
    }
    let digits = to.strip_prefix('+').unwrap_or_default();
    let e164 = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if !e164 || to == INVALID_NUMBER {
        return bad(
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if let Some(callback) = request.param("StatusCallback")
        && !(callback.starts_with("http://") || callback.starts_with("https://"))
    {
        return bad(21609, "The StatusCallback URL is not a valid URL.".into());
    }
    Ok(())
}

fn resource_json(resource: Resource, request: &TwilioRequest) -> Value {
    let collection = match resource {
        Resource::Messages => "Messages",
        Resource::Calls => "Calls",
    };
    let uri = format!(
        "/{API_VERSION}/Accounts/{}/{collection}/{}.json",
        TwilioMock::ACCOUNT_SID,
        request.sid
    );
    let mut answer = json!({
        "sid": request.sid,
        "account_sid": TwilioMock::ACCOUNT_SID,
        "to": request.param("To"),
        "from": request.param("From"),
        "status": "queued",
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": chrono::Utc::now().to_rfc2822(),
        "uri": uri,
    });
    if resource == Resource::Messages {
        answer["body"] = json!(request.param("Body"));
        answer["error_code"] = Value::Null;
        answer["error_message"] = Value::Null;
    }
    answer
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}
