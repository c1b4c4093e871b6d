//! Residents, their contacts and zone subscriptions.
//!
//! Bulk import is three statements whatever its size: resident and contact
//! ids are allocated from their sequences first (in the same transaction),
//! then each table gets one `INSERT … SELECT FROM unnest(array, …)` with
//! one array parameter per column. No per-row round trips and no bound
//! parameter limit.

use chrono::Utc;
use sqlx::Row;
use tocsin_zones::GeoPoint;

use super::{FAN_OUT_LOCK, PgStore, allocate_ids};
use crate::domain::{CategorySet, ContactId, DeliveryState, Language, ResidentId, ZoneId};
use crate::store::sql::{
    channel_order_column, corrupt, from_ms, ms, prefs_from_columns, state_list, timezone_column,
};
use crate::store::{Contact, NewResident, Resident, StoreResult};

/// Residents in one insert after which the tables are analysed at once.
const ANALYZE_AFTER: usize = 10_000;

/// Fresh statistics after a bulk import. Without them PostgreSQL took the
/// residents and contacts tables for a tenth of their size and planned a
/// notice to a few hundred residents with hash joins over all of them:
/// 0.4 s at 300 000 residents, over 1 s at a million, which is what an
/// emergency published right after an import waited (docs/BENCHMARKS.md).
/// Autovacuum gets there too, but up to a minute later. A failure only
/// costs speed, so it is logged, not returned.
async fn analyze_residents(pool: &sqlx::PgPool) {
    if let Err(e) = sqlx::query("ANALYZE residents, contacts, resident_zones")
        .execute(pool)
        .await
    {
        tracing::warn!(error = %e, "analysing residents after an import failed");
    }
}

impl PgStore {
    pub(super) async fn residents_insert(
        &self,
        residents: &[NewResident],
    ) -> StoreResult<Vec<ResidentId>> {
        let now = ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        let ids = allocate_ids(&mut tx, "residents_id_seq", residents.len()).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let languages: Vec<&str> = residents.iter().map(|r| r.language.as_str()).collect();
        let lats: Vec<Option<f64>> = residents
            .iter()
            .map(|r| r.location.map(|p| p.lat()))
            .collect();
        let lons: Vec<Option<f64>> = residents
            .iter()
            .map(|r| r.location.map(|p| p.lon()))
            .collect();
        let masks: Vec<i64> = residents.iter().map(|r| r.categories.mask()).collect();
        let time_zones: Vec<Option<&str>> = residents
            .iter()
            .map(|r| timezone_column(r.timezone))
            .collect();
        let quiet: Vec<Option<String>> =
            residents.iter().map(|r| r.quiet_hours.to_text()).collect();
        let orders: Vec<Option<String>> = residents
            .iter()
            .map(|r| channel_order_column(r.channel_order.as_ref()))
            .collect();
        sqlx::query(
            "INSERT INTO residents (id, language, lat, lon, categories, created_at,
                                    timezone, quiet_hours, channel_order)
             SELECT id, language, lat, lon, categories, $6, timezone, quiet_hours, channel_order
             FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::float8[], $5::bigint[],
                         $7::text[], $8::text[], $9::text[])
                  AS r(id, language, lat, lon, categories, timezone, quiet_hours, channel_order)",
        )
        .bind(&ids)
        .bind(&languages)
        .bind(&lats)
        .bind(&lons)
        .bind(&masks)
        .bind(now)
        .bind(&time_zones)
        .bind(&quiet)
        .bind(&orders)
        .execute(&mut *tx)
        .await?;

        let count = residents.iter().map(|r| r.contacts.len()).sum();
        let contact_ids = allocate_ids(&mut tx, "contacts_id_seq", count).await?;
        if !contact_ids.is_empty() {
            let mut owners = Vec::with_capacity(count);
            let mut channels = Vec::with_capacity(count);
            let mut addresses = Vec::with_capacity(count);
            for (id, r) in ids.iter().zip(residents) {
                for address in &r.contacts {
                    owners.push(*id);
                    channels.push(address.kind().as_str());
                    addresses.push(address.as_str());
                }
            }
            sqlx::query(
                "INSERT INTO contacts (id, resident_id, channel, address, created_at)
                 SELECT id, resident_id, channel, address, $5
                 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
                      AS c(id, resident_id, channel, address)",
            )
            .bind(&contact_ids)
            .bind(&owners)
            .bind(&channels)
            .bind(&addresses)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }

        let (zones, subscribers): (Vec<i64>, Vec<i64>) = ids
            .iter()
            .zip(residents)
            .flat_map(|(id, r)| r.zones.iter().map(move |z| (z.0, *id)))
            .unzip();
        if !zones.is_empty() {
            // DO NOTHING: a zone listed twice for one resident is one
            // subscription (SQLite: INSERT OR IGNORE). An unknown zone still
            // fails the foreign key, and with it the whole import.
            sqlx::query(
                "INSERT INTO resident_zones (zone_id, resident_id)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[])
                 ON CONFLICT DO NOTHING",
            )
            .bind(&zones)
            .bind(&subscribers)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if residents.len() >= ANALYZE_AFTER {
            analyze_residents(&self.pool).await;
        }
        Ok(ids.into_iter().map(ResidentId).collect())
    }

    pub(super) async fn residents_get(&self, id: ResidentId) -> StoreResult<Option<Resident>> {
        let Some(row) = sqlx::query(
            "SELECT language, lat, lon, categories, created_at, timezone, quiet_hours,
                    channel_order
             FROM residents WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
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
            "SELECT zone_id FROM resident_zones WHERE resident_id = $1 ORDER BY zone_id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| ZoneId(r.get(0)))
        .collect();
        let contacts = sqlx::query(
            "SELECT id, channel, address, active, deactivated_reason
             FROM contacts WHERE resident_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            let channel: String = r.get(1);
            Ok(Contact {
                id: ContactId(r.get(0)),
                channel: channel.parse().map_err(|e| corrupt("contacts", e))?,
                address: r.get(2),
                active: r.get(3),
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
        let mut tx = self.pool.begin().await?;
        // Waits for running fan-outs, so none of them can still be writing
        // this resident's address into a delivery we are about to miss.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FAN_OUT_LOCK)
            .execute(&mut *tx)
            .await?;
        // FOR UPDATE: of two concurrent deletions, the second finds nothing.
        let Some(row) = sqlx::query("SELECT lat, lon FROM residents WHERE id = $1 FOR UPDATE")
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
            "UPDATE deliveries SET state = 'suppressed', error = 'recipient deleted', updated_at = $1
             WHERE resident_id = $2 AND state IN ({stoppable})"
        ))
        .bind(ms(Utc::now()))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        // Personal data goes; the delivery counts stay for the notice's record.
        sqlx::query(
            "UPDATE deliveries SET address = '', resident_id = NULL, contact_id = NULL
             WHERE resident_id = $1",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM notice_recipients WHERE resident_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM residents WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(location))
    }

    pub(super) async fn residents_locations(&self) -> StoreResult<Vec<(ResidentId, GeoPoint)>> {
        let rows = sqlx::query("SELECT id, lat, lon FROM residents WHERE lat IS NOT NULL")
            .fetch_all(&self.pool)
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
        let zones: Vec<i64> = zones.iter().map(|z| z.0).collect();
        let rows =
            sqlx::query("SELECT DISTINCT resident_id FROM resident_zones WHERE zone_id = ANY($1)")
                .bind(&zones)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| ResidentId(r.get(0))).collect())
    }
}
