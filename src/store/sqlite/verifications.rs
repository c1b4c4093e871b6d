//! Subscriptions waiting for their one-time code.

use chrono::{DateTime, Duration, Utc};
use sqlx::Connection;
use sqlx::Row;

use super::{SqliteStore, corrupt, from_ms, ms};
use crate::domain::verification::CODES_PER_ADDRESS_PER_HOUR;
use crate::store::{CodeLimit, NewVerification, StoreResult, Verification};

impl SqliteStore {
    pub(super) async fn verifications_create(
        &self,
        v: &NewVerification,
        now: DateTime<Utc>,
        per_minute: u32,
    ) -> StoreResult<Result<i64, CodeLimit>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("DELETE FROM verifications WHERE created_at < ?")
            .bind(ms(now - Duration::days(1)))
            .execute(&mut *tx)
            .await?;
        let for_address: i64 =
            sqlx::query("SELECT COUNT(*) FROM verifications WHERE address = ? AND created_at >= ?")
                .bind(&v.address)
                .bind(ms(now - Duration::hours(1)))
                .fetch_one(&mut *tx)
                .await?
                .get(0);
        if for_address >= i64::from(CODES_PER_ADDRESS_PER_HOUR) {
            return Ok(Err(CodeLimit::Address));
        }
        let everywhere: i64 =
            sqlx::query("SELECT COUNT(*) FROM verifications WHERE created_at >= ?")
                .bind(ms(now - Duration::minutes(1)))
                .fetch_one(&mut *tx)
                .await?
                .get(0);
        if everywhere >= i64::from(per_minute) {
            return Ok(Err(CodeLimit::Installation));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO verifications (channel, address, code_hash, request, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(v.channel.as_str())
        .bind(&v.address)
        .bind(&v.code_hash)
        .bind(&v.request)
        .bind(ms(now))
        .bind(ms(v.expires_at))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        tx.commit().await?;
        Ok(Ok(id))
    }

    pub(super) async fn verifications_try(&self, id: i64) -> StoreResult<Option<Verification>> {
        let row = sqlx::query(
            "UPDATE verifications SET tries = tries + 1 WHERE id = ?
             RETURNING id, channel, address, code_hash, request, tries, expires_at",
        )
        .bind(id)
        .fetch_optional(&mut *self.writer.lock().await?)
        .await?;
        row.map(|r| {
            let channel: String = r.get(1);
            Ok(Verification {
                id: r.get(0),
                channel: channel.parse().map_err(|e| corrupt("verifications", e))?,
                address: r.get(2),
                code_hash: r.get(3),
                request: r.get(4),
                tries: u32::try_from(r.get::<i64, _>(5)).unwrap_or(u32::MAX),
                expires_at: from_ms(r.get(6)),
            })
        })
        .transpose()
    }

    pub(super) async fn verifications_delete(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM verifications WHERE id = ?")
            .bind(id)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(())
    }
}
