//! Work notices: publish, update, close, and follow their deliveries.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::{Circle, GeoPoint, Limits, Region};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller, IdPath};
use crate::domain::auth::Territory;
use crate::domain::text::Text;
use crate::domain::{
    Category, DeliveryId, DeliveryState, EventKind, NoticeId, NoticeKind, ResidentId, ZoneId,
};
use crate::store::{
    DeliveryFilter, DeliveryRecord, DeliverySummary, NewEvent, NewNotice, Notice, NoticeEvent,
};

const MAX_AREA_ZONES: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeIn {
    kind: NoticeKind,
    category: Category,
    title: String,
    cause: Option<String>,
    starts_at: DateTime<FixedOffset>,
    expected_end: Option<DateTime<FixedOffset>>,
    /// Unsent messages expire at this instant (default: `expected_end`).
    expires_at: Option<DateTime<FixedOffset>>,
    /// The publisher's key for the outage (e.g. "main-12-2026-11-23"):
    /// residents an earlier notice with the same key reached are not
    /// messaged again.
    outage: Option<String>,
    area: AreaIn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaIn {
    #[serde(default)]
    zones: Vec<i64>,
    geometry: Option<Value>,
    circle: Option<CircleIn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CircleIn {
    lat: f64,
    lon: f64,
    radius_m: f64,
}

fn text<const N: usize>(field: &str, raw: &str) -> Result<Text<N>, ApiError> {
    Text::parse(raw).map_err(|e| ApiError::invalid(field, e))
}

fn optional_text<const N: usize>(
    field: &str,
    raw: Option<&str>,
) -> Result<Option<Text<N>>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => text(field, r).map(Some),
    }
}

/// A create body that passed every check, the planner and the territory
/// check: what `create` stores and `preview` prices. Both go through
/// `plan_notice`, so they answer the same input with the same errors.
pub(super) struct PlannedNotice {
    pub notice: NewNotice,
    pub candidates: Vec<ResidentId>,
}

/// The area as given, each part parsed.
struct AreaParts {
    zones: Vec<ZoneId>,
    regions: Option<Region>,
    circle: Option<Circle>,
}

fn parse_area(area: AreaIn, limits: &Limits) -> Result<AreaParts, ApiError> {
    if area.zones.len() > MAX_AREA_ZONES {
        return Err(ApiError::invalid(
            "area.zones",
            format!("at most {MAX_AREA_ZONES} zones"),
        ));
    }
    let regions = area
        .geometry
        .map(|g| Region::from_geojson(&g, limits))
        .transpose()
        .map_err(|e| ApiError::invalid("area.geometry", e))?;
    let circle = area
        .circle
        .map(|c| GeoPoint::new(c.lat, c.lon).and_then(|p| Circle::new(p, c.radius_m, limits)))
        .transpose()
        .map_err(|e| ApiError::invalid("area.circle", e))?;
    if area.zones.is_empty() && regions.is_none() && circle.is_none() {
        return Err(ApiError::invalid(
            "area",
            "give at least one of zones, geometry or circle",
        ));
    }
    let zones = area.zones.into_iter().map(ZoneId).collect();
    Ok(AreaParts {
        zones,
        regions,
        circle,
    })
}

/// Validates a create body, plans its audience and enforces the caller's
/// territory; writes nothing.
pub(super) async fn plan_notice(
    state: &AppState,
    caller: &Caller,
    body: NoticeIn,
) -> Result<PlannedNotice, ApiError> {
    let title = text("title", &body.title)?;
    let cause = optional_text("cause", body.cause.as_deref())?;
    let outage = optional_text("outage", body.outage.as_deref())?;
    let starts_at = body.starts_at.with_timezone(&Utc);
    let expected_end = body.expected_end.map(|t| t.with_timezone(&Utc));
    if let Some(end) = expected_end
        && end <= starts_at
    {
        return Err(ApiError::invalid("expected_end", "must be after starts_at"));
    }
    let expires_at = body.expires_at.map(|t| t.with_timezone(&Utc));
    if let Some(at) = expires_at
        && at <= Utc::now()
    {
        return Err(ApiError::invalid(
            "expires_at",
            "is already past: nothing would be sent",
        ));
    }
    if body.category == Category::Civil {
        return Err(ApiError::invalid(
            "category",
            "\"civil\" is for civil-protection alerts (POST /api/v1/alerts)",
        ));
    }
    let area = parse_area(body.area, &state.config.limits.zones())?;
    let plan = state
        .planner
        .plan(
            &area.zones,
            area.regions.into_iter().collect(),
            area.circle.into_iter().collect(),
        )
        .await?;
    let principal = &caller.0;
    match &principal.territory {
        Territory::Anywhere => {}
        Territory::Within(territory) if plan.area.is_within(territory) => {}
        Territory::Within(_) => {
            return Err(ApiError::Forbidden(
                "the notice area extends outside your organisation's service territory".to_owned(),
            ));
        }
        Territory::Unreadable => {
            return Err(ApiError::Unreadable(
                "your organisation's service territory cannot be read back from the database, \
                 so no area can be checked against it and nothing was published; an \
                 administrator must repair it"
                    .to_owned(),
            ));
        }
    }
    let notice = NewNotice {
        organisation: principal.organisation,
        kind: body.kind,
        category: body.category,
        title,
        cause,
        starts_at,
        expected_end,
        expires_at,
        area: plan.area,
        cascade: state.config.policy.cascade(body.kind),
        outage,
        zones: plan.named_zones,
        alert: None,
        ignore_opt_outs: false,
    };
    Ok(PlannedNotice {
        notice,
        candidates: plan.candidates,
    })
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NoticeIn>,
) -> Result<(StatusCode, HeaderMap, Json<Value>), ApiError> {
    let planned = plan_notice(&state, &caller, body).await?;
    let (notice, event) = state
        .store
        .create_notice(&planned.notice, &planned.candidates)
        .await?;
    state.dispatcher.spawn_enqueue(event.id);
    crate::metrics::notice_event(notice.kind.as_str(), event.kind.as_str());
    tracing::info!(notice = %notice.id, kind = %notice.kind, recipients = notice.recipients, deliveries = event.deliveries, "notice published");
    let detail = json!({"kind": notice.kind, "category": notice.category, "title": notice.title,
        "recipients": notice.recipients, "deliveries": event.deliveries, "outage": notice.outage});
    let subject = format!("notice/{}", notice.id);
    super::journal::record(
        &state,
        super::journal::actor(&caller.0),
        "notice.published",
        subject,
        detail,
    )
    .await;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/notices/{}", notice.id)) {
        headers.insert(header::LOCATION, v);
    }
    let body = json!({
        "id": notice.id,
        "recipients": notice.recipients,
        "deliveries": event.deliveries,
        "sms": sms_sizes(&state, &notice, &event)?,
        "simulated_channels": state.channels.simulated(),
    });
    Ok((StatusCode::CREATED, headers, Json(body)))
}

/// SMS encoding and segments per template language, so the publisher sees
/// what one recipient's message costs.
fn sms_sizes(state: &AppState, notice: &Notice, event: &NoticeEvent) -> Result<Value, ApiError> {
    let sizes = state
        .renderer
        .sms_sizes(notice, event)
        .map_err(ApiError::internal)?;
    Ok(json!(sizes))
}

pub(super) fn notice_json(n: &Notice, events: Option<&[NoticeEvent]>) -> Value {
    let mut v = json!({
        "id": n.id,
        "organisation_id": n.organisation,
        "kind": n.kind,
        "category": n.category,
        "title": n.title,
        "cause": n.cause,
        "starts_at": n.starts_at,
        "expected_end": n.expected_end,
        "expires_at": n.expires_at,
        "outage": n.outage,
        "status": n.status,
        "zones": n.zones,
        "recipients": n.recipients,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "closed_at": n.closed_at,
        // Whether it is a civil-protection alert, and a real one or a drill.
        "alert": n.alert.as_ref().map(|a| a.summary()),
    });
    if let Some(events) = events {
        v["area"] = n.area.clone();
        v["events"] = json!(events);
    }
    v
}

/// The notice, if the caller may see it. An executor asking for another
/// organisation's notice gets 404, not 403: it should not learn it exists.
pub(super) async fn visible_notice(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Notice, ApiError> {
    state
        .store
        .get_notice(NoticeId(id))
        .await?
        .filter(|n| caller.0.may_see_organisation(n.organisation))
        .ok_or_else(|| ApiError::NotFound(format!("notice {id} not found")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let org = if caller.0.is_admin() {
        None
    } else {
        caller.0.organisation
    };
    let notices = state
        .store
        .list_notices(org, q.before.map(NoticeId), limit)
        .await?;
    let next = (notices.len() == limit as usize)
        .then(|| notices.last().map(|n| n.id))
        .flatten();
    Ok(Json(json!({
        "notices": notices.iter().map(|n| notice_json(n, None)).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let notice = visible_notice(&state, &caller, id).await?;
    let events = state.store.notice_events(notice.id).await?;
    let mut v = notice_json(&notice, Some(&events));
    if notice.alert.is_some() {
        // Where the console changes or ends it: the alert that sent it.
        v["alert"]["id"] = json!(state.store.alert_of_notice(notice.id).await?);
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    message: Option<String>,
    expected_end: Option<DateTime<FixedOffset>>,
}

async fn add_event(
    state: AppState,
    caller: Caller,
    id: i64,
    kind: EventKind,
    body: EventIn,
) -> Result<Json<Value>, ApiError> {
    let notice = visible_notice(&state, &caller, id).await?;
    if notice.alert.is_some() {
        return Err(alert_notice(&state, &notice).await?);
    }
    let message = optional_text("message", body.message.as_deref())?;
    let expected_end = body.expected_end.map(|t| t.with_timezone(&Utc));
    if kind == EventKind::Closed && expected_end.is_some() {
        return Err(ApiError::invalid(
            "expected_end",
            "a closed notice has no expected end",
        ));
    }
    if kind == EventKind::Updated && message.is_none() && expected_end.is_none() {
        return Err(ApiError::invalid(
            "message",
            "an update needs a message or a new expected_end",
        ));
    }
    if let Some(end) = expected_end
        && end <= notice.starts_at
    {
        return Err(ApiError::invalid(
            "expected_end",
            "must be after the notice's starts_at",
        ));
    }
    let event = NewEvent {
        kind,
        message,
        expected_end,
        cascade: state.config.policy.cascade(notice.kind),
    };
    let (notice, event) = state.store.add_event(notice.id, &event).await?;
    state.dispatcher.spawn_enqueue(event.id);
    crate::metrics::notice_event(notice.kind.as_str(), event.kind.as_str());
    tracing::info!(notice = %notice.id, event = %kind.as_str(), deliveries = event.deliveries, "notice event");
    let detail = json!({"seq": event.seq, "message": event.message,
        "expected_end": event.expected_end, "deliveries": event.deliveries});
    let action = format!("notice.{}", kind.as_str());
    let subject = format!("notice/{}", notice.id);
    super::journal::record(
        &state,
        super::journal::actor(&caller.0),
        &action,
        subject,
        detail,
    )
    .await;
    Ok(Json(json!({
        "notice": notice_json(&notice, None),
        "sms": sms_sizes(&state, &notice, &event)?,
        "event": event,
    })))
}

/// An alert's notice changes only through the alert: its own text for an
/// update or all-clear, under the alert's approval rules.
async fn alert_notice(state: &AppState, notice: &Notice) -> Result<ApiError, ApiError> {
    let routes = match state.store.alert_of_notice(notice.id).await? {
        Some(a) => format!(
            "POST /api/v1/alerts/{a}/update, /api/v1/alerts/{a}/all-clear or \
             /api/v1/alerts/{a}/cancel"
        ),
        None => "the alert routes under /api/v1/alerts".to_owned(),
    };
    Ok(ApiError::Conflict(format!(
        "notice {} is a civil-protection alert: update or end it through the alert ({routes})",
        notice.id
    )))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<EventIn>,
) -> Result<Json<Value>, ApiError> {
    add_event(state, caller, id, EventKind::Updated, body).await
}

pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<EventIn>,
) -> Result<Json<Value>, ApiError> {
    add_event(state, caller, id, EventKind::Closed, body).await
}

pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let notice = visible_notice(&state, &caller, id).await?;
    let summary = state.store.delivery_summary(notice.id).await?;
    Ok(Json(summary_json(&state, &notice, &summary)))
}

pub(super) fn summary_json(state: &AppState, notice: &Notice, summary: &DeliverySummary) -> Value {
    json!({
        "notice_id": notice.id,
        "recipients": notice.recipients,
        "total": summary.total,
        "by_state": summary.by_state,
        "by_channel": summary.by_channel,
        "by_event": summary.by_event,
        "simulated_channels": state.channels.simulated(),
        "status": notice.status,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    state: Option<String>,
    channel: Option<String>,
    cursor: Option<i64>,
    limit: Option<u32>,
}

/// Executors get masked addresses: they need to see that a message went
/// out, not whom to call.
fn mask(record: &mut DeliveryRecord) {
    if record.address.is_empty() {
        return;
    }
    record.address = match Address::parse(record.channel, &record.address) {
        Ok(a) => a.masked(),
        Err(_) => "***".to_owned(),
    };
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let notice = visible_notice(&state, &caller, id).await?;
    let filter = DeliveryFilter {
        state: q
            .state
            .map(|s| s.parse::<DeliveryState>())
            .transpose()
            .map_err(|e| ApiError::invalid("state", e))?,
        channel: q
            .channel
            .map(|c| c.parse::<ChannelKind>())
            .transpose()
            .map_err(|e| ApiError::invalid("channel", e))?,
        after: q.cursor.map(DeliveryId),
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    let mut records = state.store.list_deliveries(notice.id, &filter).await?;
    if !caller.0.is_admin() {
        records.iter_mut().for_each(mask);
    }
    let next = (records.len() == filter.limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(Json(json!({ "deliveries": records, "next_cursor": next })))
}
