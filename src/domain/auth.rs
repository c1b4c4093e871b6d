//! Who is calling: roles, principals and API tokens.
//!
//! API tokens are 256 random bits, so a single SHA-256 is enough to store
//! them safely (a slow password hash protects low-entropy secrets; it would
//! only add latency to every request here). Only the hash is stored.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use tocsin_zones::Region;

use super::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the installation: zones, residents, organisations.
    Admin,
    /// A utility or city service publishing notices for its territory.
    Executor,
    /// A civil-protection operator: creates and approves alerts.
    CivilProtection,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Executor => "executor",
            Self::CivilProtection => "civil_protection",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "executor" => Some(Self::Executor),
            "civil_protection" => Some(Self::CivilProtection),
            _ => None,
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's row: two tokens are two people for the two-person rule.
    pub token: i64,
    /// Who holds the token ("organisation" for an executor's).
    pub name: String,
    pub role: Role,
    pub organisation: Option<OrgId>,
    /// Where an executor may publish.
    pub territory: Territory,
}

/// Where a caller may publish notices.
#[derive(Debug, Clone)]
pub enum Territory {
    /// No territory is set (admins, operators, an organisation created
    /// without one).
    Anywhere,
    Within(Region),
    /// The stored territory no longer reads back (a hand-edited row):
    /// nothing is published for the organisation until it is repaired,
    /// rather than treating it as "anywhere".
    Unreadable,
}

impl From<Option<Region>> for Territory {
    fn from(region: Option<Region>) -> Self {
        region.map_or(Self::Anywhere, Self::Within)
    }
}

impl Territory {
    /// The region, when the territory is a readable one.
    pub fn region(&self) -> Option<&Region> {
        match self {
            Self::Within(region) => Some(region),
            Self::Anywhere | Self::Unreadable => None,
        }
    }
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins and civil protection (who coordinate the whole city, and
    /// publish notices of their own) see every notice; an executor sees
    /// its own organisation's.
    pub fn may_see_organisation(&self, owner: Option<OrgId>) -> bool {
        matches!(self.role, Role::Admin | Role::CivilProtection)
            || (self.organisation.is_some() && self.organisation == owner)
    }
}

/// A freshly generated bearer token. Shown to its owner once, then only
/// its hash exists.
pub struct ApiToken(String);

impl ApiToken {
    const PREFIX: &'static str = "tcn_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, random_urlsafe(32)))
    }

    /// Wraps a token supplied by the operator (`TOCSIN_ADMIN_TOKEN`).
    pub fn from_operator(value: &str) -> Self {
        Self(value.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

/// Hex SHA-256 of a bearer token, the only form in which tokens are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(hex(&Sha256::digest(token.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `n` random bytes from the operating system, base64url without padding.
pub fn random_urlsafe(n: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(n))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // Without an OS random source there is no safe way to make a token.
    getrandom::fill(&mut buf).expect("the operating system's random source is unavailable");
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with("tcn_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_eq!(a.hash().as_str().len(), 64);
        assert_eq!(a.hash(), TokenHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }

    #[test]
    fn executors_see_only_their_organisation() {
        let exec = Principal {
            token: 1,
            name: "organisation".to_owned(),
            role: Role::Executor,
            organisation: Some(OrgId(1)),
            territory: Territory::Anywhere,
        };
        assert!(exec.may_see_organisation(Some(OrgId(1))));
        assert!(!exec.may_see_organisation(Some(OrgId(2))));
        assert!(!exec.may_see_organisation(None));
        let officer = Principal {
            role: Role::CivilProtection,
            organisation: None,
            ..exec
        };
        assert!(officer.may_see_organisation(None), "their own notices");
        assert!(
            officer.may_see_organisation(Some(OrgId(2))),
            "the whole city"
        );
    }
}
