//! `GET /api/v1/alerts/{id}/report`: what a drill (or an alert) reached,
//! per channel: recipients, sent, delivered, acknowledged, failed, and the
//! time from release to delivery (p50, p95).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tocsin_channels::ChannelKind;

use super::{load, may_read, view};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Caller;
use crate::domain::DeliveryState;
use crate::store::DeliveryTiming;

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct ChannelReport {
    pub recipients: u64,
    pub sent: u64,
    pub delivered: u64,
    pub acknowledged: u64,
    pub failed: u64,
    /// Still on the way (pending, queued, sending, waiting).
    pub in_progress: u64,
    /// Time from release to the first and the last delivery.
    pub first_delivery_ms: Option<i64>,
    pub last_delivery_ms: Option<i64>,
    pub p50_delivery_ms: Option<i64>,
    pub p95_delivery_ms: Option<i64>,
    pub first_delivered_at: Option<DateTime<Utc>>,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    may_read(&caller.0)?;
    let alert = load(&state, &id).await?;
    let timings = match alert.event_id {
        Some(event) => state.store.event_timings(event).await?,
        None => vec![],
    };
    Ok(Json(json!({
        "alert": view(&alert),
        "channels": summarise(&timings),
    })))
}

/// Counts and delivery-time percentiles per channel. "Sent" counts every
/// message that left (delivered and acknowledged ones too).
pub fn summarise(timings: &[DeliveryTiming]) -> BTreeMap<ChannelKind, ChannelReport> {
    let mut out: BTreeMap<ChannelKind, ChannelReport> = BTreeMap::new();
    let mut times: BTreeMap<ChannelKind, Vec<i64>> = BTreeMap::new();
    for t in timings {
        let r = out.entry(t.channel).or_default();
        r.recipients += 1;
        use DeliveryState::*;
        match t.state {
            Sent => r.sent += 1,
            Delivered => {
                r.sent += 1;
                r.delivered += 1;
            }
            Acknowledged => {
                r.sent += 1;
                r.delivered += 1;
                r.acknowledged += 1;
            }
            Failed | Expired => r.failed += 1,
            Pending | Queued | Sending => r.in_progress += 1,
            Suppressed => {}
        }
        if let Some(at) = t.delivered_at.or(t.acknowledged_at) {
            times
                .entry(t.channel)
                .or_default()
                .push((at - t.created_at).num_milliseconds());
            r.first_delivered_at = Some(r.first_delivered_at.map_or(at, |f| f.min(at)));
            r.last_delivered_at = Some(r.last_delivered_at.map_or(at, |l| l.max(at)));
        }
    }
    for (channel, mut ms) in times {
        ms.sort_unstable();
        let r = out.entry(channel).or_default();
        r.first_delivery_ms = ms.first().copied();
        r.last_delivery_ms = ms.last().copied();
        r.p50_delivery_ms = percentile(&ms, 50);
        r.p95_delivery_ms = percentile(&ms, 95);
    }
    out
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn timing(channel: ChannelKind, state: DeliveryState, after_ms: Option<i64>) -> DeliveryTiming {
        let created = Utc::now();
        DeliveryTiming {
            channel,
            state,
            created_at: created,
            delivered_at: after_ms.map(|ms| created + Duration::milliseconds(ms)),
            acknowledged_at: None,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 95), Some(95));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn channels_are_counted_apart() {
        use DeliveryState::*;
        let t = vec![
            timing(ChannelKind::Sms, Delivered, Some(100)),
            timing(ChannelKind::Sms, Delivered, Some(300)),
            timing(ChannelKind::Sms, Failed, None),
            timing(ChannelKind::Email, Sent, None),
            timing(ChannelKind::Email, Queued, None),
        ];
        let r = summarise(&t);
        let sms = &r[&ChannelKind::Sms];
        assert_eq!(
            (sms.recipients, sms.sent, sms.delivered, sms.failed),
            (3, 2, 2, 1)
        );
        assert_eq!(
            (sms.p50_delivery_ms, sms.p95_delivery_ms),
            (Some(100), Some(300))
        );
        assert_eq!(
            (sms.first_delivery_ms, sms.last_delivery_ms),
            (Some(100), Some(300))
        );
        let email = &r[&ChannelKind::Email];
        assert_eq!(
            (email.sent, email.in_progress, email.p50_delivery_ms),
            (1, 1, None)
        );
    }
}
