//! Per-provider rate limits: a GCRA pace (rate + burst), a cap on provider
//! calls in flight, and a provider-wide pause when a provider answers 429
//! with `Retry-After`.
//!
//! In the embedded mode one process sends everything, so the pace lives in
//! memory. In the cluster mode several worker processes may hold lanes of
//! the same channel (single active consumer is per queue, and each channel
//! has a queue per lane), so the pace lives in one database row per channel
//! that every reservation updates atomically, on the database's clock: the
//! limit holds for the whole cluster, and a 429 seen by one worker slows
//! all of them.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tocsin_channels::ChannelKind;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::ChannelRate;
use crate::domain::pace::{Pace, Slots};
use crate::store::Store;

/// Where the pace is kept.
#[derive(Debug)]
enum Shared {
    /// `None` until the first send, which starts the pace with its burst
    /// spent.
    Local(Mutex<Option<Slots>>),
    Store(Arc<dyn Store>),
}

/// The limits of one channel's provider account.
#[derive(Debug)]
pub struct Limiter {
    channel: ChannelKind,
    pace: Option<(Pace, Shared)>,
    /// One sender at a time asks for a slot, so waiting senders do not all
    /// poll the pace (in the cluster mode, the database) at every slot.
    turn: tokio::sync::Mutex<()>,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    /// The latest pause this process knows of, checked again after waiting
    /// for a slot: a slot reserved before a 429 arrived must not be used.
    paused_until: Mutex<Option<Instant>>,
    epoch: Instant,
    /// A process's first call to a paced provider also opens the
    /// connection and can arrive long after its slot, bunching with the
    /// calls behind it. So it goes alone, and once answered it takes a
    /// second slot, which the pace then counts from where it arrived.
    warmed: AtomicBool,
    warming: Arc<tokio::sync::Mutex<bool>>,
}

/// Leave to call the provider; held until the outcome is recorded.
#[derive(Debug)]
pub struct Permit {
    _call: OwnedSemaphorePermit,
    /// Only on the first call of a paced channel: the others wait.
    warming: Option<OwnedMutexGuard<bool>>,
}

/// Why `acquire` returned without a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A higher lane has work waiting: give this delivery back.
    Preempted,
}

impl Limiter {
    /// `store` is `Some` in the cluster mode, where the pace is shared.
    pub fn new(
        channel: ChannelKind,
        rate: &ChannelRate,
        concurrency: usize,
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        // No rolling second at the provider may carry more than
        // `per_second` (docs/ARCHITECTURE.md, "Rate limits"). In memory the
        // pace starts at the first send without its burst: this process
        // cannot know what the one before it sent in its last second.
        let pace = rate.per_second.map(|r| {
            let pace = Pace::within_window(r, rate.burst());
            let shared = match store {
                Some(s) => Shared::Store(s),
                None => Shared::Local(Mutex::new(None)),
            };
            (pace, shared)
        });
        let max_in_flight = rate.max_in_flight.unwrap_or(concurrency).max(1);
        Self {
            channel,
            pace,
            turn: tokio::sync::Mutex::new(()),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            paused_until: Mutex::new(None),
            epoch: Instant::now(),
            warmed: AtomicBool::new(false),
            warming: Arc::new(tokio::sync::Mutex::new(false)),
        }
    }

    /// Deliveries to claim at once: about a second's worth for a paced
    /// channel, so unsent ones wait unclaimed (and can still be stopped);
    /// `None`: the whole job.
    pub fn claim_chunk(&self) -> Option<usize> {
        let (pace, _) = self.pace.as_ref()?;
        let per_second = (1_000_000 / pace.interval_us.max(1)) as usize;
        let burst = (pace.tolerance_us / pace.interval_us.max(1)) as usize + 1;
        Some(per_second.max(burst).max(1))
    }

    /// Calls in flight at most (how many sends a worker runs at once).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    fn local_us(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX)
    }

    /// Waits for a slot. `preempted` is asked before every wait, so a
    /// delivery that waited while urgent work arrived gives way to it.
    pub async fn acquire(&self, preempted: impl Fn() -> bool) -> Result<Permit, Refusal> {
        let call = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let warming = self.first_call(&preempted).await?;
        let _turn = self.turn.lock().await;
        loop {
            if preempted() {
                return Err(Refusal::Preempted);
            }
            let wait = self.take().await;
            if wait.is_zero() {
                return Ok(Permit {
                    _call: call,
                    warming,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The guard of the first call of a paced channel; `None` once that
    /// call was answered (or for an unpaced channel).
    async fn first_call(
        &self,
        preempted: &impl Fn() -> bool,
    ) -> Result<Option<OwnedMutexGuard<bool>>, Refusal> {
        if self.pace.is_none() || self.warmed.load(Ordering::Acquire) {
            return Ok(None);
        }
        // While the first call is out, urgent work still preempts.
        let guard = loop {
            if preempted() {
                return Err(Refusal::Preempted);
            }
            let lock = Arc::clone(&self.warming).lock_owned();
            if let Ok(guard) = tokio::time::timeout(Duration::from_millis(50), lock).await {
                break guard;
            }
        };
        Ok((!*guard).then_some(guard))
    }

    /// Called once the provider answered the call `permit` allowed: after
    /// the first call, takes its second slot and lets the others go.
    pub async fn answered(&self, permit: &mut Permit) {
        let Some(mut first) = permit.warming.take() else {
            return;
        };
        let _turn = self.turn.lock().await;
        loop {
            let wait = self.take().await;
            if wait.is_zero() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        *first = true;
        self.warmed.store(true, Ordering::Release);
    }

    /// Takes a slot now (zero) or says how long until one may be taken.
    async fn take(&self) -> Duration {
        let paused = self.local_pause_left();
        if !paused.is_zero() {
            return paused;
        }
        let Some((pace, shared)) = &self.pace else {
            return Duration::ZERO;
        };
        match shared {
            Shared::Local(slots) => {
                let now = self.local_us();
                let mut s = slots.lock().unwrap_or_else(|e| e.into_inner());
                let s = s.get_or_insert_with(|| pace.start(now));
                match pace.take(s, now) {
                    Ok(()) => Duration::ZERO,
                    Err(wait) => Duration::from_micros(u64::try_from(wait).unwrap_or(0)),
                }
            }
            Shared::Store(store) => match store.take_rate_slot(self.channel, *pace).await {
                Ok(wait) => wait,
                Err(e) => {
                    // Without the shared pace, going on would risk the
                    // provider's limit; a short wait and a retry is safer.
                    tracing::warn!(channel = %self.channel, error = %e, "taking a rate slot failed");
                    Duration::from_secs(1)
                }
            },
        }
    }

    fn local_pause_left(&self) -> Duration {
        let paused = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        paused.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }

    /// The provider asked for `retry_after` of quiet: nothing goes to it
    /// before then, from any delivery (and in the cluster mode from any
    /// worker).
    pub async fn pause(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        {
            let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            *p = Some(p.map_or(until, |old| old.max(until)));
        }
        tracing::warn!(channel = %self.channel, seconds = retry_after.as_secs_f64(), "provider asked to slow down; pausing the channel");
        let Some((pace, shared)) = &self.pace else {
            return;
        };
        let retry_us = i64::try_from(retry_after.as_micros()).unwrap_or(i64::MAX / 4);
        match shared {
            Shared::Local(slots) => {
                let now = self.local_us();
                let mut s = slots.lock().unwrap_or_else(|e| e.into_inner());
                pace.pause(s.get_or_insert_with(|| pace.start(now)), now + retry_us);
            }
            Shared::Store(store) => {
                if let Err(e) = store.pause_rate(self.channel, *pace, retry_after).await {
                    tracing::warn!(channel = %self.channel, error = %e, "sharing a provider pause failed; only this worker pauses");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pause_stops_slots_reserved_before_it() {
        let rate = ChannelRate {
            per_second: Some(1000.0),
            ..Default::default()
        };
        let limiter = Limiter::new(ChannelKind::Sms, &rate, 4, None);
        let started = Instant::now();
        let first = limiter.acquire(|| false).await.unwrap();
        drop(first);
        limiter.pause(Duration::from_secs(2)).await;
        let _second = limiter.acquire(|| false).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_channels_still_honour_a_pause() {
        let limiter = Limiter::new(ChannelKind::Fcm, &ChannelRate::default(), 4, None);
        limiter.pause(Duration::from_secs(3)).await;
        let started = Instant::now();
        let _p = limiter.acquire(|| false).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn preemption_is_checked_before_and_after_waiting() {
        let rate = ChannelRate {
            per_second: Some(1.0),
            ..Default::default()
        };
        let limiter = Limiter::new(ChannelKind::Sms, &rate, 4, None);
        let _first = limiter.acquire(|| false).await.unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        // Not preempted before the wait, preempted after it.
        let refused = limiter
            .acquire(|| calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0)
            .await;
        assert_eq!(refused.unwrap_err(), Refusal::Preempted);
        assert!(limiter.acquire(|| true).await.is_err());
    }

    #[tokio::test]
    async fn in_flight_calls_are_capped() {
        let rate = ChannelRate {
            max_in_flight: Some(2),
            ..Default::default()
        };
        let limiter = Limiter::new(ChannelKind::Voice, &rate, 32, None);
        let a = limiter.acquire(|| false).await.unwrap();
        let _b = limiter.acquire(|| false).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), limiter.acquire(|| false));
        assert!(
            third.await.is_err(),
            "a third call went while two were in flight"
        );
        drop(a);
        assert!(limiter.acquire(|| false).await.is_ok());
    }
}
#[cfg(test)]
mod start_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_new_limiter_calls_once_alone_then_without_a_burst() {
        let rate = ChannelRate {
            per_second: Some(20.0),
            burst: Some(5),
            ..Default::default()
        };
        let limiter = Limiter::new(ChannelKind::Sms, &rate, 4, None);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let mut first = limiter.acquire(|| false).await.unwrap();
        // Until the first call is answered, nobody else calls.
        let second = tokio::time::timeout(Duration::from_millis(10), limiter.acquire(|| false));
        assert!(second.await.is_err(), "a call went beside the first");
        limiter.answered(&mut first).await;
        drop(first);
        for _ in 0..2 {
            let mut p = limiter.acquire(|| false).await.unwrap();
            limiter.answered(&mut p).await;
        }
        // The first call's two slots and two more at the sustained pace,
        // no burst (an interval is 64 ms at 20/s with a burst of 5).
        let paced = started.elapsed();
        assert!(paced >= Duration::from_millis(190), "{paced:?}");
    }
}
