//! Console accounts: usernames, passwords, enrolment links, sessions and
//! the sign-in throttle.
//!
//! People sign in to the console with a username and a password; machines
//! keep using API tokens. An admin creates an account without a password
//! and gets a one-time enrolment link; its owner opens it and chooses the
//! password, so nobody else ever knows it. Passwords are low-entropy
//! secrets, so unlike tokens they are stored as Argon2id hashes. Session
//! ids and enrolment tokens are 256 random bits stored only as their
//! SHA-256, like an API token.

use argon2::password_hash::{PasswordHash as Phc, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use std::fmt;

use super::auth::{TokenHash, random_bytes, random_urlsafe};

/// A console login name: 3–64 characters of `a-z 0-9 . _ -`, kept in
/// lower case so `Olena` and `olena` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim().to_lowercase();
        if !(3..=64).contains(&name.chars().count()) {
            return Err("must be 3 to 64 characters".to_owned());
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c)))
        {
            return Err(format!(
                "may hold only letters a-z, digits, '.', '_' and '-', not {c:?}"
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, checked for length only (12 to 128 characters):
/// length is what makes a password strong, and composition rules make
/// people write them down. Never printed.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            return Err(format!(
                "must be at least {} characters long",
                Self::MIN_CHARS
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters long",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The Argon2id hash (PHC string, with its own random salt).
    pub fn hash(&self) -> PasswordHash {
        let salt =
            SaltString::encode_b64(&random_bytes(16)).expect("16 bytes are a valid salt length");
        let phc = Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("Argon2 with default parameters hashes any password of bounded length");
        PasswordHash(phc.to_string())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A stored Argon2id hash in PHC form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the password. A malformed stored hash never
    /// matches.
    pub fn verify(&self, candidate: &str) -> bool {
        Phc::new(&self.0).is_ok_and(|phc| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &phc)
                .is_ok()
        })
    }

    /// Spends the time of one verification against nothing, so that an
    /// unknown username answers as slowly as a wrong password.
    pub fn verify_nothing(candidate: &str) {
        static DUMMY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| Password("not a password anybody has".to_owned()).hash());
        let _ = dummy.verify(candidate);
    }
}

/// A freshly issued session id: shown once, in the cookie.
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        Self(random_urlsafe(32))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(***)")
    }
}

/// A freshly issued enrolment token: shown once, in the link the admin
/// hands to the account's owner.
pub struct EnrolmentToken(String);

impl EnrolmentToken {
    pub fn generate() -> Self {
        Self(random_urlsafe(32))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// The link: the token travels in the fragment, which browsers never
    /// send to a server, so no proxy or access log records it.
    pub fn link(&self, public_base: &str) -> String {
        format!("{public_base}/console#enrol={}", self.0)
    }
}

impl fmt::Debug for EnrolmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnrolmentToken(***)")
    }
}

/// How long an enrolment link works: a long weekend between the admin
/// handing it over and its owner opening it.
pub const ENROLMENT_HOURS: i64 = 72;

/// What an enrolment link can still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Usable,
    Used,
    /// A newer link was issued for the account.
    Replaced,
    Expired,
}

impl LinkState {
    pub fn at(now: DateTime<Utc>, expires_at: DateTime<Utc>, used: bool, replaced: bool) -> Self {
        if used {
            Self::Used
        } else if replaced {
            Self::Replaced
        } else if expires_at <= now {
            Self::Expired
        } else {
            Self::Usable
        }
    }
}

/// Who chose an account's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordState {
    /// Not enrolled yet (or a new link voided the old password).
    None,
    /// Chosen by an admin (accounts from before enrolment links): such an
    /// account signs in but does not approve alerts.
    SetByAdmin,
    /// Chosen by the owner through an enrolment link.
    Own,
}

impl PasswordState {
    pub fn of(has_password: bool, enrolled: bool) -> Self {
        match (has_password, enrolled) {
            (false, _) => Self::None,
            (true, false) => Self::SetByAdmin,
            (true, true) => Self::Own,
        }
    }
}

/// How long a session lasts: one long duty shift, then sign in again.
pub const SESSION_HOURS: i64 = 12;

/// Consecutive wrong passwords before an account is locked.
pub const LOCK_AFTER: u32 = 5;

/// How long an account stays locked after its `failures`-th consecutive
/// wrong password: nothing below `LOCK_AFTER`, then 1 minute doubling per
/// further failure up to an hour. Guessing stays hopeless, and a duty
/// officer who mistyped is not locked out for long.
pub fn lock_for(failures: u32) -> Option<Duration> {
    if failures < LOCK_AFTER {
        return None;
    }
    let minutes = 1i64 << (failures - LOCK_AFTER).min(6);
    Some(Duration::minutes(minutes.min(60)))
}

/// What a sign-in attempt finds about an account.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub account: i64,
    /// `None` until the owner enrols: nothing signs in then.
    pub hash: Option<PasswordHash>,
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl LoginRecord {
    pub fn locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(Username::parse(" Olena.K ").unwrap().as_str(), "olena.k");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("olena k").is_err());
        assert!(Username::parse("олена").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_are_checked_for_length_and_never_printed() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        let p = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = Password::parse("correct horse battery").unwrap().hash();
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hash.verify("correct horse battery"));
        assert!(!hash.verify("correct horse batterY"));
        assert!(!PasswordHash::from_stored("garbage".into()).verify("x"));
        let again = Password::parse("correct horse battery").unwrap().hash();
        assert_ne!(hash, again, "each hash has its own salt");
    }

    #[test]
    fn enrolment_links_are_random_and_carry_the_token_in_the_fragment() {
        let a = EnrolmentToken::generate();
        assert_ne!(a.expose(), EnrolmentToken::generate().expose());
        assert_eq!(a.expose().len(), 43, "256 bits, base64url");
        assert_eq!(
            a.link("https://tocsin.example"),
            format!("https://tocsin.example/console#enrol={}", a.expose())
        );
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn a_link_works_once_until_it_expires_or_is_replaced() {
        let now = Utc::now();
        let later = now + Duration::hours(ENROLMENT_HOURS);
        assert_eq!(LinkState::at(now, later, false, false), LinkState::Usable);
        assert_eq!(
            LinkState::at(later, later, false, false),
            LinkState::Expired
        );
        assert_eq!(LinkState::at(now, later, true, false), LinkState::Used);
        assert_eq!(LinkState::at(now, later, false, true), LinkState::Replaced);
        assert_eq!(PasswordState::of(false, true), PasswordState::None);
        assert_eq!(PasswordState::of(true, false), PasswordState::SetByAdmin);
        assert_eq!(PasswordState::of(true, true), PasswordState::Own);
    }

    #[test]
    fn the_lock_grows_with_failures_and_is_capped() {
        assert_eq!(lock_for(LOCK_AFTER - 1), None);
        assert_eq!(lock_for(LOCK_AFTER), Some(Duration::minutes(1)));
        assert_eq!(lock_for(LOCK_AFTER + 1), Some(Duration::minutes(2)));
        assert_eq!(lock_for(LOCK_AFTER + 5), Some(Duration::minutes(32)));
        assert_eq!(lock_for(LOCK_AFTER + 6), Some(Duration::minutes(60)));
        assert_eq!(lock_for(100), Some(Duration::minutes(60)));
    }
}
