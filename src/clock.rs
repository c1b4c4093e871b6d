//! The time the delivery policy runs on: quiet hours, daily caps and the
//! release of waiting messages. In production it is the system clock; a
//! test installation (`[testing] adjustable_clock = true`) may move it
//! through `PUT /api/v1/testing/clock`, so a test of "held until 07:00"
//! does not sleep until morning.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock plus an offset that can be set while running; time
/// keeps flowing from the new value.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_us: AtomicI64,
}

impl AdjustableClock {
    pub fn set(&self, now: DateTime<Utc>) {
        let offset = (now - Utc::now()).num_microseconds().unwrap_or(0);
        self.offset_us.store(offset, Ordering::SeqCst);
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::microseconds(self.offset_us.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjusted_clock_keeps_running_from_the_new_time() {
        let c = AdjustableClock::default();
        let target: DateTime<Utc> = "2030-01-01T03:00:00Z".parse().unwrap();
        c.set(target);
        let now = c.now();
        let drift = (now - target).num_milliseconds().abs();
        assert!(drift < 1_000, "{now} vs {target}");
    }
}
