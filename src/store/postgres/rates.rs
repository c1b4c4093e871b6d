//! The provider pace shared by every worker: one row per channel updated
//! by a single upsert, so concurrent takers serialise on the row and each
//! slot goes to one of them. The arithmetic is `domain::pace::Pace`'s, on the
//! database clock (workers on different machines need not agree on time).

use std::time::Duration;
use tocsin_channels::ChannelKind;

use super::PgStore;
use crate::domain::pace::Pace;
use crate::store::StoreResult;

const NOW_US: &str = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";

impl PgStore {
    pub(super) async fn rates_take(
        &self,
        channel: ChannelKind,
        pace: Pace,
    ) -> StoreResult<Duration> {
        // `last_allowed` carries "now" into the conflict branch through
        // EXCLUDED and comes back as the earliest allowed instant; the SET
        // expressions all read the old row. A first use inserts the row
        // with the slot taken.
        let (earliest, now): (i64, i64) = sqlx::query_as(&format!(
            "WITH c AS (SELECT {NOW_US} AS now)
             INSERT INTO rate_limits AS r (channel, tat, paused_until, last_allowed)
             SELECT $1, c.now + $3, 0, c.now FROM c
             ON CONFLICT (channel) DO UPDATE SET
               tat = CASE WHEN EXCLUDED.last_allowed >= GREATEST(r.tat - $2, r.paused_until)
                          THEN GREATEST(r.tat, EXCLUDED.last_allowed) + $3
                          ELSE r.tat END,
               last_allowed = GREATEST(r.tat - $2, r.paused_until)
             RETURNING r.last_allowed, (SELECT now FROM c)"
        ))
        .bind(channel.as_str())
        .bind(pace.tolerance_us)
        .bind(pace.interval_us)
        .fetch_one(&self.pool)
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
