//! SQL text and value conversions shared by the SQLite and PostgreSQL
//! backends. Both dialects accept the same `CASE`/`IN` expressions, so the
//! conditional transitions derived from the state machine are built once
//! here and cannot drift apart between backends.

use chrono::{DateTime, TimeZone, Utc};

use super::{RecipientPrefs, StoreError};
use crate::domain::DeliveryState::{self, *};
use crate::domain::{ChannelOrder, QuietPreference};

/// Times are stored as Unix epoch milliseconds in both backends.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

pub(crate) fn opt_from_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

/// `'a','b'` for `state IN (...)`. The values are our own enum names, never
/// user input, which is why building SQL text from them is safe.
pub(crate) fn state_list(states: &[DeliveryState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// SQL that is true when the delivery may move to `v.next` from its
/// current state, built from the state machine so it never drifts from it.
/// `v` is the batch of outcomes (`id, next, provider_id, error, at`).
pub(crate) fn outcome_transition_sql() -> String {
    [Sent, Delivered, Queued, Failed]
        .iter()
        .map(|next| {
            let from = state_list(&DeliveryState::predecessors(*next));
            format!(
                "(v.next = '{}' AND deliveries.state IN ({from}))",
                next.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The `SET` list of the batched outcome UPDATE (`UPDATE deliveries SET
/// {this} FROM v WHERE deliveries.id = v.id`). The state and error change
/// only when the transition is allowed; the provider id and the sent /
/// delivered stamps are kept even when a receipt overtook the outcome, so
/// a late "sent" still records what the provider told us.
pub(crate) fn outcome_assignments() -> String {
    let applies = outcome_transition_sql();
    format!(
        "state = CASE WHEN {applies} THEN v.next ELSE deliveries.state END,
         error = CASE WHEN {applies} THEN COALESCE(v.error, deliveries.error) ELSE deliveries.error END,
         provider_id = COALESCE(deliveries.provider_id, v.provider_id),
         sent_at = CASE WHEN v.next IN ('sent', 'delivered') THEN COALESCE(deliveries.sent_at, v.at) ELSE deliveries.sent_at END,
         delivered_at = CASE WHEN v.next = 'delivered' THEN COALESCE(deliveries.delivered_at, v.at) ELSE deliveries.delivered_at END,
         updated_at = v.at"
    )
}

/// The `SET` fragment that stamps the time of a state reached through
/// `report`, with `$t` the placeholder of the current time.
pub(crate) fn report_stamp(next: DeliveryState, t: &str) -> String {
    match next {
        Sent => format!(", sent_at = COALESCE(sent_at, {t})"),
        Delivered => format!(", delivered_at = COALESCE(delivered_at, {t})"),
        Acknowledged => format!(", acknowledged_at = COALESCE(acknowledged_at, {t})"),
        _ => String::new(),
    }
}

/// The `timezone`, `quiet_hours` and `channel_order` columns of a
/// resident, as both backends store them (text, NULL = default).
pub(crate) fn prefs_from_columns(
    timezone: Option<String>,
    quiet_hours: Option<String>,
    channel_order: Option<String>,
) -> Result<RecipientPrefs, StoreError> {
    Ok(RecipientPrefs {
        timezone: timezone
            .map(|t| t.parse().map_err(|e| corrupt("residents", e)))
            .transpose()?,
        quiet_hours: QuietPreference::parse(quiet_hours.as_deref())
            .map_err(|e| corrupt("residents", e))?,
        channel_order: channel_order
            .map(|o| ChannelOrder::from_json(&o).map_err(|e| corrupt("residents", e)))
            .transpose()?,
    })
}

/// The column values of the optional preferences (see `prefs_from_columns`).
pub(crate) fn timezone_column(tz: Option<chrono_tz::Tz>) -> Option<&'static str> {
    tz.map(|t| t.name())
}

pub(crate) fn channel_order_column(order: Option<&ChannelOrder>) -> Option<String> {
    order.map(ChannelOrder::to_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_come_from_the_state_machine() {
        let sql = outcome_transition_sql();
        assert!(sql.contains("(v.next = 'sent' AND deliveries.state IN ('sending'))"));
        assert!(sql.contains("(v.next = 'queued' AND deliveries.state IN ('pending','sending'))"));
        assert!(outcome_assignments().contains(&sql));
    }
}
