//! Public feeds, no token needed: `GET /feeds/alerts.atom`, an Atom feed
//! of the public alerts in effect (sent, Actual, Public, not expired, the
//! newest message of each alert: an Update replaces the alert it updates)
//! and of the Cancels (all-clears, corrections) of the last day, so that a
//! consumer learns that an alert ended; each entry links its CAP document
//! at `/feeds/alerts/{id}.cap` (the way public alert hubs aggregate
//! authorities' feeds).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::AppState;
use super::alerts::{CAP_MEDIA_TYPE, cap_response};
use super::error::ApiError;
use crate::store::{AlertListing, AlertRecord};

const FEED_SIZE: u32 = 100;

pub async fn alerts_atom(State(state): State<AppState>) -> Result<Response, ApiError> {
    let alerts = state
        .store
        .list_alerts(None, AlertListing::Feed(Utc::now()), FEED_SIZE)
        .await?;
    let base = state.config.public_base();
    let xml = atom(&base, &alerts);
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

/// `GET /feeds/alerts/{id}.cap`: the CAP document of a public alert that
/// was sent (also once superseded or ended); other alerts (pending,
/// expired, drills, restricted) are not public.
pub async fn alert_cap(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let hidden = || ApiError::NotFound("no such public alert".to_owned());
    let id = raw.strip_suffix(".cap").ok_or_else(hidden)?;
    let alert = super::alerts::load(&state, id)
        .await
        .map_err(|_| hidden())?;
    let public = alert.state.was_sent() && alert.status == "Actual" && alert.scope == "Public";
    if !public {
        return Err(hidden());
    }
    Ok(cap_response(&alert))
}

fn atom(base: &str, alerts: &[AlertRecord]) -> String {
    let updated = alerts
        .iter()
        .map(|a| a.created_at)
        .max()
        .unwrap_or_else(Utc::now)
        .to_rfc3339();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{base}/feeds/alerts.atom</id>\n\
         <title>Active public alerts</title>\n\
         <updated>{updated}</updated>\n\
         <link rel=\"self\" href=\"{base}/feeds/alerts.atom\"/>\n"
    );
    for a in alerts {
        let cap = format!("{base}/feeds/alerts/{}.cap", a.id);
        xml.push_str(&format!(
            "<entry>\n<id>urn:tocsin:alert:{sender}:{identifier}</id>\n\
             <title>{title}</title>\n<updated>{updated}</updated>\n\
             <published>{sent}</published>\n<author><name>{sender}</name></author>\n\
             <summary>{title}</summary>\n<category term=\"{msg_type}\"/>\n\
             <link rel=\"alternate\" type=\"{CAP_MEDIA_TYPE}\" href=\"{cap}\"/>\n</entry>\n",
            sender = escape(&a.sender),
            identifier = escape(&a.identifier),
            title = escape(&a.headline),
            msg_type = escape(&a.msg_type),
            updated = a.approved_at.unwrap_or(a.created_at).to_rfc3339(),
            sent = a.sent.to_rfc3339(),
        ));
    }
    xml.push_str("</feed>\n");
    xml
}

/// Text for XML and HTML (content and double-quoted attributes).
pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
