//! The pace of a provider account: a generic cell rate algorithm (GCRA)
//! in microseconds. The embedded limiter runs it in memory; the cluster
//! store runs the same arithmetic in SQL on one row per channel, so both
//! are checked against these rules.
//!
//! A slot is taken at the instant of sending, never reserved ahead: a
//! reservation that fires late (a busy machine, a stalled process) would
//! bunch with the ones after it and overrun the provider's window.

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

/// How much the arrival of a request at the provider may lag our decision
/// to send it, relative to the others (a database round trip in the
/// cluster mode, the network, a busy machine). A one-second window at the
/// provider then spans at most this much more of our own sends.
pub const ARRIVAL_JITTER_US: i64 = 25_000;

impl Pace {
    /// The pace of an account that accepts at most `per_second` requests
    /// in any rolling second, with `burst` of them allowed at once after an
    /// idle spell.
    ///
    /// GCRA lets at most `ceil(W / interval) + burst - 1` sends into any
    /// window of length `W`; with `W` one second plus the arrival jitter,
    /// that is at most `per_second` when the interval is
    /// `(1 s + jitter) / (per_second - burst + 1)`. So a burst is paid for
    /// with a slower sustained rate; the default burst of 1 gives the
    /// fullest even pace. `burst` must not exceed `per_second` (checked
    /// when the configuration loads); a rate below one per second allows
    /// one at a time.
    pub fn within_window(per_second: f64, burst: u32) -> Self {
        let cap = per_second.floor().max(1.0);
        let burst = f64::from(burst.max(1)).min(cap);
        let window_us = 1_000_000.0 + ARRIVAL_JITTER_US as f64;
        let interval_us = (window_us / (cap - burst + 1.0))
            .max(1_000_000.0 / per_second)
            .ceil() as i64;
        Self {
            interval_us,
            tolerance_us: interval_us * (burst as i64 - 1),
        }
    }

    /// A plain GCRA: `per_second` sustained, `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> Self {
        // Rounded up, so the real rate never exceeds the configured one.
        let interval_us = (1_000_000.0 / per_second).ceil().max(1.0) as i64;
        Self {
            interval_us,
            tolerance_us: interval_us * i64::from(burst.max(1) - 1),
        }
    }

    /// Takes a slot at `now` if the pace allows one; otherwise says how
    /// many microseconds until it may.
    pub fn take(&self, s: &mut Slots, now: i64) -> Result<(), i64> {
        let earliest = (s.tat - self.tolerance_us).max(s.paused_until);
        if now < earliest {
            return Err(earliest - now);
        }
        s.tat = s.tat.max(now) + self.interval_us;
        Ok(())
    }

    /// The state of a pace that must not burst at once: a process that
    /// restarts cannot know what it sent just before, so it starts as if
    /// its burst were spent (one send now, then the sustained rate).
    pub fn start(&self, now: i64) -> Slots {
        Slots {
            tat: now + self.tolerance_us,
            paused_until: 0,
        }
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

    /// A sender that sends whenever allowed, starting at 0, for `span_us`.
    fn schedule(pace: Pace, span_us: i64) -> Vec<i64> {
        let mut s = Slots::default();
        let mut out = Vec::new();
        let mut now = 0;
        while now < span_us {
            match pace.take(&mut s, now) {
                Ok(()) => out.push(now),
                Err(wait) => now += wait,
            }
        }
        out
    }

    fn reserve(pace: Pace, s: &mut Slots, now: i64) -> i64 {
        match pace.take(s, now) {
            Ok(()) => now,
            Err(wait) => {
                pace.take(s, now + wait).unwrap();
                now + wait
            }
        }
    }

    #[test]
    fn a_late_sender_does_not_bunch() {
        let pace = Pace::new(50.0, 1);
        let mut s = Slots::default();
        assert_eq!(pace.take(&mut s, 0), Ok(()));
        // Told to wait 20 ms but woke 70 ms late: one send, and the next
        // is again a full interval later.
        assert_eq!(pace.take(&mut s, 90_000), Ok(()));
        assert_eq!(pace.take(&mut s, 90_000), Err(20_000));
    }

    fn max_in_window(times: &[i64], window: i64) -> usize {
        times
            .iter()
            .map(|&start| {
                times
                    .iter()
                    .filter(|&&t| t >= start && t < start + window)
                    .count()
            })
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

    /// Sends whenever allowed, each arriving up to the jitter late (a
    /// pattern that alternates on-time and late), from a fresh start.
    fn arrivals(pace: Pace, span_us: i64) -> Vec<i64> {
        let mut s = pace.start(0);
        let mut out = Vec::new();
        let mut now = 0;
        while now < span_us {
            match pace.take(&mut s, now) {
                Ok(()) => {
                    let late = if out.len() % 2 == 0 {
                        ARRIVAL_JITTER_US
                    } else {
                        0
                    };
                    out.push(now + late);
                }
                Err(wait) => now += wait,
            }
        }
        out.sort_unstable();
        out
    }

    #[test]
    fn no_rolling_second_carries_more_than_the_rate() {
        for (rate, burst) in [
            (1.0, 1),
            (2.0, 1),
            (20.0, 1),
            (50.0, 10),
            (500.0, 1),
            (500.0, 500),
        ] {
            let pace = Pace::within_window(rate, burst);
            let times = arrivals(pace, 5_000_000);
            let busiest = max_in_window(&times, 1_000_000);
            assert!(
                busiest <= rate as usize,
                "{rate}/s burst {burst}: {busiest}"
            );
            // Not far below the rate either: jitter and burst cost little.
            let last_3s = times
                .iter()
                .filter(|t| (2_000_000..5_000_000).contains(*t))
                .count();
            let floor = (rate - f64::from(burst) + 1.0) * 3.0 * 0.96;
            assert!(
                last_3s as f64 >= floor.floor(),
                "{rate}/s burst {burst}: {last_3s} in 3 s"
            );
        }
    }

    #[test]
    fn a_burst_goes_at_once_after_an_idle_spell() {
        let pace = Pace::within_window(50.0, 10);
        let mut s = pace.start(0);
        assert_eq!(pace.take(&mut s, 0), Ok(()));
        // At the start, the burst is spent.
        assert!(pace.take(&mut s, 0).is_err());
        let later = 10_000_000;
        for _ in 0..10 {
            assert_eq!(pace.take(&mut s, later), Ok(()));
        }
        assert!(pace.take(&mut s, later).is_err());
    }

    #[test]
    fn a_slow_rate_sends_one_at_a_time() {
        let pace = Pace::within_window(0.5, 1);
        assert_eq!((pace.interval_us, pace.tolerance_us), (2_000_000, 0));
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
            assert_eq!(reserve(pace, &mut s, 0), 0);
        }
        assert_eq!(reserve(pace, &mut s, 0), 100_000);
        // A long idle spell: again three at once, not thirty.
        let later = 10_000_000;
        for _ in 0..3 {
            assert_eq!(reserve(pace, &mut s, later), later);
        }
        assert_eq!(reserve(pace, &mut s, later), later + 100_000);
    }

    #[test]
    fn pause_holds_everything_and_resumes_without_a_burst() {
        let pace = Pace::new(10.0, 5);
        let mut s = Slots::default();
        pace.pause(&mut s, 2_000_000);
        assert_eq!(reserve(pace, &mut s, 0), 2_000_000);
        assert_eq!(reserve(pace, &mut s, 0), 2_100_000);
        assert_eq!(reserve(pace, &mut s, 0), 2_200_000);
        // A shorter pause never shortens a longer one.
        pace.pause(&mut s, 1_000_000);
        assert!(reserve(pace, &mut s, 0) > 2_200_000);
    }
}
