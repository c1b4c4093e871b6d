//! SQLite backend for the embedded mode.
//!
//! One file in the data directory, WAL mode. All writes go through one
//! connection behind a mutex ([`writer`]): SQLite allows one writer at a
//! time anyway, and serialising writes here (instead of in SQLite's lock)
//! means a transaction never fails with SQLITE_BUSY halfway. Reads use a
//! pool and run concurrently with the writer thanks to WAL.
//!
//! Id lists are passed as one JSON array parameter and expanded with
//! `json_each`, so a fan-out to a million residents is one statement with
//! one bound value, not a million placeholders.

mod accounts;
mod alerts;
mod auth;
mod checks;
mod deliveries;
mod jobs;
mod journal;
mod notices;
mod outcome_log;
mod preferences;
mod rates;
mod residents;
mod verifications;
mod waiting;
mod writer;
mod zones;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_channels::ChannelKind;

use crate::domain::journal::{JournalEntry, JournalKey, NewJournalEntry};
use crate::domain::pace::Pace;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, SqlitePool};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;
use tocsin_zones::GeoPoint;

use super::*;
use crate::domain::account::{LoginRecord, PasswordHash, Username};
use crate::domain::auth::{Principal, TokenHash, random_bytes};
use crate::domain::check::CheckSpec;
use crate::domain::{
    ContactId, DeliveryId, DeliveryState, EventId, NoticeId, OrgId, ResidentId, ZoneId,
};
pub(crate) use crate::store::sql::{corrupt, from_ms, ms, opt_from_ms, state_list};
use tocsin_channels::Address;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: writer::Writer,
    reader: SqlitePool,
    /// Set only where the journal is written (`serve`, tests).
    journal_key: Option<JournalKey>,
}

/// The schema, in order: version, description, SQL.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "resident preferences",
        include_str!("../../../migrations/sqlite/0002_resident_preferences.sql"),
    ),
    (
        3,
        "delivery_policy",
        include_str!("../../../migrations/sqlite/0003_delivery_policy.sql"),
    ),
    (
        4,
        "journal",
        include_str!("../../../migrations/sqlite/0004_journal.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../../../migrations/sqlite/0005_alerts.sql"),
    ),
    (
        6,
        "checks",
        include_str!("../../../migrations/sqlite/0006_checks.sql"),
    ),
    (
        7,
        "reminders",
        include_str!("../../../migrations/sqlite/0007_reminders.sql"),
    ),
    (
        8,
        "check definitions",
        include_str!("../../../migrations/sqlite/0008_check_definitions.sql"),
    ),
    (
        9,
        "accounts",
        include_str!("../../../migrations/sqlite/0009_accounts.sql"),
    ),
    (
        10,
        "verifications",
        include_str!("../../../migrations/sqlite/0010_verifications.sql"),
    ),
    (
        11,
        "deliveries by notice",
        include_str!("../../../migrations/sqlite/0011_deliveries_by_notice.sql"),
    ),
    (
        12,
        "outcome log",
        include_str!("../../../migrations/sqlite/0012_outcome_log.sql"),
    ),
    (
        13,
        "pending index",
        include_str!("../../../migrations/sqlite/0013_pending_index.sql"),
    ),
    (
        14,
        "alert lifecycle",
        include_str!("../../../migrations/sqlite/0014_alert_lifecycle.sql"),
    ),
    (
        15,
        "enrolment",
        include_str!("../../../migrations/sqlite/0015_enrolment.sql"),
    ),
    (
        16,
        "delivery leases",
        include_str!("../../../migrations/sqlite/0016_delivery_leases.sql"),
    ),
];

/// Rows SQLite's thread may hand over before the reader takes them.
const ROW_BUFFER: usize = 10_000;

fn migrator() -> Migrator {
    super::migrator(MIGRATIONS)
}

impl SqliteStore {
    /// Opens (creating if needed) `path` and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a process crash (kill -9); only a
            // power loss can drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // SQLite's thread hands each result row to the async side over
            // a bounded channel and sleeps whenever it is full: with sqlx's
            // 50, a claim of a 200-delivery job or an enqueue page of
            // 10 000 rows put the thread to sleep and woke it again every
            // 50 rows.
            .row_buffer_size(ROW_BUFFER)
            .foreign_keys(true);
        let mut conn = options.connect().await?;
        migrator().run(&mut conn).await?;
        let log = recover_outcome_log(path, &mut conn).await?;
        let writer = writer::Writer::new(conn, log);
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // A ping per checkout finds nothing wrong with a local file
            // and costs a round trip to SQLite's thread.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            journal_key: None,
        })
    }

    /// The key journal entries are chained with; without it appends fail.
    pub fn with_journal_key(mut self, key: JournalKey) -> Self {
        self.journal_key = Some(key);
        self
    }
}

impl SqliteStore {
    /// The read pool, once every outcome logged so far is folded: reads of
    /// delivery states go through it, so they never lag behind an outcome
    /// `record_outcomes` has returned for.
    async fn settled(&self) -> StoreResult<&SqlitePool> {
        self.writer.settle().await?;
        Ok(&self.reader)
    }
}

/// Takes the outcome log and folds what a crash left in it, before
/// anything else can read or claim a delivery; `None` when another
/// process owns the log.
async fn recover_outcome_log(
    path: &Path,
    conn: &mut sqlx::SqliteConnection,
) -> StoreResult<Option<outcome_log::OutcomeLog>> {
    let Some(mut left) = outcome_log::OutcomeLog::claim(path)? else {
        tracing::info!("another process owns the outcome log; outcomes are written directly");
        return Ok(None);
    };
    let folded: i64 = sqlx::query_scalar("SELECT folded FROM outcome_log")
        .fetch_one(&mut *conn)
        .await?;
    let unfolded = left.keep_unfolded(folded);
    if let Some(batch) = left.batch() {
        batch.apply(conn).await?;
        tracing::info!(
            outcomes = unfolded,
            "applied the delivery outcomes a crash left in the outcome log"
        );
    }
    Ok(Some(outcome_log::OutcomeLog::start(left, folded)?))
}

/// A JSON array of integer ids, for `json_each(?)`.
pub(crate) fn id_array<I: IntoIterator<Item = i64>>(ids: I) -> String {
    let mut out = String::from("[");
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        self.writer.settle().await
    }

    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        sqlx::query("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(random_bytes(32))
            .execute(&mut *self.writer.lock().await?)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *self.writer.lock().await?)
            .await?;
        Ok(row.get(0))
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&mut *self.writer.lock().await?)
                .await?,
        )
    }

    async fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(())
    }

    async fn has_admin(&self) -> StoreResult<bool> {
        self.auth_has_admin().await
    }
    async fn add_admin_token(&self, token: &TokenHash, label: &str) -> StoreResult<()> {
        self.auth_add_admin(token, label, false).await
    }
    async fn replace_admin_token(&self, token: &TokenHash, label: &str) -> StoreResult<()> {
        self.auth_add_admin(token, label, true).await
    }
    async fn principal(&self, token: &TokenHash) -> StoreResult<Option<Principal>> {
        self.auth_principal(token).await
    }
    async fn create_account(&self, account: &NewAccount) -> StoreResult<Account> {
        self.accounts_create(account).await
    }
    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.accounts_list().await
    }
    async fn reissue_enrolment(&self, account: i64, link: &NewEnrolment) -> StoreResult<Reissued> {
        self.accounts_reissue(account, link).await
    }
    async fn enrolment(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Enrolment>> {
        self.accounts_enrolment(token, now).await
    }
    async fn enrol(
        &self,
        token: &TokenHash,
        password: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.accounts_enrol(token, password, now).await
    }
    async fn login_record(&self, username: &Username) -> StoreResult<Option<LoginRecord>> {
        self.accounts_login_record(username).await
    }
    async fn login_failed(
        &self,
        account: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        self.accounts_login_failed(account, now).await
    }
    async fn open_session(
        &self,
        account: i64,
        session: &TokenHash,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        replacing: Option<&TokenHash>,
    ) -> StoreResult<()> {
        self.accounts_open_session(account, session, csrf_token, expires_at, replacing)
            .await
    }
    async fn session(
        &self,
        session: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Session>> {
        self.accounts_session(session, now).await
    }
    async fn close_session(&self, session: &TokenHash) -> StoreResult<()> {
        self.accounts_close_session(session).await
    }
    async fn create_verification(
        &self,
        v: &NewVerification,
        now: DateTime<Utc>,
        per_minute: u32,
    ) -> StoreResult<Result<i64, CodeLimit>> {
        self.verifications_create(v, now, per_minute).await
    }
    async fn try_verification(&self, id: i64) -> StoreResult<Option<Verification>> {
        self.verifications_try(id).await
    }
    async fn delete_verification(&self, id: i64) -> StoreResult<()> {
        self.verifications_delete(id).await
    }
    async fn create_organisation(
        &self,
        org: &NewOrganisation,
        token: &TokenHash,
    ) -> StoreResult<Organisation> {
        self.auth_create_organisation(org, token).await
    }
    async fn list_organisations(&self) -> StoreResult<Vec<Organisation>> {
        self.auth_list_organisations().await
    }

    async fn insert_zones(&self, zones: &[NewZone]) -> StoreResult<Vec<ZoneId>> {
        self.zones_insert(zones).await
    }
    async fn list_zones(&self) -> StoreResult<ZoneList> {
        self.zones_list(None).await
    }
    async fn get_zone(&self, id: ZoneId) -> StoreResult<Option<Zone>> {
        sql::only_zone(self.zones_list(Some(id)).await?)
    }
    async fn delete_zone(&self, id: ZoneId) -> StoreResult<bool> {
        self.zones_delete(id).await
    }
    async fn existing_zones(&self, ids: &[ZoneId]) -> StoreResult<HashSet<ZoneId>> {
        self.zones_existing(ids).await
    }

    async fn insert_residents(&self, residents: &[NewResident]) -> StoreResult<Vec<ResidentId>> {
        self.residents_insert(residents).await
    }
    async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>> {
        self.residents_get(id).await
    }
    async fn delete_resident(&self, id: ResidentId) -> StoreResult<Option<Option<GeoPoint>>> {
        self.residents_delete(id).await
    }
    async fn resident_locations(&self) -> StoreResult<Vec<(ResidentId, GeoPoint)>> {
        self.residents_locations().await
    }
    async fn residents_in_zones(&self, zones: &[ZoneId]) -> StoreResult<Vec<ResidentId>> {
        self.residents_in(zones).await
    }
    async fn update_resident(
        &self,
        id: ResidentId,
        patch: &ResidentPatch,
    ) -> StoreResult<Option<Resident>> {
        self.residents_update(id, patch).await
    }
    async fn recipient_preferences(
        &self,
        residents: &[ResidentId],
    ) -> StoreResult<HashMap<ResidentId, RecipientPrefs>> {
        self.residents_preferences(residents).await
    }
    async fn deactivate_address(&self, address: &Address, reason: &str) -> StoreResult<u64> {
        self.contacts_deactivate_address(address, reason).await
    }
    async fn reactivate_address(&self, address: &Address, reason: &str) -> StoreResult<u64> {
        self.contacts_reactivate_address(address, reason).await
    }
    async fn deactivate_contact(&self, contact: ContactId, reason: &str) -> StoreResult<bool> {
        self.contacts_deactivate(contact, reason).await
    }

    async fn create_notice(
        &self,
        notice: &NewNotice,
        candidates: &[ResidentId],
    ) -> StoreResult<(Notice, NoticeEvent)> {
        self.notices_create(notice, candidates).await
    }
    async fn count_audience(
        &self,
        category: Category,
        candidates: &[ResidentId],
    ) -> StoreResult<AudienceCounts> {
        self.notices_count_audience(category, candidates).await
    }

    async fn add_event(
        &self,
        notice: NoticeId,
        event: &NewEvent,
    ) -> StoreResult<(Notice, NoticeEvent)> {
        self.notices_add_event(notice, event).await
    }
    async fn get_notice(&self, id: NoticeId) -> StoreResult<Option<Notice>> {
        self.notices_get(id).await
    }
    async fn list_notices(
        &self,
        organisation: Option<OrgId>,
        before: Option<NoticeId>,
        limit: u32,
    ) -> StoreResult<Vec<Notice>> {
        self.notices_list(organisation, before, limit).await
    }
    async fn notice_events(&self, notice: NoticeId) -> StoreResult<Vec<NoticeEvent>> {
        self.notices_events(notice, None).await
    }
    async fn event_context(&self, event: EventId) -> StoreResult<Option<(Notice, NoticeEvent)>> {
        self.notices_event_context(event).await
    }

    async fn deliveries_to_queue(
        &self,
        scope: ToQueue,
        after: DeliveryId,
        limit: u32,
    ) -> StoreResult<Vec<QueuedDelivery>> {
        self.deliveries_to_queue_page(scope, after, limit).await
    }
    async fn mark_queued(&self, ids: &[DeliveryId]) -> StoreResult<()> {
        self.deliveries_mark_queued(ids).await
    }
    async fn claim(&self, ids: &[DeliveryId], lease: Lease) -> StoreResult<Vec<ClaimedDelivery>> {
        self.deliveries_claim(ids, lease).await
    }
    async fn renew_lease(&self, lease: Lease) -> StoreResult<bool> {
        self.deliveries_renew_lease(lease).await
    }
    async fn end_lease(&self, lease: Lease) -> StoreResult<()> {
        self.deliveries_end_lease(lease).await
    }
    async fn expire_leases(&self) -> StoreResult<u64> {
        self.deliveries_expire_leases().await
    }
    async fn forget_leases(&self) -> StoreResult<u64> {
        self.deliveries_forget_leases().await
    }
    async fn record_outcomes(&self, outcomes: &[Outcome]) -> StoreResult<()> {
        self.deliveries_record(outcomes).await
    }
    async fn report(
        &self,
        id: DeliveryId,
        state: DeliveryState,
        detail: Option<&str>,
        deactivate_contact: bool,
    ) -> StoreResult<ReportResult> {
        self.deliveries_report(id, state, detail, deactivate_contact)
            .await
    }
    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        self.deliveries_get(id).await
    }
    async fn delivery_summary(&self, notice: NoticeId) -> StoreResult<DeliverySummary> {
        self.deliveries_summary(notice).await
    }
    async fn list_deliveries(
        &self,
        notice: NoticeId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        self.deliveries_list(notice, filter).await
    }
    async fn create_operator(&self, name: &str, token: &TokenHash) -> StoreResult<i64> {
        self.alerts_create_operator(name, token).await
    }
    async fn create_audience(&self, name: &str, members: &[ResidentId]) -> StoreResult<Audience> {
        self.alerts_create_audience(name, members).await
    }
    async fn list_audiences(&self) -> StoreResult<Vec<Audience>> {
        self.alerts_list_audiences().await
    }
    async fn audience_members(
        &self,
        name: &str,
    ) -> StoreResult<Option<(AudienceId, Vec<ResidentId>)>> {
        self.alerts_audience_members(name).await
    }
    async fn insert_alert(
        &self,
        alert: &NewAlert,
        sends: Option<&Release>,
        journal: &[AlertAction],
    ) -> StoreResult<AlertRecord> {
        self.alerts_insert(alert, sends, journal).await
    }
    async fn approve_alert(
        &self,
        id: AlertId,
        approver: &Operator,
        sends: &Release,
        journal: &[AlertAction],
    ) -> StoreResult<AlertRecord> {
        self.alerts_approve(id, approver, sends, journal).await
    }
    async fn get_alert(&self, id: AlertId) -> StoreResult<Option<AlertRecord>> {
        self.alerts_get(id).await
    }
    async fn find_alert(&self, sender: &str, identifier: &str) -> StoreResult<Option<AlertRecord>> {
        self.alerts_find(sender, identifier).await
    }
    async fn alert_of_notice(&self, notice: NoticeId) -> StoreResult<Option<AlertId>> {
        self.alerts_of_notice(notice).await
    }
    async fn list_alerts(
        &self,
        before: Option<AlertId>,
        listing: AlertListing,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>> {
        self.alerts_list(before, listing, limit).await
    }
    async fn expire_pending_alerts(
        &self,
        now: DateTime<Utc>,
        journal: &AlertJournal,
    ) -> StoreResult<Vec<AlertRecord>> {
        self.alerts_expire_pending(now, journal).await
    }
    async fn event_timings(&self, event: EventId) -> StoreResult<Vec<DeliveryTiming>> {
        self.alerts_event_timings(event).await
    }
    async fn check_since(
        &self,
        name: &str,
        expression: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        self.checks_since(name, expression, now).await
    }
    async fn advance_check(&self, name: &str, to: DateTime<Utc>) -> StoreResult<()> {
        self.checks_advance(name, to).await
    }
    async fn record_check_run(&self, run: &CheckRun) -> StoreResult<bool> {
        self.checks_record(run).await
    }
    async fn check_runs(&self, name: &str, limit: u32) -> StoreResult<Vec<CheckRun>> {
        self.checks_runs(name, limit).await
    }
    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(NoticeId, ReminderKind)>> {
        self.jobs_due_reminders(now, limit).await
    }
    async fn add_reminder(
        &self,
        notice: NoticeId,
        which: ReminderKind,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Notice, NoticeEvent)>> {
        self.jobs_add_reminder(notice, which, event, now).await
    }
    async fn expire_notices(&self, now: DateTime<Utc>) -> StoreResult<Vec<Notice>> {
        self.jobs_expire(now).await
    }
    async fn digest(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<Digest> {
        self.jobs_digest(since, now).await
    }
    async fn define_check(&self, spec: &CheckSpec, by: &str) -> StoreResult<()> {
        self.checks_define(spec, by).await
    }
    async fn undefine_check(&self, name: &str) -> StoreResult<bool> {
        self.checks_undefine(name).await
    }
    async fn defined_checks(&self) -> StoreResult<Vec<CheckSpec>> {
        self.checks_defined().await
    }
    async fn append_journal(&self, entry: &NewJournalEntry) -> StoreResult<JournalEntry> {
        self.journal_append(entry).await
    }
    async fn journal_page(&self, after: i64, limit: u32) -> StoreResult<Vec<JournalEntry>> {
        self.journal_read(after, limit).await
    }
    async fn journal_head(&self) -> StoreResult<Option<JournalEntry>> {
        self.journal_newest().await
    }
    async fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<DueDelivery>> {
        self.waiting_due(now, limit).await
    }
    async fn release(&self, ids: &[DeliveryId]) -> StoreResult<()> {
        self.waiting_release(ids).await
    }
    async fn finish_waiting(
        &self,
        ids: &[DeliveryId],
        state: DeliveryState,
        reason: &str,
    ) -> StoreResult<()> {
        self.waiting_finish(ids, state, reason).await
    }
    async fn hold(
        &self,
        ids: &[DeliveryId],
        until: Option<DateTime<Utc>>,
        reason: &str,
    ) -> StoreResult<()> {
        self.waiting_hold(ids, until, reason).await
    }
    async fn routine_events_since(
        &self,
        residents: &[ResidentId],
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(ResidentId, EventId)>> {
        self.waiting_routine_events(residents, since).await
    }
    async fn take_rate_slot(&self, channel: ChannelKind, pace: Pace) -> StoreResult<Duration> {
        self.rates_take(channel, pace).await
    }
    async fn pause_rate(
        &self,
        channel: ChannelKind,
        pace: Pace,
        retry_after: Duration,
    ) -> StoreResult<()> {
        self.rates_pause(channel, pace, retry_after).await
    }
}
