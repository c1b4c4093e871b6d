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
    /// The principal's `api_tokens` row; a console account has its own,
    /// whose token was never shown.
    pub token: i64,
    /// Who holds the token ("organisation" for an executor's).
    pub name: String,
    pub role: Role,
    pub organisation: Option<OrgId>,
    /// Where an executor may publish.
    pub territory: Territory,
    /// Set when a person signed in to the console (a session), never for
    /// a bearer token: a token is held by whoever copied it.
    pub person: Option<Person>,
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

/// The console account behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub account: i64,
    pub username: String,
    /// The password was set by the account's owner through an enrolment
    /// link, so nobody else (an admin included) was ever told it.
    pub own_password: bool,
}

/// Why a caller may not approve an Actual alert. The two-person rule
/// binds people: only an officer signed in with a password of their own
/// counts as the second person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAnApprover {
    #[error(
        "a person must approve an Actual alert: sign in to the console with your own \
         civil-protection account (tokens may create alerts but not approve them)"
    )]
    Token,
    #[error("alerts are approved by civil-protection officers signed in to the console")]
    Role,
    #[error(
        "this account's password was set by an admin: set your own through an enrolment \
         link (an admin issues one) before approving alerts"
    )]
    AdminSetPassword,
}

/// Who created or approved an alert, as its view names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A console account (its username is recorded too).
    Person,
    /// A bearer token: an operator's, a feed's or an integration's.
    Token,
    /// The scheduler's checks.
    Scheduler,
}

/// The token id alerts record for the scheduler (never an `api_tokens` row).
pub const SCHEDULER_TOKEN: i64 = 0;

impl PrincipalKind {
    /// From what an alert records: the account's username for a person.
    pub fn recorded(token: i64, username: Option<&str>) -> Self {
        match (token, username) {
            (_, Some(_)) => Self::Person,
            (SCHEDULER_TOKEN, None) => Self::Scheduler,
            (_, None) => Self::Token,
        }
    }
}

impl Principal {
    /// The one rule for the second person of an Actual alert (the store's
    /// conditional UPDATE checks the same again, with the creator).
    pub fn may_approve(&self) -> Result<&Person, NotAnApprover> {
        let person = self.person.as_ref().ok_or(NotAnApprover::Token)?;
        if self.role != Role::CivilProtection {
            return Err(NotAnApprover::Role);
        }
        if !person.own_password {
            return Err(NotAnApprover::AdminSetPassword);
        }
        Ok(person)
    }

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
            person: None,
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

    #[test]
    fn only_an_officer_with_a_password_of_their_own_approves() {
        let person = |own_password| {
            Some(Person {
                account: 7,
                username: "anna".to_owned(),
                own_password,
            })
        };
        let token = Principal {
            token: 3,
            name: "Анна".to_owned(),
            role: Role::CivilProtection,
            organisation: None,
            territory: Territory::Anywhere,
            person: None,
        };
        assert_eq!(token.may_approve().unwrap_err(), NotAnApprover::Token);
        let admin_set = Principal {
            person: person(false),
            ..token.clone()
        };
        assert_eq!(
            admin_set.may_approve().unwrap_err(),
            NotAnApprover::AdminSetPassword
        );
        let admin = Principal {
            role: Role::Admin,
            person: person(true),
            ..token.clone()
        };
        assert_eq!(admin.may_approve().unwrap_err(), NotAnApprover::Role);
        let officer = Principal {
            person: person(true),
            ..token
        };
        assert_eq!(officer.may_approve().unwrap().username, "anna");
        assert!(NotAnApprover::Token.to_string().contains("console"));
    }

    #[test]
    fn recorded_kinds() {
        assert_eq!(
            PrincipalKind::recorded(4, Some("anna")),
            PrincipalKind::Person
        );
        assert_eq!(PrincipalKind::recorded(4, None), PrincipalKind::Token);
        assert_eq!(
            PrincipalKind::recorded(SCHEDULER_TOKEN, None),
            PrincipalKind::Scheduler
        );
    }
}
