//! Residents' languages, time zones and preferred channel order. Contacts
//! are `tocsin_channels::Address` values, locations are
//! `tocsin_zones::GeoPoint`: both parse at the edge.

use chrono_tz::Tz;
use serde::Serialize;
use std::fmt;
use tocsin_channels::ChannelKind;

/// A resident's language as a lowercase BCP-47 primary subtag ("uk", "pl",
/// "en"). Any well-formed tag is accepted; templates fall back to English
/// for languages they do not have yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Language(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a language tag; use a code such as \"uk\", \"pl\" or \"en\"")]
pub struct LanguageError(pub String);

impl Language {
    pub fn parse(raw: &str) -> Result<Self, LanguageError> {
        let primary = raw.trim().split(['-', '_']).next().unwrap_or("");
        let ok =
            (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
        if !ok || raw.len() > 35 {
            return Err(LanguageError(raw.chars().take(40).collect()));
        }
        Ok(Self(primary.to_ascii_lowercase()))
    }

    pub fn english() -> Self {
        Self("en".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name ("Europe/Kyiv"), with an error that says what
/// a valid one looks like.
pub fn parse_time_zone(raw: &str) -> Result<Tz, TimeZoneError> {
    raw.trim()
        .parse()
        .map_err(|_| TimeZoneError(raw.chars().take(60).collect()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timezone \"{0}\" is not an IANA time zone such as \"Europe/Kyiv\"")]
pub struct TimeZoneError(pub String);

/// The order in which a resident wants to be tried across channels
/// ("push first, then SMS, then a call"): never empty, each channel once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ChannelOrder(Vec<ChannelKind>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelOrderError {
    #[error("list at least one channel, or use null for the configured order")]
    Empty,
    #[error("\"{0}\" is not a channel; use fcm, apns, sms, email or voice")]
    Unknown(String),
    #[error("{0} is listed twice")]
    Duplicate(ChannelKind),
}

impl ChannelOrder {
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ChannelOrderError> {
        if raw.is_empty() {
            return Err(ChannelOrderError::Empty);
        }
        let mut order = Vec::with_capacity(raw.len());
        for name in raw {
            let name = name.as_ref();
            let kind: ChannelKind = name
                .parse()
                .map_err(|_| ChannelOrderError::Unknown(name.chars().take(40).collect()))?;
            if order.contains(&kind) {
                return Err(ChannelOrderError::Duplicate(kind));
            }
            order.push(kind);
        }
        Ok(Self(order))
    }

    pub fn kinds(&self) -> &[ChannelKind] {
        &self.0
    }

    /// The JSON array stored in the database.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("channel kinds serialise")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let names: Vec<String> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Self::parse(&names).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_orders_are_checked() {
        let order = ChannelOrder::parse(&["fcm", "SMS", "voice"]).unwrap();
        assert_eq!(
            order.kinds(),
            [ChannelKind::Fcm, ChannelKind::Sms, ChannelKind::Voice]
        );
        assert_eq!(order.to_json(), r#"["fcm","sms","voice"]"#);
        assert_eq!(ChannelOrder::from_json(&order.to_json()), Ok(order));
        let none: [&str; 0] = [];
        assert_eq!(ChannelOrder::parse(&none), Err(ChannelOrderError::Empty));
        assert_eq!(
            ChannelOrder::parse(&["sms", "fax"]),
            Err(ChannelOrderError::Unknown("fax".into()))
        );
        assert_eq!(
            ChannelOrder::parse(&["sms", "email", "sms"]),
            Err(ChannelOrderError::Duplicate(ChannelKind::Sms))
        );
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(parse_time_zone("Europe/Kyiv"), Ok(chrono_tz::Europe::Kyiv));
        let err = parse_time_zone("Europe/Kiev2").unwrap_err().to_string();
        assert_eq!(
            err,
            "timezone \"Europe/Kiev2\" is not an IANA time zone such as \"Europe/Kyiv\""
        );
    }

    #[test]
    fn keeps_the_primary_subtag() {
        assert_eq!(Language::parse("uk").unwrap().as_str(), "uk");
        assert_eq!(Language::parse("pl-PL").unwrap().as_str(), "pl");
        assert_eq!(Language::parse("EN_us").unwrap().as_str(), "en");
        assert!(Language::parse("").is_err());
        assert!(Language::parse("ukrainian").is_err());
        assert!(Language::parse("u1").is_err());
    }
}
