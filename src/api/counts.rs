//! Delivery counts shared by every live stream of the console.
//!
//! Counting a notice's deliveries reads all of its rows: 0.37 s for a
//! million in SQLite on an idle machine, more during the fan-out. Each
//! open console page asked again every 2 s, the notice list for each of
//! its 50 notices, so a few duty officers watching city-wide alerts took
//! a large share of a core from the very fan-out they watched. Here one
//! count serves every stream, and a count is not repeated sooner than
//! `SPACING` times what it took: watching a large notice costs at most
//! about a tenth of a core, however many pages are open. Small notices
//! still refresh every 2 s.
//!
//! The API's own summary endpoint is not cached: a client polling it
//! for completion gets exact figures.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use crate::domain::NoticeId;
use crate::store::DeliverySummary;

/// How often a stream looks for changes; a count younger than this is
/// shown as it is.
pub const EVERY: Duration = Duration::from_secs(2);
/// A count that took `t` is repeated no sooner than `SPACING × t` later.
const SPACING: u32 = 10;
/// Notices remembered at most; past this the memory starts afresh (a
/// forgotten notice is only counted once more).
const REMEMBERED: usize = 1_000;

#[derive(Debug, Clone)]
struct Counted {
    summary: DeliverySummary,
    at: Instant,
    took: Duration,
}

type Slot = Arc<tokio::sync::Mutex<Option<Counted>>>;

#[derive(Debug, Default)]
pub struct SharedCounts {
    slots: Mutex<HashMap<NoticeId, Slot>>,
}

/// Whether a count taken `age` ago, which took `took`, may be shown again.
fn fresh(age: Duration, took: Duration) -> bool {
    age < EVERY.max(took * SPACING)
}

impl SharedCounts {
    /// The notice's summary: the last count while it is fresh, else a new
    /// one from `count`. Streams asking at once wait for one count.
    pub async fn get<F, Fut, E>(&self, notice: NoticeId, count: F) -> Result<DeliverySummary, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<DeliverySummary, E>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() >= REMEMBERED && !slots.contains_key(&notice) {
                slots.clear();
            }
            Arc::clone(slots.entry(notice).or_default())
        };
        let mut last = slot.lock().await;
        if let Some(c) = last.as_ref()
            && fresh(c.at.elapsed(), c.took)
        {
            return Ok(c.summary.clone());
        }
        let started = Instant::now();
        let summary = count().await?;
        *last = Some(Counted {
            summary: summary.clone(),
            at: Instant::now(),
            took: started.elapsed(),
        });
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn summary(total: i64) -> DeliverySummary {
        DeliverySummary {
            total,
            ..Default::default()
        }
    }

    #[test]
    fn a_count_is_repeated_after_two_seconds_or_ten_times_its_cost() {
        let ms = Duration::from_millis;
        assert!(fresh(ms(1_999), ms(5)));
        assert!(!fresh(ms(2_000), ms(5)));
        assert!(fresh(ms(5_999), ms(600)), "a 0.6 s count waits 6 s");
        assert!(!fresh(ms(6_000), ms(600)));
    }

    /// Takes `took`, counts the call in `counter` and answers with the
    /// number of calls so far as the total.
    async fn counting(counter: &AtomicUsize, took: Duration) -> Result<DeliverySummary, ()> {
        tokio::time::sleep(took).await;
        Ok(summary(counter.fetch_add(1, Ordering::SeqCst) as i64 + 1))
    }

    #[tokio::test(start_paused = true)]
    async fn streams_share_one_count_until_it_is_stale() {
        let counts = SharedCounts::default();
        let counter = AtomicUsize::new(0);
        let notice = NoticeId(1);
        let ask = || counts.get(notice, || counting(&counter, Duration::from_millis(50)));
        let (a, b) = tokio::join!(ask(), ask());
        assert_eq!((a.unwrap().total, b.unwrap().total), (1, 1), "one count");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ask().await.unwrap().total, 1, "still fresh");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ask().await.unwrap().total, 2, "stale after 2 s");
        let other = counts.get(NoticeId(2), || counting(&counter, Duration::ZERO));
        assert_eq!(other.await.unwrap().total, 3, "each notice has its own");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_count_is_spaced_out() {
        let counts = SharedCounts::default();
        let counter = AtomicUsize::new(0);
        let ask = || counts.get(NoticeId(1), || counting(&counter, Duration::from_secs(1)));
        assert_eq!(ask().await.unwrap().total, 1);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(ask().await.unwrap().total, 1, "a 1 s count lasts 10 s");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ask().await.unwrap().total, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_count_is_not_remembered() {
        let counts = SharedCounts::default();
        let failed: Result<DeliverySummary, &str> = counts
            .get(NoticeId(1), || async { Err("database away") })
            .await;
        assert!(failed.is_err());
        let next: Result<DeliverySummary, &str> =
            counts.get(NoticeId(1), || async { Ok(summary(7)) }).await;
        assert_eq!(next.unwrap().total, 7);
    }
}
