//! Zones (named polygons) and their subscriptions.

use chrono::Utc;
use sqlx::Connection;
use sqlx::Row;
use std::collections::HashSet;

use super::{SqliteStore, id_array, ms};
use crate::domain::ZoneId;
use crate::store::{NewZone, StoreResult, ZoneList, sql};

impl SqliteStore {
    pub(super) async fn zones_insert(&self, zones: &[NewZone]) -> StoreResult<Vec<ZoneId>> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let mut ids = Vec::with_capacity(zones.len());
        for zone in zones {
            let id: i64 = sqlx::query(
                "INSERT INTO zones (name, geometry, properties, created_at)
                 VALUES (?, ?, ?, ?) RETURNING id",
            )
            .bind(&zone.name)
            .bind(zone.region.to_geojson().to_string())
            .bind(serde_json::Value::Object(zone.properties.clone()).to_string())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            ids.push(ZoneId(id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    pub(super) async fn zones_list(&self, only: Option<ZoneId>) -> StoreResult<ZoneList> {
        let rows = sqlx::query(
            "SELECT id, name, geometry, properties, created_at FROM zones
             WHERE ?1 IS NULL OR id = ?1 ORDER BY id",
        )
        .bind(only.map(|z| z.0))
        .fetch_all(&self.reader)
        .await?;
        Ok(sql::zone_list(rows.into_iter().map(|row| {
            sql::read_zone(row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
        })))
    }

    pub(super) async fn zones_delete(&self, id: ZoneId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM zones WHERE id = ?")
            .bind(id.0)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn zones_existing(&self, ids: &[ZoneId]) -> StoreResult<HashSet<ZoneId>> {
        let rows = sqlx::query("SELECT id FROM zones WHERE id IN (SELECT value FROM json_each(?))")
            .bind(id_array(ids.iter().map(|z| z.0)))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|r| ZoneId(r.get(0))).collect())
    }
}
