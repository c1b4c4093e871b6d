//! Residents opting out without an operator: an inbound SMS with one of
//! Twilio's opt-out keywords (STOP, …) retires that number everywhere and
//! START brings it back; an email's unsubscribe link (or the mail client's
//! RFC 8058 one-click button) retires that email contact.
//!
//! Inbound SMS are authenticated like the status callbacks
//! (`X-Twilio-Signature`), unsubscribe links by their HMAC (`links.rs`).
//! A GET on a link never changes anything: mail scanners open links.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use tocsin_channels::{Address, ChannelKind, PhoneNumber};

use super::AppState;
use super::error::ApiError;
use super::webhooks::{page, param, twiml, verified_form};
use crate::store::DeliveryRecord;

/// Why a number stopped getting SMS; START re-activates only these, so a
/// number retired as unreachable stays retired.
pub const STOP_REASON: &str = "STOP keyword received";
pub const UNSUBSCRIBE_REASON: &str = "unsubscribed by link";

/// Twilio answers opt-out keywords itself (the confirmation SMS), so ours
/// is empty.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    OptOut,
    OptIn,
}

/// Twilio's default keywords (the whole message, any case), plus the
/// Ukrainian "СТОП" that residents here will type.
fn keyword(body: &str) -> Option<Keyword> {
    match body.trim().to_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "СТОП" => {
            Some(Keyword::OptOut)
        }
        "START" | "UNSTOP" | "YES" => Some(Keyword::OptIn),
        _ => None,
    }
}

/// `POST /webhooks/twilio/sms/inbound`: Twilio's "a message comes in"
/// webhook for the city's number.
pub async fn sms_inbound(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_form(&state, ChannelKind::Sms, &uri, &headers, &body)?;
    let Some(word) = param(&params, "Body").and_then(keyword) else {
        return Ok(twiml(EMPTY_TWIML));
    };
    let from = param(&params, "From").unwrap_or_default();
    let Ok(number) = PhoneNumber::parse(from) else {
        tracing::warn!("an opt-out keyword came from a sender that is not a phone number");
        return Ok(twiml(EMPTY_TWIML));
    };
    let address = Address::Sms(number);
    let changed = match word {
        Keyword::OptOut => {
            state
                .store
                .deactivate_address(&address, STOP_REASON)
                .await?
        }
        Keyword::OptIn => {
            state
                .store
                .reactivate_address(&address, STOP_REASON)
                .await?
        }
    };
    tracing::info!(number = %address.masked(), ?word, contacts = changed, "SMS keyword");
    Ok(twiml(EMPTY_TWIML))
}

/// The resident-facing texts of the unsubscribe page.
struct Texts {
    title: &'static str,
    ask: &'static str,
    button: &'static str,
    done: &'static str,
}

fn texts(language: &str) -> Texts {
    match language {
        "uk" => Texts {
            title: "Відписка від листів",
            ask: "Натисніть кнопку, щоб на цю адресу більше не надходили листи служби оповіщення міста.",
            button: "Відписатися",
            done: "Готово: на цю адресу більше не надходитимуть листи служби оповіщення.",
        },
        "pl" => Texts {
            title: "Rezygnacja z e-maili",
            ask: "Kliknij przycisk, aby na ten adres nie przychodziły już e-maile miejskiego systemu powiadamiania.",
            button: "Wypisz się",
            done: "Gotowe: na ten adres nie będą już wysyłane e-maile systemu powiadamiania.",
        },
        _ => Texts {
            title: "Unsubscribe",
            ask: "Press the button to stop emails from the city's alerting service to this address.",
            button: "Unsubscribe",
            done: "Done: this address will get no more emails from the alerting service.",
        },
    }
}

fn invalid_link() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Tocsin",
        "This link is not valid.",
        None,
    )
}

/// The email delivery a genuine token names, if it still has a contact
/// (a deleted resident's history keeps none).
async fn email_delivery(state: &AppState, token: &str) -> Result<Option<DeliveryRecord>, ApiError> {
    let Some(id) = state.links.verify_unsubscribe_token(token) else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_delivery(id)
        .await?
        .filter(|d| d.channel == ChannelKind::Email && d.contact_id.is_some()))
}

/// `GET /unsubscribe/{token}`: asks for confirmation, changes nothing.
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let Some(delivery) = email_delivery(&state, &token).await? else {
        return Ok(invalid_link());
    };
    let t = texts(&delivery.language);
    Ok(page(StatusCode::OK, t.title, t.ask, Some(t.button)))
}

/// `POST /unsubscribe/{token}`: from our page's button or a mail client's
/// one-click (`List-Unsubscribe=One-Click` in the body, which needs no
/// reading: the POST itself is the request). Repeating it is harmless.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let Some(delivery) = email_delivery(&state, &token).await? else {
        return Ok(invalid_link());
    };
    if let Some(contact) = delivery.contact_id {
        let changed = state
            .store
            .deactivate_contact(contact, UNSUBSCRIBE_REASON)
            .await?;
        tracing::info!(%contact, changed, "email unsubscribed by link");
    }
    let t = texts(&delivery.language);
    Ok(page(StatusCode::OK, t.title, t.done, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_messages_in_any_case() {
        for stop in [
            "STOP",
            "stop",
            " Stop\n",
            "StopAll",
            "unsubscribe",
            "cancel",
            "END",
            "quit",
            "стоп",
            "СТОП",
        ] {
            assert_eq!(keyword(stop), Some(Keyword::OptOut), "{stop:?}");
        }
        for start in ["START", "unstop", "Yes"] {
            assert_eq!(keyword(start), Some(Keyword::OptIn), "{start:?}");
        }
        for other in ["", "stop it", "please stop", "STOP!", "no", "ok"] {
            assert_eq!(keyword(other), None, "{other:?}");
        }
    }
}
