//! Delivery rows: queueing, claiming, outcomes, receipts and reports.
//!
//! Every state change is a conditional UPDATE whose `WHERE state IN (…)`
//! comes from `DeliveryState::predecessors`, so the state machine in
//! `domain::delivery` is the only place transitions are defined.

use chrono::Utc;
use sqlx::Connection;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use std::collections::BTreeMap;

use super::{SqliteStore, corrupt, from_ms, id_array, ms, opt_from_ms, state_list};
use crate::domain::DeliveryState;
use crate::domain::{ContactId, DeliveryId, EventId, Lane, Language, NoticeId, ResidentId};
use crate::store::sql::{claimable, outcome_assignments, report_stamp};
use crate::store::{
    ClaimedDelivery, Counts, DeliveryFilter, DeliveryRecord, DeliverySummary, Lease, Outcome,
    OutcomeKind, QueuedDelivery, ReportResult, StoreResult, ToQueue,
};

const RECORD_COLUMNS: &str = "d.id, d.notice_id, e.seq, e.kind, d.resident_id, d.contact_id, \
     d.channel, d.address, d.language, d.state, d.attempts, d.provider_id, d.error, \
     d.created_at, d.updated_at, d.sent_at, d.delivered_at, d.acknowledged_at";

/// Outcomes per UPDATE; 5 bound values each stays under SQLite's 32 766.
const OUTCOME_CHUNK: usize = 5_000;

fn record_from_row(row: &SqliteRow) -> StoreResult<DeliveryRecord> {
    let parse_err = |e: &dyn std::fmt::Display| corrupt("deliveries", e);
    let event: String = row.get(3);
    let channel: String = row.get(6);
    let state: String = row.get(9);
    Ok(DeliveryRecord {
        id: DeliveryId(row.get(0)),
        notice_id: NoticeId(row.get(1)),
        event_seq: row.get(2),
        event: event.parse().map_err(|e| parse_err(&e))?,
        resident_id: row.get::<Option<i64>, _>(4).map(ResidentId),
        contact_id: row.get::<Option<i64>, _>(5).map(ContactId),
        channel: channel.parse().map_err(|e| parse_err(&e))?,
        address: row.get(7),
        language: row.get(8),
        state: state.parse().map_err(|e| parse_err(&e))?,
        attempts: row.get(10),
        provider_id: row.get(11),
        error: row.get(12),
        created_at: from_ms(row.get(13)),
        updated_at: from_ms(row.get(14)),
        sent_at: opt_from_ms(row.get(15)),
        delivered_at: opt_from_ms(row.get(16)),
        acknowledged_at: opt_from_ms(row.get(17)),
    })
}

/// Moves one delivery to `next` if the state machine allows it from its
/// current state; returns whether it did.
async fn transition(
    tx: &mut Transaction<'_, Sqlite>,
    id: DeliveryId,
    next: DeliveryState,
    error: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let from = state_list(&DeliveryState::predecessors(next));
    let stamp = report_stamp(next, "?3");
    let done = sqlx::query(&format!(
        "UPDATE deliveries SET state = ?1, error = COALESCE(?2, error), updated_at = ?3 {stamp}
         WHERE id = ?4 AND state IN ({from})"
    ))
    .bind(next.as_str())
    .bind(error)
    .bind(now)
    .bind(id.0)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A page of deliveries to publish. Pending ones are found through the
/// partial index `deliveries_pending`, which SQLite uses only for the
/// literal `state = 'pending'` (not for `state IN ('pending')`); the
/// in-process queue's re-queue at start reads the table in id order.
fn to_queue_sql(scope: ToQueue) -> String {
    let states = match scope {
        ToQueue::Event(_) | ToQueue::AllPending => "state = 'pending'".to_owned(),
        ToQueue::AllUnfinished => claimable("", "?4"),
    };
    format!(
        "SELECT id, channel, lane, resident_id, event_id FROM deliveries
         WHERE {states} AND not_before IS NULL
           AND (?1 IS NULL OR event_id = ?1) AND id > ?2
         ORDER BY id LIMIT ?3"
    )
}

/// One UPDATE … FROM VALUES applying `outcomes` (at most `OUTCOME_CHUNK`).
fn outcome_update(outcomes: &[Outcome]) -> QueryBuilder<'_, Sqlite> {
    let mut q =
        QueryBuilder::<Sqlite>::new("WITH v(id, next, provider_id, error, at, refund) AS (");
    q.push_values(outcomes, |mut b, o| {
        b.push_bind(o.delivery.0)
            .push_bind(o.kind.target().as_str())
            .push_bind(o.kind.provider_id())
            .push_bind(o.kind.reason())
            .push_bind(ms(o.at))
            .push_bind(o.kind.refund());
    });
    q.push(format!(
        ") UPDATE deliveries SET {} FROM v WHERE deliveries.id = v.id",
        outcome_assignments()
    ));
    q
}

async fn deactivate(
    tx: &mut Transaction<'_, Sqlite>,
    contact: ContactId,
    reason: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE contacts SET active = 0, deactivated_reason = ? WHERE id = ?")
        .bind(reason)
        .bind(contact.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn deliveries_to_queue_page(
        &self,
        scope: ToQueue,
        after: DeliveryId,
        limit: u32,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let event = match scope {
            ToQueue::Event(event) => Some(event.0),
            ToQueue::AllPending | ToQueue::AllUnfinished => None,
        };
        let sql = to_queue_sql(scope);
        let mut query = sqlx::query(&sql)
            .bind(event)
            .bind(after.0)
            .bind(i64::from(limit));
        if scope == ToQueue::AllUnfinished {
            query = query.bind(ms(Utc::now()));
        }
        let rows = query.fetch_all(self.settled().await?).await?;
        rows.iter()
            .map(|r| {
                let channel: String = r.get(1);
                Ok(QueuedDelivery {
                    id: DeliveryId(r.get(0)),
                    channel: channel.parse().map_err(|e| corrupt("deliveries", e))?,
                    lane: Lane::from_i64(r.get(2)),
                    resident: r.get::<Option<i64>, _>(3).map(ResidentId),
                    event: EventId(r.get(4)),
                })
            })
            .collect()
    }

    pub(super) async fn deliveries_mark_queued(&self, ids: &[DeliveryId]) -> StoreResult<()> {
        sqlx::query(
            "UPDATE deliveries SET state = 'queued', updated_at = ?
             WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'",
        )
        .bind(ms(Utc::now()))
        .bind(id_array(ids.iter().map(|d| d.0)))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn deliveries_claim(
        &self,
        ids: &[DeliveryId],
        lease: Lease,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // One writer: a claim is atomic against every other claim, and the
        // lease row is written before the rows it covers.
        let now = ms(Utc::now());
        let ids = id_array(ids.iter().map(|d| d.0));
        let mut conn = self.writer.lock().await?;
        sqlx::query("INSERT INTO delivery_leases (token, until, ids) VALUES (?, ?, ?)")
            .bind(lease.token)
            .bind(now + lease.term_ms())
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
        let rows = sqlx::query(&format!(
            "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated_at = ?1,
                    leased_by = ?2
             WHERE id IN (SELECT value FROM json_each(?3)) AND {}
             RETURNING id, notice_id, event_id, contact_id, channel, address, language,
                       attempts - yields, created_at",
            claimable("", "?1")
        ))
        .bind(now)
        .bind(lease.token)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?;
        drop(conn);
        rows.iter()
            .map(|r| {
                let channel: String = r.get(4);
                let language: String = r.get(6);
                Ok(ClaimedDelivery {
                    id: DeliveryId(r.get(0)),
                    notice_id: NoticeId(r.get(1)),
                    event_id: EventId(r.get(2)),
                    contact_id: r.get::<Option<i64>, _>(3).map(ContactId),
                    channel: channel.parse().map_err(|e| corrupt("deliveries", e))?,
                    address: r.get(5),
                    language: Language::parse(&language).unwrap_or_else(|_| Language::english()),
                    attempts: r.get(7),
                    created_at: from_ms(r.get(8)),
                })
            })
            .collect()
    }

    pub(super) async fn deliveries_renew_lease(&self, lease: Lease) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE delivery_leases SET until = ? WHERE token = ?")
            .bind(ms(Utc::now()) + lease.term_ms())
            .bind(lease.token)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn deliveries_end_lease(&self, lease: Lease) -> StoreResult<()> {
        sqlx::query("DELETE FROM delivery_leases WHERE token = ?")
            .bind(lease.token)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(())
    }

    /// Through the writer, so an outcome logged for a delivery is folded
    /// before its lease is judged.
    pub(super) async fn deliveries_expire_leases(&self) -> StoreResult<u64> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'pending', updated_at = ?1
             FROM (SELECT l.token, j.value AS id FROM delivery_leases l, json_each(l.ids) j
                   WHERE l.until < ?1) AS gone
             WHERE deliveries.id = gone.id AND deliveries.leased_by = gone.token
               AND deliveries.state = 'sending'",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM delivery_leases WHERE until < ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn deliveries_forget_leases(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM delivery_leases")
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(done.rows_affected())
    }

    /// Appended to the outcome log when this process owns it; otherwise
    /// all outcomes in one UPDATE … FROM VALUES per chunk, plus one
    /// statement per retired contact: a statement per outcome costs a round
    /// trip to SQLite's thread each and capped throughput. The usual batch
    /// is a single statement, which is atomic on its own; only more than
    /// that needs a transaction (and its two extra round trips).
    pub(super) async fn deliveries_record(&self, outcomes: &[Outcome]) -> StoreResult<()> {
        if self.writer.log_outcomes(outcomes).await? {
            return Ok(());
        }
        let retired: Vec<(ContactId, &str)> = outcomes
            .iter()
            .filter_map(|o| match (&o.kind, o.contact) {
                (OutcomeKind::InvalidAddress { reason }, Some(c)) => Some((c, reason.as_str())),
                _ => None,
            })
            .collect();
        if retired.is_empty() && outcomes.len() <= OUTCOME_CHUNK {
            outcome_update(outcomes)
                .build()
                .execute(&mut *self.writer.lock().await?)
                .await?;
            return Ok(());
        }
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        for chunk in outcomes.chunks(OUTCOME_CHUNK) {
            outcome_update(chunk).build().execute(&mut *tx).await?;
        }
        for (contact, reason) in retired {
            deactivate(&mut tx, contact, reason).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn deliveries_report(
        &self,
        id: DeliveryId,
        state: DeliveryState,
        detail: Option<&str>,
        deactivate_contact: bool,
    ) -> StoreResult<ReportResult> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let Some(row) = sqlx::query("SELECT state, contact_id FROM deliveries WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(ReportResult::NotFound);
        };
        let current: String = row.get(0);
        let current: DeliveryState = current.parse().map_err(|e| corrupt("deliveries", e))?;
        if !transition(&mut tx, id, state, detail, now).await? {
            return Ok(ReportResult::Ignored { current });
        }
        if let (true, Some(contact)) = (deactivate_contact, row.get::<Option<i64>, _>(1)) {
            deactivate(
                &mut tx,
                ContactId(contact),
                detail.unwrap_or("invalid address"),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ReportResult::Applied)
    }

    pub(super) async fn deliveries_get(
        &self,
        id: DeliveryId,
    ) -> StoreResult<Option<DeliveryRecord>> {
        sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM deliveries d JOIN notice_events e ON e.id = d.event_id
             WHERE d.id = ?"
        ))
        .bind(id.0)
        .fetch_optional(self.settled().await?)
        .await?
        .map(|r| record_from_row(&r))
        .transpose()
    }

    pub(super) async fn deliveries_summary(
        &self,
        notice: NoticeId,
    ) -> StoreResult<DeliverySummary> {
        let rows = sqlx::query(
            "SELECT e.seq, d.channel, d.state, COUNT(*) FROM deliveries d
             JOIN notice_events e ON e.id = d.event_id
             WHERE d.notice_id = ? GROUP BY e.seq, d.channel, d.state",
        )
        .bind(notice.0)
        .fetch_all(self.settled().await?)
        .await?;
        let mut summary = DeliverySummary::default();
        for row in rows {
            let channel: String = row.get(1);
            let state: String = row.get(2);
            let channel = channel.parse().map_err(|e| corrupt("deliveries", e))?;
            let state: DeliveryState = state.parse().map_err(|e| corrupt("deliveries", e))?;
            let n: i64 = row.get(3);
            summary.total += n;
            *summary.by_state.entry(state).or_default() += n;
            *summary
                .by_channel
                .entry(channel)
                .or_insert_with(BTreeMap::new)
                .entry(state)
                .or_default() += n;
            let event: &mut Counts = summary.by_event.entry(row.get(0)).or_default();
            event.total += n;
            *event.by_state.entry(state).or_default() += n;
        }
        Ok(summary)
    }

    pub(super) async fn deliveries_list(
        &self,
        notice: NoticeId,
        f: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM deliveries d JOIN notice_events e ON e.id = d.event_id
             WHERE d.notice_id = ?1 AND d.id > ?2
               AND (?3 IS NULL OR d.state = ?3) AND (?4 IS NULL OR d.channel = ?4)
             ORDER BY d.id LIMIT ?5"
        ))
        .bind(notice.0)
        .bind(f.after.map_or(0, |d| d.0))
        .bind(f.state.map(|s| s.as_str()))
        .bind(f.channel.map(|c| c.as_str()))
        .bind(i64::from(f.limit))
        .fetch_all(self.settled().await?)
        .await?;
        rows.iter().map(record_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn plan(store: &SqliteStore, scope: ToQueue) -> String {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", to_queue_sql(scope)))
            .bind(Option::<i64>::None)
            .bind(0_i64)
            .bind(10_i64)
            .fetch_all(&store.reader)
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<String, _>(3))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Publishing must find pending deliveries through the partial index,
    /// not by reading every delivery ever sent: SQLite uses a partial
    /// index only when the query repeats its condition literally.
    #[tokio::test]
    async fn pending_deliveries_are_found_through_their_index() {
        let (_dir, store) = crate::store::tests::sqlite_store().await;
        for scope in [ToQueue::Event(EventId(1)), ToQueue::AllPending] {
            let plan = plan(&store, scope).await;
            assert!(plan.contains("deliveries_pending"), "{scope:?}: {plan}");
        }
        let plan = plan(&store, ToQueue::AllUnfinished).await;
        assert!(!plan.contains("deliveries_pending"), "{plan}");
    }
}
