//! The provider pace shared by every worker: one row per channel updated
//! by a single upsert, so concurrent reservations serialise on the row and
//! each gets its own slot. The arithmetic is `domain::pace::Pace`'s, on the
//! database clock (workers on different machines need not agree on time).

use std::time::Duration;
use tocsin_channels::ChannelKind;

use super::PgStore;
use crate::domain::pace::Pace;
use crate::store::StoreResult;

const NOW_US: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

impl PgStore {
    pub(super) async fn rates_reserve(&self, channel: ChannelKind, pace: Pace) -> StoreResult<Duration> {
        // `last_allowed` carries "now" into the conflict branch through
        // EXCLUDED; the SET expressions all read the old row.
        let (allowed, now): (i64, i64) = sqlx::query_as(&format!(
            "WITH c AS (SELECT {NOW_US} AS now)
             INSERT INTO rate_limits AS r (channel, tat, paused_until, last_allowed)
             SELECT $1, c.now + $3, 0, c.now FROM c
             ON CONFLICT (channel) DO UPDATE SET
               last_allowed = GREATEST(EXCLUDED.last_allowed, r.tat - $2, r.paused_until),
               tat = GREATEST(r.tat, EXCLUDED.last_allowed, r.tat - $2, r.paused_until) + $3
             RETURNING r.last_allowed, (SELECT now FROM c)"
        ))
        .bind(channel.as_str())
        .bind(pace.tolerance_us)
        .bind(pace.interval_us)
        .fetch_one(&self.pool)
        .await?;
        Ok(Duration::from_micros(u64::try_from(allowed - now).unwrap_or(0)))
    }

    pub(super) async fn rates_pause(
        &self,
        channel: ChannelKind,
        pace: Pace,
        retry_after: Duration,
    ) -> StoreResult<()> {
        let retry_us = i64::try_from(retry_after.as_micros()).unwrap_or(i64::MAX / 4);
        sqlx::query(&format!(
            "WITH c AS (SELECT {NOW_US} + $2 AS until)
             INSERT INTO rate_limits AS r (channel, tat, paused_until, last_allowed)
             SELECT $1, c.until + $3, c.until, 0 FROM c
             ON CONFLICT (channel) DO UPDATE SET
               paused_until = GREATEST(r.paused_until, EXCLUDED.paused_until),
               tat = GREATEST(r.tat, EXCLUDED.tat)"
        ))
        .bind(channel.as_str())
        .bind(retry_us)
        .bind(pace.tolerance_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
