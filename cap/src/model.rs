//! The parts of a CAP 1.2 alert Tocsin uses, as types that are valid by
//! construction: enumerations are enums, areas are checked geometry,
//! references are parsed triples.

use chrono::{DateTime, FixedOffset};

/// An error that names the CAP element it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{element}: {message}")]
pub struct CapError {
    /// Path such as `alert/info[1]/area[2]/polygon[1]`.
    pub element: String,
    pub message: String,
}

impl CapError {
    pub fn new(element: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            element: element.into(),
            message: message.into(),
        }
    }
}

macro_rules! cap_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// "A, B or C", for error messages.
            pub fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                names.join(", ")
            }
        }
    };
}

cap_enum!(
    /// Whether the alert is real (`Actual`) or a drill (`Exercise`), a
    /// system message, a `Test` or a `Draft`.
    Status { Actual, Exercise, System, Test, Draft }
);
cap_enum!(MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error
});
cap_enum!(Scope {
    Public,
    Restricted,
    Private
});
cap_enum!(Category {
    Geo,
    Met,
    Safety,
    Security,
    Rescue,
    Fire,
    Health,
    Env,
    Transport,
    Infra,
    CBRNE,
    Other
});
cap_enum!(Urgency {
    Immediate,
    Expected,
    Future,
    Past,
    Unknown
});
cap_enum!(Severity {
    Extreme,
    Severe,
    Moderate,
    Minor,
    Unknown
});
cap_enum!(Certainty {
    Observed,
    Likely,
    Possible,
    Unlikely,
    Unknown
});

/// An earlier alert an Update, Cancel or Ack refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: DateTime<FixedOffset>,
}

/// A closed ring of (lat, lon) points, at least four, first = last.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon(pub(crate) Vec<(f64, f64)>);

impl Polygon {
    /// (latitude, longitude) pairs as CAP orders them.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.0
    }
    /// Reads CAP's `"lat,lon lat,lon …"` ring; errors name `element`.
    pub fn parse(element: &str, raw: &str) -> Result<Polygon, CapError> {
        crate::parse::polygon(element, raw)
    }
}

/// A point and a radius in kilometres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub radius_km: f64,
}

impl Circle {
    /// Reads CAP's `"lat,lon radius_km"`; errors name `element`.
    pub fn parse(element: &str, raw: &str) -> Result<Circle, CapError> {
        crate::parse::circle(element, raw)
    }
}

/// A named area in some coding scheme (`valueName`), e.g. a district
/// code; Tocsin's own zones are `tocsin:zone` with the zone id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geocode {
    pub value_name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub area_desc: String,
    pub polygons: Vec<Polygon>,
    pub circles: Vec<Circle>,
    pub geocodes: Vec<Geocode>,
}

/// One language's version of the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// RFC 3066 code; CAP's default is `en-US`.
    pub language: String,
    pub categories: Vec<Category>,
    pub event: String,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    pub effective: Option<DateTime<FixedOffset>>,
    pub expires: Option<DateTime<FixedOffset>>,
    pub sender_name: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub areas: Vec<Area>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<FixedOffset>,
    pub status: Status,
    pub msg_type: MsgType,
    pub scope: Scope,
    /// Required by CAP when `scope` is `Restricted`.
    pub restriction: Option<String>,
    /// Required by CAP when `scope` is `Private`.
    pub addresses: Option<String>,
    pub note: Option<String>,
    /// Non-empty for Update, Cancel and Ack.
    pub references: Vec<Reference>,
    pub infos: Vec<Info>,
}
