//! One-time codes that prove a resident holds the phone or mailbox they
//! subscribe with, before any notice is sent to it.
//!
//! A code is six digits, lives ten minutes and allows five tries; one
//! address gets at most three codes an hour, and the whole installation a
//! configured number a minute (a public form that sends SMS is otherwise a
//! way to spend the city's money). Each try is counted before the code is
//! compared, so parallel guesses cannot exceed the limit.

use chrono::{DateTime, Duration, Utc};

use super::auth::random_bytes;

pub const CODE_DIGITS: usize = 6;
pub const CODE_MINUTES: i64 = 10;
pub const MAX_TRIES: u32 = 5;
pub const CODES_PER_ADDRESS_PER_HOUR: u32 = 3;

/// A freshly drawn code, uniformly from 000000–999999.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    pub fn generate() -> Self {
        // Rejection sampling: u32 values above the largest multiple of a
        // million would make low codes slightly likelier.
        const SPAN: u32 = 1_000_000;
        let limit = u32::MAX - u32::MAX % SPAN;
        loop {
            let bytes = random_bytes(4);
            let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            if n < limit {
                return Self(format!("{:06}", n % SPAN));
            }
        }
    }

    /// What a resident typed, if it can be a code at all (spaces and
    /// dashes, as people copy them, are ignored).
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        (digits.len() == CODE_DIGITS && digits.chars().all(|c| c.is_ascii_digit()))
            .then_some(Self(digits))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeCode(***)")
    }
}

pub fn expires_at(now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::minutes(CODE_MINUTES)
}

/// What a try at a code comes to. `tries` counts this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Verified,
    Wrong {
        tries_left: u32,
    },
    /// No tries left: the request is void, a new code must be asked for.
    Exhausted,
    Expired,
}

pub fn judge(tries: u32, expires_at: DateTime<Utc>, now: DateTime<Utc>, matches: bool) -> Verdict {
    if now >= expires_at {
        Verdict::Expired
    } else if tries > MAX_TRIES {
        Verdict::Exhausted
    } else if matches {
        Verdict::Verified
    } else if tries == MAX_TRIES {
        Verdict::Exhausted
    } else {
        Verdict::Wrong {
            tries_left: MAX_TRIES - tries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200)
            .map(|_| OneTimeCode::generate().expose().to_owned())
            .collect();
        assert!(codes.len() > 190, "{}", codes.len());
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.parse::<u32>().is_ok())
        );
        assert_eq!(format!("{:?}", OneTimeCode::generate()), "OneTimeCode(***)");
    }

    #[test]
    fn typed_codes_are_forgiving_about_spaces_only() {
        assert_eq!(OneTimeCode::parse(" 123 456 ").unwrap().expose(), "123456");
        assert_eq!(OneTimeCode::parse("123-456").unwrap().expose(), "123456");
        assert!(OneTimeCode::parse("12345").is_none());
        assert!(OneTimeCode::parse("1234567").is_none());
        assert!(OneTimeCode::parse("12345a").is_none());
        assert!(
            OneTimeCode::parse("１２３４５６").is_none(),
            "full-width digits"
        );
    }

    #[test]
    fn five_tries_then_nothing_even_the_right_code() {
        let now = Utc::now();
        let end = expires_at(now);
        assert_eq!(judge(1, end, now, true), Verdict::Verified);
        assert_eq!(judge(1, end, now, false), Verdict::Wrong { tries_left: 4 });
        assert_eq!(judge(4, end, now, false), Verdict::Wrong { tries_left: 1 });
        assert_eq!(judge(5, end, now, false), Verdict::Exhausted);
        assert_eq!(judge(5, end, now, true), Verdict::Verified);
        assert_eq!(judge(6, end, now, true), Verdict::Exhausted);
        assert_eq!(judge(1, end, end, true), Verdict::Expired);
    }
}
