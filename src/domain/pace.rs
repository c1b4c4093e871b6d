//! The pace of a provider account: a generic cell rate algorithm (GCRA)
//! in microseconds. The embedded limiter runs it in memory; the cluster
//! store runs the same arithmetic in SQL on one row per channel, so both
//! are checked against these rules.

/// Generic cell rate algorithm in microseconds: each send moves the
/// theoretical arrival time (`tat`) on by one interval; a send may go once
/// `tat - tolerance` is reached, so at most `burst` go at once and then one
/// per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub interval_us: i64,
    pub tolerance_us: i64,
}

/// The state a pace moves; one per channel (a database row when shared).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slots {
    pub tat: i64,
    pub paused_until: i64,
}

impl Pace {
    pub fn new(per_second: f64, burst: u32) -> Self {
        // Rounded up, so the real rate never exceeds the configured one.
        let interval_us = (1_000_000.0 / per_second).ceil().max(1.0) as i64;
        Self {
            interval_us,
            tolerance_us: interval_us * i64::from(burst.max(1) - 1),
        }
    }

    /// Reserves the next slot at or after `now`; returns when it is.
    pub fn reserve(&self, s: &mut Slots, now: i64) -> i64 {
        let at = now
            .max(s.tat - self.tolerance_us)
            .max(s.paused_until);
        s.tat = s.tat.max(at) + self.interval_us;
        at
    }

    /// Nothing goes before `until`, and no burst right after it either: a
    /// provider that asked us to back off gets the plain rate first.
    pub fn pause(&self, s: &mut Slots, until: i64) {
        s.paused_until = s.paused_until.max(until);
        s.tat = s.tat.max(until + self.tolerance_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends reserved as fast as allowed, starting at 0, over `span_us`.
    fn schedule(pace: Pace, span_us: i64) -> Vec<i64> {
        let mut s = Slots::default();
        let mut out = Vec::new();
        let mut now = 0;
        while now < span_us {
            let at = pace.reserve(&mut s, now);
            out.push(at);
            now = at;
        }
        out.pop();
        out
    }

    fn max_in_window(times: &[i64], window: i64) -> usize {
        times
            .iter()
            .map(|&start| times.iter().filter(|&&t| t >= start && t < start + window).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn burst_then_steady_rate() {
        let pace = Pace::new(50.0, 10);
        let times = schedule(pace, 10_000_000);
        // The first ten go at once, then one every 20 ms.
        assert!(times[..10].iter().all(|&t| t == 0));
        assert_eq!(times[10], 20_000);
        assert_eq!(times[11] - times[10], 20_000);
        // No one-second window holds more than rate + burst.
        assert!(max_in_window(&times, 1_000_000) <= 50 + 10);
        // And the long-run rate is the configured one.
        let in_last_5s = times.iter().filter(|&&t| t >= 5_000_000).count();
        assert!((249..=251).contains(&in_last_5s), "{in_last_5s}");
    }

    #[test]
    fn rounding_never_exceeds_the_rate() {
        let pace = Pace::new(30.0, 1);
        assert_eq!(pace.interval_us, 33_334);
        let times = schedule(pace, 3_000_000);
        assert!(max_in_window(&times, 1_000_000) <= 30);
    }

    #[test]
    fn idle_time_refills_the_burst_but_no_more() {
        let pace = Pace::new(10.0, 3);
        let mut s = Slots::default();
        for _ in 0..3 {
            assert_eq!(pace.reserve(&mut s, 0), 0);
        }
        assert_eq!(pace.reserve(&mut s, 0), 100_000);
        // A long idle spell: again three at once, not thirty.
        let later = 10_000_000;
        for _ in 0..3 {
            assert_eq!(pace.reserve(&mut s, later), later);
        }
        assert_eq!(pace.reserve(&mut s, later), later + 100_000);
    }

    #[test]
    fn pause_holds_everything_and_resumes_without_a_burst() {
        let pace = Pace::new(10.0, 5);
        let mut s = Slots::default();
        pace.pause(&mut s, 2_000_000);
        assert_eq!(pace.reserve(&mut s, 0), 2_000_000);
        assert_eq!(pace.reserve(&mut s, 0), 2_100_000);
        assert_eq!(pace.reserve(&mut s, 0), 2_200_000);
        // A shorter pause never shortens a longer one.
        pace.pause(&mut s, 1_000_000);
        assert!(pace.reserve(&mut s, 0) > 2_200_000);
    }

}
