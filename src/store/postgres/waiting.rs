//! Waiting deliveries: later cascade steps and messages held through quiet
//! hours, released (or dropped) by the dispatcher's release loop; and the
//! counts behind the daily cap.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::PgStore;
use crate::domain::{DeliveryId, DeliveryState, EventId, ResidentId};
use crate::store::sql::{COUNTED_STATES, due_from_row, due_sql, ms};
use crate::store::{DueDelivery, StoreResult};

fn ids(ids: &[DeliveryId]) -> Vec<i64> {
    ids.iter().map(|d| d.0).collect()
}

impl PgStore {
    pub(super) async fn waiting_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        let rows = sqlx::query(&due_sql("$1", "$2"))
            .bind(ms(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let channel: String = r.get(1);
                let state: String = r.get(2);
                let stop_if: Option<String> = r.get(3);
                let reached: Option<i32> = r.get(4);
                due_from_row(
                    r.get(0),
                    &channel,
                    &state,
                    stop_if.as_deref(),
                    reached.map(i64::from),
                    r.get(5),
                )
            })
            .collect()
    }

    pub(super) async fn waiting_release(&self, list: &[DeliveryId]) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'pending', not_before = NULL, error = NULL, updated_at = $1
             WHERE id = ANY($2) AND not_before IS NOT NULL AND state IN ('pending', 'suppressed')",
        )
        .bind(ms(Utc::now()))
        .bind(ids(list))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_finish(
        &self,
        list: &[DeliveryId],
        state: DeliveryState,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = $1, error = $2, not_before = NULL, updated_at = $3
             WHERE id = ANY($4) AND not_before IS NOT NULL AND state IN ('pending', 'suppressed')",
        )
        .bind(state.as_str())
        .bind(reason)
        .bind(ms(Utc::now()))
        .bind(ids(list))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_hold(
        &self,
        list: &[DeliveryId],
        until: Option<DateTime<Utc>>,
        reason: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'suppressed', not_before = $1, error = $2, updated_at = $3
             WHERE id = ANY($4) AND state = 'pending'",
        )
        .bind(until.map(ms))
        .bind(reason)
        .bind(ms(Utc::now()))
        .bind(ids(list))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn waiting_routine_events(
        &self,
        residents: &[ResidentId],
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(ResidentId, EventId)>> {
        let list: Vec<i64> = residents.iter().map(|r| r.0).collect();
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT resident_id, event_id FROM deliveries
             WHERE resident_id = ANY($1) AND lane = 2
               AND created_at >= $2 AND state IN ({COUNTED_STATES})"
        ))
        .bind(list)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (ResidentId(r.get(0)), EventId(r.get(1))))
            .collect())
    }
}
