//! When a delivery that failed for a transient reason is tried again, and
//! when it stops: exponential backoff with jitter, bounded by the attempt
//! limit, the retry deadline and the end of the notice.

use chrono::{DateTime, Utc};
use std::time::Duration;

use crate::domain::EventKind;
use crate::store::{Notice, NoticeEvent};

/// Longest backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max_attempts: i64,
    /// Counted from when the delivery was written.
    pub deadline: Duration,
}

/// What to do after a transient failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    RetryIn(Duration),
    Fail(String),
    Expire(String),
}

/// Facts about one failed attempt.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub reason: &'a str,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub retry_after: Option<Duration>,
}

impl RetryPolicy {
    /// `jitter` in [0, 1): spreads retries of a batch that failed together
    /// so they do not hit the provider again in one burst.
    pub fn after(&self, f: &Failure<'_>, now: DateTime<Utc>, jitter: f64) -> Next {
        if f.attempts >= self.max_attempts {
            return Next::Fail(format!(
                "gave up after {} attempts: {}",
                self.max_attempts, f.reason
            ));
        }
        let delay = self
            .backoff(f.attempts, jitter)
            .max(f.retry_after.unwrap_or_default());
        let at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if let Some(end) = f.expires_at
            && at >= end
        {
            return Next::Expire(format!(
                "the notice ends before the next attempt could go: {}",
                f.reason
            ));
        }
        let deadline = chrono::Duration::from_std(self.deadline)
            .ok()
            .and_then(|d| f.created_at.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if at > deadline {
            return Next::Fail(format!(
                "retry deadline of {} s passed: {}",
                self.deadline.as_secs(),
                f.reason
            ));
        }
        Next::RetryIn(delay)
    }

    /// "Equal jitter": half the exponential step fixed, half random, so
    /// the backoff still grows while retries spread out.
    fn backoff(&self, attempts: i64, jitter: f64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(16);
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(MAX_BACKOFF);
        step / 2 + step.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// When unsent deliveries of this event stop being worth sending: the
/// explicit `expires_at`, else the expected end of the works. A closing
/// message ("water restored") never expires.
pub fn expiry(notice: &Notice, event: &NoticeEvent) -> Option<DateTime<Utc>> {
    match event.kind {
        EventKind::Closed => None,
        _ => notice.expires_at.or(event.expected_end),
    }
}

/// A uniform number in [0, 1) from the OS generator.
pub fn jitter() -> f64 {
    f64::from(getrandom::u32().unwrap_or(0)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(2),
            max_attempts: 5,
            deadline: Duration::from_secs(3600),
        }
    }

    fn failure(attempts: i64) -> Failure<'static> {
        Failure {
            reason: "503",
            attempts,
            created_at: at(0),
            expires_at: None,
            retry_after: None,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn backoff_doubles_with_jitter_inside_each_step() {
        let p = policy();
        for (attempts, step) in [(1, 2), (2, 4), (3, 8)] {
            let step = Duration::from_secs(step);
            let low = p.after(&failure(attempts), at(1), 0.0);
            let high = p.after(&failure(attempts), at(1), 0.999);
            assert_eq!(low, Next::RetryIn(step / 2));
            let Next::RetryIn(h) = high else {
                panic!("{high:?}")
            };
            assert!(h > step / 2 && h < step, "{h:?} for step {step:?}");
        }
    }

    #[test]
    fn backoff_is_capped() {
        let Next::RetryIn(d) = policy().backoff_for_test(4_000) else {
            panic!()
        };
        assert!(d <= MAX_BACKOFF);
    }

    impl RetryPolicy {
        fn backoff_for_test(&self, attempts: i64) -> Next {
            let p = RetryPolicy {
                max_attempts: i64::MAX,
                deadline: Duration::from_secs(u64::MAX / 4),
                ..self.clone()
            };
            p.after(&failure(attempts), at(1), 0.999)
        }
    }

    #[test]
    fn retry_after_from_the_provider_wins_when_longer() {
        let f = Failure {
            retry_after: Some(Duration::from_secs(30)),
            ..failure(1)
        };
        assert_eq!(
            policy().after(&f, at(1), 0.5),
            Next::RetryIn(Duration::from_secs(30))
        );
    }

    #[test]
    fn attempt_limit_fails_at_once() {
        assert!(matches!(
            policy().after(&failure(5), at(1), 0.0),
            Next::Fail(r) if r.starts_with("gave up after 5 attempts")
        ));
    }

    #[test]
    fn deadline_fails_instead_of_retrying_past_it() {
        assert!(matches!(
            policy().after(&failure(2), at(3599), 0.0),
            Next::Fail(r) if r.contains("deadline")
        ));
    }

    #[test]
    fn a_retry_after_the_notice_ends_expires_now() {
        let f = Failure {
            expires_at: Some(at(10)),
            ..failure(3)
        };
        // The next attempt would be at 9 + 4 s = 13 s > 10 s.
        assert!(matches!(policy().after(&f, at(9), 0.0), Next::Expire(_)));
        assert!(matches!(policy().after(&f, at(1), 0.0), Next::RetryIn(_)));
    }
}
