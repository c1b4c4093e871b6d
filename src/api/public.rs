//! What anyone may read, no token: the resident page's data and the
//! iCalendar feeds of planned works.
//!
//! - `GET /api/v1/public/notices?category=water`: current and upcoming
//!   utility notices (with their areas, for the map) and the active public
//!   alerts (the same ones as the Atom feed). Drills and tests never show.
//! - `GET /api/v1/public/zones`: zone names and outlines.
//! - `GET /feeds/zones/{id}.ics`: planned works touching a zone, one event
//!   each, for a resident's calendar.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_zones::{Area, Region};

use super::AppState;
use super::error::ApiError;
use crate::domain::{Category, NoticeKind, NoticeStatus, ZoneId};
use crate::store::Notice;

/// Notices read per request: a city has tens of current notices, not
/// thousands; older ones are closed.
const CURRENT: u32 = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticesQuery {
    category: Option<Category>,
}

/// Active utility notices (alerts have their own, filtered list).
async fn current_notices(state: &AppState) -> Result<Vec<Notice>, ApiError> {
    Ok(state
        .store
        .list_notices(None, None, CURRENT)
        .await?
        .into_iter()
        .filter(|n| n.status == NoticeStatus::Active && n.alert.is_none())
        .collect())
}

pub async fn notices(
    State(state): State<AppState>,
    Query(q): Query<NoticesQuery>,
) -> Result<Json<Value>, ApiError> {
    let notices: Vec<Value> = current_notices(&state)
        .await?
        .into_iter()
        .filter(|n| q.category.is_none_or(|c| n.category == c))
        .map(|n| {
            json!({"id": n.id, "kind": n.kind, "category": n.category, "title": n.title,
                   "cause": n.cause, "starts_at": n.starts_at, "expected_end": n.expected_end,
                   "area": n.area, "zones": n.zones, "updated_at": n.updated_at})
        })
        .collect();
    let alerts: Vec<Value> = state
        .store
        .list_alerts(None, crate::store::AlertListing::Active(Utc::now()), 100)
        .await?
        .into_iter()
        .map(|a| {
            json!({"id": a.id, "headline": a.headline, "sent": a.sent, "expires": a.expires,
                   "cap_url": format!("/feeds/alerts/{}.cap", a.id)})
        })
        .collect();
    Ok(Json(json!({"notices": notices, "alerts": alerts})))
}

pub async fn zones(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let zones: Vec<Value> = state
        .store
        .list_zones()
        .await?
        .zones
        .into_iter()
        .map(|z| json!({"id": z.id, "name": z.name, "geometry": z.region.to_geojson()}))
        .collect();
    Ok(Json(json!({"zones": zones})))
}

/// `GET /feeds/zones/{id}.ics`.
pub async fn zone_calendar(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let missing = || ApiError::NotFound(format!("no zone \"{raw}\""));
    let id: i64 = raw
        .strip_suffix(".ics")
        .and_then(|n| n.parse().ok())
        .ok_or_else(missing)?;
    let zone = state
        .store
        .get_zone(ZoneId(id))
        .await?
        .ok_or_else(missing)?;
    let works: Vec<Notice> = current_notices(&state)
        .await?
        .into_iter()
        .filter(|n| n.kind == NoticeKind::Planned)
        .filter(|n| touches(n, zone.id, &zone.region))
        .collect();
    let body = calendar(&zone.name, &state.config.public_base(), &works, Utc::now());
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response())
}

/// A notice's stored area is trusted like a stored zone: read back without
/// the request limits, which may have been larger when it was published.
fn touches(n: &Notice, zone: ZoneId, region: &Region) -> bool {
    n.zones.contains(&zone)
        || Area::from_stored_json(&n.area).is_ok_and(|a| a.intersects_region(region))
}

/// RFC 5545 text: escape `\ ; , newline`.
fn text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Lines longer than 75 octets are folded (RFC 5545 §3.1), at character
/// boundaries so UTF-8 stays whole.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in line.chars() {
        if used + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += c.len_utf8();
    }
    out
}

pub fn calendar(zone: &str, base: &str, works: &[Notice], now: DateTime<Utc>) -> String {
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or(base)
        .trim_end_matches('/');
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Tocsin//Planned works//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("X-WR-CALNAME:{}", text(zone)),
    ];
    for n in works {
        let end = n
            .expected_end
            .unwrap_or(n.starts_at + chrono::Duration::hours(1));
        lines.extend([
            "BEGIN:VEVENT".to_owned(),
            format!("UID:notice-{}@{}", n.id, host),
            format!("DTSTAMP:{}", stamp(now)),
            format!("LAST-MODIFIED:{}", stamp(n.updated_at)),
            format!("DTSTART:{}", stamp(n.starts_at)),
            format!("DTEND:{}", stamp(end)),
            format!("SUMMARY:{}", text(&n.title)),
        ]);
        if let Some(cause) = &n.cause {
            lines.push(format!("DESCRIPTION:{}", text(cause)));
        }
        lines.push("END:VEVENT".to_owned());
    }
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|l| fold(l) + "\r\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_text_is_escaped_and_folded() {
        assert_eq!(text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
        let long = "Ж".repeat(60);
        let folded = fold(&format!("SUMMARY:{long}"));
        for part in folded.split("\r\n") {
            assert!(part.len() <= 75, "{} octets", part.len());
        }
        assert_eq!(folded.replace("\r\n ", ""), format!("SUMMARY:{long}"));
    }
}
