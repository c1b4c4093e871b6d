//! The provider pace in SQLite: the same upsert as the PostgreSQL backend,
//! on this process's clock (the embedded mode has one process, and its
//! limiter keeps the pace in memory; this exists so both stores behave
//! alike and are tested alike).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tocsin_channels::ChannelKind;

use super::SqliteStore;
use crate::domain::pace::Pace;
use crate::store::StoreResult;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl SqliteStore {
    pub(super) async fn rates_take(
        &self,
        channel: ChannelKind,
        pace: Pace,
    ) -> StoreResult<Duration> {
        let now = now_us();
        let earliest: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits AS r (channel, tat, paused_until, last_allowed)
             VALUES (?1, ?2 + ?4, 0, ?2)
             ON CONFLICT (channel) DO UPDATE SET
               tat = CASE WHEN ?2 >= max(r.tat - ?3, r.paused_until)
                          THEN max(r.tat, ?2) + ?4
                          ELSE r.tat END,
               last_allowed = max(r.tat - ?3, r.paused_until)
             RETURNING last_allowed",
        )
        .bind(channel.as_str())
        .bind(now)
        .bind(pace.tolerance_us)
        .bind(pace.interval_us)
        .fetch_one(&mut *self.writer.lock().await?)
        .await?;
        Ok(Duration::from_micros(
            u64::try_from(earliest - now).unwrap_or(0),
        ))
    }

    pub(super) async fn rates_pause(
        &self,
        channel: ChannelKind,
        pace: Pace,
        retry_after: Duration,
    ) -> StoreResult<()> {
        let until = now_us() + i64::try_from(retry_after.as_micros()).unwrap_or(i64::MAX / 4);
        sqlx::query(
            "INSERT INTO rate_limits AS r (channel, tat, paused_until, last_allowed)
             VALUES (?1, ?2 + ?3, ?2, 0)
             ON CONFLICT (channel) DO UPDATE SET
               paused_until = max(r.paused_until, excluded.paused_until),
               tat = max(r.tat, excluded.tat)",
        )
        .bind(channel.as_str())
        .bind(until)
        .bind(pace.tolerance_us)
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }
}
