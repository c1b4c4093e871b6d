//! From a validated CAP alert to what the store writes: who may do it,
//! whether it waits for a second person, which lane it takes, whom it
//! reaches (the area, a test audience for drills, or for an Update or
//! Cancel the audience of the alert it follows) and what the journal says
//! about it. CAP in, the JSON API, templates, updates, all-clears and the
//! one-request correction all end here.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use tocsin_cap::{Alert, MsgType, Status};
use tocsin_zones::{Circle, GeoPoint, Region};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::domain::alert::{AlertContent, AlertState, LaneDecision, Route, route};
use crate::domain::auth::{Principal, Role};
use crate::domain::cascade::Cascade;
use crate::domain::text::Text;
use crate::domain::{Category, EventKind, NoticeKind, ZoneId};
use crate::store::{
    AlertAction, AlertEvent, AlertRecord, NewAlert, NewEvent, NewNotice, Operator, Release,
};

/// What the request adds to the CAP document.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The test audience of an Exercise or Test (else the configured one).
    pub audience: Option<String>,
    /// Send an Exercise or Test to everyone in its area (journaled).
    pub widen: bool,
    /// The template the alert was made from (pre-approval, journal).
    pub template: Option<String>,
}

/// Only civil-protection operators create, approve and cancel alerts.
pub fn operator(p: &Principal) -> Result<Operator, ApiError> {
    match p.role {
        Role::CivilProtection => Ok(Operator {
            token: p.token,
            name: p.name.clone(),
            username: p.person.as_ref().map(|person| person.username.clone()),
        }),
        _ => Err(ApiError::Forbidden(
            "alerts are created and approved by civil-protection operators".to_owned(),
        )),
    }
}

/// Only a person approves an Actual alert (`Principal::may_approve`).
pub fn approver(p: &Principal) -> Result<Operator, ApiError> {
    p.may_approve()?;
    operator(p)
}

pub fn actor(op: &Operator) -> String {
    crate::api::journal::alert_actor(op)
}

/// Creates the alert: sent at once (drills, pre-approved templates),
/// pending a second operator (Actual), or only recorded (Draft, System).
pub async fn submit(
    state: &AppState,
    op: &Operator,
    cap: Alert,
    opts: Options,
) -> Result<(StatusCode, AlertRecord), ApiError> {
    if !crate::domain::alert::accepted_type(cap.msg_type) {
        return Err(ApiError::invalid(
            "alert/msgType",
            "Tocsin acts on Alert, Update and Cancel messages",
        ));
    }
    let original = referenced(state, &cap).await?;
    // Only the end of an alert that was sent, to that alert's audience,
    // may skip the second person: never a new alert to a free area.
    let preapproved = cap.msg_type == MsgType::Cancel
        && original.is_some()
        && opts
            .template
            .as_ref()
            .is_some_and(|t| state.config.alerts.preapproved.contains(t));
    let lane = state.config.alerts.lanes.decide(&cap);
    if route(cap.status) != Route::Record && expires(&cap).is_some_and(|e| e <= Utc::now()) {
        // It would only wait for an approval it can never get.
        return Err(ApiError::invalid(
            "alert/info/expires",
            "is already past: nothing would be sent",
        ));
    }
    let written = tocsin_cap::write(&cap);
    // The document's hash in the chained journal: an edit of the stored
    // CAP afterwards no longer matches what was approved and sent.
    let cap_sha256: String = Sha256::digest(written.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut actions = vec![AlertAction {
        actor: actor(op),
        action: "alert.created",
        detail: json!({"identifier": cap.identifier, "status": cap.status.as_str(),
            "msg_type": cap.msg_type.as_str(), "template": opts.template,
            "references": original.as_ref().map(|o| o.id),
            "headline": headline(&cap), "cap_sha256": cap_sha256}),
    }];
    let (alert_state, sends, audience) = match route(cap.status) {
        Route::Record => (AlertState::Recorded, None, None),
        Route::Approval if !preapproved => {
            // Checked now so the approver is not the first to see a bad
            // area; the audience itself is found when it is approved.
            if original.is_none() || has_area(&cap) {
                target(state, &cap).await?;
            }
            (AlertState::Pending, None, None)
        }
        Route::Approval => {
            actions.push(AlertAction {
                actor: actor(op),
                action: "alert.preapproved_template_used",
                detail: json!({"template": opts.template}),
            });
            let sends = release(state, &cap, original.as_ref(), None, lane).await?;
            (AlertState::Sent, Some(sends), None)
        }
        Route::Drill(_) => {
            let (sends, audience) = drill_release(
                state,
                &cap,
                original.as_ref(),
                &opts,
                op,
                &mut actions,
                lane,
            )
            .await?;
            (AlertState::Sent, Some(sends), audience)
        }
    };
    if alert_state == AlertState::Sent {
        actions.push(sent_action(op, &cap, lane));
    }
    let mut new = new_alert(
        &cap,
        written,
        alert_state,
        original.as_ref(),
        audience,
        op,
        &opts,
    );
    new.urgent = lane.urgent();
    let record = state
        .store
        .insert_alert(&new, sends.as_ref(), &actions)
        .await?;
    if let Some(event) = record.event_id {
        state.dispatcher.spawn_enqueue(event);
    }
    tracing::info!(alert = %record.id, status = %record.status, state = record.state.as_str(), "alert created");
    let code = match record.state {
        AlertState::Pending => StatusCode::ACCEPTED,
        _ => StatusCode::CREATED,
    };
    Ok((code, record))
}

/// A second, different operator, a person (`approver`), approves a
/// pending Actual alert: it is sent in the same transaction.
pub async fn approve(
    state: &AppState,
    op: &Operator,
    alert: &AlertRecord,
) -> Result<AlertRecord, ApiError> {
    if alert.state == AlertState::Expired {
        return Err(expired(alert));
    }
    if alert.state != AlertState::Pending {
        return Err(ApiError::Conflict(format!(
            "alert {} is {}, not pending approval",
            alert.id,
            alert.state.as_str()
        )));
    }
    if alert.created_by_token == op.token {
        return Err(ApiError::Forbidden(format!(
            "two-person rule: you created alert {}; a different civil-protection operator \
             must approve it",
            alert.id
        )));
    }
    refuse_if_expired(state, alert).await?;
    let cap = tocsin_cap::parse(&alert.cap).map_err(ApiError::internal)?;
    let original = referenced(state, &cap).await?;
    let lane = state.config.alerts.lanes.decide(&cap);
    let sends = release(state, &cap, original.as_ref(), None, lane).await?;
    let actions = [
        AlertAction {
            actor: actor(op),
            action: "alert.approved",
            detail: json!({"username": op.username, "created_by": alert.created_by,
                "created_by_kind": alert.created_by_kind,
                "created_by_username": alert.created_by_username}),
        },
        sent_action(op, &cap, lane),
    ];
    let record = state
        .store
        .approve_alert(alert.id, op, &sends, &actions)
        .await?;
    if let Some(event) = record.event_id {
        state.dispatcher.spawn_enqueue(event);
    }
    tracing::info!(alert = %record.id, "alert approved and sent");
    Ok(record)
}

fn sent_action(op: &Operator, cap: &Alert, lane: LaneDecision) -> AlertAction {
    AlertAction {
        actor: actor(op),
        action: "alert.sent",
        detail: json!({"identifier": cap.identifier, "status": cap.status.as_str(),
            "msg_type": cap.msg_type.as_str(), "urgent": lane.urgent(),
            "bypass_quiet_hours": lane.bypass_quiet_hours}),
    }
}

/// The journal entry of a pending alert nobody approved in time.
pub fn expired_action(a: &AlertRecord) -> AlertAction {
    AlertAction {
        actor: crate::domain::actor::SCHEDULER.to_owned(),
        action: "alert.expired",
        detail: json!({"identifier": a.identifier, "expires": a.expires,
            "headline": a.headline, "created_by": a.created_by}),
    }
}

fn expired(a: &AlertRecord) -> ApiError {
    let when = a.expires.map(|e| e.to_rfc3339()).unwrap_or_default();
    ApiError::Conflict(format!(
        "alert {} expired at {when} before anyone approved it; if it is still needed, \
         create it again",
        a.id
    ))
}

/// A pending alert past its `expires` is expired now (the scheduler may
/// not have looked yet) and cannot be approved.
async fn refuse_if_expired(state: &AppState, alert: &AlertRecord) -> Result<(), ApiError> {
    let now = state.clock.now();
    if alert.expires.is_some_and(|e| e <= now) {
        state
            .store
            .expire_pending_alerts(now, &expired_action)
            .await?;
        return Err(expired(alert));
    }
    Ok(())
}

/// The alert an Update or Cancel refers to (its last reference): it must
/// exist here, have been sent, and be of the same status.
async fn referenced(state: &AppState, cap: &Alert) -> Result<Option<AlertRecord>, ApiError> {
    if cap.msg_type == MsgType::Alert {
        return Ok(None);
    }
    let Some(r) = cap.references.last() else {
        return Err(ApiError::invalid(
            "alert/references",
            "an Update or Cancel needs one",
        ));
    };
    let original = state
        .store
        .find_alert(&r.sender, &r.identifier)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "alert/references",
                format!(
                    "no alert from \"{}\" with identifier \"{}\" is known here",
                    r.sender, r.identifier
                ),
            )
        })?;
    if !original.state.was_sent() || original.notice_id.is_none() {
        return Err(ApiError::Conflict(format!(
            "alert {} was never sent ({}), so there is nothing to update or cancel",
            original.id,
            original.state.as_str()
        )));
    }
    if original.state == AlertState::Ended {
        return Err(ApiError::Conflict(format!(
            "alert {} has already ended{}: there is nothing left to update or cancel",
            original.id,
            original
                .ended_by
                .map(|by| format!(" (alert {by} ended it)"))
                .unwrap_or_default()
        )));
    }
    if original.status != cap.status.as_str() {
        return Err(ApiError::invalid(
            "alert/status",
            format!(
                "the referenced alert is {}; an {} cannot update or cancel it",
                original.status,
                cap.status.as_str()
            ),
        ));
    }
    Ok(Some(original))
}

/// An Exercise or Test reaches its test audience, or its whole area when
/// the operator widens it (journaled).
async fn drill_release(
    state: &AppState,
    cap: &Alert,
    original: Option<&AlertRecord>,
    opts: &Options,
    op: &Operator,
    actions: &mut Vec<AlertAction>,
    lane: LaneDecision,
) -> Result<(Release, Option<crate::domain::AudienceId>), ApiError> {
    if original.is_some() {
        // Updates and cancels go to whoever the original reached.
        return Ok((release(state, cap, original, None, lane).await?, None));
    }
    if opts.widen {
        actions.push(AlertAction {
            actor: actor(op),
            action: "alert.audience_widened",
            detail: json!({"status": cap.status.as_str(), "to": "area"}),
        });
        return Ok((release(state, cap, None, None, lane).await?, None));
    }
    let name = opts
        .audience
        .clone()
        .or_else(|| state.config.alerts.test_audience.clone())
        .ok_or_else(|| {
            ApiError::invalid(
                "audience",
                "an Exercise or Test goes only to a test audience: name one \
                 (or set [alerts] test_audience), or widen it explicitly",
            )
        })?;
    let (id, members) =
        state.store.audience_members(&name).await?.ok_or_else(|| {
            ApiError::invalid("audience", format!("no audience named \"{name}\""))
        })?;
    Ok((
        release(state, cap, None, Some(members), lane).await?,
        Some(id),
    ))
}

/// What sending writes: a new notice to the area (or to `only`), or an
/// event of the original's notice.
async fn release(
    state: &AppState,
    cap: &Alert,
    original: Option<&AlertRecord>,
    only: Option<Vec<crate::domain::ResidentId>>,
    lane: LaneDecision,
) -> Result<Release, ApiError> {
    let content = AlertContent::from_cap(cap, lane);
    let kind = if lane.urgent() {
        NoticeKind::Emergency
    } else {
        NoticeKind::Unplanned
    };
    // A drill tests every channel at once; a fallback cascade would leave
    // the later channels untested whenever the first one works.
    let cascade = match route(cap.status) {
        Route::Drill(_) => Cascade::default(),
        _ => state.config.policy.cascade(kind),
    };
    if let Some(original) = original {
        return follow_up(state, cap, original, content, kind, cascade).await;
    }
    let t = target(state, cap).await?;
    let plan = state.planner.plan(&t.zones, t.regions, t.circles).await?;
    let now = Utc::now();
    // An alert past its `expires` never gets here: `submit` refuses it and
    // an approval finds it expired.
    let expires = expires(cap);
    let title = Text::parse(&truncate(&headline(cap), 200))
        .map_err(|e| ApiError::invalid("alert/info/headline", e))?;
    Ok(Release::Notice {
        notice: NewNotice {
            organisation: None,
            kind,
            category: Category::Civil,
            title,
            cause: None,
            starts_at: effective(cap).unwrap_or(now),
            expected_end: None,
            expires_at: expires,
            area: plan.area,
            cascade,
            outage: None,
            zones: plan.named_zones,
            alert: Some(content),
            ignore_opt_outs: lane.urgent(),
        },
        candidates: only.unwrap_or(plan.candidates),
    })
}

/// An Update or Cancel: an event of the original's notice. It reaches the
/// original audience and, for an Update with an area, everyone newly
/// inside it too (never for a drill confined to its test audience).
async fn follow_up(
    state: &AppState,
    cap: &Alert,
    original: &AlertRecord,
    content: AlertContent,
    kind: NoticeKind,
    cascade: Cascade,
) -> Result<Release, ApiError> {
    let notice = original.notice_id.expect("checked by referenced()");
    let cancel = cap.msg_type == MsgType::Cancel;
    let confined = original.audience.is_some() && !original.widened;
    let (joining, area) = if !cancel && !confined && has_area(cap) {
        let t = target(state, cap).await?;
        let plan = state.planner.plan(&t.zones, t.regions, t.circles).await?;
        (plan.candidates, Some(plan.area))
    } else {
        (Vec::new(), None)
    };
    Ok(Release::Event {
        notice,
        event: NewEvent {
            kind: if cancel {
                EventKind::Closed
            } else {
                EventKind::Updated
            },
            message: None,
            expected_end: None,
            cascade,
        },
        alert: AlertEvent {
            content,
            lane: kind.lane(),
            joining,
            ignore_opt_outs: kind == NoticeKind::Emergency,
            area,
            ends_chain: cancel,
        },
    })
}

/// Whether any info names a zone, polygon or circle.
fn has_area(cap: &Alert) -> bool {
    cap.infos.iter().flat_map(|i| &i.areas).any(|a| {
        !a.polygons.is_empty()
            || !a.circles.is_empty()
            || a.geocodes.iter().any(|g| g.value_name == ZONE_GEOCODE)
    })
}

/// Where an alert is sent: Tocsin zones (CAP geocode `tocsin:zone`),
/// polygons and circles of every info, with the CAP element of each zone
/// for error messages.
struct Target {
    zones: Vec<ZoneId>,
    zone_paths: Vec<String>,
    regions: Vec<Region>,
    circles: Vec<Circle>,
}

/// The geocode name of a Tocsin zone id in CAP areas.
pub const ZONE_GEOCODE: &str = "tocsin:zone";

/// Reads and checks every area of the alert; an alert that is sent needs
/// at least one zone, polygon or circle.
async fn target(state: &AppState, cap: &Alert) -> Result<Target, ApiError> {
    let limits = state.config.limits.zones();
    let mut t = Target {
        zones: vec![],
        zone_paths: vec![],
        regions: vec![],
        circles: vec![],
    };
    for (i, info) in cap.infos.iter().enumerate() {
        for (j, area) in info.areas.iter().enumerate() {
            let path = |what: &str, k: usize| {
                format!("alert/info[{}]/area[{}]/{what}[{}]", i + 1, j + 1, k + 1)
            };
            for (k, p) in area.polygons.iter().enumerate() {
                // CAP says "lat,lon"; GeoJSON says [lon, lat].
                let ring: Vec<[f64; 2]> =
                    p.points().iter().map(|(lat, lon)| [*lon, *lat]).collect();
                let geometry = json!({"type": "Polygon", "coordinates": [ring]});
                t.regions.push(
                    Region::from_geojson(&geometry, &limits)
                        .map_err(|e| ApiError::invalid(path("polygon", k), e))?,
                );
            }
            for (k, c) in area.circles.iter().enumerate() {
                let circle = GeoPoint::new(c.lat, c.lon)
                    .and_then(|centre| Circle::new(centre, c.radius_km * 1000.0, &limits))
                    .map_err(|e| ApiError::invalid(path("circle", k), e))?;
                t.circles.push(circle);
            }
            for (k, g) in area.geocodes.iter().enumerate() {
                if g.value_name != ZONE_GEOCODE {
                    continue; // other schemes describe, Tocsin zones target
                }
                let id = g.value.trim().parse().map_err(|_| {
                    ApiError::invalid(
                        path("geocode", k),
                        format!("\"{}\" is not a zone id", g.value),
                    )
                })?;
                t.zones.push(ZoneId(id));
                t.zone_paths.push(path("geocode", k));
            }
        }
    }
    if t.zones.is_empty() && t.regions.is_empty() && t.circles.is_empty() {
        return Err(ApiError::invalid(
            "alert/info/area",
            "give at least one zone, polygon or circle: it decides who is alerted",
        ));
    }
    let known = state.store.existing_zones(&t.zones).await?;
    if let Some(k) = t.zones.iter().position(|z| !known.contains(z)) {
        return Err(ApiError::invalid(
            t.zone_paths[k].clone(),
            format!("zone {} does not exist", t.zones[k]),
        ));
    }
    Ok(t)
}

fn new_alert(
    cap: &Alert,
    written: String,
    state: AlertState,
    original: Option<&AlertRecord>,
    audience: Option<crate::domain::AudienceId>,
    op: &Operator,
    opts: &Options,
) -> NewAlert {
    NewAlert {
        identifier: cap.identifier.clone(),
        sender: cap.sender.clone(),
        sent: cap.sent.with_timezone(&Utc),
        status: cap.status.as_str().to_owned(),
        msg_type: cap.msg_type.as_str().to_owned(),
        scope: cap.scope.as_str().to_owned(),
        headline: truncate(&headline(cap), 200),
        urgent: false, // the caller's lane decision
        expires: expires(cap),
        cap: written,
        state,
        references: original.map(|o| o.id),
        audience,
        widened: opts.widen && matches!(cap.status, Status::Exercise | Status::Test),
        template: opts.template.clone(),
        creator: op.clone(),
    }
}

fn headline(cap: &Alert) -> String {
    cap.infos
        .first()
        .map(|i| i.headline.clone().unwrap_or_else(|| i.event.clone()))
        .unwrap_or_else(|| cap.identifier.clone())
}

/// The earliest `expires` of the infos: after it nothing unsent goes out.
fn expires(cap: &Alert) -> Option<DateTime<Utc>> {
    cap.infos
        .iter()
        .filter_map(|i| i.expires)
        .map(|t| t.with_timezone(&Utc))
        .min()
}

fn effective(cap: &Alert) -> Option<DateTime<Utc>> {
    cap.infos
        .iter()
        .filter_map(|i| i.effective)
        .map(|t| t.with_timezone(&Utc))
        .min()
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}
