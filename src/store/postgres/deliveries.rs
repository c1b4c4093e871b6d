//! Delivery rows: queueing, claiming, outcomes, receipts and reports.
//!
//! Every state change is a conditional UPDATE whose `WHERE state IN (…)`
//! comes from `DeliveryState::predecessors` (the outcome batch shares its
//! SQL with SQLite through `store::sql`), so the state machine in
//! `domain::delivery` is the only place transitions are defined.
//!
//! Unlike SQLite, several workers write at once. `claim` is therefore a
//! compare-and-set under a lease (see `claim_on`), and the batch statements sort their
//! ids so concurrent batches lock rows in the same order; a deadlock that
//! still happens is retried.

use chrono::Utc;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;

use super::{PgStore, retry_on_deadlock};
use crate::domain::{
    ContactId, DeliveryId, DeliveryState, EventId, Lane, Language, NoticeId, ResidentId,
};
use crate::store::sql::{
    claimable, corrupt, from_ms, ms, opt_from_ms, outcome_assignments, report_stamp, state_list,
};
use crate::store::{
    ClaimedDelivery, Counts, DeliveryFilter, DeliveryRecord, DeliverySummary, Lease, Outcome,
    OutcomeKind, QueuedDelivery, ReportResult, StoreResult, ToQueue,
};

const RECORD_COLUMNS: &str = "d.id, d.notice_id, e.seq, e.kind, d.resident_id, d.contact_id, \
     d.channel, d.address, d.language, d.state, d.attempts, d.provider_id, d.error, \
     d.created_at, d.updated_at, d.sent_at, d.delivered_at, d.acknowledged_at";

fn record_from_row(row: &PgRow) -> StoreResult<DeliveryRecord> {
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
        attempts: i64::from(row.get::<i32, _>(10)),
        provider_id: row.get(11),
        error: row.get(12),
        created_at: from_ms(row.get(13)),
        updated_at: from_ms(row.get(14)),
        sent_at: opt_from_ms(row.get(15)),
        delivered_at: opt_from_ms(row.get(16)),
        acknowledged_at: opt_from_ms(row.get(17)),
    })
}

fn sorted_ids(ids: &[DeliveryId]) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.iter().map(|d| d.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Epoch milliseconds on the database clock: leases are judged by one
/// clock, whichever machine a worker runs on.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Moves claimable deliveries to `sending` under `lease` and returns
/// them, by id; the lease row is written by the same statement.
///
/// Two claims running at the same time cannot both take a delivery: `seen`
/// is read with the statement's snapshot, and the UPDATE requires
/// `attempts` (incremented by every claim) to be unchanged. A claim that
/// waited on the row lock of a concurrent claim re-checks the row after
/// that claim commits, finds `attempts` moved on and skips the row. A
/// claim that starts later sees the other's live lease and skips it too.
pub(crate) async fn claim_on(
    conn: &mut PgConnection,
    ids: &[i64],
    lease: Lease,
    now: i64,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let rows = sqlx::query(&format!(
        "WITH lease AS (
             INSERT INTO delivery_leases (token, until, ids) VALUES ($3, {NOW_MS} + $4, $2)
         ), seen AS MATERIALIZED (
             SELECT id, attempts FROM deliveries d WHERE id = ANY($2) AND {claimable}
         ), claimed AS (
             UPDATE deliveries d SET state = 'sending', attempts = d.attempts + 1,
                    updated_at = $1, leased_by = $3
             FROM seen
             WHERE d.id = seen.id AND d.attempts = seen.attempts AND {claimable}
             RETURNING d.id, d.notice_id, d.event_id, d.contact_id, d.channel, d.address,
                       d.language, d.attempts - d.yields AS counted, d.created_at
         )
         SELECT * FROM claimed ORDER BY id",
        claimable = claimable("d.", NOW_MS),
    ))
    .bind(now)
    .bind(ids)
    .bind(lease.token)
    .bind(lease.term_ms())
    .fetch_all(conn)
    .await?;
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
                attempts: i64::from(r.get::<i32, _>(7)),
                created_at: from_ms(r.get(8)),
            })
        })
        .collect()
}

/// Moves one delivery to `next` if the state machine allows it from its
/// current state; returns whether it did.
async fn transition(
    conn: &mut PgConnection,
    id: DeliveryId,
    next: DeliveryState,
    error: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let from = state_list(&DeliveryState::predecessors(next));
    let stamp = report_stamp(next, "$3");
    let done = sqlx::query(&format!(
        "UPDATE deliveries SET state = $1, error = COALESCE($2, error), updated_at = $3 {stamp}
         WHERE id = $4 AND state IN ({from})"
    ))
    .bind(next.as_str())
    .bind(error)
    .bind(now)
    .bind(id.0)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Retires contacts (invalid addresses) in one statement.
async fn deactivate(conn: &mut PgConnection, contacts: &[(i64, &str)]) -> StoreResult<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    let (ids, reasons): (Vec<i64>, Vec<&str>) = contacts.iter().copied().unzip();
    sqlx::query(
        "UPDATE contacts SET active = FALSE, deactivated_reason = v.reason
         FROM unnest($1::bigint[], $2::text[]) AS v(id, reason)
         WHERE contacts.id = v.id",
    )
    .bind(&ids)
    .bind(&reasons)
    .execute(conn)
    .await?;
    Ok(())
}

impl PgStore {
    /// Each scope has its own statement so each can use its partial index
    /// (migration 11): `deliveries_pending_by_event` for one event,
    /// `deliveries_pending` for all. Both are indexed on the generated
    /// column `pending`, which the planner does not derive from `state`,
    /// so the statements name it. Every unfinished delivery (a re-queue)
    /// is found by reading the table in id order.
    pub(super) async fn deliveries_to_queue_page(
        &self,
        scope: ToQueue,
        after: DeliveryId,
        limit: u32,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        // A delivery with `not_before` waits for the release loop.
        let select = "SELECT id, channel, lane, resident_id, event_id FROM deliveries
                      WHERE not_before IS NULL AND";
        let order = "id > $1 ORDER BY id LIMIT $2";
        let (sql, event) = match scope {
            ToQueue::Event(event) => (
                format!("{select} pending AND event_id = $3 AND {order}"),
                Some(event.0),
            ),
            ToQueue::AllPending => (format!("{select} pending AND {order}"), None),
            ToQueue::AllUnfinished => (
                format!("{select} {} AND {order}", claimable("", NOW_MS)),
                None,
            ),
        };
        self.queue_page(&sql, after, limit, event).await
    }

    async fn queue_page(
        &self,
        sql: &str,
        after: DeliveryId,
        limit: u32,
        event: Option<i64>,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        let mut query = sqlx::query(sql).bind(after.0).bind(i64::from(limit));
        if let Some(event) = event {
            query = query.bind(event);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let channel: String = r.get(1);
                Ok(QueuedDelivery {
                    id: DeliveryId(r.get(0)),
                    channel: channel.parse().map_err(|e| corrupt("deliveries", e))?,
                    lane: Lane::from_i64(i64::from(r.get::<i16, _>(2))),
                    resident: r.get::<Option<i64>, _>(3).map(ResidentId),
                    event: EventId(r.get(4)),
                })
            })
            .collect()
    }

    pub(super) async fn deliveries_mark_queued(&self, ids: &[DeliveryId]) -> StoreResult<()> {
        let ids = sorted_ids(ids);
        retry_on_deadlock(|| async {
            sqlx::query(
                "UPDATE deliveries SET state = 'queued', updated_at = $1
                 WHERE id = ANY($2) AND state = 'pending'",
            )
            .bind(ms(Utc::now()))
            .bind(&ids)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn deliveries_claim(
        &self,
        ids: &[DeliveryId],
        lease: Lease,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let ids = sorted_ids(ids);
        retry_on_deadlock(|| async {
            let mut conn = self.pool.acquire().await?;
            claim_on(&mut conn, &ids, lease, ms(Utc::now())).await
        })
        .await
    }

    pub(super) async fn deliveries_renew_lease(&self, lease: Lease) -> StoreResult<bool> {
        let done = sqlx::query(&format!(
            "UPDATE delivery_leases SET until = {NOW_MS} + $2 WHERE token = $1"
        ))
        .bind(lease.token)
        .bind(lease.term_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn deliveries_end_lease(&self, lease: Lease) -> StoreResult<()> {
        sqlx::query("DELETE FROM delivery_leases WHERE token = $1")
            .bind(lease.token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One statement: the leases that ran out are removed and their
    /// deliveries still `sending` become `pending`, together.
    pub(super) async fn deliveries_expire_leases(&self) -> StoreResult<u64> {
        let done = sqlx::query(&format!(
            "WITH gone AS (
                 DELETE FROM delivery_leases WHERE until < {NOW_MS} RETURNING token, ids
             ), held AS (
                 SELECT gone.token, i.id FROM gone, unnest(gone.ids) AS i(id) ORDER BY i.id
             )
             UPDATE deliveries d SET state = 'pending', updated_at = $1
             FROM held
             WHERE d.id = held.id AND d.leased_by = held.token AND d.state = 'sending'"
        ))
        .bind(ms(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn deliveries_forget_leases(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM delivery_leases")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// All outcomes in one transaction of two statements: one `UPDATE …
    /// FROM unnest(…)` for the deliveries (one array per column, any batch
    /// size) and one for retired contacts.
    pub(super) async fn deliveries_record(&self, outcomes: &[Outcome]) -> StoreResult<()> {
        let mut sorted: Vec<&Outcome> = outcomes.iter().collect();
        sorted.sort_by_key(|o| o.delivery.0);
        let ids: Vec<i64> = sorted.iter().map(|o| o.delivery.0).collect();
        let next: Vec<&str> = sorted.iter().map(|o| o.kind.target().as_str()).collect();
        let provider_ids: Vec<Option<&str>> = sorted.iter().map(|o| o.kind.provider_id()).collect();
        let errors: Vec<Option<&str>> = sorted.iter().map(|o| o.kind.reason()).collect();
        let at: Vec<i64> = sorted.iter().map(|o| ms(o.at)).collect();
        let refund: Vec<i64> = sorted.iter().map(|o| o.kind.refund()).collect();
        let mut retired: Vec<(i64, &str)> = sorted
            .iter()
            .filter_map(|o| match (&o.kind, o.contact) {
                (OutcomeKind::InvalidAddress { reason }, Some(c)) => Some((c.0, reason.as_str())),
                _ => None,
            })
            .collect();
        retired.sort_by_key(|(c, _)| *c);
        let sql = format!(
            "UPDATE deliveries SET {}
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                         $6::bigint[])
                  AS v(id, next, provider_id, error, at, refund)
             WHERE deliveries.id = v.id",
            outcome_assignments()
        );
        let update = || {
            sqlx::query(&sql)
                .bind(&ids)
                .bind(&next)
                .bind(&provider_ids)
                .bind(&errors)
                .bind(&at)
                .bind(&refund)
        };
        retry_on_deadlock(|| async {
            // One statement is atomic alone; a transaction costs two more
            // round trips to the server per batch.
            if retired.is_empty() {
                if !ids.is_empty() {
                    update().execute(&self.pool).await?;
                }
                return Ok(());
            }
            let mut tx = self.pool.begin().await?;
            if !ids.is_empty() {
                update().execute(&mut *tx).await?;
            }
            deactivate(&mut tx, &retired).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub(super) async fn deliveries_report(
        &self,
        id: DeliveryId,
        state: DeliveryState,
        detail: Option<&str>,
        deactivate_contact: bool,
    ) -> StoreResult<ReportResult> {
        let now = ms(Utc::now());
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: `current` in an Ignored answer is the state that
        // actually refused the transition, not one read before a
        // concurrent writer changed it.
        let Some(row) =
            sqlx::query("SELECT state, contact_id FROM deliveries WHERE id = $1 FOR UPDATE")
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
            deactivate(&mut tx, &[(contact, detail.unwrap_or("invalid address"))]).await?;
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
             WHERE d.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| record_from_row(&r))
        .transpose()
    }

    /// Grouped by event_id first, then joined to the few events for their
    /// seq — instead of joining a million rows before grouping. The states
    /// come from the rows: no index holds `state` (migration 11).
    pub(super) async fn deliveries_summary(
        &self,
        notice: NoticeId,
    ) -> StoreResult<DeliverySummary> {
        let rows = sqlx::query(
            "SELECT e.seq, g.channel, g.state, g.n
             FROM (SELECT event_id, channel, state, COUNT(*) AS n FROM deliveries
                   WHERE notice_id = $1 GROUP BY event_id, channel, state) g
             JOIN notice_events e ON e.id = g.event_id",
        )
        .bind(notice.0)
        .fetch_all(&self.pool)
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

    /// Keyset pagination on `deliveries_by_notice (notice_id, id)`; filters
    /// are added only when given so every shape gets its own plan.
    pub(super) async fn deliveries_list(
        &self,
        notice: NoticeId,
        f: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {RECORD_COLUMNS} FROM deliveries d JOIN notice_events e ON e.id = d.event_id
             WHERE d.notice_id = "
        ));
        q.push_bind(notice.0)
            .push(" AND d.id > ")
            .push_bind(f.after.map_or(0, |d| d.0));
        if let Some(state) = f.state {
            q.push(" AND d.state = ").push_bind(state.as_str());
        }
        if let Some(channel) = f.channel {
            q.push(" AND d.channel = ").push_bind(channel.as_str());
        }
        q.push(" ORDER BY d.id LIMIT ")
            .push_bind(i64::from(f.limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }
}
