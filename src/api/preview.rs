//! `POST /notices/preview`: who a notice would reach on which channel, what
//! its SMS and calls would be in each language, what sending would cost and
//! how long it would take. Same body, checks and errors as publishing
//! (`notices::plan_notice`); nothing is written, queued or sent.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tocsin_channels::{ChannelKind, Content};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::notices::{NoticeIn, plan_notice};
use crate::domain::{EventId, EventKind, Language, NoticeId, NoticeStatus};
use crate::estimate::{self, CallSize, SmsSize};
use crate::render::{MessageInput, Renderer};
use crate::store::{AudienceCounts, NewNotice, Notice, NoticeEvent};

pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NoticeIn>,
) -> Result<Json<Value>, ApiError> {
    let planned = plan_notice(&state, &caller, body).await?;
    let counts = state
        .store
        .count_audience(planned.notice.category, &planned.candidates)
        .await?;
    let (notice, event) = unsaved(&planned.notice, &counts);
    let renderer = &state.renderer;
    let sms = per_language(&counts, ChannelKind::Sms, |language, recipients| {
        sms_size(renderer, &notice, &event, language, recipients)
    })?;
    let calls = per_language(&counts, ChannelKind::Voice, |language, calls| {
        call_size(renderer, &notice, &event, language, calls)
    })?;
    let loads = estimate::loads(&counts, &sms, &calls);
    let rates = &state.config.rates;
    tracing::info!(
        recipients = counts.residents,
        candidates = planned.candidates.len(),
        "notice previewed"
    );
    Ok(Json(json!({
        "recipients": recipients(&counts),
        "sms": sms,
        "voice": calls,
        "cost": estimate::cost(&loads, rates, &state.config.policy.currency),
        "estimated_seconds": estimate::duration(&loads, rates),
        "simulated_channels": state.channels.simulated(),
    })))
}

/// The notice and its `published` event as `create` would store them, for
/// rendering only. Ids are 0: SMS and voice templates do not show them.
fn unsaved(n: &NewNotice, counts: &AudienceCounts) -> (Notice, NoticeEvent) {
    let now = Utc::now();
    let notice = Notice {
        id: NoticeId(0),
        organisation: n.organisation,
        kind: n.kind,
        category: n.category,
        title: n.title.as_str().to_owned(),
        cause: n.cause.as_ref().map(|c| c.as_str().to_owned()),
        starts_at: n.starts_at,
        expected_end: n.expected_end,
        status: NoticeStatus::Active,
        area: n.area.to_json(),
        zones: n.zones.clone(),
        recipients: counts.residents,
        created_at: now,
        updated_at: now,
        closed_at: None,
        expires_at: n.expires_at,
        outage: n.outage.as_ref().map(|o| o.as_str().to_owned()),
        alert: None,
    };
    let event = NoticeEvent {
        id: EventId(0),
        notice_id: NoticeId(0),
        seq: 0,
        kind: EventKind::Published,
        message: None,
        expected_end: n.expected_end,
        deliveries: counts.contacts.iter().map(|c| c.contacts).sum(),
        created_at: now,
        alert: None,
    };
    (notice, event)
}

/// One row per resident language that has contacts on `channel`.
fn per_language<T>(
    counts: &AudienceCounts,
    channel: ChannelKind,
    row: impl Fn(&Language, u64) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let mut by_language: BTreeMap<&str, (&Language, u64)> = BTreeMap::new();
    for c in counts.contacts.iter().filter(|c| c.channel == channel) {
        let entry = by_language
            .entry(c.language.as_str())
            .or_insert((&c.language, 0));
        entry.1 += u64::try_from(c.contacts).unwrap_or(0);
    }
    by_language
        .into_values()
        .map(|(language, n)| row(language, n))
        .collect()
}

fn render(
    renderer: &Renderer,
    channel: ChannelKind,
    notice: &Notice,
    event: &NoticeEvent,
    language: &Language,
) -> Result<Content, ApiError> {
    let input = MessageInput {
        notice,
        event,
        language,
        ack_url: None,
        gather_url: None,
        unsubscribe_url: None,
    };
    renderer.render(channel, &input).map_err(ApiError::internal)
}

/// SMS carry no per-resident part, so one rendering per language is exact.
fn sms_size(
    renderer: &Renderer,
    notice: &Notice,
    event: &NoticeEvent,
    language: &Language,
    recipients: u64,
) -> Result<SmsSize, ApiError> {
    match render(renderer, ChannelKind::Sms, notice, event, language)? {
        Content::Sms { body } => Ok(SmsSize {
            language: language.clone(),
            recipients,
            info: tocsin_channels::analyze(&body),
        }),
        _ => Err(ApiError::internal("the SMS template rendered no SMS")),
    }
}

fn call_size(
    renderer: &Renderer,
    notice: &Notice,
    event: &NoticeEvent,
    language: &Language,
    calls: u64,
) -> Result<CallSize, ApiError> {
    match render(renderer, ChannelKind::Voice, notice, event, language)? {
        Content::Voice { speech, prompt, .. } => {
            let words = speech.split_whitespace().count() + prompt.split_whitespace().count();
            Ok(CallSize::new(language.clone(), calls, words as u64))
        }
        _ => Err(ApiError::internal("the voice template rendered no call")),
    }
}

/// Residents, contacts, and contacts per channel (every channel, zeros too).
fn recipients(counts: &AudienceCounts) -> Value {
    let mut by_channel: BTreeMap<&str, i64> =
        ChannelKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    for c in &counts.contacts {
        *by_channel.entry(c.channel.as_str()).or_default() += c.contacts;
    }
    json!({
        "residents": counts.residents,
        "contacts": by_channel.values().sum::<i64>(),
        "by_channel": by_channel,
    })
}
