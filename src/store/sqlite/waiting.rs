//! Waiting deliveries: later cascade steps and messages held through quiet
//! hours, released (or dropped) by the dispatcher's release loop; and the
//! counts behind the daily cap.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{SqliteStore, id_array, ms};
use crate::domain::{DeliveryId, DeliveryState, EventId, ResidentId};
use crate::store::sql::{COUNTED_STATES, due_from_row, due_sql};
use crate::store::{DueDelivery, StoreResult};

fn ids_json(ids: &[DeliveryId]) -> String {
    id_array(ids.iter().map(|d| d.0))
}

impl SqliteStore {
    pub(super) async fn waiting_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let rows = sqlx::query(&due_sql("?1", "?2"))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(self.settled().await?)
            .await?;
        rows.iter()
            .map(|r| {
                let channel: String = r.get(1);
                let state: String = r.get(2);
                let stop_if: Option<String> = r.get(3);
                due_from_row(
                    r.get(0),
                    &channel,
                    &state,
                    stop_if.as_deref(),
                    r.get(4),
                    r.get(5),
                )
            })
            .collect()
    }

    pub(super) async fn waiting_release(&self, ids: &[DeliveryId]) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'pending', not_before = NULL, error = NULL, updated_at = ?1
             WHERE id IN (SELECT value FROM json_each(?2)) AND not_before IS NOT NULL
               AND state IN ('pending', 'suppressed')",
        )
        .bind(ms(Utc::now()))
        .bind(ids_json(ids))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_finish(
        &self,
        ids: &[DeliveryId],
        state: DeliveryState,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = ?1, error = ?2, not_before = NULL, updated_at = ?3
             WHERE id IN (SELECT value FROM json_each(?4)) AND not_before IS NOT NULL
               AND state IN ('pending', 'suppressed')",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(ms(Utc::now()))
        .bind(ids_json(ids))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_hold(
        &self,
        ids: &[DeliveryId],
        until: Option<DateTime<Utc>>,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'suppressed', not_before = ?1, error = ?2, updated_at = ?3
             WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'pending'",
        )
        .bind(until.map(ms))
        .bind(reason)
        .bind(ms(Utc::now()))
        .bind(ids_json(ids))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_routine_events(
        &self,
        residents: &[ResidentId],
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(ResidentId, EventId)>> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT resident_id, event_id FROM deliveries
             WHERE resident_id IN (SELECT value FROM json_each(?1)) AND lane = 2
               AND created_at >= ?2 AND state IN ({COUNTED_STATES})"
        ))
        .bind(id_array(residents.iter().map(|r| r.0)))
        .bind(ms(since))
        .fetch_all(self.settled().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (ResidentId(r.get(0)), EventId(r.get(1))))
            .collect())
    }
}
