//! People in the console: accounts (created by an admin) and sessions.
//!
//! - `POST /api/v1/accounts` (admin): a username for one role (and
//!   organisation, for an executor), without a password: the answer holds
//!   the one-time enrolment link with which its owner chooses one
//!   (`enrolment.rs`).
//! - `POST /api/v1/session`: sign in; sets an HttpOnly, SameSite=Strict
//!   cookie and answers with the CSRF token that every request that
//!   changes something must carry in `X-CSRF-Token`.
//! - `GET /api/v1/session`: who is signed in (and the CSRF token again,
//!   for a reloaded page; another site cannot read this answer).
//! - `DELETE /api/v1/session`: sign out.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::enrolment::{issued, new_link};
use super::error::ApiError;
use super::extract::{ApiJson, Caller, SESSION_COOKIE, session_cookie, session_of};
use super::journal::{actor, record};
use crate::domain::OrgId;
use crate::domain::account::{PasswordHash, SESSION_HOURS, SessionId, Username};
use crate::domain::auth::{ApiToken, Role, TokenHash, random_urlsafe};
use crate::domain::text::Text;
use crate::store::{NewAccount, Session};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    username: String,
    /// Refused: the owner chooses the password through the link, so that
    /// no admin knows it (the two-person rule binds people).
    password: Option<serde::de::IgnoredAny>,
    /// How approvals and the journal name the person; the username if
    /// absent.
    name: Option<String>,
    role: String,
    organisation_id: Option<i64>,
}

/// `POST /api/v1/accounts` (admin).
pub async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AccountIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    if body.password.is_some() {
        return Err(ApiError::invalid(
            "password",
            "the account's owner chooses the password through the enrolment link this \
             request returns; leave the field out",
        ));
    }
    let username = Username::parse(&body.username).map_err(|e| ApiError::invalid("username", e))?;
    crate::domain::actor::check_name(username.as_str())
        .map_err(|e| ApiError::invalid("username", e))?;
    let name = body.name.as_deref().unwrap_or(username.as_str());
    let display_name: Text<100> = Text::parse(name).map_err(|e| ApiError::invalid("name", e))?;
    crate::domain::actor::check_name(display_name.as_str())
        .map_err(|e| ApiError::invalid("name", e))?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::invalid("role", "must be admin, executor or civil_protection"))?;
    let organisation = match (role, body.organisation_id) {
        (Role::Executor, Some(id)) => Some(OrgId(id)),
        (Role::Executor, None) => {
            return Err(ApiError::invalid(
                "organisation_id",
                "an executor's account belongs to one organisation",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "organisation_id",
                "only an executor's account belongs to an organisation",
            ));
        }
        (_, None) => None,
    };
    let (token, link) = new_link(Utc::now());
    let account = state
        .store
        .create_account(&NewAccount {
            username,
            display_name,
            role,
            organisation,
            principal: ApiToken::generate().hash(),
            enrolment: link.clone(),
        })
        .await?;
    record(
        &state,
        actor(&caller.0),
        "account.created",
        format!("account/{}", account.id),
        json!({"username": account.username, "role": role.as_str(),
               "organisation_id": account.organisation_id}),
    )
    .await;
    let body = issued(&state, &caller, &account, (&token, &link), json!({})).await;
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
}

/// `POST /api/v1/session`: sign in.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let password = body.password;
    let found = match Username::parse(&body.username) {
        Ok(name) => state.store.login_record(&name).await?,
        Err(_) => None,
    };
    let Some(login) = found else {
        return Err(wrong_credentials(password).await);
    };
    if login.locked_at(now) {
        return Err(locked(login.locked_until.unwrap_or(now)));
    }
    let Some(hash) = login.hash.clone() else {
        // Not enrolled yet: nothing signs in, and it looks like a wrong
        // password.
        return Err(wrong_credentials(password).await);
    };
    let right = tokio::task::spawn_blocking(move || hash.verify(&password))
        .await
        .map_err(ApiError::internal)?;
    if !right {
        let lock = state.store.login_failed(login.account, now).await?;
        if let Some(until) = lock {
            tracing::warn!(account = login.account, %until, "console account locked after wrong passwords");
            record(
                &state,
                "system".to_owned(),
                "account.locked",
                format!("account/{}", login.account),
                json!({"until": until}),
            )
            .await;
        }
        return Err(ApiError::WrongCredentials);
    }
    let (session, cookie) = open(&state, &headers, login.account, now).await?;
    signed_in(&state, &session).await;
    Ok(([(SET_COOKIE, cookie)], Json(describe(&session))).into_response())
}

/// Opens a new session for `account` (after its password, or its
/// enrolment), ending the one the browser presented; returns it and its
/// cookie.
pub(super) async fn open(
    state: &AppState,
    headers: &HeaderMap,
    account: i64,
    now: chrono::DateTime<Utc>,
) -> Result<(Session, HeaderValue), ApiError> {
    let id = SessionId::generate();
    let csrf = random_urlsafe(32);
    let expires_at = now + Duration::hours(SESSION_HOURS);
    let presented = session_cookie(headers).map(TokenHash::of);
    state
        .store
        .open_session(account, &id.hash(), &csrf, expires_at, presented.as_ref())
        .await?;
    let session = state
        .store
        .session(&id.hash(), now)
        .await?
        .ok_or_else(|| ApiError::internal("a session just opened is missing"))?;
    let cookie = cookie(state, id.expose(), SESSION_HOURS * 3600)?;
    Ok((session, cookie))
}

pub(super) async fn signed_in(state: &AppState, session: &Session) {
    record(
        state,
        actor(&session.principal),
        "account.signed_in",
        format!("account/{}", session.account),
        json!({"username": session.username}),
    )
    .await;
}

/// The answer for an unknown username, after the time a wrong password
/// takes.
async fn wrong_credentials(password: String) -> ApiError {
    match tokio::task::spawn_blocking(move || PasswordHash::verify_nothing(&password)).await {
        Ok(()) => ApiError::WrongCredentials,
        Err(e) => ApiError::internal(e),
    }
}

fn locked(until: chrono::DateTime<Utc>) -> ApiError {
    ApiError::TooManyAttempts(format!(
        "too many wrong passwords: this account is locked until {} UTC",
        until.format("%H:%M:%S")
    ))
}

/// `GET /api/v1/session`.
pub async fn current(State(state): State<AppState>, parts: Parts) -> Result<Json<Value>, ApiError> {
    Ok(Json(describe(&session_of(&parts, &state).await?)))
}

/// `DELETE /api/v1/session`: sign out (needs the CSRF token, so another
/// site cannot sign a duty officer out).
pub async fn sign_out(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let session = session_of(&parts, &state).await?;
    if let Some(id) = session_cookie(&parts.headers) {
        state.store.close_session(&TokenHash::of(id)).await?;
    }
    record(
        &state,
        actor(&session.principal),
        "account.signed_out",
        format!("account/{}", session.account),
        json!({}),
    )
    .await;
    let cookie = cookie(&state, "", 0)?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie)]).into_response())
}

pub(super) fn describe(s: &Session) -> Value {
    json!({
        "username": s.username,
        "name": s.principal.name,
        "role": s.principal.role,
        // What the console offers; the approval itself checks again.
        "may_approve": s.principal.may_approve().is_ok(),
        "organisation_id": s.principal.organisation,
        "csrf_token": s.csrf_token,
        "expires_at": s.expires_at,
    })
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Strict (no
/// other site's request carries it), Secure when the service is public
/// over HTTPS.
fn cookie(state: &AppState, value: &str, max_age: i64) -> Result<HeaderValue, ApiError> {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).map_err(ApiError::internal)
}
