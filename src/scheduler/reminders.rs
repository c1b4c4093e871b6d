//! Reminders of planned works (the day before and when they start, to the
//! notice's audience) and the closing of notices whose `expires_at` has
//! passed. Each reminder is marked sent in the transaction that writes its
//! event, so it goes once whatever the number of `serve` processes.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::api::AppState;
use crate::domain::actor;
use crate::domain::journal::NewJournalEntry;
use crate::domain::{EventKind, NoticeKind};
use crate::store::{NewEvent, ReminderKind, StoreError};

const BATCH: u32 = 100;

pub(super) async fn tick(state: &AppState, now: DateTime<Utc>) -> Result<(), StoreError> {
    for (notice, which) in state.store.due_reminders(now, BATCH).await? {
        let event = NewEvent {
            kind: EventKind::Reminder,
            message: None,
            expected_end: None,
            cascade: state.config.policy.cascade(NoticeKind::Planned),
        };
        if let Some((n, e)) = state.store.add_reminder(notice, which, &event, now).await? {
            state.dispatcher.spawn_enqueue(e.id);
            let when = match which {
                ReminderKind::DayBefore => "day_before",
                ReminderKind::AtStart => "at_start",
            };
            tracing::info!(notice = %n.id, when, deliveries = e.deliveries, "reminder of planned works");
        }
    }
    for notice in state.store.expire_notices(now).await? {
        tracing::info!(notice = %notice.id, "notice expired and closed");
        state
            .store
            .append_journal(&NewJournalEntry {
                actor: actor::SCHEDULER.to_owned(),
                action: "notice.expired".to_owned(),
                subject: format!("notice/{}", notice.id),
                detail: json!({"expires_at": notice.expires_at, "title": notice.title}),
            })
            .await?;
    }
    Ok(())
}
