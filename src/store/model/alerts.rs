//! What the store reads and writes for civil-protection alerts:
//! operators, alerts and their chain of messages, test audiences and the
//! delivery times of a drill report.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_channels::ChannelKind;
use tocsin_zones::Area;

use super::NewEvent;
use super::NewNotice;
use crate::domain::alert::{AlertContent, AlertState};
use crate::domain::auth::{PrincipalKind, SCHEDULER_TOKEN};
use crate::domain::{AlertId, AudienceId, DeliveryState, EventId, Lane, NoticeId, ResidentId};

/// A civil-protection operator as alerts record them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// `api_tokens.id`: the identity the two-person rule compares (an
    /// account's own principal row for a person).
    pub token: i64,
    pub name: String,
    /// The console account's username when a person acts; `None` for a
    /// bearer token or the scheduler.
    pub username: Option<String>,
}

impl Operator {
    /// The scheduler, which sends the warning-system checks.
    pub fn scheduler() -> Self {
        Self {
            token: SCHEDULER_TOKEN,
            name: "scheduler".to_owned(),
            username: None,
        }
    }

    pub fn is_scheduler(&self) -> bool {
        self.token == SCHEDULER_TOKEN
    }
}

/// An alert to store: the CAP document as Tocsin writes it, the fields
/// lists and the feed need, and what happens to it.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    pub status: String,
    pub msg_type: String,
    pub scope: String,
    pub headline: String,
    pub urgent: bool,
    pub expires: Option<DateTime<Utc>>,
    pub cap: String,
    pub state: AlertState,
    pub references: Option<AlertId>,
    pub audience: Option<AudienceId>,
    pub widened: bool,
    pub template: Option<String>,
    pub creator: Operator,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRecord {
    pub id: AlertId,
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    pub status: String,
    pub msg_type: String,
    pub scope: String,
    pub headline: String,
    pub urgent: bool,
    pub expires: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub cap: String,
    pub state: AlertState,
    pub references: Option<AlertId>,
    pub notice_id: Option<NoticeId>,
    pub event_id: Option<EventId>,
    pub audience: Option<AudienceId>,
    pub widened: bool,
    pub template: Option<String>,
    pub created_by: String,
    #[serde(skip)]
    pub created_by_token: i64,
    pub created_by_kind: PrincipalKind,
    /// The creator's console account, when a person created it.
    pub created_by_username: Option<String>,
    pub approved_by: Option<String>,
    pub approved_by_kind: Option<PrincipalKind>,
    pub approved_by_username: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// When it was superseded, ended or expired.
    pub ended_at: Option<DateTime<Utc>>,
    /// The Cancel (all-clear or correction) that ended it.
    pub ended_by: Option<AlertId>,
    /// The Update that replaced it.
    pub superseded_by: Option<AlertId>,
    pub created_at: DateTime<Utc>,
}

/// Which alerts `Store::list_alerts` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertListing {
    /// Every alert (operators).
    All,
    /// The public alerts in effect at this instant: sent, Actual, Public,
    /// not expired, neither superseded nor ended (the resident page).
    Active(DateTime<Utc>),
    /// `Active`, and the Cancels of the last day, so that feed consumers
    /// learn that an alert ended (the Atom feed).
    Feed(DateTime<Utc>),
}

/// What sending an alert writes, in the alert's own transaction.
#[derive(Debug, Clone)]
pub enum Release {
    /// A new alert: a notice and its first event to these candidates.
    Notice {
        notice: NewNotice,
        candidates: Vec<ResidentId>,
    },
    /// An Update or Cancel: an event of the original alert's notice.
    Event {
        notice: NoticeId,
        event: NewEvent,
        alert: AlertEvent,
    },
}

/// What an Update or Cancel of an alert adds to its notice's event.
#[derive(Debug, Clone)]
pub struct AlertEvent {
    /// What its messages say.
    pub content: AlertContent,
    /// The lane of its messages (an Update may raise or lower it).
    pub lane: Lane,
    /// Residents in an Update's area: those not yet in the audience join
    /// it (filtered by category like the alert's first audience, unless
    /// `ignore_opt_outs`), so the event reaches the original audience and
    /// everyone newly covered, each contact once.
    pub joining: Vec<ResidentId>,
    pub ignore_opt_outs: bool,
    /// The Update's area becomes the notice's area.
    pub area: Option<Area>,
    /// Update: the chain's sent alerts become `superseded`; Cancel: the
    /// chain's alerts become `ended`.
    pub ends_chain: bool,
}

/// Makes the journal entry of an alert a store operation changed on its
/// own (`Store::expire_pending_alerts`).
pub type AlertJournal = dyn Fn(&AlertRecord) -> AlertAction + Send + Sync;

/// A journal entry about an alert; the store names the alert as subject.
#[derive(Debug, Clone)]
pub struct AlertAction {
    pub actor: String,
    pub action: &'static str,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audience {
    pub id: AudienceId,
    pub name: String,
    pub members: i64,
    pub created_at: DateTime<Utc>,
}

/// One delivery's times, for a drill report.
#[derive(Debug, Clone)]
pub struct DeliveryTiming {
    pub channel: ChannelKind,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}
