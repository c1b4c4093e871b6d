//! Residents' delivery preferences (time zone, quiet hours, channel
//! order) and contact opt-outs: the resident PATCH, the dispatcher's bulk
//! read, SMS STOP/START and email unsubscribe links.

use sqlx::Connection;
use sqlx::Row;
use std::collections::HashMap;
use tocsin_channels::Address;

use super::{SqliteStore, id_array};
use crate::domain::{ContactId, ResidentId};
use crate::store::sql::{channel_order_column, prefs_from_columns, timezone_column};
use crate::store::{RecipientPrefs, Resident, ResidentPatch, StoreResult};

impl SqliteStore {
    pub(super) async fn residents_update(
        &self,
        id: ResidentId,
        patch: &ResidentPatch,
    ) -> StoreResult<Option<Resident>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        // A flag per nullable column tells "set to NULL" from "leave as is".
        let updated = sqlx::query(
            "UPDATE residents SET
                language = COALESCE(?, language),
                categories = COALESCE(?, categories),
                quiet_hours = CASE WHEN ? THEN ? ELSE quiet_hours END,
                timezone = CASE WHEN ? THEN ? ELSE timezone END,
                channel_order = CASE WHEN ? THEN ? ELSE channel_order END
             WHERE id = ?",
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
        drop(conn);
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
            "SELECT id, timezone, quiet_hours, channel_order FROM residents
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(id_array(residents.iter().map(|r| r.0)))
        .fetch_all(&self.reader)
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
            "UPDATE contacts SET active = 0, deactivated_reason = ?
             WHERE channel = ? AND address = ? AND active = 1",
        )
        .bind(reason)
        .bind(address.kind().as_str())
        .bind(address.as_str())
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn contacts_reactivate_address(
        &self,
        address: &Address,
        reason: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE contacts SET active = 1, deactivated_reason = NULL
             WHERE channel = ? AND address = ? AND active = 0 AND deactivated_reason = ?",
        )
        .bind(address.kind().as_str())
        .bind(address.as_str())
        .bind(reason)
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn contacts_deactivate(
        &self,
        contact: ContactId,
        reason: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE contacts SET active = 0, deactivated_reason = ? WHERE id = ? AND active = 1",
        )
        .bind(reason)
        .bind(contact.0)
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
