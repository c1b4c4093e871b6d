//! Typed identifiers, so a zone id can never be passed where a notice id is
//! expected. They are plain integers in the database and in JSON.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    /// A city district or any other named polygon.
    ZoneId,
    /// A resident (subscriber).
    ResidentId,
    /// One contact (channel + address) of a resident.
    ContactId,
    /// A work notice published by an executor.
    NoticeId,
    /// One event of a notice: published, updated or closed.
    EventId,
    /// One message to one contact for one notice event.
    DeliveryId,
    /// An executor organisation (a utility or city service).
    OrgId,
    /// A civil-protection alert (CAP 1.2).
    AlertId,
    /// A named group of residents that exercises and tests reach.
    AudienceId,
);
