//! Residents, their contacts and zone subscriptions.
//!
//! Bulk import allocates ids itself (from `sqlite_sequence`, under the
//! single writer) so contacts and subscriptions can be written with
//! multi-row inserts in the same transaction, without a round trip per
//! resident.

use chrono::Utc;
use sqlx::Connection;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use tocsin_zones::GeoPoint;

use super::{SqliteStore, corrupt, from_ms, id_array, ms, state_list};
use crate::domain::{CategorySet, ContactId, DeliveryState, Language, ResidentId, ZoneId};
use crate::store::sql::{channel_order_column, prefs_from_columns, timezone_column};
use crate::store::{Contact, NewResident, Resident, StoreResult};

/// Rows per multi-row INSERT; 9 columns × 3 000 stays under SQLite's
/// 32 766 bound parameters.
const CHUNK: usize = 3_000;

async fn next_id(tx: &mut Transaction<'_, Sqlite>, table: &str) -> StoreResult<i64> {
    let row = sqlx::query("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)")
        .bind(table)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.get::<i64, _>(0) + 1)
}

impl SqliteStore {
    pub(super) async fn residents_insert(
        &self,
        residents: &[NewResident],
    ) -> StoreResult<Vec<ResidentId>> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let first = next_id(&mut tx, "residents").await?;
        let ids: Vec<i64> = (first..).take(residents.len()).collect();
        let numbered: Vec<(i64, &NewResident)> = ids.iter().copied().zip(residents).collect();

        for chunk in numbered.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO residents (id, language, lat, lon, categories, created_at, \
                 timezone, quiet_hours, channel_order) ",
            );
            q.push_values(chunk, |mut b, (id, r)| {
                b.push_bind(*id)
                    .push_bind(r.language.as_str())
                    .push_bind(r.location.map(|p| p.lat()))
                    .push_bind(r.location.map(|p| p.lon()))
                    .push_bind(r.categories.mask())
                    .push_bind(now)
                    .push_bind(timezone_column(r.timezone))
                    .push_bind(r.quiet_hours.to_text())
                    .push_bind(channel_order_column(r.channel_order.as_ref()));
            });
            q.build().execute(&mut *tx).await?;
        }

        let mut contact_id = next_id(&mut tx, "contacts").await?;
        let mut contacts = Vec::new();
        for (id, r) in &numbered {
            for address in &r.contacts {
                contacts.push((contact_id, *id, address));
                contact_id += 1;
            }
        }
        for chunk in contacts.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO contacts (id, resident_id, channel, address, created_at) ",
            );
            q.push_values(chunk, |mut b, (cid, rid, address)| {
                b.push_bind(*cid)
                    .push_bind(*rid)
                    .push_bind(address.kind().as_str())
                    .push_bind(address.as_str())
                    .push_bind(now);
            });
            q.build().execute(&mut *tx).await?;
        }

        let subscriptions: Vec<(i64, i64)> = numbered
            .iter()
            .flat_map(|(id, r)| r.zones.iter().map(move |z| (z.0, *id)))
            .collect();
        for chunk in subscriptions.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO resident_zones (zone_id, resident_id) ",
            );
            q.push_values(chunk, |mut b, (zone, resident)| {
                b.push_bind(*zone).push_bind(*resident);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(ids.into_iter().map(ResidentId).collect())
    }

    pub(super) async fn residents_get(&self, id: ResidentId) -> StoreResult<Option<Resident>> {
        let Some(row) = sqlx::query(
            "SELECT language, lat, lon, categories, created_at, timezone, quiet_hours,
                    channel_order
             FROM residents WHERE id = ?",
        )
        .bind(id.0)
        .fetch_optional(self.settled().await?)
        .await?
        else {
            return Ok(None);
        };
        let language: String = row.get(0);
        let language = Language::parse(&language).map_err(|e| corrupt("residents", e))?;
        let location = match (row.get::<Option<f64>, _>(1), row.get::<Option<f64>, _>(2)) {
            (Some(lat), Some(lon)) => {
                Some(GeoPoint::new(lat, lon).map_err(|e| corrupt("residents", e))?)
            }
            _ => None,
        };
        let zones = sqlx::query(
            "SELECT zone_id FROM resident_zones WHERE resident_id = ? ORDER BY zone_id",
        )
        .bind(id.0)
        .fetch_all(self.settled().await?)
        .await?
        .into_iter()
        .map(|r| ZoneId(r.get(0)))
        .collect();
        let contacts = sqlx::query(
            "SELECT id, channel, address, active, deactivated_reason
             FROM contacts WHERE resident_id = ? ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(self.settled().await?)
        .await?
        .into_iter()
        .map(|r| {
            let channel: String = r.get(1);
            Ok(Contact {
                id: ContactId(r.get(0)),
                channel: channel.parse().map_err(|e| corrupt("contacts", e))?,
                address: r.get(2),
                active: r.get::<i64, _>(3) == 1,
                deactivated_reason: r.get(4),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let prefs = prefs_from_columns(row.get(5), row.get(6), row.get(7))?;
        Ok(Some(Resident {
            id,
            language,
            location,
            zones,
            categories: CategorySet::from_mask(row.get(3)),
            contacts,
            timezone: prefs.timezone,
            quiet_hours: prefs.quiet_hours,
            channel_order: prefs.channel_order,
            created_at: from_ms(row.get(4)),
        }))
    }

    pub(super) async fn residents_delete(
        &self,
        id: ResidentId,
    ) -> StoreResult<Option<Option<GeoPoint>>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let Some(row) = sqlx::query("SELECT lat, lon FROM residents WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let location = match (row.get::<Option<f64>, _>(0), row.get::<Option<f64>, _>(1)) {
            (Some(lat), Some(lon)) => GeoPoint::new(lat, lon).ok(),
            _ => None,
        };
        let stoppable = state_list(&DeliveryState::predecessors(DeliveryState::Suppressed));
        sqlx::query(&format!(
            "UPDATE deliveries SET state = 'suppressed', error = 'recipient deleted', updated_at = ?
             WHERE resident_id = ? AND state IN ({stoppable})"
        ))
        .bind(ms(Utc::now()))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        // Personal data goes; the delivery counts stay for the notice's record.
        sqlx::query(
            "UPDATE deliveries SET address = '', resident_id = NULL, contact_id = NULL
             WHERE resident_id = ?",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM notice_recipients WHERE resident_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM residents WHERE id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(location))
    }

    pub(super) async fn residents_locations(&self) -> StoreResult<Vec<(ResidentId, GeoPoint)>> {
        let rows = sqlx::query("SELECT id, lat, lon FROM residents WHERE lat IS NOT NULL")
            .fetch_all(self.settled().await?)
            .await?;
        rows.into_iter()
            .map(|r| {
                let point =
                    GeoPoint::new(r.get(1), r.get(2)).map_err(|e| corrupt("residents", e))?;
                Ok((ResidentId(r.get(0)), point))
            })
            .collect()
    }

    pub(super) async fn residents_in(&self, zones: &[ZoneId]) -> StoreResult<Vec<ResidentId>> {
        if zones.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT DISTINCT resident_id FROM resident_zones
             WHERE zone_id IN (SELECT value FROM json_each(?))",
        )
        .bind(id_array(zones.iter().map(|z| z.0)))
        .fetch_all(self.settled().await?)
        .await?;
        Ok(rows.into_iter().map(|r| ResidentId(r.get(0))).collect())
    }
}
