//! Notices, their events, their audience and the fan-out into deliveries.

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::{SqliteStore, corrupt, from_ms, id_array, ms, opt_from_ms};
use crate::domain::alert::AlertContent;
use crate::domain::cascade::Cascade;
use crate::domain::{
    Category, CategorySet, EventId, EventKind, Lane, NoticeId, NoticeStatus, OrgId, ResidentId,
    ZoneId,
};
use crate::store::sql::{
    INSERT_EVENT, NOTICE_AFTER_EVENT, RECOUNT_AUDIENCE, active_contacts, audience_counts,
    audience_filter, cascade_schedule_sql, cascade_step, cascade_stop_if, category_filter,
    count_audience_sql, join_audience_sql, joining_mask, superseded_reason,
};
use crate::store::{
    AlertEvent, AudienceCounts, NewEvent, NewNotice, Notice, NoticeEvent, StoreError, StoreResult,
};

/// Tests `res.id` against the candidate ids bound as one JSON array.
fn among(param: &str) -> String {
    format!("IN (SELECT value FROM json_each({param}))")
}

pub(super) const NOTICE_COLUMNS: &str = "id, organisation_id, kind, category, title, cause, starts_at, \
     expected_end, status, area, zone_ids, recipients, created_at, updated_at, closed_at, expires_at, outage, alert";

const EVENT_COLUMNS: &str =
    "id, notice_id, seq, kind, message, expected_end, deliveries, created_at, alert";

pub(super) fn notice_from_row(row: &SqliteRow) -> StoreResult<Notice> {
    let text = |i: usize| -> String { row.get(i) };
    let area: serde_json::Value =
        serde_json::from_str(&text(9)).map_err(|e| corrupt("notices", e))?;
    let zones: Vec<i64> = serde_json::from_str(&text(10)).map_err(|e| corrupt("notices", e))?;
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

fn event_from_row(row: &SqliteRow) -> StoreResult<NoticeEvent> {
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

/// One pending delivery per active contact of the notice's audience, in a
/// single INSERT … SELECT. The language is copied so the message is
/// rendered in the language the resident had when the event happened.
async fn fan_out(
    tx: &mut Transaction<'_, Sqlite>,
    notice: i64,
    event: i64,
    lane: Lane,
    cascade: &Cascade,
    now: i64,
) -> StoreResult<i64> {
    let position = "(SELECT MIN(CAST(o.key AS INTEGER)) FROM json_each(res.channel_order) o
                     WHERE o.value = c.channel)";
    let step = cascade_step(cascade, position, "min");
    let stop_if = cascade_stop_if(cascade, "x.step");
    let done = sqlx::query(&format!(
        "INSERT INTO deliveries (notice_id, event_id, resident_id, contact_id, channel, address,
                                 language, lane, state, created_at, updated_at, step, stop_if)
         SELECT ?1, ?2, x.resident_id, x.id, x.channel, x.address, x.language, ?3, 'pending', ?4, ?4,
                x.step, {stop_if}
         FROM (SELECT c.resident_id, c.id, c.channel, c.address, res.language, {step} AS step
               FROM notice_recipients r
               {}
               JOIN residents res ON res.id = r.resident_id
               WHERE r.notice_id = ?1) x
         ORDER BY x.id",
        active_contacts("r.resident_id")
    ))
    .bind(notice)
    .bind(event)
    .bind(lane.as_i64())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let count = done.rows_affected() as i64;
    if !cascade.is_empty() {
        sqlx::query(&cascade_schedule_sql(cascade, "?1", "?2"))
            .bind(event)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE notice_events SET deliveries = ? WHERE id = ?")
        .bind(count)
        .bind(event)
        .execute(&mut **tx)
        .await?;
    Ok(count)
}

/// Earlier notices about the same outage: their messages that have not
/// gone out to this notice's audience are replaced by this notice's.
async fn supersede_outage(
    tx: &mut Transaction<'_, Sqlite>,
    notice: i64,
    org: Option<OrgId>,
    outage: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET state = 'suppressed', not_before = NULL, updated_at = ?4,
                error = 'not sent: a later notice about the same outage replaced it'
         WHERE notice_id IN (SELECT id FROM notices
                             WHERE outage = ?3 AND organisation_id IS ?2 AND id <> ?1)
           AND resident_id IN (SELECT resident_id FROM notice_recipients WHERE notice_id = ?1)
           AND (state IN ('pending', 'queued')
                OR (state = 'suppressed' AND not_before IS NOT NULL))",
    )
    .bind(notice)
    .bind(org.map(|o| o.0))
    .bind(outage)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops this notice's first message to residents an earlier notice about
/// the same outage already reached (they stay in the audience, so updates
/// and the closing message still reach them).
async fn skip_reached(
    tx: &mut Transaction<'_, Sqlite>,
    notice: i64,
    event: i64,
    org: Option<OrgId>,
    outage: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM deliveries
         WHERE event_id = ?2 AND resident_id IN (
             SELECT d.resident_id FROM deliveries d JOIN notices n ON n.id = d.notice_id
             WHERE n.outage = ?4 AND n.organisation_id IS ?3 AND n.id <> ?1
               AND d.state IN ('sending', 'sent', 'delivered', 'acknowledged'))",
    )
    .bind(notice)
    .bind(event)
    .bind(org.map(|o| o.0))
    .bind(outage)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE notice_events SET deliveries = (SELECT COUNT(*) FROM deliveries WHERE event_id = ?1)
         WHERE id = ?1",
    )
    .bind(event)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
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
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.get(0))
}

/// The notice, its `published` event, its audience and the first
/// event's deliveries, inside the caller's transaction (an alert writes
/// its own row in the same one). Returns (notice id, event id).
pub(super) async fn insert_notice(
    tx: &mut Transaction<'_, Sqlite>,
    n: &NewNotice,
    candidates: &[ResidentId],
    now: i64,
) -> StoreResult<(i64, i64)> {
    let zones = serde_json::to_string(&n.zones.iter().map(|z| z.0).collect::<Vec<_>>())
        .map_err(|e| corrupt("notices", e))?;
    let id: i64 = sqlx::query(
        "INSERT INTO notices (organisation_id, kind, category, title, cause, starts_at,
                              expected_end, status, area, zone_ids, recipients,
                              created_at, updated_at, expires_at, outage, alert)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, 0, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(n.organisation.map(|o| o.0))
    .bind(n.kind.as_str())
    .bind(n.category.as_str())
    .bind(n.title.as_str())
    .bind(n.cause.as_ref().map(|c| c.as_str()))
    .bind(ms(n.starts_at))
    .bind(n.expected_end.map(ms))
    .bind(n.area.to_json().to_string())
    .bind(zones)
    .bind(now)
    .bind(now)
    .bind(n.expires_at.map(ms))
    .bind(n.outage.as_ref().map(|o| o.as_str()))
    .bind(n.alert.as_ref().map(AlertContent::to_json))
    .fetch_one(&mut **tx)
    .await?
    .get(0);
    let published = EventKind::Published;
    let alert = n.alert.as_ref();
    let event = insert_event(tx, id, published, None, n.expected_end, alert, now).await?;
    let audience = sqlx::query(&format!(
        "INSERT INTO notice_recipients (notice_id, resident_id)
         SELECT ?1, res.id FROM residents res WHERE {}",
        audience_filter(&among("?2"), "?3")
    ))
    .bind(id)
    .bind(id_array(candidates.iter().map(|r| r.0)))
    .bind(category_filter(n))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query("UPDATE notices SET recipients = ? WHERE id = ?")
        .bind(audience as i64)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if let Some(outage) = &n.outage {
        supersede_outage(tx, id, n.organisation, outage.as_str(), now).await?;
    }
    fan_out(tx, id, event, n.kind.lane(), &n.cascade, now).await?;
    if let Some(outage) = &n.outage {
        skip_reached(tx, id, event, n.organisation, outage.as_str()).await?;
    }
    Ok((id, event))
}

/// Adds an update or close event and its deliveries inside the caller's
/// transaction: to the notice's audience, which an alert's Update may
/// extend first (`alert.joining`). Returns the event id.
pub(super) async fn append_event(
    tx: &mut Transaction<'_, Sqlite>,
    id: NoticeId,
    e: &NewEvent,
    alert: Option<&AlertEvent>,
    now: i64,
) -> StoreResult<i64> {
    let row = sqlx::query(&format!(
        "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = ?"
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound("notice"))?;
    let notice = notice_from_row(&row)?;
    if notice.status == NoticeStatus::Closed {
        return Err(StoreError::Conflict(format!(
            "notice {id} is already closed; publish a new notice instead"
        )));
    }
    let expected_end = e.expected_end.or(notice.expected_end);
    let message = e.message.as_ref().map(|m| m.as_str());
    let content = alert.map(|a| &a.content);
    let event = insert_event(tx, id.0, e.kind, message, expected_end, content, now).await?;
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
        .execute(&mut **tx)
        .await?;
    if let Some(a) = alert.filter(|a| !a.joining.is_empty()) {
        sqlx::query(&join_audience_sql(&among("$2")))
            .bind(id.0)
            .bind(id_array(a.joining.iter().map(|r| r.0)))
            .bind(joining_mask(&notice, a))
            .execute(&mut **tx)
            .await?;
        sqlx::query(RECOUNT_AUDIENCE)
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE deliveries SET state = 'suppressed', error = ?1, updated_at = ?2,
                not_before = NULL
         WHERE notice_id = ?3 AND event_id <> ?4
           AND (state IN ('pending', 'queued')
                OR (state = 'suppressed' AND not_before IS NOT NULL))",
    )
    .bind(superseded_reason(e.kind))
    .bind(now)
    .bind(id.0)
    .bind(event)
    .execute(&mut **tx)
    .await?;
    let lane = alert.map_or(notice.kind.lane(), |a| a.lane);
    fan_out(tx, id.0, event, lane, &e.cascade, now).await?;
    Ok(event)
}

impl SqliteStore {
    pub(super) async fn notices_create(
        &self,
        n: &NewNotice,
        candidates: &[ResidentId],
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let (id, event) = insert_notice(&mut tx, n, candidates, ms(Utc::now())).await?;
        tx.commit().await?;
        // Release the writer first: the read-back below takes it again.
        drop(conn);
        self.notice_and_event(NoticeId(id), EventId(event)).await
    }

    /// See `Store::count_audience`; reads only, through the reader pool.
    pub(super) async fn notices_count_audience(
        &self,
        category: Category,
        candidates: &[ResidentId],
    ) -> StoreResult<AudienceCounts> {
        let rows = sqlx::query_as(&count_audience_sql(&among("?1"), "?2"))
            .bind(id_array(candidates.iter().map(|r| r.0)))
            .bind(CategorySet::from_categories(&[category]).mask())
            .fetch_all(self.settled().await?)
            .await?;
        audience_counts(rows)
    }

    pub(super) async fn notices_add_event(
        &self,
        id: NoticeId,
        e: &NewEvent,
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let event = append_event(&mut tx, id, e, None, ms(Utc::now())).await?;
        tx.commit().await?;
        // Release the writer first: the read-back below takes it again.
        drop(conn);
        self.notice_and_event(id, EventId(event)).await
    }

    /// Read back through the writer so the caller sees its own commit.
    pub(super) async fn notice_and_event(
        &self,
        id: NoticeId,
        event: EventId,
    ) -> StoreResult<(Notice, NoticeEvent)> {
        let notice = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_one(&mut *self.writer.lock().await?)
        .await?;
        let event = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM notice_events WHERE id = ?"
        ))
        .bind(event.0)
        .fetch_one(&mut *self.writer.lock().await?)
        .await?;
        Ok((notice_from_row(&notice)?, event_from_row(&event)?))
    }

    pub(super) async fn notices_get(&self, id: NoticeId) -> StoreResult<Option<Notice>> {
        sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| notice_from_row(&r))
        .transpose()
    }

    pub(super) async fn notices_list(
        &self,
        organisation: Option<OrgId>,
        before: Option<NoticeId>,
        limit: u32,
    ) -> StoreResult<Vec<Notice>> {
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLUMNS} FROM notices
             WHERE (?1 IS NULL OR organisation_id = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3"
        ))
        .bind(organisation.map(|o| o.0))
        .bind(before.map(|b| b.0))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(notice_from_row).collect()
    }

    pub(super) async fn notices_events(
        &self,
        notice: NoticeId,
        only: Option<EventId>,
    ) -> StoreResult<Vec<NoticeEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM notice_events
             WHERE notice_id = ?1 AND (?2 IS NULL OR id = ?2) ORDER BY seq"
        ))
        .bind(notice.0)
        .bind(only.map(|e| e.0))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub(super) async fn notices_event_context(
        &self,
        event: EventId,
    ) -> StoreResult<Option<(Notice, NoticeEvent)>> {
        let Some(row) = sqlx::query("SELECT notice_id FROM notice_events WHERE id = ?")
            .bind(event.0)
            .fetch_optional(&self.reader)
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
