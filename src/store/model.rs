//! Records the store reads and writes. Inputs (`New*`) hold parsed domain
//! types, so the store never validates user input itself.

mod alerts;
pub use alerts::*;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::collections::BTreeMap;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::{Area, GeoPoint, Region};

use crate::domain::alert::AlertContent;
use crate::domain::auth::Territory;
use crate::domain::cascade::{Cascade, Reached};
use crate::domain::text::Text;
use crate::domain::{
    AlertId, Category, CategorySet, ChannelOrder, ContactId, DeliveryId, DeliveryState, EventId,
    EventKind, Lane, Language, NoticeId, NoticeKind, NoticeStatus, OrgId, QuietPreference,
    ResidentId, ZoneId,
};

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub name: Text<200>,
    pub territory: Option<Region>,
}

#[derive(Debug, Clone)]
pub struct Organisation {
    pub id: OrgId,
    pub name: String,
    pub territory: Territory,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewZone {
    pub name: String,
    pub region: Region,
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct Zone {
    pub id: ZoneId,
    pub name: String,
    pub region: Region,
    pub properties: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// A stored zone whose row no longer reads back (edited by hand): listed
/// apart, so that it is reported and skipped instead of failing every
/// reader of zones.
#[derive(Debug, Clone)]
pub struct UnreadableZone {
    pub id: ZoneId,
    pub name: String,
    /// Why it does not read back, for the log.
    pub reason: String,
}

/// Every stored zone, readable or not.
#[derive(Debug, Clone, Default)]
pub struct ZoneList {
    pub zones: Vec<Zone>,
    pub unreadable: Vec<UnreadableZone>,
}

#[derive(Debug, Clone)]
pub struct NewResident {
    pub language: Language,
    pub location: Option<GeoPoint>,
    pub zones: Vec<ZoneId>,
    pub categories: CategorySet,
    pub contacts: Vec<Address>,
    /// `None`: the city's time zone.
    pub timezone: Option<Tz>,
    pub quiet_hours: QuietPreference,
    /// `None`: the configured order.
    pub channel_order: Option<ChannelOrder>,
}

#[derive(Debug, Clone)]
pub struct Resident {
    pub id: ResidentId,
    pub language: Language,
    pub location: Option<GeoPoint>,
    pub zones: Vec<ZoneId>,
    pub categories: CategorySet,
    pub contacts: Vec<Contact>,
    pub timezone: Option<Tz>,
    pub quiet_hours: QuietPreference,
    pub channel_order: Option<ChannelOrder>,
    pub created_at: DateTime<Utc>,
}

/// A partial update of a resident: `None` leaves a field as it is; for
/// the nullable preferences `Some(None)` returns to the default.
#[derive(Debug, Clone, Default)]
pub struct ResidentPatch {
    pub language: Option<Language>,
    pub categories: Option<CategorySet>,
    pub quiet_hours: Option<QuietPreference>,
    pub timezone: Option<Option<Tz>>,
    pub channel_order: Option<Option<ChannelOrder>>,
}

/// What the dispatcher needs to know about when and how to reach a
/// resident; `None` / `QuietPreference::Default` mean the configured value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientPrefs {
    pub timezone: Option<Tz>,
    pub quiet_hours: QuietPreference,
    pub channel_order: Option<ChannelOrder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub channel: ChannelKind,
    pub address: String,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivated_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewNotice {
    pub organisation: Option<OrgId>,
    pub kind: NoticeKind,
    pub category: Category,
    pub title: Text<200>,
    pub cause: Option<Text<1000>>,
    pub starts_at: DateTime<Utc>,
    pub expected_end: Option<DateTime<Utc>>,
    /// Unsent deliveries expire at this instant (default: `expected_end`).
    pub expires_at: Option<DateTime<Utc>>,
    pub area: Area,
    /// The kind's fallback cascade (from the configuration).
    pub cascade: Cascade,
    /// The publisher's key for the outage this notice is about: residents
    /// an earlier notice with the same key reached are not messaged again.
    pub outage: Option<Text<100>>,
    pub zones: Vec<ZoneId>,
    /// An alert's texts and marker (`None`: a utility's notice).
    pub alert: Option<AlertContent>,
    /// Reach residents whatever categories they chose (urgent alerts).
    pub ignore_opt_outs: bool,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub id: NoticeId,
    pub organisation: Option<OrgId>,
    pub kind: NoticeKind,
    pub category: Category,
    pub title: String,
    pub cause: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub expected_end: Option<DateTime<Utc>>,
    pub status: NoticeStatus,
    /// `Area::to_json` of the targeted area.
    pub area: serde_json::Value,
    pub zones: Vec<ZoneId>,
    pub recipients: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub outage: Option<String>,
    pub alert: Option<AlertContent>,
}

impl Notice {
    pub fn lane(&self) -> Lane {
        self.kind.lane()
    }
}

/// Who a notice would reach, counted without writing anything (preview).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudienceCounts {
    /// Residents in the audience, with or without an active contact.
    pub residents: i64,
    /// Active contacts, one row per channel × resident language present.
    pub contacts: Vec<ContactCount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCount {
    pub channel: ChannelKind,
    pub language: Language,
    pub contacts: i64,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub message: Option<Text<1000>>,
    pub expected_end: Option<DateTime<Utc>>,
    /// The notice kind's fallback cascade (from the configuration).
    pub cascade: Cascade,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoticeEvent {
    pub id: EventId,
    pub notice_id: NoticeId,
    pub seq: i64,
    pub kind: EventKind,
    pub message: Option<String>,
    pub expected_end: Option<DateTime<Utc>>,
    pub deliveries: i64,
    pub created_at: DateTime<Utc>,
    /// What this event of an alert's notice says (the Alert, Update or
    /// Cancel that sent it); `None` for utility notices and for events
    /// stored before events had their own text (the notice's then).
    #[serde(skip)]
    pub alert: Option<AlertContent>,
}

/// Which deliveries `Store::deliveries_to_queue` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToQueue {
    /// The pending deliveries of one event (right after fan-out).
    Event(EventId),
    /// Every pending delivery: at start with a durable queue, whose
    /// broker still holds everything that was already handed over.
    AllPending,
    /// Every pending, queued or sending delivery: at start with the
    /// in-process queue, which forgot everything when the process stopped.
    AllUnfinished,
}

/// A delivery to hand to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedDelivery {
    pub id: DeliveryId,
    pub channel: ChannelKind,
    pub lane: Lane,
    /// `None` once the resident was deleted.
    pub resident: Option<ResidentId>,
    pub event: EventId,
}

/// A delivery whose `not_before` has come: a later cascade step or a
/// message held through quiet hours.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub channel: ChannelKind,
    /// Held through quiet hours (state `suppressed`) rather than a later
    /// cascade step (state `pending`).
    pub held: bool,
    pub stop_if: Option<Reached>,
    /// The best state an earlier step of the same event reached for the
    /// same resident: `Delivered`, `Acknowledged`, or `None`.
    pub reached: Option<Reached>,
    /// When the notice stops being worth sending (see `dispatch::retry`).
    pub ends: Option<DateTime<Utc>>,
}

/// A claim's hold on the deliveries it took: until the lease runs out no
/// other claim takes them, so a second job for the same rows (a
/// redelivery, a sweep, `tocsin requeue`) finds them taken instead of
/// sending them again. The owner renews it while it works; a lease that
/// ran out means its worker is gone (docs/ARCHITECTURE.md, "One message
/// per contact").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Names the claim: only it may renew the lease.
    pub token: i64,
    /// How long the hold lasts from the claim or the latest renewal.
    pub term: std::time::Duration,
}

impl Lease {
    /// A lease with a token no other claim has.
    pub fn new(term: std::time::Duration) -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS has randomness");
        Self {
            token: i64::from_le_bytes(bytes),
            term,
        }
    }

    pub(crate) fn term_ms(&self) -> i64 {
        i64::try_from(self.term.as_millis()).unwrap_or(i64::MAX / 4)
    }
}

/// A delivery a worker now owns (state `sending`), with what it needs to
/// render and send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub notice_id: NoticeId,
    pub event_id: EventId,
    pub contact_id: Option<ContactId>,
    pub channel: ChannelKind,
    pub address: String,
    pub language: Language,
    /// Including the current one.
    pub attempts: i64,
    /// When the delivery was written (the retry deadline counts from here).
    pub created_at: DateTime<Utc>,
}

/// What happened when a worker tried to send.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKind {
    Sent {
        provider_id: Option<String>,
    },
    Delivered {
        provider_id: Option<String>,
    },
    Retry {
        reason: String,
    },
    Failed {
        reason: String,
    },
    /// Also deactivates the contact so no later notice tries it again.
    InvalidAddress {
        reason: String,
    },
    /// The notice ended before the message could go out.
    Expired {
        reason: String,
    },
    /// Not sent: a higher lane needed the provider. Back to `queued`, and
    /// the attempt it was claimed for does not count.
    Yielded,
}

impl OutcomeKind {
    /// The state this outcome moves a `sending` delivery to.
    pub fn target(&self) -> DeliveryState {
        match self {
            Self::Sent { .. } => DeliveryState::Sent,
            Self::Delivered { .. } => DeliveryState::Delivered,
            Self::Retry { .. } | Self::Yielded => DeliveryState::Queued,
            Self::Failed { .. } | Self::InvalidAddress { .. } => DeliveryState::Failed,
            Self::Expired { .. } => DeliveryState::Expired,
        }
    }

    /// Attempts given back: 1 for a delivery that was claimed but never
    /// offered to the provider.
    pub fn refund(&self) -> i64 {
        i64::from(matches!(self, Self::Yielded))
    }

    pub fn provider_id(&self) -> Option<&str> {
        match self {
            Self::Sent { provider_id } | Self::Delivered { provider_id } => provider_id.as_deref(),
            _ => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Retry { reason }
            | Self::Failed { reason }
            | Self::InvalidAddress { reason }
            | Self::Expired { reason } => Some(reason),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub delivery: DeliveryId,
    pub contact: Option<ContactId>,
    pub at: DateTime<Utc>,
    pub kind: OutcomeKind,
}

/// Result of applying a provider receipt or an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportResult {
    Applied,
    /// The delivery exists but is already past that state.
    Ignored {
        current: DeliveryState,
    },
    NotFound,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub notice_id: NoticeId,
    pub event_seq: i64,
    pub event: EventKind,
    pub resident_id: Option<ResidentId>,
    pub contact_id: Option<ContactId>,
    pub channel: ChannelKind,
    pub address: String,
    pub language: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub state: Option<DeliveryState>,
    pub channel: Option<ChannelKind>,
    pub after: Option<DeliveryId>,
    pub limit: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub total: i64,
    pub by_state: BTreeMap<DeliveryState, i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliverySummary {
    pub total: i64,
    pub by_state: BTreeMap<DeliveryState, i64>,
    pub by_channel: BTreeMap<ChannelKind, BTreeMap<DeliveryState, i64>>,
    /// Per notice event (published, each update, closed), by `seq`.
    pub by_event: BTreeMap<i64, Counts>,
}

/// One scheduled run of a warning-system check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    pub name: String,
    pub due_at: DateTime<Utc>,
    /// "sent", "missed" or "failed".
    pub state: String,
    /// The Test alert a sent run created.
    pub alert: Option<AlertId>,
    pub detail: Option<String>,
    pub recorded_at: DateTime<Utc>,
    /// Replace an existing row of the same run (sent → failed); otherwise
    /// an existing row wins and `record_check_run` returns false.
    #[serde(skip)]
    pub overwrite: bool,
}

/// Which reminder of planned works (a bit of `notices.reminders`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderKind {
    DayBefore,
    AtStart,
}

impl ReminderKind {
    pub fn bit(self) -> i64 {
        match self {
            Self::DayBefore => 1,
            Self::AtStart => 2,
        }
    }

    pub fn from_bit(bit: i64) -> Option<Self> {
        match bit {
            1 => Some(Self::DayBefore),
            2 => Some(Self::AtStart),
            _ => None,
        }
    }
}

/// The leadership digest: what happened since `since`, and what is late.
#[derive(Debug, Clone)]
pub struct Digest {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Notices published, by kind.
    pub notices: BTreeMap<NoticeKind, i64>,
    /// Deliveries written, by channel and state.
    pub deliveries: BTreeMap<ChannelKind, BTreeMap<DeliveryState, i64>>,
    /// Active notices past their expected end (at most 50).
    pub overdue: Vec<Notice>,
}

impl Digest {
    pub(crate) fn from_rows(
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        notices: Vec<(String, i64)>,
        deliveries: Vec<(String, String, i64)>,
        overdue: Vec<Notice>,
    ) -> Result<Self, super::StoreError> {
        let mut d = Digest {
            since,
            until,
            notices: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            overdue,
        };
        for (kind, n) in notices {
            let kind: NoticeKind = kind
                .parse()
                .map_err(|e| super::sql::corrupt("notices", e))?;
            d.notices.insert(kind, n);
        }
        for (channel, state, n) in deliveries {
            let channel: ChannelKind = channel
                .parse()
                .map_err(|e| super::sql::corrupt("deliveries", e))?;
            let state: DeliveryState = state
                .parse()
                .map_err(|e| super::sql::corrupt("deliveries", e))?;
            d.deliveries.entry(channel).or_default().insert(state, n);
        }
        Ok(d)
    }

    pub fn deliveries_in(&self, states: &[DeliveryState]) -> i64 {
        self.deliveries
            .values()
            .flat_map(|by| by.iter())
            .filter(|(s, _)| states.contains(s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// A console account to create, with no password: `enrolment` is the
/// link its owner sets one with. `principal` is the hash of a bearer
/// token nobody is shown, so the account's principal row can only be
/// reached by signing in.
#[derive(Debug)]
pub struct NewAccount {
    pub username: crate::domain::account::Username,
    pub display_name: Text<100>,
    pub role: crate::domain::auth::Role,
    pub organisation: Option<OrgId>,
    pub principal: crate::domain::auth::TokenHash,
    pub enrolment: NewEnrolment,
}

/// A one-time enrolment link, stored as the hash of its token.
#[derive(Debug, Clone)]
pub struct NewEnrolment {
    pub token: crate::domain::auth::TokenHash,
    pub expires_at: DateTime<Utc>,
}

/// What an enrolment token refers to.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub account: i64,
    pub state: crate::domain::account::LinkState,
}

/// What issuing a new link for an existing account voided.
#[derive(Debug, Clone)]
pub struct Reissued {
    pub account: Account,
    /// The account had a password, which no longer signs in.
    pub had_password: bool,
    pub sessions_ended: u64,
    pub links_replaced: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: crate::domain::auth::Role,
    pub organisation_id: Option<OrgId>,
    pub password_state: crate::domain::account::PasswordState,
    /// When the owner last set the password through a link.
    pub enrolled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A live session: who it signs in, and the CSRF token its requests that
/// change anything must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: i64,
    pub username: String,
    pub principal: crate::domain::auth::Principal,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A subscription waiting for its code.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub channel: ChannelKind,
    pub address: String,
    pub code_hash: String,
    pub request: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub id: i64,
    pub channel: ChannelKind,
    pub address: String,
    pub code_hash: String,
    pub request: String,
    pub tries: u32,
    pub expires_at: DateTime<Utc>,
}

/// Why no code was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeLimit {
    Address,
    Installation,
}
