//! Inbound traffic that is not from operators: Twilio status callbacks,
//! the keypress of a voice call, and residents' acknowledgement links.
//!
//! Provider callbacks are authenticated by the provider's signature
//! (`X-Twilio-Signature`, keyed with the account's auth token) over the
//! exact URL we handed out; acknowledgement links by their HMAC.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use tocsin_channels::{ChannelKind, ReportedStatus, call_status, message_status, verify_signature};

use super::AppState;
use super::error::ApiError;
use crate::domain::{DeliveryId, DeliveryState};
use crate::store::ReportResult;

/// Checks the Twilio signature and returns the form parameters.
pub(super) fn verified_form(
    state: &AppState,
    channel: ChannelKind,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let token = state
        .config
        .channels
        .twilio_auth_token(channel)
        .ok_or_else(|| ApiError::NotFound(format!("the {channel} channel does not use Twilio")))?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::BadRequest(format!("expected a form body: {e}")))?;
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{}", state.links.base(), path);
    if !verify_signature(token.expose(), &url, &params, signature) {
        tracing::warn!(%channel, "rejected a Twilio request with a bad signature");
        return Err(ApiError::Forbidden("invalid X-Twilio-Signature".to_owned()));
    }
    Ok(params)
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn apply(
    state: &AppState,
    id: DeliveryId,
    channel: ChannelKind,
    status: ReportedStatus,
) -> Result<StatusCode, ApiError> {
    let record = state
        .store
        .get_delivery(id)
        .await?
        .filter(|d| d.channel == channel)
        .ok_or_else(|| ApiError::NotFound(format!("delivery {id} not found")))?;
    let (next, detail, deactivate) = match status {
        ReportedStatus::Accepted => (DeliveryState::Sent, None, false),
        ReportedStatus::Delivered => (DeliveryState::Delivered, None, false),
        ReportedStatus::Failed {
            reason,
            invalid_address,
        } => (DeliveryState::Failed, Some(reason), invalid_address),
    };
    let result = state
        .store
        .report(record.id, next, detail.as_deref(), deactivate)
        .await?;
    if result == ReportResult::Applied {
        crate::metrics::outcome(channel, next.as_str());
    }
    tracing::debug!(delivery = %id, state = %next, ?result, "provider status");
    Ok(StatusCode::NO_CONTENT)
}

fn delivery_id(raw: &str) -> Result<DeliveryId, ApiError> {
    raw.parse()
        .map(DeliveryId)
        .map_err(|_| ApiError::NotFound(format!("\"{raw}\" is not a delivery id")))
}

pub async fn sms_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = verified_form(&state, ChannelKind::Sms, &uri, &headers, &body)?;
    let status = param(&params, "MessageStatus").unwrap_or_default();
    match message_status(status, param(&params, "ErrorCode")) {
        Some(s) => apply(&state, delivery_id(&id)?, ChannelKind::Sms, s).await,
        None => Ok(StatusCode::NO_CONTENT),
    }
}

pub async fn voice_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = verified_form(&state, ChannelKind::Voice, &uri, &headers, &body)?;
    match call_status(param(&params, "CallStatus").unwrap_or_default()) {
        Some(s) => apply(&state, delivery_id(&id)?, ChannelKind::Voice, s).await,
        None => Ok(StatusCode::NO_CONTENT),
    }
}

pub(super) fn twiml(body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

/// The resident pressed a key during the call; 1 confirms.
pub async fn voice_gather(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_form(&state, ChannelKind::Voice, &uri, &headers, &body)?;
    let id = delivery_id(&raw)?;
    let record = state
        .store
        .get_delivery(id)
        .await?
        .filter(|d| d.channel == ChannelKind::Voice)
        .ok_or_else(|| ApiError::NotFound(format!("delivery {id} not found")))?;
    if param(&params, "Digits") != Some("1") {
        return Ok(twiml(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
        ));
    }
    state
        .store
        .report(id, DeliveryState::Acknowledged, None, false)
        .await?;
    let (lang, thanks) = match record.language.as_str() {
        "uk" => ("uk-UA", "Дякуємо. Підтвердження отримано."),
        "pl" => ("pl-PL", "Dziękujemy. Potwierdzenie przyjęte."),
        _ => ("en-US", "Thank you. Your confirmation was received."),
    };
    Ok(twiml(&format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"{lang}\">{thanks}</Say></Response>"
    )))
}

/// A small HTML page; with `button`, a form that POSTs to the same URL.
/// Every text is our own constant, never request input, so nothing here
/// needs escaping.
pub(super) fn page(status: StatusCode, title: &str, text: &str, button: Option<&str>) -> Response {
    let button = button.map_or(String::new(), |label| {
        format!("<form method=\"post\"><button type=\"submit\">{label}</button></form>")
    });
    let html = document(title, &format!("<p>{text}</p>{button}"));
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The HTML around a small page's `body` (trusted markup).
pub(super) fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    )
}

/// What the acknowledgement pages say, in the language the message was
/// sent in.
struct AckTexts {
    title: &'static str,
    ask: &'static str,
    button: &'static str,
    done: &'static str,
    too_late: &'static str,
}

fn ack_texts(language: &str) -> AckTexts {
    match language {
        "uk" => AckTexts {
            title: "Підтвердження отримання",
            ask: "Підтвердьте, що ви отримали повідомлення.",
            button: "Підтвердити",
            done: "Дякуємо, підтвердження отримано.",
            too_late: "Це повідомлення вже не можна підтвердити.",
        },
        "pl" => AckTexts {
            title: "Potwierdzenie odbioru",
            ask: "Potwierdź, że otrzymałeś wiadomość.",
            button: "Potwierdź",
            done: "Dziękujemy, potwierdzenie przyjęte.",
            too_late: "Tej wiadomości nie można już potwierdzić.",
        },
        _ => AckTexts {
            title: "Confirm receipt",
            ask: "Confirm that you received the message.",
            button: "Confirm",
            done: "Thank you, your confirmation was received.",
            too_late: "This message can no longer be confirmed.",
        },
    }
}

/// A link whose delivery we cannot name: said in every language we ship.
fn invalid_ack_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Tocsin",
        "Посилання недійсне. Link jest nieprawidłowy. This link is not valid.",
        None,
    )
}

/// The delivery a genuine link names, with the texts in its language;
/// `Err` is the page for a link that is not (or no longer) valid.
async fn ack_target(
    state: &AppState,
    token: &str,
) -> Result<Result<(DeliveryId, AckTexts), Response>, ApiError> {
    let Some(id) = state.links.verify_ack_token(token) else {
        return Ok(Err(invalid_ack_link()));
    };
    Ok(match state.store.get_delivery(id).await? {
        Some(d) => Ok((id, ack_texts(&d.language))),
        None => Err(invalid_ack_link()),
    })
}

/// Shows a confirmation button. A GET never acknowledges: mail scanners
/// open links by themselves and must not confirm on a resident's behalf.
pub async fn ack_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match ack_target(&state, &token).await? {
        Ok((_, t)) => page(StatusCode::OK, t.title, t.ask, Some(t.button)),
        Err(invalid) => invalid,
    })
}

pub async fn ack(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (id, t) = match ack_target(&state, &token).await? {
        Ok(target) => target,
        Err(invalid) => return Ok(invalid),
    };
    let result = state
        .store
        .report(id, DeliveryState::Acknowledged, None, false)
        .await?;
    Ok(match result {
        ReportResult::Applied
        | ReportResult::Ignored {
            current: DeliveryState::Acknowledged,
        } => page(StatusCode::OK, t.title, t.done, None),
        ReportResult::Ignored { .. } => page(StatusCode::CONFLICT, t.title, t.too_late, None),
        ReportResult::NotFound => invalid_ack_link(),
    })
}
