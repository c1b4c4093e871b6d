//! What the scheduler reads and writes in SQLite: reminders of planned
//! works, notices past their expiry, and the leadership digest's counts.

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::Row;

use super::notices::{NOTICE_COLUMNS, append_event, notice_from_row};
use super::{SqliteStore, corrupt, ms};
use crate::domain::{EventId, NoticeId};
use crate::store::sql::{DIGEST_DELIVERIES, DIGEST_NOTICES, DUE_REMINDERS};
use crate::store::{Digest, NewEvent, Notice, NoticeEvent, ReminderKind, StoreResult};

impl SqliteStore {
    pub(super) async fn jobs_due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(NoticeId, ReminderKind)>> {
        let rows = sqlx::query(&DUE_REMINDERS.replace('$', "?"))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| {
                let bit: i64 = r.get(1);
                let which = ReminderKind::from_bit(bit).ok_or_else(|| corrupt("notices", bit))?;
                Ok((NoticeId(r.get(0)), which))
            })
            .collect()
    }

    pub(super) async fn jobs_add_reminder(
        &self,
        id: NoticeId,
        which: ReminderKind,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Notice, NoticeEvent)>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let claimed = sqlx::query(
            "UPDATE notices SET reminders = reminders | ?1
             WHERE id = ?2 AND (reminders & ?1) = 0 AND status = 'active'",
        )
        .bind(which.bit())
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let event = append_event(&mut tx, id, event, None, ms(now)).await?;
        tx.commit().await?;
        // Release the writer first: the read-back below takes it again.
        drop(conn);
        self.notice_and_event(id, EventId(event)).await.map(Some)
    }

    pub(super) async fn jobs_expire(&self, now: DateTime<Utc>) -> StoreResult<Vec<Notice>> {
        let rows = sqlx::query(&format!(
            "UPDATE notices SET status = 'closed', closed_at = ?1, updated_at = ?1
             WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?1
             RETURNING {NOTICE_COLUMNS}"
        ))
        .bind(ms(now))
        .fetch_all(&mut *self.writer.lock().await?)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    pub(super) async fn jobs_digest(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Digest> {
        let notices: Vec<(String, i64)> = sqlx::query_as(&DIGEST_NOTICES.replace('$', "?"))
            .bind(ms(since))
            .fetch_all(&self.reader)
            .await?;
        let deliveries: Vec<(String, String, i64)> =
            sqlx::query_as(&DIGEST_DELIVERIES.replace('$', "?"))
                .bind(ms(since))
                .fetch_all(self.settled().await?)
                .await?;
        let overdue = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices
             WHERE status = 'active' AND expected_end IS NOT NULL AND expected_end < ?
             ORDER BY expected_end LIMIT 50"
        ))
        .bind(ms(now))
        .fetch_all(&self.reader)
        .await?;
        Digest::from_rows(
            since,
            now,
            notices,
            deliveries,
            overdue
                .iter()
                .map(notice_from_row)
                .collect::<StoreResult<_>>()?,
        )
    }
}
