//! Residents' delivery preferences (time zone, quiet hours, channel
//! order) and contact opt-outs: the resident PATCH, the dispatcher's bulk
//! read, SMS STOP/START and email unsubscribe links.

use sqlx::Row;
use std::collections::HashMap;
use tocsin_channels::Address;

use super::PgStore;
use crate::domain::{ContactId, ResidentId};
use crate::store::sql::{channel_order_column, prefs_from_columns, timezone_column};
use crate::store::{RecipientPrefs, Resident, ResidentPatch, StoreResult};

impl PgStore {
    pub(super) async fn residents_update(
        &self,
        id: ResidentId,
        patch: &ResidentPatch,
    ) -> StoreResult<Option<Resident>> {
        let mut tx = self.pool.begin().await?;
        // A flag per nullable column tells "set to NULL" from "leave as is".
        let updated = sqlx::query(
            "UPDATE residents SET
                language = COALESCE($1, language),
                categories = COALESCE($2, categories),
                quiet_hours = CASE WHEN $3 THEN $4 ELSE quiet_hours END,
                timezone = CASE WHEN $5 THEN $6 ELSE timezone END,
                channel_order = CASE WHEN $7 THEN $8 ELSE channel_order END
             WHERE id = $9",
        )
        .bind(patch.language.as_ref().map(|l| l.as_str()))
        .bind(patch.categories.map(|c| c.mask()))
        .bind(patch.quiet_hours.is_some())
        .bind(patch.quiet_hours.and_then(|q| q.to_text()))
        .bind(patch.timezone.is_some())
        .bind(patch.timezone.and_then(timezone_column))
        .bind(patch.channel_order.is_some())
        .bind(
            patch
                .channel_order
                .as_ref()
                .and_then(|o| channel_order_column(o.as_ref())),
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if updated == 0 {
            return Ok(None);
        }
        self.residents_get(id).await
    }

    pub(super) async fn residents_preferences(
        &self,
        residents: &[ResidentId],
    ) -> StoreResult<HashMap<ResidentId, RecipientPrefs>> {
        if residents.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = sqlx::query(
            "SELECT id, timezone, quiet_hours, channel_order FROM residents WHERE id = ANY($1)",
        )
        .bind(residents.iter().map(|r| r.0).collect::<Vec<i64>>())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let prefs = prefs_from_columns(r.get(1), r.get(2), r.get(3))?;
                Ok((ResidentId(r.get(0)), prefs))
            })
            .collect()
    }

    pub(super) async fn contacts_deactivate_address(
        &self,
        address: &Address,
        reason: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE contacts SET active = FALSE, deactivated_reason = $1
             WHERE channel = $2 AND address = $3 AND active",
        )
        .bind(reason)
        .bind(address.kind().as_str())
        .bind(address.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn contacts_reactivate_address(
        &self,
        address: &Address,
        reason: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE contacts SET active = TRUE, deactivated_reason = NULL
             WHERE channel = $1 AND address = $2 AND NOT active AND deactivated_reason = $3",
        )
        .bind(address.kind().as_str())
        .bind(address.as_str())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn contacts_deactivate(
        &self,
        contact: ContactId,
        reason: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE contacts SET active = FALSE, deactivated_reason = $1 WHERE id = $2 AND active",
        )
        .bind(reason)
        .bind(contact.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
