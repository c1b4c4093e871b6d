//! Notices, their events, their audience and the fan-out into deliveries.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{FAN_OUT_LOCK, PgStore};
use crate::domain::alert::AlertContent;
use crate::domain::cascade::Cascade;
use crate::domain::{
    Category, CategorySet, EventId, EventKind, Lane, NoticeId, NoticeStatus, OrgId, ResidentId,
    ZoneId,
};
use crate::store::sql::{
    INSERT_EVENT, NOTICE_AFTER_EVENT, RECOUNT_AUDIENCE, active_contacts, audience_counts,
    audience_filter, cascade_schedule_sql, cascade_step, cascade_stop_if, category_filter, corrupt,
    count_audience_sql, from_ms, join_audience_sql, joining_mask, ms, opt_from_ms,
    superseded_reason,
};
use crate::store::{
    AlertEvent, AudienceCounts, NewEvent, NewNotice, Notice, NoticeEvent, StoreError, StoreResult,
};

pub(super) const NOTICE_COLUMNS: &str = "id, organisation_id, kind, category, title, cause, starts_at, \
     expected_end, status, area, zone_ids, recipients, created_at, updated_at, closed_at, expires_at, outage, alert";

const EVENT_COLUMNS: &str =
    "id, notice_id, seq, kind, message, expected_end, deliveries, created_at, alert";

pub(super) fn notice_from_row(row: &PgRow) -> StoreResult<Notice> {
    let text = |i: usize| -> String { row.get(i) };
    let area: serde_json::Value =
        serde_json::from_str(&text(9)).map_err(|e| corrupt("notices", e))?;
    let zones: Vec<i64> = row.get(10);
    Ok(Notice {
        id: NoticeId(row.get(0)),
        organisation: row.get::<Option<i64>, _>(1).map(OrgId),
        kind: text(2).parse().map_err(|e| corrupt("notices", e))?,
        category: text(3).parse().map_err(|e| corrupt("notices", e))?,
        title: text(4),
        cause: row.get(5),
        starts_at: from_ms(row.get(6)),
        expected_end: opt_from_ms(row.get(7)),
        status: text(8).parse().map_err(|e| corrupt("notices", e))?,
        area,
        zones: zones.into_iter().map(ZoneId).collect(),
        recipients: row.get(11),
        created_at: from_ms(row.get(12)),
        updated_at: from_ms(row.get(13)),
        closed_at: opt_from_ms(row.get(14)),
        expires_at: opt_from_ms(row.get(15)),
        outage: row.get(16),
        alert: row
            .get::<Option<String>, _>(17)
            .map(|a| AlertContent::from_json(&a).map_err(|e| corrupt("notices", e)))
            .transpose()?,
    })
}

fn event_from_row(row: &PgRow) -> StoreResult<NoticeEvent> {
    let kind: String = row.get(3);
    Ok(NoticeEvent {
        id: EventId(row.get(0)),
        notice_id: NoticeId(row.get(1)),
        seq: row.get(2),
        kind: kind.parse().map_err(|e| corrupt("notice_events", e))?,
        message: row.get(4),
        expected_end: opt_from_ms(row.get(5)),
        deliveries: row.get(6),
        created_at: from_ms(row.get(7)),
        alert: row
            .get::<Option<String>, _>(8)
            .map(|a| AlertContent::from_json(&a).map_err(|e| corrupt("notice_events", e)))
            .transpose()?,
    })
}

/// Taken at the start of every transaction that fans out: shared among
/// fan-outs, exclusive for `delete_resident` (see `FAN_OUT_LOCK`).
async fn lock_for_fan_out(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
        .bind(FAN_OUT_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// One pending delivery per active contact of the notice's audience, in a
/// single INSERT … SELECT. `notice` and `event` are rows this transaction
/// has just inserted: no foreign key checks them (migration 12). The language is copied so the message is
/// rendered in the language the resident had when the event happened.
/// `ORDER BY c.id` numbers deliveries as SQLite does (by contact). Not a
/// persistent statement: each fan-out is planned for its own notice (ten
/// recipients want index probes, a million want hash joins), never with a
/// cached generic plan.
async fn fan_out(
    conn: &mut PgConnection,
    notice: i64,
    event: i64,
    lane: Lane,
    cascade: &Cascade,
    now: i64,
) -> StoreResult<i64> {
    let position = "(SELECT MIN(o.i)::int - 1
                     FROM jsonb_array_elements_text(res.channel_order::jsonb) WITH ORDINALITY AS o(v, i)
                     WHERE o.v = c.channel)";
    let step = cascade_step(cascade, position, "LEAST");
    let stop_if = cascade_stop_if(cascade, "x.step");
    let done = sqlx::query(&format!(
        "INSERT INTO deliveries (notice_id, event_id, resident_id, contact_id, channel, address,
                                 language, lane, state, created_at, updated_at, step, stop_if)
         SELECT $1, $2, x.resident_id, x.id, x.channel, x.address, x.language, $3, 'pending', $4, $4,
                x.step, {stop_if}
         FROM (SELECT c.resident_id, c.id, c.channel, c.address, res.language, {step} AS step
               FROM notice_recipients r
               {}
               JOIN residents res ON res.id = r.resident_id
               WHERE r.notice_id = $1) x
         ORDER BY x.id",
        active_contacts("r.resident_id")
    ))
    .persistent(false)
    .bind(notice)
    .bind(event)
    .bind(lane.as_i64() as i16)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let count = done.rows_affected() as i64;
    if !cascade.is_empty() {
        sqlx::query(&cascade_schedule_sql(cascade, "$1", "$2"))
            .persistent(false)
            .bind(event)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("UPDATE notice_events SET deliveries = $1 WHERE id = $2")
        .bind(count)
        .bind(event)
        .execute(&mut *conn)
        .await?;
    Ok(count)
}

/// Earlier notices about the same outage: their messages that have not
/// gone out to this notice's audience are replaced by this notice's. SKIP
/// LOCKED as in `add_event`: a row being claimed is being sent anyway.
async fn supersede_outage(
    conn: &mut PgConnection,
    notice: i64,
    org: Option<OrgId>,
    outage: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET state = 'suppressed', not_before = NULL, updated_at = $4,
                error = 'not sent: a later notice about the same outage replaced it'
         WHERE id IN (
             SELECT d.id FROM deliveries d
             WHERE d.notice_id IN (SELECT id FROM notices
                                   WHERE outage = $3 AND organisation_id IS NOT DISTINCT FROM $2
                                     AND id <> $1)
               AND d.resident_id IN (SELECT resident_id FROM notice_recipients
                                     WHERE notice_id = $1)
               AND (d.state IN ('pending', 'queued')
                    OR (d.state = 'suppressed' AND d.not_before IS NOT NULL))
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(notice)
    .bind(org.map(|o| o.0))
    .bind(outage)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Drops this notice's first message to residents an earlier notice about
/// the same outage already reached (they stay in the audience, so updates
/// and the closing message still reach them).
async fn skip_reached(
    conn: &mut PgConnection,
    notice: i64,
    event: i64,
    org: Option<OrgId>,
    outage: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM deliveries
         WHERE event_id = $2 AND resident_id IN (
             SELECT d.resident_id FROM deliveries d JOIN notices n ON n.id = d.notice_id
             WHERE n.outage = $4 AND n.organisation_id IS NOT DISTINCT FROM $3 AND n.id <> $1
               AND d.state IN ('sending', 'sent', 'delivered', 'acknowledged'))",
    )
    .bind(notice)
    .bind(event)
    .bind(org.map(|o| o.0))
    .bind(outage)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE notice_events SET deliveries = (SELECT COUNT(*) FROM deliveries WHERE event_id = $1)
         WHERE id = $1",
    )
    .bind(event)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The caller holds the notice row lock (or created the notice in this
/// transaction), so MAX(seq) + 1 cannot be taken twice.
async fn insert_event(
    conn: &mut PgConnection,
    notice: i64,
    kind: EventKind,
    message: Option<&str>,
    expected_end: Option<DateTime<Utc>>,
    alert: Option<&AlertContent>,
    now: i64,
) -> StoreResult<i64> {
    let row = sqlx::query(INSERT_EVENT)
        .bind(notice)
        .bind(kind.as_str())
        .bind(message)
        .bind(expected_end.map(ms))
        .bind(now)
        .bind(alert.map(AlertContent::to_json))
        .fetch_one(conn)
        .await?;
    Ok(row.get(0))
}

/// The notice, its `published` event, its audience and the first
/// event's deliveries, inside the caller's transaction (an alert writes
/// its own row in the same one). Returns (notice id, event id).
pub(super) async fn insert_notice(
    conn: &mut PgConnection,
    n: &NewNotice,
    candidates: &[ResidentId],
    now: i64,
) -> StoreResult<(i64, i64)> {
    let zones: Vec<i64> = n.zones.iter().map(|z| z.0).collect();
    let candidates: Vec<i64> = candidates.iter().map(|r| r.0).collect();
    lock_for_fan_out(&mut *conn).await?;
    let id: i64 = sqlx::query(
        "INSERT INTO notices (organisation_id, kind, category, title, cause, starts_at,
                              expected_end, status, area, zone_ids, recipients,
                              created_at, updated_at, expires_at, outage, alert)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, 0, $10, $10, $11, $12, $13)
         RETURNING id",
    )
    .bind(n.organisation.map(|o| o.0))
    .bind(n.kind.as_str())
    .bind(n.category.as_str())
    .bind(n.title.as_str())
    .bind(n.cause.as_ref().map(|c| c.as_str()))
    .bind(ms(n.starts_at))
    .bind(n.expected_end.map(ms))
    .bind(n.area.to_json().to_string())
    .bind(&zones)
    .bind(now)
    .bind(n.expires_at.map(ms))
    .bind(n.outage.as_ref().map(|o| o.as_str()))
    .bind(n.alert.as_ref().map(AlertContent::to_json))
    .fetch_one(&mut *conn)
    .await?
    .get(0);
    let published = EventKind::Published;
    let alert = n.alert.as_ref();
    let event = insert_event(&mut *conn, id, published, None, n.expected_end, alert, now).await?;
    // `= ANY(array)`: for a long list the planner hashes the array and
    // scans residents once (0.4 s for a million; the semi-join over
    // `unnest` took 3.6 s), for a short one it probes the primary key.
    // Both need the planner to see the array, hence not persistent: a
    // cached generic plan would be planned for an array of unknown
    // length. Duplicates collapse as with SQLite's json_each.
    let audience = sqlx::query(&format!(
        "INSERT INTO notice_recipients (notice_id, resident_id)
         SELECT $1, res.id FROM residents res WHERE {}",
        audience_filter("= ANY($2)", "$3")
    ))
    .persistent(false)
    .bind(id)
    .bind(&candidates)
    .bind(category_filter(n))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE notices SET recipients = $1 WHERE id = $2")
        .bind(audience as i64)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if let Some(outage) = &n.outage {
        supersede_outage(&mut *conn, id, n.organisation, outage.as_str(), now).await?;
    }
    fan_out(&mut *conn, id, event, n.kind.lane(), &n.cascade, now).await?;
    if let Some(outage) = &n.outage {
        skip_reached(&mut *conn, id, event, n.organisation, outage.as_str()).await?;
    }
    Ok((id, event))
}

/// Adds an update or close event and its deliveries inside the caller's
/// transaction: to the notice's audience, which an alert's Update may
/// extend first (`alert.joining`). Returns the event id.
pub(super) async fn append_event(
    conn: &mut PgConnection,
    id: NoticeId,
    e: &NewEvent,
    alert: Option<&AlertEvent>,
    now: i64,
) -> StoreResult<i64> {
    // FOR UPDATE serialises events of one notice: the next writer waits
    // here, then sees this event's seq and, if it closed the notice,
    // the closed status.
    let row = sqlx::query(&format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound("notice"))?;
    let notice = notice_from_row(&row)?;
    if notice.status == NoticeStatus::Closed {
        return Err(StoreError::Conflict(format!(
            "notice {id} is already closed; publish a new notice instead"
        )));
    }
    lock_for_fan_out(&mut *conn).await?;
    let expected_end = e.expected_end.or(notice.expected_end);
    let message = e.message.as_ref().map(|m| m.as_str());
    let content = alert.map(|a| &a.content);
    let event = insert_event(
        &mut *conn,
        id.0,
        e.kind,
        message,
        expected_end,
        content,
        now,
    )
    .await?;
    sqlx::query(NOTICE_AFTER_EVENT)
        .bind(now)
        .bind(expected_end.map(ms))
        .bind(e.kind == EventKind::Closed)
        .bind(id.0)
        .bind(
            alert
                .and_then(|a| a.area.as_ref())
                .map(|a| a.to_json().to_string()),
        )
        .execute(&mut *conn)
        .await?;
    if let Some(a) = alert.filter(|a| !a.joining.is_empty()) {
        let joining: Vec<i64> = a.joining.iter().map(|r| r.0).collect();
        sqlx::query(&join_audience_sql("= ANY($2)"))
            .persistent(false)
            .bind(id.0)
            .bind(&joining)
            .bind(joining_mask(&notice, a))
            .execute(&mut *conn)
            .await?;
        sqlx::query(RECOUNT_AUDIENCE)
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
    }
    // SKIP LOCKED: a row a worker is claiming right now is being sent
    // anyway, and waiting for it could deadlock with that claim.
    sqlx::query(
        "UPDATE deliveries SET state = 'suppressed', error = $1, updated_at = $2,
                not_before = NULL
         WHERE id IN (SELECT id FROM deliveries
                      WHERE notice_id = $3 AND event_id <> $4
                        AND (state IN ('pending', 'queued')
                             OR (state = 'suppressed' AND not_before IS NOT NULL))
                      FOR UPDATE SKIP LOCKED)",
    )
    .bind(superseded_reason(e.kind))
    .bind(now)
    .bind(id.0)
    .bind(event)
    .execute(&mut *conn)
    .await?;
    let lane = alert.map_or(notice.kind.lane(), |a| a.lane);
    fan_out(&mut *conn, id.0, event, lane, &e.cascade, now).await?;
    Ok(event)
}

impl PgStore {
    pub(super) async fn notices_create(
        &self,
        n: &NewNotice,
        candidates: &[ResidentId],
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let mut tx = self.pool.begin().await?;
        let (id, event) = insert_notice(&mut tx, n, candidates, ms(Utc::now())).await?;
        tx.commit().await?;
        self.notice_and_event(NoticeId(id), EventId(event)).await
    }

    /// See `Store::count_audience`. Not persistent for the reason given in
    /// `notices_create`: the plan must fit the length of the id array.
    pub(super) async fn notices_count_audience(
        &self,
        category: Category,
        candidates: &[ResidentId],
    ) -> StoreResult<AudienceCounts> {
        let candidates: Vec<i64> = candidates.iter().map(|r| r.0).collect();
        let rows = sqlx::query_as(&count_audience_sql("= ANY($1)", "$2"))
            .persistent(false)
            .bind(&candidates)
            .bind(CategorySet::from_categories(&[category]).mask())
            .fetch_all(&self.pool)
            .await?;
        audience_counts(rows)
    }

    pub(super) async fn notices_add_event(
        &self,
        id: NoticeId,
        e: &NewEvent,
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let mut tx = self.pool.begin().await?;
        let event = append_event(&mut tx, id, e, None, ms(Utc::now())).await?;
        tx.commit().await?;
        self.notice_and_event(id, EventId(event)).await
    }

    pub(super) async fn notice_and_event(
        &self,
        id: NoticeId,
        event: EventId,
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let notice = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_one(&self.pool)
        .await?;
        let event = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM notice_events WHERE id = $1"
        ))
        .bind(event.0)
        .fetch_one(&self.pool)
        .await?;
        Ok((notice_from_row(&notice)?, event_from_row(&event)?))
    }

    pub(super) async fn notices_get(&self, id: NoticeId) -> StoreResult<Option<Notice>> {
        sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| notice_from_row(&r))
        .transpose()
    }

    /// Conditions are added only when given (rather than `$1 IS NULL OR …`)
    /// so each shape gets its own plan: a cached generic plan of the OR
    /// form could not use `notices_by_organisation`.
    pub(super) async fn notices_list(
        &self,
        organisation: Option<OrgId>,
        before: Option<NoticeId>,
        limit: u32,
    ) -> StoreResult<Vec<Notice>> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE TRUE"
        ));
        if let Some(org) = organisation {
            q.push(" AND organisation_id = ").push_bind(org.0);
        }
        if let Some(before) = before {
            q.push(" AND id < ").push_bind(before.0);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(notice_from_row).collect()
    }

    pub(super) async fn notices_events(
        &self,
        notice: NoticeId,
        only: Option<EventId>,
    ) -> StoreResult<Vec<NoticeEvent>> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM notice_events WHERE notice_id = "
        ));
        q.push_bind(notice.0);
        if let Some(event) = only {
            q.push(" AND id = ").push_bind(event.0);
        }
        q.push(" ORDER BY seq");
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(super) async fn notices_event_context(
        &self,
        event: EventId,
    ) -> StoreResult<Option<(Notice, NoticeEvent)>> {
        let Some(row) = sqlx::query("SELECT notice_id FROM notice_events WHERE id = $1")
            .bind(event.0)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let notice = NoticeId(row.get(0));
        let Some(n) = self.notices_get(notice).await? else {
            return Ok(None);
        };
        let e = self.notices_events(notice, Some(event)).await?.pop();
        Ok(e.map(|e| (n, e)))
    }
}
