//! Residents subscribe themselves, from the public page.
//!
//! - `POST /api/v1/public/subscriptions`: where, what, which language,
//!   and one phone (SMS) or email address. Nothing is stored as a
//!   resident yet: a one-time code goes to the address (`verification`
//!   rules), and the request waits for it.
//! - `POST /api/v1/public/subscriptions/{id}/verify` `{"code"}`: with the
//!   right code the resident exists from now on, and a link to see or
//!   delete the subscription goes to the same address.
//! - `GET /subscription/{token}` shows the subscription; `POST` to the same
//!   link deletes it with all its personal data.
//!
//! Residents' personal data is not journaled (see ARCHITECTURE.md).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_channels::{Address, ChannelKind, Content, OutboundMessage};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, IdPath, same_secret};
use super::feeds::escape;
use super::residents::{ContactIn, LocationIn, ResidentIn, check_zones, insert};
use super::webhooks::document as page;
use crate::domain::verification::{self, CODE_MINUTES, OneTimeCode, Verdict};
use crate::domain::{Category, Language, ResidentId};
use crate::store::{CodeLimit, NewVerification};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeIn {
    language: String,
    location: Option<Point>,
    #[serde(default)]
    zones: Vec<i64>,
    categories: Option<Vec<Category>>,
    quiet_hours: Option<String>,
    /// One phone number (`sms`) or email address, verified by a code.
    contact: Contact,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Point {
    lat: f64,
    lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contact {
    channel: ChannelKind,
    address: String,
}

/// `POST /api/v1/public/subscriptions` (no token).
pub async fn subscribe(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubscribeIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let channel = body.contact.channel;
    if !matches!(channel, ChannelKind::Sms | ChannelKind::Email) {
        return Err(ApiError::invalid(
            "contact.channel",
            "subscribe with a phone number (sms) or an email address",
        ));
    }
    if body.location.is_none() && body.zones.is_empty() {
        return Err(ApiError::invalid(
            "location",
            "choose a point on the map or at least one zone",
        ));
    }
    let address = Address::parse(channel, &body.contact.address)
        .map_err(|e| ApiError::invalid("contact.address", e))?;
    let request = ResidentIn {
        language: body.language,
        location: body.location.map(|p| LocationIn {
            lat: p.lat,
            lon: p.lon,
        }),
        zones: body.zones,
        categories: body.categories,
        contacts: vec![ContactIn {
            channel,
            address: address.as_str().to_owned(),
        }],
        timezone: None,
        quiet_hours: body.quiet_hours,
        channels: None,
    };
    let saved = serde_json::to_string(&request).map_err(ApiError::internal)?;
    let language = Language::parse(&request.language).ok();
    let resident = request.parse().map_err(ApiError::Invalid)?;
    if let Some(e) = check_zones(&state, &[(0, &resident)]).await?.pop() {
        return Err(ApiError::Invalid(e));
    }

    let code = OneTimeCode::generate();
    let now = Utc::now();
    let expires_at = verification::expires_at(now);
    let stored = state
        .store
        .create_verification(
            &NewVerification {
                channel,
                address: address.as_str().to_owned(),
                code_hash: state.links.code_hash(address.as_str(), code.expose()),
                request: saved,
                expires_at,
            },
            now,
            state.config.limits.codes_per_minute,
        )
        .await?;
    let id = match stored {
        Ok(id) => id,
        Err(CodeLimit::Address) => {
            return Err(ApiError::TooManyAttempts(
                "three codes were sent to this address in the last hour; try again later".into(),
            ));
        }
        Err(CodeLimit::Installation) => {
            return Err(ApiError::TooManyAttempts(
                "too many subscriptions right now; try again in a minute".into(),
            ));
        }
    };
    let text = code_text(language.as_ref(), code.expose());
    if let Err(e) = send(&state, id, address, "Tocsin", &text).await {
        state.store.delete_verification(id).await?;
        return Err(e);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"verification_id": id, "channel": channel, "expires_at": expires_at})),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    code: String,
}

/// `POST /api/v1/public/subscriptions/{id}/verify` (no token).
pub async fn verify(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<VerifyIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let gone = || ApiError::NotFound("no such code request: it may have expired".to_owned());
    // The try is counted before anything is compared.
    let pending = state.store.try_verification(id).await?.ok_or_else(gone)?;
    let matches = OneTimeCode::parse(&body.code).is_some_and(|c| {
        let hash = state.links.code_hash(&pending.address, c.expose());
        same_secret(&hash, &pending.code_hash)
    });
    match verification::judge(pending.tries, pending.expires_at, Utc::now(), matches) {
        Verdict::Verified => {}
        Verdict::Wrong { tries_left } => {
            return Err(ApiError::invalid(
                "code",
                format!("wrong code; {tries_left} tries left"),
            ));
        }
        Verdict::Exhausted => {
            state.store.delete_verification(id).await?;
            return Err(ApiError::TooManyAttempts(
                "too many wrong codes: ask for a new one".to_owned(),
            ));
        }
        Verdict::Expired => {
            state.store.delete_verification(id).await?;
            return Err(gone());
        }
    }
    let request: ResidentIn = serde_json::from_str(&pending.request)
        .map_err(|e| ApiError::internal(format!("stored subscription: {e}")))?;
    let language = Language::parse(&request.language).ok();
    let resident = request.parse().map_err(ApiError::Invalid)?;
    let ids = insert(&state, vec![resident]).await?;
    state.store.delete_verification(id).await?;
    let resident = ids[0];
    let address = Address::parse(pending.channel, &pending.address)
        .map_err(|e| ApiError::internal(format!("stored address: {e}")))?;
    let link = state.links.manage_url(resident);
    let text = manage_text(language.as_ref(), &link);
    if let Err(e) = send(&state, id, address, "Tocsin", &text).await {
        // Subscribed all the same; the link is a convenience.
        tracing::warn!(%resident, error = %e, "sending the manage link failed");
    }
    tracing::info!(%resident, "resident subscribed through the public page");
    Ok((StatusCode::CREATED, Json(json!({"resident_id": resident}))))
}

fn lang(language: Option<&Language>) -> &'static str {
    let tag = language.map_or("en", Language::as_str);
    match tag.split(['-', '_']).next() {
        Some("uk") => "uk",
        Some("pl") => "pl",
        _ => "en",
    }
}

fn code_text(language: Option<&Language>, code: &str) -> String {
    match lang(language) {
        "uk" => {
            format!("Tocsin: ваш код {code}. Діє {CODE_MINUTES} хв. Нікому його не повідомляйте.")
        }
        "pl" => {
            format!("Tocsin: Twój kod to {code}. Ważny {CODE_MINUTES} min. Nie podawaj go nikomu.")
        }
        _ => format!(
            "Tocsin: your code is {code}. It expires in {CODE_MINUTES} minutes. Do not share it."
        ),
    }
}

fn manage_text(language: Option<&Language>, link: &str) -> String {
    match lang(language) {
        "uk" => format!("Tocsin: підписку створено. Переглянути чи видалити: {link}"),
        "pl" => format!("Tocsin: subskrypcja utworzona. Podgląd lub usunięcie: {link}"),
        _ => format!("Tocsin: you are subscribed. See or delete your subscription: {link}"),
    }
}

/// Sends a service message (a code, a link) straight through the channel:
/// it is for one person, now, and is not part of any notice.
async fn send(
    state: &AppState,
    request: i64,
    address: Address,
    subject: &str,
    text: &str,
) -> Result<(), ApiError> {
    let kind = address.kind();
    let content = match kind {
        ChannelKind::Email => Content::Email {
            subject: subject.to_owned(),
            body: text.to_owned(),
        },
        _ => Content::Sms {
            body: text.to_owned(),
        },
    };
    let message = OutboundMessage {
        delivery_id: 0,
        notice_id: 0,
        idempotency_key: format!("verification-{request}-{}", Utc::now().timestamp_millis()),
        address,
        content,
        urgent: true,
        expires_at: None,
        collapse_id: None,
        status_callback: None,
        unsubscribe_url: None,
    };
    state
        .channels
        .get(kind)
        .send(&message)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::Unavailable(format!("the code could not be sent: {e}")))
}

/// `GET /subscription/{token}`: what is stored, a form to change it and a
/// button to delete it.
pub async fn manage_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, ApiError> {
    let resident = manage_target(&state, &token)?;
    let found = state.store.get_resident(resident).await?;
    let Some(r) = found else {
        return Ok(Html(page(
            "Tocsin",
            "<p>This subscription no longer exists.</p>",
        )));
    };
    Ok(Html(page(
        "Your Tocsin subscription",
        &manage_body(&r, &token, None),
    )))
}

fn manage_body(r: &crate::store::Resident, token: &str, note: Option<&str>) -> String {
    let contacts: Vec<String> = r
        .contacts
        .iter()
        .map(|c| format!("{} {}", c.channel, escape(&c.address)))
        .collect();
    let languages = [("uk", "Українська"), ("pl", "Polski"), ("en", "English")]
        .iter()
        .map(|(code, name)| {
            let selected = if r.language.as_str().starts_with(code) {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{code}\"{selected}>{name}</option>")
        })
        .collect::<String>();
    let categories = Category::ALL
        .iter()
        .filter(|c| **c != Category::Civil)
        .map(|c| {
            let checked = if r.categories.contains(*c) { " checked" } else { "" };
            format!(
                "<label><input type=\"checkbox\" name=\"category\" value=\"{0}\"{checked}> {0}</label> ",
                c.as_str()
            )
        })
        .collect::<String>();
    let quiet = match &r.quiet_hours {
        crate::domain::QuietPreference::Default => "city default".to_owned(),
        crate::domain::QuietPreference::Off => "off".to_owned(),
        crate::domain::QuietPreference::Window(w) => w.to_string(),
    };
    let note = note
        .map(|n| format!("<p><strong>{}</strong></p>", escape(n)))
        .unwrap_or_default();
    format!(
        "{note}<p>Contacts: {contacts}</p><p>Zones: {zones}</p><p>Quiet hours: {quiet}</p>\
         <form method=\"post\" action=\"/subscription/{token}/preferences\">\
         <p><label>Language <select name=\"language\">{languages}</select></label></p>\
         <p>{categories}</p>\
         <p><label>Quiet hours <select name=\"quiet_hours\"><option value=\"\">keep</option>\
         <option value=\"default\">city default</option><option value=\"22:00-07:00\">22:00-07:00</option>\
         <option value=\"off\">off</option></select></label></p>\
         <button type=\"submit\">Save</button></form>\
         <form method=\"post\" action=\"/subscription/{token}\">\
         <button type=\"submit\">Delete my subscription and my data</button></form>",
        contacts = contacts.join(", "),
        zones = r.zones.len(),
    )
}

/// `POST /subscription/{token}/preferences` (an HTML form): language,
/// categories and quiet hours.
pub async fn manage_update(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Result<Html<String>, ApiError> {
    let resident = manage_target(&state, &token)?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::BadRequest(format!("unreadable form: {e}")))?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let categories: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "category")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut patch = json!({"categories": categories});
    if let Some(language) = get("language") {
        patch["language"] = json!(language);
    }
    match get("quiet_hours") {
        None | Some("") => {}
        Some("default") => patch["quiet_hours"] = Value::Null,
        Some(q) => patch["quiet_hours"] = json!(q),
    }
    let patch: super::preferences::PatchIn =
        serde_json::from_value(patch).map_err(|e| ApiError::invalid("", e))?;
    let patch = patch.parse().map_err(ApiError::Invalid)?;
    let updated = state
        .store
        .update_resident(resident, &patch)
        .await?
        .ok_or_else(|| ApiError::NotFound("this subscription no longer exists".to_owned()))?;
    tracing::info!(%resident, "resident changed their subscription");
    Ok(Html(page(
        "Your Tocsin subscription",
        &manage_body(&updated, &token, Some("Saved.")),
    )))
}

/// `POST /subscription/{token}`: deletes the resident and their data.
pub async fn manage_delete(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, ApiError> {
    let resident = manage_target(&state, &token)?;
    if let Some(Some(p)) = state.store.delete_resident(resident).await? {
        state.directory.remove(resident, p);
    }
    tracing::info!(%resident, "resident deleted their subscription");
    Ok(Html(page(
        "Deleted",
        "<p>Your subscription and your contact details are deleted.</p>",
    )))
}

fn manage_target(state: &AppState, token: &str) -> Result<ResidentId, ApiError> {
    state
        .links
        .verify_manage_token(token)
        .ok_or_else(|| ApiError::NotFound("this link is not valid".to_owned()))
}
