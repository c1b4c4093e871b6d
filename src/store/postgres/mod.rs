//! PostgreSQL backend for cluster mode: one database shared by an API
//! process and several worker processes.
//!
//! The schema and every result mirror the SQLite backend (same tables,
//! epoch-millisecond times, same ids for the same operations). What differs
//! is concurrency: SQLite serialises all writes in one connection, here
//! many transactions run at once, so
//! - id lists travel as array parameters (`unnest($1::bigint[])`, `= ANY`):
//!   one statement per table whatever the batch size;
//! - `add_event` locks the notice row before numbering the event;
//! - fan-outs and resident deletion exclude each other with an advisory
//!   lock (see `FAN_OUT_LOCK`);
//! - `claim` is a compare-and-set on `attempts` (see `deliveries.rs`);
//! - unique violations on organisation names become `Conflict`;
//! - statements that update many delivery rows retry on deadlock.
//!
//! Files: `auth.rs` tokens and organisations, `zones.rs` zones,
//! `residents.rs` residents/contacts/subscriptions, `notices.rs` notices,
//! events and fan-out, `deliveries.rs` queueing, claims, outcomes and
//! reports, `testing.rs` the throw-away database used by tests.

mod accounts;
mod alerts;
mod auth;
mod checks;
mod deliveries;
mod jobs;
mod journal;
mod notices;
mod preferences;
mod rates;
mod residents;
mod testing;
mod verifications;
mod waiting;
mod zones;

pub use testing::TempDatabase;

#[cfg(test)]
pub(crate) use deliveries::claim_on;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_channels::ChannelKind;

use crate::domain::journal::{JournalEntry, JournalKey, NewJournalEntry};
use crate::domain::pace::Pace;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;
use tocsin_zones::GeoPoint;

use super::*;
use crate::domain::account::{LoginRecord, PasswordHash, Username};
use crate::domain::auth::{Principal, TokenHash, random_bytes};
use crate::domain::check::CheckSpec;
use crate::domain::{
    ContactId, DeliveryId, DeliveryState, EventId, NoticeId, OrgId, ResidentId, ZoneId,
};
use tocsin_channels::Address;

/// How long a request waits for a pooled connection. Short on purpose:
/// when the database is gone a request should fail (503 from the API, a
/// retried job for a worker) rather than hang with the client.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Advisory lock (transaction scoped) that every fan-out holds shared and
/// `delete_resident` holds exclusively. Without it a resident deleted while
/// a fan-out is running could keep a delivery with their address: the
/// deletion's UPDATE cannot see the fan-out's uncommitted rows. Deleting a
/// resident therefore waits for running fan-outs (seconds at a million
/// recipients); fan-outs never wait for each other.
pub(crate) const FAN_OUT_LOCK: i64 = 0x746f_6373_0001;
/// Serialises `replace_admin_token`, whose delete-then-insert would
/// otherwise leave two tokens under one label when run concurrently.
pub(crate) const ADMIN_TOKEN_LOCK: i64 = 0x746f_6373_0002;
/// Serialises journal appends (each hashes the one before it).
pub(crate) const JOURNAL_LOCK: i64 = 0x746f_6373_0003;

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Set only where the journal is written (`serve`, tests).
    journal_key: Option<JournalKey>,
}

/// The schema, in order: version, description, SQL.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../../../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "resident preferences",
        include_str!("../../../migrations/postgres/0002_resident_preferences.sql"),
    ),
    (
        3,
        "delivery_policy",
        include_str!("../../../migrations/postgres/0003_delivery_policy.sql"),
    ),
    (
        4,
        "journal",
        include_str!("../../../migrations/postgres/0004_journal.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../../../migrations/postgres/0005_alerts.sql"),
    ),
    (
        6,
        "checks",
        include_str!("../../../migrations/postgres/0006_checks.sql"),
    ),
    (
        7,
        "reminders",
        include_str!("../../../migrations/postgres/0007_reminders.sql"),
    ),
    (
        8,
        "check definitions",
        include_str!("../../../migrations/postgres/0008_check_definitions.sql"),
    ),
    (
        9,
        "accounts",
        include_str!("../../../migrations/postgres/0009_accounts.sql"),
    ),
    (
        10,
        "verifications",
        include_str!("../../../migrations/postgres/0010_verifications.sql"),
    ),
    (
        11,
        "hot deliveries",
        include_str!("../../../migrations/postgres/0011_hot_deliveries.sql"),
    ),
    (
        12,
        "fan-out without row checks",
        include_str!("../../../migrations/postgres/0012_fan_out_without_row_checks.sql"),
    ),
    (
        13,
        "alert lifecycle",
        include_str!("../../../migrations/postgres/0013_alert_lifecycle.sql"),
    ),
    (
        14,
        "enrolment",
        include_str!("../../../migrations/postgres/0014_enrolment.sql"),
    ),
    (
        15,
        "delivery leases",
        include_str!("../../../migrations/postgres/0015_delivery_leases.sql"),
    ),
];

fn migrator() -> Migrator {
    super::migrator(MIGRATIONS)
}

fn options(url: &str) -> StoreResult<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url)?;
    // Names our sessions in pg_stat_activity unless the URL already does.
    Ok(if options.get_application_name().is_none() {
        options.application_name("tocsin")
    } else {
        options
    })
}

impl PgStore {
    /// Connects a pool of at most `max_connections`; with `migrate`, applies
    /// pending migrations first (safe when several processes start at once).
    /// Fails within about five seconds when the server is unreachable.
    pub async fn connect(url: &str, max_connections: u32, migrate: bool) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // No ping per checkout: it is a network round trip before every
            // statement (6 % of the cluster's fan-out rate). A connection
            // broken by a server restart fails its next statement instead,
            // which every caller already retries, and the pool drops it on
            // return (tests/cluster_faults.rs restarts PostgreSQL mid-run).
            .test_before_acquire(false)
            .connect_with(options(url)?)
            .await?;
        if migrate {
            migrator().run(&pool).await?;
        }
        Ok(Self {
            pool,
            journal_key: None,
        })
    }

    /// The key journal entries are chained with; without it appends fail.
    pub fn with_journal_key(mut self, key: JournalKey) -> Self {
        self.journal_key = Some(key);
        self
    }

    /// Applies pending migrations over one connection (`tocsin migrate`).
    pub async fn migrate(url: &str) -> StoreResult<()> {
        let options = options(url)?;
        let connect = PgConnection::connect_with(&options);
        let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, connect)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        migrator().run(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Deadlocks (40P01) and serialization failures (40001) are resolved by
/// PostgreSQL aborting one transaction; repeating it is the standard cure.
/// Batch statements whose rows come in an order we do not control (outcome
/// batches, claims) can deadlock with each other in a cluster.
fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}

pub(crate) async fn retry_on_deadlock<T, F, Fut>(mut f: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    const ATTEMPTS: u32 = 4;
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                tracing::warn!(error = %e, attempt, "retrying after a deadlock");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// `n` fresh ids from `sequence` (one of our own `*_id_seq` names), in
/// ascending order, so bulk inserts can number rows in input order and
/// write dependent rows (contacts of a resident) in the same transaction.
/// Concurrent allocations may interleave, so the ids need not be
/// contiguous, but they are unique and sorted.
pub(crate) async fn allocate_ids(
    conn: &mut PgConnection,
    sequence: &'static str,
    n: usize,
) -> StoreResult<Vec<i64>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let row = sqlx::query(&format!(
        "SELECT array_agg(nextval('{sequence}')) FROM generate_series(1, $1)"
    ))
    .bind(i64::try_from(n).unwrap_or(i64::MAX))
    .fetch_one(conn)
    .await?;
    let mut ids: Vec<i64> = row.get(0);
    ids.sort_unstable();
    Ok(ids)
}

/// Whether `e` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Insert-if-absent, then read: every process gets the value of the
    /// first insert to commit (a concurrent insert waits on the unique key
    /// and then does nothing).
    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(random_bytes(32))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get(0))
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
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
