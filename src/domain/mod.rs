//! Domain types: parsed at the edge (API, config), trusted everywhere inside.
//!
//! Nothing here talks to the network or the database; the store and the
//! API convert between these types and their own representations.

pub mod account;
pub mod actor;
pub mod alert;
pub mod auth;
pub mod cascade;
pub mod check;
pub mod delivery;
pub mod ids;
pub mod journal;
pub mod notice;
pub mod pace;
pub mod quiet;
pub mod resident;
pub mod schedule;
pub mod text;
pub mod verification;

pub use delivery::DeliveryState;
pub use ids::{
    AlertId, AudienceId, ContactId, DeliveryId, EventId, NoticeId, OrgId, ResidentId, ZoneId,
};
pub use notice::{Category, CategorySet, EventKind, Lane, NoticeKind, NoticeStatus};
pub use quiet::QuietPreference;
pub use resident::ChannelOrder;
pub use resident::Language;
