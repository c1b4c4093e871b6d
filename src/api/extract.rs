//! Request extractors: JSON bodies with errors that name the field, and
//! the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::auth::{Principal, TokenHash};

/// A JSON body. Unlike axum's `Json`, a wrong field reports its JSON path
/// (`contacts[1].channel`) so the client knows exactly what to fix.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Reads the body as bytes, mapping an over-limit body to 413.
pub async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(state.config.limits.max_body_bytes)
        } else {
            ApiError::BadRequest(format!("could not read request body: {rejection}"))
        }
    })
}

/// How deeply arrays and objects may nest in a JSON body. The deepest
/// body Tocsin reads, a MultiPolygon in a FeatureCollection, needs 8.
pub const MAX_JSON_DEPTH: usize = 32;

/// Parses a JSON body; a body nested deeper than [`MAX_JSON_DEPTH`] is
/// refused before serde builds anything from it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_nesting(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        } else if path == "." {
            ApiError::invalid("", inner)
        } else {
            ApiError::invalid(path, inner)
        }
    })
}

/// A loop over the bytes, so that no recursion ever sees a deep body:
/// serde's visitors, the zones crate and the drop of a `Value` all recurse
/// once per level. Exact for valid JSON; on invalid JSON it counts at least
/// the levels serde reaches before its syntax error.
fn check_nesting(bytes: &[u8]) -> Result<(), ApiError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    let before = &bytes[..i];
                    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
                    let column = i - before
                        .iter()
                        .rposition(|&c| c == b'\n')
                        .map_or(0, |n| n + 1)
                        + 1;
                    return Err(ApiError::invalid(
                        "",
                        format!(
                            "arrays and objects are nested more than {MAX_JSON_DEPTH} levels deep \
                             (line {line}, column {column}); the limit is {MAX_JSON_DEPTH}"
                        ),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".to_owned(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The single numeric `{id}` of a route, with a JSON error when it is not
/// a number (axum's own `Path` rejection is plain text).
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(IdPath)
            .ok_or_else(|| ApiError::NotFound(format!("\"{raw}\" is not an id")))
    }
}

/// The authenticated caller (`Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs an admin token".to_owned()))
        }
    }
}

/// What an extractor or a shared handler needs from the state of either
/// process (`serve` has `AppState`, `worker` has `Core`).
pub trait Services: Clone + Send + Sync + 'static {
    fn store(&self) -> &std::sync::Arc<dyn crate::store::Store>;
    fn channels(&self) -> &crate::providers::ChannelSet;
}

impl Services for AppState {
    fn store(&self) -> &std::sync::Arc<dyn crate::store::Store> {
        &self.store
    }
    fn channels(&self) -> &crate::providers::ChannelSet {
        &self.channels
    }
}

impl Services for crate::app::Core {
    fn store(&self) -> &std::sync::Arc<dyn crate::store::Store> {
        &self.store
    }
    fn channels(&self) -> &crate::providers::ChannelSet {
        &self.channels
    }
}

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "tocsin_session";
/// The header a signed-in browser sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// Compares without leaking, through timing, how much of a guess matched.
pub(super) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The signed-in session of a request, with its CSRF token checked when
/// the request may change anything: a cookie is sent by the browser on
/// its own, so it alone never proves that the console asked.
pub async fn session_of<S: Services>(
    parts: &Parts,
    state: &S,
) -> Result<crate::store::Session, ApiError> {
    let id = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let session = state
        .store()
        .session(&TokenHash::of(id), chrono::Utc::now())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !parts.method.is_safe() {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent, &session.csrf_token) {
            return Err(ApiError::Forbidden(
                "missing or wrong X-CSRF-Token header for this session; reload the console"
                    .to_owned(),
            ));
        }
    }
    Ok(session)
}

impl<S: Services> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// A bearer token (machines) or the console's session cookie (people).
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller(session_of(parts, state).await?.principal));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let principal = state
            .store()
            .principal(&TokenHash::of(token))
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Caller(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u8,
    }

    #[test]
    fn errors_name_the_field() {
        match parse_json::<Outer>(br#"{"items":[{"n":1},{"n":"x"}]}"#) {
            Err(ApiError::Invalid(e)) => assert_eq!(e.field, "items[1].n"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Outer>(br#"{"items":[],"extra":1}"#) {
            Err(ApiError::Invalid(e)) => assert!(e.message.contains("extra"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_json::<Outer>(b"{\"items\":["),
            Err(ApiError::BadRequest(_))
        ));
    }

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing_naming_the_limit() {
        let ok: serde_json::Value = parse_json(nested(MAX_JSON_DEPTH).as_bytes()).unwrap();
        assert!(ok.is_array());
        for levels in [MAX_JSON_DEPTH + 1, 100_000] {
            match parse_json::<serde_json::Value>(nested(levels).as_bytes()) {
                Err(ApiError::Invalid(e)) => {
                    assert_eq!(e.field, "");
                    assert!(e.message.contains("the limit is 32"), "{e:?}");
                    assert!(e.message.contains("line 1, column 33"), "{e:?}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn brackets_inside_strings_are_not_nesting() {
        let strings = format!(r#"{{"a": "\"{}", "b": [[1]]}}"#, "[{".repeat(100));
        assert!(parse_json::<serde_json::Value>(strings.as_bytes()).is_ok());
        // The outer object and 32 arrays: the 32nd `[` of line 2 is one too many.
        let deep = format!("{{\"s\": \"\\\"[[\",\n{}", nested(MAX_JSON_DEPTH));
        match parse_json::<serde_json::Value>(deep.as_bytes()) {
            Err(ApiError::Invalid(e)) => assert!(e.message.contains("line 2, column 32"), "{e:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(session_cookie(&h), None);
        h.insert(COOKIE, "a=1; tocsin_session=abc ; b=2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert(
            COOKIE,
            "tocsin_session_x=1; tocsin_session=".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(CONTENT_TYPE, "application/geo+json".parse().unwrap());
        assert!(is_json(&h));
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
