//! Civil-protection alerts, operators and test audiences in SQLite. An
//! alert, what it sends and its journal entries commit in one transaction.

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

use super::notices::{append_event, insert_notice};
use super::{SqliteStore, corrupt, from_ms, id_array, ms, opt_from_ms};
use crate::domain::alert::AlertState;
use crate::domain::auth::TokenHash;
use crate::domain::journal::{JournalKey, NewJournalEntry};
use crate::domain::{AlertId, AudienceId, EventId, NoticeId, ResidentId};
use crate::store::sql::{
    ALERT_COLUMNS, ALERT_OF_NOTICE, APPROVE_ALERT, alert_people, chain_transition,
    expire_pending_sql, list_alerts_sql, listing_params, unknown_members,
};
use crate::store::{
    AlertAction, AlertJournal, AlertListing, AlertRecord, Audience, DeliveryTiming, NewAlert,
    Operator, Release, StoreError, StoreResult,
};

fn alert_from_row(r: &SqliteRow) -> StoreResult<AlertRecord> {
    let state: String = r.get(11);
    let (created_by_kind, created_by_username, approved_by_kind, approved_by_username) =
        alert_people(r.get(18), r.get(26), r.get(27), r.get(28));
    Ok(AlertRecord {
        id: AlertId(r.get(0)),
        identifier: r.get(1),
        sender: r.get(2),
        sent: from_ms(r.get(3)),
        status: r.get(4),
        msg_type: r.get(5),
        scope: r.get(6),
        headline: r.get(7),
        urgent: r.get(8),
        expires: opt_from_ms(r.get(9)),
        cap: r.get(10),
        state: AlertState::parse(&state).ok_or_else(|| corrupt("alerts", &state))?,
        references: r.get::<Option<i64>, _>(12).map(AlertId),
        notice_id: r.get::<Option<i64>, _>(13).map(NoticeId),
        event_id: r.get::<Option<i64>, _>(14).map(EventId),
        audience: r.get::<Option<i64>, _>(15).map(AudienceId),
        widened: r.get(16),
        template: r.get(17),
        created_by_token: r.get(18),
        created_by: r.get(19),
        created_by_kind,
        created_by_username,
        approved_by: r.get(20),
        approved_by_kind,
        approved_by_username,
        approved_at: opt_from_ms(r.get(21)),
        ended_at: opt_from_ms(r.get(22)),
        ended_by: r.get::<Option<i64>, _>(23).map(AlertId),
        superseded_by: r.get::<Option<i64>, _>(24).map(AlertId),
        created_at: from_ms(r.get(25)),
    })
}

/// Writes what the alert sends; returns (notice, event).
async fn release(
    tx: &mut Transaction<'_, Sqlite>,
    release: &Release,
    now: i64,
) -> StoreResult<(i64, i64)> {
    match release {
        Release::Notice { notice, candidates } => insert_notice(tx, notice, candidates, now).await,
        Release::Event {
            notice,
            event,
            alert,
        } => {
            let id = append_event(tx, *notice, event, Some(alert), now).await?;
            Ok((notice.0, id))
        }
    }
}

/// After alert `id` sent `sends`: the alerts it follows change state.
async fn follow_chain(
    tx: &mut Transaction<'_, Sqlite>,
    id: i64,
    sends: &Release,
    now: i64,
) -> StoreResult<()> {
    if let Release::Event { notice, alert, .. } = sends {
        sqlx::query(chain_transition(alert.ends_chain))
            .bind(now)
            .bind(id)
            .bind(notice.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn journal(
    tx: &mut Transaction<'_, Sqlite>,
    key: Option<&JournalKey>,
    alert: i64,
    actions: &[AlertAction],
) -> StoreResult<()> {
    for a in actions {
        let entry = NewJournalEntry {
            actor: a.actor.clone(),
            action: a.action.to_owned(),
            subject: format!("alert/{alert}"),
            detail: a.detail.clone(),
        };
        super::journal::append_in(tx, key, &entry).await?;
    }
    Ok(())
}

impl SqliteStore {
    pub(super) async fn alerts_create_operator(
        &self,
        name: &str,
        token: &TokenHash,
    ) -> StoreResult<i64> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let taken =
            sqlx::query("SELECT 1 FROM api_tokens WHERE role = 'civil_protection' AND label = ?")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an operator named \"{name}\" already exists"
            )));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (token_hash, role, label, created_at)
             VALUES (?, 'civil_protection', ?, ?) RETURNING id",
        )
        .bind(token.as_str())
        .bind(name)
        .bind(ms(Utc::now()))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        tx.commit().await?;
        Ok(id)
    }

    pub(super) async fn alerts_create_audience(
        &self,
        name: &str,
        members: &[ResidentId],
    ) -> StoreResult<Audience> {
        let ids = id_array(members.iter().map(|r| r.0));
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let known: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM residents WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(message) = unknown_members(members, &known) {
            return Err(StoreError::Invalid {
                field: "residents",
                message,
            });
        }
        let now = ms(Utc::now());
        let id: i64 = sqlx::query(
            "INSERT INTO audiences (name, created_at) VALUES (?, ?)
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::Conflict(format!("an audience named \"{name}\" already exists"))
        })?
        .get(0);
        let added = sqlx::query(
            "INSERT OR IGNORE INTO audience_members (audience_id, resident_id)
             SELECT ?, value FROM json_each(?)",
        )
        .bind(id)
        .bind(&ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(Audience {
            id: AudienceId(id),
            name: name.to_owned(),
            members: added as i64,
            created_at: from_ms(now),
        })
    }

    pub(super) async fn alerts_list_audiences(&self) -> StoreResult<Vec<Audience>> {
        let rows = sqlx::query(
            "SELECT a.id, a.name, COUNT(m.resident_id), a.created_at
             FROM audiences a LEFT JOIN audience_members m ON m.audience_id = a.id
             GROUP BY a.id ORDER BY a.id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Audience {
                id: AudienceId(r.get(0)),
                name: r.get(1),
                members: r.get(2),
                created_at: from_ms(r.get(3)),
            })
            .collect())
    }

    pub(super) async fn alerts_audience_members(
        &self,
        name: &str,
    ) -> StoreResult<Option<(AudienceId, Vec<ResidentId>)>> {
        let Some(id) = sqlx::query_scalar::<_, i64>("SELECT id FROM audiences WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let members: Vec<i64> = sqlx::query_scalar(
            "SELECT resident_id FROM audience_members WHERE audience_id = ? ORDER BY resident_id",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        Ok(Some((
            AudienceId(id),
            members.into_iter().map(ResidentId).collect(),
        )))
    }

    pub(super) async fn alerts_insert(
        &self,
        a: &NewAlert,
        sends: Option<&Release>,
        actions: &[AlertAction],
    ) -> StoreResult<AlertRecord> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM alerts WHERE sender = ? AND identifier = ?")
            .bind(&a.sender)
            .bind(&a.identifier)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an alert from \"{}\" with identifier \"{}\" already exists",
                a.sender, a.identifier
            )));
        }
        let (notice, event) = match sends {
            Some(r) => {
                let (n, e) = release(&mut tx, r, now).await?;
                (Some(n), Some(e))
            }
            None => (None, None),
        };
        let id: i64 = sqlx::query(
            "INSERT INTO alerts (identifier, sender, sent, status, msg_type, scope, headline,
                                 urgent, expires, cap, state, references_id, notice_id, event_id,
                                 audience_id, widened, template, created_by, creator, created_at,
                                 creator_username)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&a.identifier)
        .bind(&a.sender)
        .bind(ms(a.sent))
        .bind(&a.status)
        .bind(&a.msg_type)
        .bind(&a.scope)
        .bind(&a.headline)
        .bind(a.urgent)
        .bind(a.expires.map(ms))
        .bind(&a.cap)
        .bind(a.state.as_str())
        .bind(a.references.map(|r| r.0))
        .bind(notice)
        .bind(event)
        .bind(a.audience.map(|r| r.0))
        .bind(a.widened)
        .bind(&a.template)
        .bind(a.creator.token)
        .bind(&a.creator.name)
        .bind(now)
        .bind(&a.creator.username)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        if let Some(r) = sends {
            follow_chain(&mut tx, id, r, now).await?;
        }
        journal(&mut tx, self.journal_key.as_ref(), id, actions).await?;
        tx.commit().await?;
        // Release the writer first: the read-back below takes it again.
        drop(conn);
        self.alert_via_writer(AlertId(id)).await
    }

    pub(super) async fn alerts_approve(
        &self,
        id: AlertId,
        approver: &Operator,
        sends: &Release,
        actions: &[AlertAction],
    ) -> StoreResult<AlertRecord> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        // Who may approve is checked in the statement itself, so two
        // approvals racing cannot both send.
        let approved = sqlx::query(APPROVE_ALERT)
            .bind(approver.token)
            .bind(&approver.name)
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if approved == 0 {
            return Err(StoreError::Conflict(format!(
                "alert {id} is no longer pending approval (approved, expired), or you \
                 created it, or you are not a person with a password of your own"
            )));
        }
        let (notice, event) = release(&mut tx, sends, now).await?;
        follow_chain(&mut tx, id.0, sends, now).await?;
        sqlx::query("UPDATE alerts SET notice_id = ?, event_id = ? WHERE id = ?")
            .bind(notice)
            .bind(event)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        journal(&mut tx, self.journal_key.as_ref(), id.0, actions).await?;
        tx.commit().await?;
        // Release the writer first: the read-back below takes it again.
        drop(conn);
        self.alert_via_writer(id).await
    }

    async fn alert_via_writer(&self, id: AlertId) -> StoreResult<AlertRecord> {
        let row = sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"))
            .bind(id.0)
            .fetch_one(&mut *self.writer.lock().await?)
            .await?;
        alert_from_row(&row)
    }

    pub(super) async fn alerts_get(&self, id: AlertId) -> StoreResult<Option<AlertRecord>> {
        sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| alert_from_row(&r))
            .transpose()
    }

    pub(super) async fn alerts_find(
        &self,
        sender: &str,
        identifier: &str,
    ) -> StoreResult<Option<AlertRecord>> {
        sqlx::query(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE sender = ? AND identifier = ?"
        ))
        .bind(sender)
        .bind(identifier)
        .fetch_optional(&self.reader)
        .await?
        .map(|r| alert_from_row(&r))
        .transpose()
    }

    pub(super) async fn alerts_list(
        &self,
        before: Option<AlertId>,
        listing: AlertListing,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>> {
        let (now, cancels_since) = listing_params(listing);
        let rows = sqlx::query(&list_alerts_sql())
            .bind(before.map(|b| b.0))
            .bind(now)
            .bind(cancels_since)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(alert_from_row).collect()
    }

    pub(super) async fn alerts_of_notice(&self, notice: NoticeId) -> StoreResult<Option<AlertId>> {
        Ok(sqlx::query_scalar::<_, i64>(ALERT_OF_NOTICE)
            .bind(notice.0)
            .fetch_optional(&self.reader)
            .await?
            .map(AlertId))
    }

    pub(super) async fn alerts_expire_pending(
        &self,
        now: DateTime<Utc>,
        journal_of: &AlertJournal,
    ) -> StoreResult<Vec<AlertRecord>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let rows = sqlx::query(&expire_pending_sql())
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
        let expired = rows
            .iter()
            .map(alert_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        for a in &expired {
            journal(&mut tx, self.journal_key.as_ref(), a.id.0, &[journal_of(a)]).await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    pub(super) async fn alerts_event_timings(
        &self,
        event: EventId,
    ) -> StoreResult<Vec<DeliveryTiming>> {
        let rows = sqlx::query(
            "SELECT channel, state, created_at, delivered_at, acknowledged_at
             FROM deliveries WHERE event_id = ?",
        )
        .bind(event.0)
        .fetch_all(self.settled().await?)
        .await?;
        rows.iter()
            .map(|r| {
                let channel: String = r.get(0);
                let state: String = r.get(1);
                Ok(DeliveryTiming {
                    channel: channel.parse().map_err(|e| corrupt("deliveries", e))?,
                    state: state.parse().map_err(|e| corrupt("deliveries", e))?,
                    created_at: from_ms(r.get(2)),
                    delivered_at: opt_from_ms(r.get(3)),
                    acknowledged_at: opt_from_ms(r.get(4)),
                })
            })
            .collect()
    }
}
