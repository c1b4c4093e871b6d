//! Work notices: what kind, which service, and which priority lane they ride.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Planned works are announced ahead; unplanned and emergency ones are news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    Planned,
    Unplanned,
    Emergency,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 3] = [Self::Planned, Self::Unplanned, Self::Emergency];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Unplanned => "unplanned",
            Self::Emergency => "emergency",
        }
    }

    /// Emergencies must never wait behind routine traffic.
    pub fn lane(self) -> Lane {
        match self {
            Self::Emergency => Lane::Urgent,
            Self::Unplanned => Lane::Normal,
            Self::Planned => Lane::Routine,
        }
    }
}

/// The service an executor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Water,
    Heating,
    Power,
    Gas,
    Roads,
    Transport,
    Other,
    /// Civil-protection alerts (not published by executors).
    Civil,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Self::Water,
        Self::Heating,
        Self::Power,
        Self::Gas,
        Self::Roads,
        Self::Transport,
        Self::Other,
        Self::Civil,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Water => "water",
            Self::Heating => "heating",
            Self::Power => "power",
            Self::Gas => "gas",
            Self::Roads => "roads",
            Self::Transport => "transport",
            Self::Other => "other",
            Self::Civil => "civil",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A resident's chosen categories, stored as a bit mask so the planner can
/// filter a million residents in one SQL expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategorySet(u32);

impl CategorySet {
    pub fn all() -> Self {
        Self(Category::ALL.iter().fold(0, |m, c| m | c.bit()))
    }

    pub fn from_categories(cats: &[Category]) -> Self {
        Self(cats.iter().fold(0, |m, c| m | c.bit()))
    }

    /// Bits outside the known categories are dropped: the mask comes from
    /// our own database, but an old row must not widen a choice.
    pub fn from_mask(mask: i64) -> Self {
        Self((mask as u32) & Self::all().0)
    }

    pub fn mask(self) -> i64 {
        i64::from(self.0)
    }

    pub fn contains(self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn to_vec(self) -> Vec<Category> {
        Category::ALL
            .into_iter()
            .filter(|c| self.contains(*c))
            .collect()
    }
}

/// Whether a notice still accepts updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeStatus {
    Active,
    Closed,
}

/// Each event of a notice reaches the whole audience once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Published,
    Updated,
    Closed,
    /// Planned works: the day before and when they start.
    Reminder,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [Self::Published, Self::Updated, Self::Closed, Self::Reminder];
}

/// Priority lanes of the delivery queue; lower value goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Urgent = 0,
    Normal = 1,
    Routine = 2,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Self::Urgent, Self::Normal, Self::Routine];

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    pub fn from_i64(v: i64) -> Lane {
        match v {
            0 => Self::Urgent,
            1 => Self::Normal,
            _ => Self::Routine,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "urgent",
            Self::Normal => "normal",
            Self::Routine => "routine",
        }
    }
}

/// A word that is not one of an enum's values; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} \"{found}\"; expected one of: {expected}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub found: String,
    pub expected: String,
}

macro_rules! str_enum {
    ($ty:ty, $what:literal) => {
        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownValue {
                        what: $what,
                        found: s.to_owned(),
                        expected: <$ty>::ALL.map(|v| v.as_str()).join(", "),
                    })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(NoticeKind, "notice kind");
str_enum!(Category, "category");

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Updated => "updated",
            Self::Closed => "closed",
            Self::Reminder => "reminder",
        }
    }
}
str_enum!(EventKind, "event kind");

impl NoticeStatus {
    pub const ALL: [NoticeStatus; 2] = [Self::Active, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }
}
str_enum!(NoticeStatus, "notice status");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_set_round_trips_through_mask() {
        let set = CategorySet::from_categories(&[Category::Water, Category::Gas]);
        assert!(set.contains(Category::Water));
        assert!(!set.contains(Category::Power));
        assert_eq!(CategorySet::from_mask(set.mask()), set);
        assert_eq!(set.to_vec(), vec![Category::Water, Category::Gas]);
        assert_eq!(CategorySet::from_mask(1 << 20), CategorySet::from_mask(0));
        assert_eq!(CategorySet::all().to_vec().len(), 8);
    }

    #[test]
    fn emergency_rides_the_first_lane() {
        assert!(NoticeKind::Emergency.lane() < NoticeKind::Unplanned.lane());
        assert!(NoticeKind::Unplanned.lane() < NoticeKind::Planned.lane());
    }

    #[test]
    fn unknown_values_list_the_valid_ones() {
        let err = "sewage".parse::<Category>().unwrap_err();
        assert!(err.to_string().contains("water, heating, power"), "{err}");
    }
}
