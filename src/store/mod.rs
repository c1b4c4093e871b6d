//! The store seam: every SQL statement in Tocsin lives below this module.
//! Handlers, the planner and the dispatcher call the `Store` trait; the
//! embedded backend is SQLite (`sqlite`), the cluster backend PostgreSQL
//! (`postgres`); `open` picks one from the configuration. SQL that both
//! dialects share (the state-machine transitions) lives in `sql`.

pub mod model;
pub mod postgres;
mod sql;
pub mod sqlite;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::GeoPoint;

use crate::domain::account::{LoginRecord, PasswordHash, Username};
use crate::domain::auth::{Principal, TokenHash};
use crate::domain::check::CheckSpec;
use crate::domain::journal::{JournalEntry, JournalKey, NewJournalEntry};
use crate::domain::pace::Pace;
use crate::domain::{
    AlertId, AudienceId, Category, ContactId, DeliveryId, DeliveryState, EventId, NoticeId, OrgId,
    ResidentId, ZoneId,
};
pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input that refers to rows that do not exist (e.g. unknown residents
    /// in an audience): the field and what is wrong with it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A row that our own code wrote no longer parses: a bug or a
    /// hand-edited database, never user input.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// A stored row that no longer reads back, named for the client (no
    /// detail of the row): the caller can do nothing about it but report it.
    #[error("{0}")]
    Unreadable(String),
    /// The embedded store's outcome log could not be read or written.
    #[error("outcome log {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
    /// The database setting cannot be used (e.g. an unknown URL scheme).
    #[error("database configuration: {0}")]
    Config(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the configured backend: a `postgres://` or `postgresql://` URL
/// gives `PgStore` (a pool of `max_connections`, migrated first when
/// `migrate`); `None` gives the embedded `SqliteStore` at `sqlite_path`,
/// which always migrates its own file and ignores the other two arguments.
///
/// Only a store given the `journal_key` can append to the journal.
pub async fn open(
    database: Option<&str>,
    sqlite_path: &Path,
    max_connections: u32,
    migrate: bool,
    journal_key: Option<JournalKey>,
) -> StoreResult<Arc<dyn Store>> {
    match database {
        None => {
            let store = sqlite::SqliteStore::open(sqlite_path).await?;
            Ok(Arc::new(match journal_key {
                Some(key) => store.with_journal_key(key),
                None => store,
            }))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = postgres::PgStore::connect(url, max_connections, migrate).await?;
            Ok(Arc::new(match journal_key {
                Some(key) => store.with_journal_key(key),
                None => store,
            }))
        }
        Some(url) => {
            // Name only the scheme: the rest of a URL may hold a password.
            let found = match url.split_once("://") {
                Some((scheme, _)) => format!("unsupported database URL scheme \"{scheme}\""),
                None => "the database URL has no scheme".to_owned(),
            };
            Err(StoreError::Config(format!(
                "{found}; use postgres:// or postgresql:// for PostgreSQL, or leave the \
                 database URL unset for the embedded SQLite file"
            )))
        }
    }
}

/// A migrator over one dialect's `migrations/` files, embedded at build
/// time (version, description, SQL).
fn migrator(sources: &'static [(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use std::borrow::Cow;
    let migrations = sources
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    async fn ping(&self) -> StoreResult<()>;
    /// Makes everything recorded so far visible in the tables, for a
    /// clean shutdown (the embedded store's outcome log).
    async fn flush(&self) -> StoreResult<()> {
        Ok(())
    }

    /// A named server secret (e.g. the key for acknowledgement links),
    /// created randomly on first use and identical for every process
    /// sharing the database.
    async fn secret(&self, name: &str) -> StoreResult<Vec<u8>>;
    /// A named value the service keeps for itself (e.g. the fingerprint of
    /// the configuration it last started with).
    async fn setting(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn put_setting(&self, name: &str, value: &[u8]) -> StoreResult<()>;

    // --- auth ---
    async fn has_admin(&self) -> StoreResult<bool>;
    /// Adds an admin token unless the same one exists.
    async fn add_admin_token(&self, token: &TokenHash, label: &str) -> StoreResult<()>;
    /// Replaces every admin token carrying `label` with this one.
    async fn replace_admin_token(&self, token: &TokenHash, label: &str) -> StoreResult<()>;
    async fn principal(&self, token: &TokenHash) -> StoreResult<Option<Principal>>;
    async fn create_organisation(
        &self,
        org: &NewOrganisation,
        token: &TokenHash,
    ) -> StoreResult<Organisation>;
    async fn list_organisations(&self) -> StoreResult<Vec<Organisation>>;

    // --- console accounts, enrolment links and sessions ---
    /// Creates the account without a password, with its first enrolment
    /// link, in one transaction. `Conflict` if the username is taken,
    /// `Invalid` for an unknown organisation.
    async fn create_account(&self, account: &NewAccount) -> StoreResult<Account>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    /// A new link for an existing account (lost password): voids its
    /// password, its unused links and its sessions, in one transaction.
    /// `NotFound` if there is no such account.
    async fn reissue_enrolment(&self, account: i64, link: &NewEnrolment) -> StoreResult<Reissued>;
    /// The link with this token and what it can still do at `now`.
    async fn enrolment(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Enrolment>>;
    /// Uses the link once, if it still works at `now`: the owner's own
    /// password replaces any other, and the account's sessions end.
    /// Returns the account, or `None` when the link did not work.
    async fn enrol(
        &self,
        token: &TokenHash,
        password: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    async fn login_record(&self, username: &Username) -> StoreResult<Option<LoginRecord>>;
    /// Counts a wrong password and locks the account as `account::lock_for`
    /// says; returns the lock's end when there is one.
    async fn login_failed(
        &self,
        account: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>>;
    /// Clears the failure count and opens a session, after removing the
    /// session the browser presented (if any): a signed-in session id is
    /// always one the server just issued, never one it was handed.
    async fn open_session(
        &self,
        account: i64,
        session: &TokenHash,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        replacing: Option<&TokenHash>,
    ) -> StoreResult<()>;
    /// The session, if it exists and has not expired at `now`.
    async fn session(
        &self,
        session: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Session>>;
    async fn close_session(&self, session: &TokenHash) -> StoreResult<()>;

    // --- subscriptions waiting for their one-time code ---
    /// Stores a code request unless the address had
    /// `CODES_PER_ADDRESS_PER_HOUR` in the last hour or the installation
    /// `per_minute` in the last minute; removes requests older than a day.
    async fn create_verification(
        &self,
        v: &NewVerification,
        now: DateTime<Utc>,
        per_minute: u32,
    ) -> StoreResult<Result<i64, CodeLimit>>;
    /// Counts one try and returns the request as it is after it.
    async fn try_verification(&self, id: i64) -> StoreResult<Option<Verification>>;
    async fn delete_verification(&self, id: i64) -> StoreResult<()>;

    // --- zones ---
    /// All or nothing.
    async fn insert_zones(&self, zones: &[NewZone]) -> StoreResult<Vec<ZoneId>>;
    /// Stored geometry is trusted (it was validated when written): only its
    /// shape is read back, never checked against the request limits again.
    /// Rows that do not read back are listed in `unreadable` and logged.
    async fn list_zones(&self) -> StoreResult<ZoneList>;
    /// `Unreadable` for a zone whose row does not read back.
    async fn get_zone(&self, id: ZoneId) -> StoreResult<Option<Zone>>;
    /// Removes the zone and its subscriptions; notices keep their own copy
    /// of the area they targeted.
    async fn delete_zone(&self, id: ZoneId) -> StoreResult<bool>;
    async fn existing_zones(&self, ids: &[ZoneId]) -> StoreResult<HashSet<ZoneId>>;

    // --- residents ---
    /// All or nothing; ids in input order.
    async fn insert_residents(&self, residents: &[NewResident]) -> StoreResult<Vec<ResidentId>>;
    async fn get_resident(&self, id: ResidentId) -> StoreResult<Option<Resident>>;
    /// Deletes the resident and their contacts, stops their unsent
    /// deliveries and blanks the addresses kept in delivery history.
    /// Returns the location the resident had, if the resident existed.
    async fn delete_resident(&self, id: ResidentId) -> StoreResult<Option<Option<GeoPoint>>>;
    async fn resident_locations(&self) -> StoreResult<Vec<(ResidentId, GeoPoint)>>;
    async fn residents_in_zones(&self, zones: &[ZoneId]) -> StoreResult<Vec<ResidentId>>;
    /// Applies a partial update in one statement; `None` if there is no
    /// such resident. The location is not patchable (the resident index
    /// in memory would go stale).
    async fn update_resident(
        &self,
        id: ResidentId,
        patch: &ResidentPatch,
    ) -> StoreResult<Option<Resident>>;
    /// Time zone, quiet hours and channel order of many residents in one
    /// query; residents that do not exist are absent from the map.
    async fn recipient_preferences(
        &self,
        residents: &[ResidentId],
    ) -> StoreResult<HashMap<ResidentId, RecipientPrefs>>;
    /// Deactivates every active contact with this address (of any
    /// resident), e.g. a number that texted STOP; returns how many.
    async fn deactivate_address(&self, address: &Address, reason: &str) -> StoreResult<u64>;
    /// Re-activates the contacts with this address that were deactivated
    /// with exactly `reason`, and no others (a number retired as invalid
    /// stays retired); returns how many.
    async fn reactivate_address(&self, address: &Address, reason: &str) -> StoreResult<u64>;
    /// Deactivates one contact; false if it does not exist or already is.
    async fn deactivate_contact(&self, contact: ContactId, reason: &str) -> StoreResult<bool>;

    // --- notices ---
    /// Writes the notice, its `published` event, its audience (the given
    /// residents that want this category) and one pending delivery per
    /// active contact — in one transaction.
    async fn create_notice(
        &self,
        notice: &NewNotice,
        candidates: &[ResidentId],
    ) -> StoreResult<(Notice, NoticeEvent)>;
    /// What `create_notice` would write for these candidates, counted and
    /// not written: the audience size and its active contacts per channel ×
    /// language (the same SQL filter, see `sql::audience_filter`).
    async fn count_audience(
        &self,
        category: Category,
        candidates: &[ResidentId],
    ) -> StoreResult<AudienceCounts>;
    /// Adds an update or close event and its deliveries to the notice's
    /// original audience. `Conflict` if the notice is closed.
    async fn add_event(
        &self,
        notice: NoticeId,
        event: &NewEvent,
    ) -> StoreResult<(Notice, NoticeEvent)>;
    async fn get_notice(&self, id: NoticeId) -> StoreResult<Option<Notice>>;
    /// Newest first; `before` pages backwards by id.
    async fn list_notices(
        &self,
        organisation: Option<OrgId>,
        before: Option<NoticeId>,
        limit: u32,
    ) -> StoreResult<Vec<Notice>>;
    async fn notice_events(&self, notice: NoticeId) -> StoreResult<Vec<NoticeEvent>>;
    async fn event_context(&self, event: EventId) -> StoreResult<Option<(Notice, NoticeEvent)>>;

    // --- deliveries ---
    /// Deliveries to hand to the queue, by ascending id after `after`.
    async fn deliveries_to_queue(
        &self,
        scope: ToQueue,
        after: DeliveryId,
        limit: u32,
    ) -> StoreResult<Vec<QueuedDelivery>>;
    async fn mark_queued(&self, ids: &[DeliveryId]) -> StoreResult<()>;
    /// Moves claimable deliveries to `sending` under `lease` and returns
    /// them. Ids that are final, or held by another claim whose lease has
    /// not run out, are skipped: a second job for the same rows sends
    /// nothing twice.
    async fn claim(&self, ids: &[DeliveryId], lease: Lease) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Extends `lease` by its term; false if it is gone (it ran out and
    /// was expired, so its deliveries may be another claim's now).
    async fn renew_lease(&self, lease: Lease) -> StoreResult<bool>;
    /// Ends `lease` once every delivery it held has its outcome recorded.
    async fn end_lease(&self, lease: Lease) -> StoreResult<()>;
    /// Deliveries still `sending` under a lease that ran out (their
    /// worker is gone) become `pending` again, to be published; returns
    /// how many.
    async fn expire_leases(&self) -> StoreResult<u64>;
    /// Drops every lease: for the one process of the embedded mode at its
    /// start, when whoever held them is known to be gone.
    async fn forget_leases(&self) -> StoreResult<u64>;
    /// Records many outcomes in one transaction.
    async fn record_outcomes(&self, outcomes: &[Outcome]) -> StoreResult<()>;
    /// Applies a provider receipt or a resident acknowledgement.
    async fn report(
        &self,
        id: DeliveryId,
        state: DeliveryState,
        detail: Option<&str>,
        deactivate_contact: bool,
    ) -> StoreResult<ReportResult>;
    async fn get_delivery(&self, id: DeliveryId) -> StoreResult<Option<DeliveryRecord>>;
    async fn delivery_summary(&self, notice: NoticeId) -> StoreResult<DeliverySummary>;
    async fn list_deliveries(
        &self,
        notice: NoticeId,
        filter: &DeliveryFilter,
    ) -> StoreResult<Vec<DeliveryRecord>>;

    // Civil protection: operators, test audiences, alerts.
    /// A civil-protection operator's token; `Conflict` if the name is taken.
    async fn create_operator(&self, name: &str, token: &TokenHash) -> StoreResult<i64>;
    /// `Conflict` if the name is taken, `Invalid` naming residents that do
    /// not exist.
    async fn create_audience(&self, name: &str, members: &[ResidentId]) -> StoreResult<Audience>;
    async fn list_audiences(&self) -> StoreResult<Vec<Audience>>;
    async fn audience_members(
        &self,
        name: &str,
    ) -> StoreResult<Option<(AudienceId, Vec<ResidentId>)>>;
    /// Writes the alert, what it sends now (if anything) and its journal
    /// entries in one transaction. `Conflict` if the sender already used
    /// the identifier.
    async fn insert_alert(
        &self,
        alert: &NewAlert,
        sends: Option<&Release>,
        journal: &[AlertAction],
    ) -> StoreResult<AlertRecord>;
    /// Marks a pending alert approved by `approver` and sends it, in one
    /// transaction; `Conflict` if it is not pending any more, the approver
    /// created it, or the approver is not a console account whose
    /// password its owner set (checked in the same statement).
    async fn approve_alert(
        &self,
        id: AlertId,
        approver: &Operator,
        sends: &Release,
        journal: &[AlertAction],
    ) -> StoreResult<AlertRecord>;
    async fn get_alert(&self, id: AlertId) -> StoreResult<Option<AlertRecord>>;
    async fn find_alert(&self, sender: &str, identifier: &str) -> StoreResult<Option<AlertRecord>>;
    /// The alert that sent the notice, if it is an alert's.
    async fn alert_of_notice(&self, notice: NoticeId) -> StoreResult<Option<AlertId>>;
    /// Newest first, paged back from `before`.
    async fn list_alerts(
        &self,
        before: Option<AlertId>,
        listing: AlertListing,
        limit: u32,
    ) -> StoreResult<Vec<AlertRecord>>;
    /// Pending alerts whose `expires` is past at `now` become `expired`,
    /// each with the journal entry `journal` makes for it, in one
    /// transaction; returns them.
    async fn expire_pending_alerts(
        &self,
        now: DateTime<Utc>,
        journal: &AlertJournal,
    ) -> StoreResult<Vec<AlertRecord>>;
    /// Every delivery of one event with its times (drill reports).
    async fn event_timings(&self, event: EventId) -> StoreResult<Vec<DeliveryTiming>>;

    // Reminders, expiry and the digest (the scheduler).
    /// Planned works whose reminder is due at `now` and has not gone out.
    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(NoticeId, ReminderKind)>>;
    /// Marks the reminder sent and adds its event in one transaction;
    /// `None` if it already went (another process) or the notice closed.
    async fn add_reminder(
        &self,
        notice: NoticeId,
        which: ReminderKind,
        event: &NewEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Notice, NoticeEvent)>>;
    /// Closes the active notices whose `expires_at` is past; returns them.
    async fn expire_notices(&self, now: DateTime<Utc>) -> StoreResult<Vec<Notice>>;
    /// Counts since `since` and the overdue notices at `now`.
    async fn digest(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<Digest>;

    // Scheduled warning-system checks.
    /// Where the check's schedule has been looked at up to; a new check
    /// or a changed expression starts at `now`.
    async fn check_since(
        &self,
        name: &str,
        expression: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>>;
    /// Moves `since` forward (never back).
    async fn advance_check(&self, name: &str, to: DateTime<Utc>) -> StoreResult<()>;
    /// Records a run; false if another process already recorded it (and
    /// `overwrite` is not set): that process fires it.
    async fn record_check_run(&self, run: &CheckRun) -> StoreResult<bool>;
    /// The newest runs first.
    async fn check_runs(&self, name: &str, limit: u32) -> StoreResult<Vec<CheckRun>>;
    /// Stores a check defined over the API; `Conflict` if the name exists.
    async fn define_check(&self, spec: &CheckSpec, by: &str) -> StoreResult<()>;
    /// Removes an API-defined check; false if there was none.
    async fn undefine_check(&self, name: &str) -> StoreResult<bool>;
    async fn defined_checks(&self) -> StoreResult<Vec<CheckSpec>>;

    // The tamper-evident journal.
    /// Appends an entry chained to the last one.
    async fn append_journal(&self, entry: &NewJournalEntry) -> StoreResult<JournalEntry>;
    /// Entries with id > `after`, in id order.
    async fn journal_page(&self, after: i64, limit: u32) -> StoreResult<Vec<JournalEntry>>;
    /// The newest entry; `None` for an empty journal.
    async fn journal_head(&self) -> StoreResult<Option<JournalEntry>>;

    // Waiting deliveries (cascade steps, quiet hours) and the daily cap.
    /// Deliveries whose `not_before` is at or before `now`, oldest first.
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32)
    -> StoreResult<Vec<DueDelivery>>;
    /// Due deliveries to send now: `pending` again, without a release time.
    async fn release(&self, ids: &[DeliveryId]) -> StoreResult<()>;
    /// Waiting deliveries that will not be sent: a final `state` and why.
    async fn finish_waiting(
        &self,
        ids: &[DeliveryId],
        state: DeliveryState,
        reason: &str,
    ) -> StoreResult<()>;
    /// Pending deliveries not to send now: `suppressed`, until `until`
    /// (quiet hours) or for good (`None`: a cap).
    async fn hold(
        &self,
        ids: &[DeliveryId],
        until: Option<DateTime<Utc>>,
        reason: &str,
    ) -> StoreResult<()>;
    /// (resident, event) of planned-notice messages that went out to these
    /// residents since `since`.
    async fn routine_events_since(
        &self,
        residents: &[ResidentId],
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(ResidentId, EventId)>>;

    // Provider pace shared by every worker (cluster mode).
    /// Takes a send slot of the channel now if its pace allows one
    /// (returns zero), else returns how long until one may be taken,
    /// measured on the database's clock.
    async fn take_rate_slot(&self, channel: ChannelKind, pace: Pace) -> StoreResult<Duration>;
    /// Holds every slot of the channel for `retry_after` from now.
    async fn pause_rate(
        &self,
        channel: ChannelKind,
        pace: Pace,
        retry_after: Duration,
    ) -> StoreResult<()>;
}
