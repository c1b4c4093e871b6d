//! Zones (named polygons) and their subscriptions.

use chrono::Utc;
use sqlx::Row;
use std::collections::HashSet;

use super::{PgStore, allocate_ids};
use crate::domain::ZoneId;
use crate::store::sql::{self, ms};
use crate::store::{NewZone, StoreResult, ZoneList};

impl PgStore {
    /// One INSERT for the whole batch; ids are allocated first so they
    /// follow the input order (RETURNING order is not guaranteed).
    pub(super) async fn zones_insert(&self, zones: &[NewZone]) -> StoreResult<Vec<ZoneId>> {
        let now = ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        let ids = allocate_ids(&mut tx, "zones_id_seq", zones.len()).await?;
        if !ids.is_empty() {
            let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
            let geometries: Vec<String> = zones
                .iter()
                .map(|z| z.region.to_geojson().to_string())
                .collect();
            let properties: Vec<String> = zones
                .iter()
                .map(|z| serde_json::Value::Object(z.properties.clone()).to_string())
                .collect();
            sqlx::query(
                "INSERT INTO zones (id, name, geometry, properties, created_at)
                 SELECT id, name, geometry, properties, $5
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                      AS z(id, name, geometry, properties)",
            )
            .bind(&ids)
            .bind(&names)
            .bind(&geometries)
            .bind(&properties)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ids.into_iter().map(ZoneId).collect())
    }

    pub(super) async fn zones_list(&self, only: Option<ZoneId>) -> StoreResult<ZoneList> {
        let sql = "SELECT id, name, geometry, properties, created_at FROM zones";
        let rows = match only {
            Some(id) => {
                sqlx::query(&format!("{sql} WHERE id = $1"))
                    .bind(id.0)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{sql} ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(sql::zone_list(rows.into_iter().map(|row| {
            sql::read_zone(row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
        })))
    }

    pub(super) async fn zones_delete(&self, id: ZoneId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM zones WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn zones_existing(&self, ids: &[ZoneId]) -> StoreResult<HashSet<ZoneId>> {
        let ids: Vec<i64> = ids.iter().map(|z| z.0).collect();
        let rows = sqlx::query("SELECT id FROM zones WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| ZoneId(r.get(0))).collect())
    }
}
