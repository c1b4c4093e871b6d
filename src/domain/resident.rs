//! Residents' languages. Contacts are `tocsin_channels::Address` values,
//! locations are `tocsin_zones::GeoPoint`: both parse at the edge.

use serde::Serialize;
use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
