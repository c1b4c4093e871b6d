//! Enrolment links: how a person chooses their own console password, so
//! that nobody else, an admin included, ever knows it.
//!
//! - `GET /api/v1/accounts` (admin): the accounts and who set each
//!   password.
//! - `POST /api/v1/accounts/{id}/enrolment` (admin): a new link for a lost
//!   password; the old password, older links and open sessions stop
//!   working at once.
//! - `POST /api/v1/enrolment` (public) `{"token", "password"}`: uses the
//!   link once and signs its owner in.
//!
//! A link's token is 256 random bits, stored only as its SHA-256 and
//! carried in the URL fragment, so no server or proxy logs it; it is
//! never journaled or logged here either. The public endpoint takes no
//! username, so it tells nobody which accounts exist, and it hashes a
//! password only for a link that works, so strangers cannot make it
//! spend Argon2 time.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller, IdPath};
use super::journal::{actor, record};
use super::session::{describe, open, signed_in};
use crate::domain::account::{ENROLMENT_HOURS, EnrolmentToken, LinkState, Password};
use crate::domain::auth::TokenHash;
use crate::store::{Account, NewEnrolment};

/// A fresh link: the token to show once, and what the store keeps.
pub(super) fn new_link(now: DateTime<Utc>) -> (EnrolmentToken, NewEnrolment) {
    let token = EnrolmentToken::generate();
    let link = NewEnrolment {
        token: token.hash(),
        expires_at: now + Duration::hours(ENROLMENT_HOURS),
    };
    (token, link)
}

/// Journals a link issued for `account` and returns the account with the
/// link, which the admin sees this once.
pub(super) async fn issued(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    (token, link): (&EnrolmentToken, &NewEnrolment),
    voided: Value,
) -> Value {
    let mut detail = json!({"username": account.username, "expires_at": link.expires_at});
    if let (Some(d), Some(v)) = (detail.as_object_mut(), voided.as_object()) {
        d.extend(v.clone());
    }
    record(
        state,
        actor(&caller.0),
        "account.enrolment_issued",
        format!("account/{}", account.id),
        detail,
    )
    .await;
    let mut body = json!(account);
    body["enrolment"] = json!({
        "url": token.link(&state.config.public_base()),
        "expires_at": link.expires_at,
    });
    body
}

/// `GET /api/v1/accounts` (admin).
pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let accounts = state.store.list_accounts().await?;
    Ok(Json(json!({ "accounts": accounts })))
}

/// `POST /api/v1/accounts/{id}/enrolment` (admin): a new link.
pub async fn reissue(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let (token, link) = new_link(Utc::now());
    let done = state.store.reissue_enrolment(id, &link).await?;
    let voided = json!({"password_voided": done.had_password,
        "links_replaced": done.links_replaced, "sessions_ended": done.sessions_ended});
    let body = issued(&state, &caller, &done.account, (&token, &link), voided).await;
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolIn {
    token: String,
    password: String,
}

/// `POST /api/v1/enrolment` (public): the owner's password, once.
pub async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EnrolIn>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    // Checked first, so a too short password does not use the link up.
    let password = Password::parse(&body.password).map_err(|e| ApiError::invalid("password", e))?;
    let token = TokenHash::of(body.token.trim());
    usable(state.store.enrolment(&token, now).await?.map(|e| e.state))?;
    // Hashing takes tens of milliseconds of CPU: off the async threads.
    let hash = tokio::task::spawn_blocking(move || password.hash())
        .await
        .map_err(ApiError::internal)?;
    let Some(account) = state.store.enrol(&token, &hash, now).await? else {
        // Used or replaced since it was looked at: say which.
        usable(state.store.enrolment(&token, now).await?.map(|e| e.state))?;
        return Err(gone(
            "this enrolment link no longer works; ask an admin for a new one",
        ));
    };
    tracing::info!(account, "enrolment link used");
    let (session, cookie) = open(&state, &headers, account, now).await?;
    record(
        &state,
        actor(&session.principal),
        "account.enrolment_used",
        format!("account/{account}"),
        json!({"username": session.username}),
    )
    .await;
    signed_in(&state, &session).await;
    Ok(([(SET_COOKIE, cookie)], Json(describe(&session))).into_response())
}

/// The error for a link that does not work (any more).
fn usable(state: Option<LinkState>) -> Result<(), ApiError> {
    match state {
        Some(LinkState::Usable) => Ok(()),
        None => Err(ApiError::NotFound(
            "no such enrolment link: check that the whole link was copied, or ask an admin \
             for a new one"
                .to_owned(),
        )),
        Some(LinkState::Used) => Err(gone(
            "this enrolment link was already used: sign in with the password chosen then, or \
             ask an admin for a new link",
        )),
        Some(LinkState::Replaced) => Err(gone(
            "a newer enrolment link was issued for this account: use that one",
        )),
        Some(LinkState::Expired) => Err(gone(
            "this enrolment link has expired: ask an admin for a new one",
        )),
    }
}

fn gone(message: &str) -> ApiError {
    ApiError::Gone(message.to_owned())
}
