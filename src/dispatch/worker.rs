//! One worker per channel: take a job, claim its deliveries, render and
//! send them within the provider's limits, record the outcomes, acknowledge
//! the job, four jobs at a time. A worker never gives up on an error: what
//! it cannot finish stays unfinished in the store and is re-queued. A job
//! of a lower lane gives its unsent rest back as soon as a higher lane has
//! work, waiting or in progress.

use chrono::Utc;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tocsin_channels::{Address, ChannelKind, OutboundMessage, SendError};
use tokio_util::sync::CancellationToken;

use super::limiter::{Limiter, Permit, Refusal};
use super::retry::{self, Failure, Next};
use super::{Dispatcher, OutcomeWriter};
use crate::domain::{DeliveryId, EventId, Lane, NoticeKind};
use crate::metrics;
use crate::queue::{Job, Received};
use crate::render::{MessageInput, RenderCache};
use crate::store::{ClaimedDelivery, Lease, Notice, NoticeEvent, Outcome, OutcomeKind};

/// How long a worker reuses a notice it has read; an update to the notice
/// is a new event anyway, so this only bounds staleness of the old one.
const CONTEXT_TTL: Duration = Duration::from_secs(10);
/// Longest pause of a worker whose jobs keep failing.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// A notice event as a worker uses it: read once, and its texts rendered
/// once per channel and language.
#[derive(Debug)]
struct EventContext {
    notice: Notice,
    event: NoticeEvent,
    texts: RenderCache,
}

type Context = Arc<EventContext>;

#[derive(Debug)]
pub(super) struct Worker {
    dispatcher: Arc<Dispatcher>,
    writer: OutcomeWriter,
    channel: ChannelKind,
    limiter: Arc<Limiter>,
    contexts: std::sync::Mutex<HashMap<EventId, (Instant, Context)>>,
    /// Jobs of each lane this worker is sending right now: a lower lane
    /// gives way while a higher one is in progress, not only while it waits.
    busy: [AtomicUsize; 3],
}

/// Jobs one worker sends at once. More than one lets the next job's claim
/// and first sends overlap the other jobs' last answers, instead of the
/// channel idling between jobs; the limiter's permits still bound the
/// calls at the provider. With two, a claim waiting behind the database's
/// other writes (about 5 ms at 25 000 messages/s) left permits idle for
/// a quarter of the time; four keep them busy.
const JOBS_AT_ONCE: usize = 4;

/// Deliveries of a job to claim at once: the whole job, or, for a paced
/// channel (`paced`: about a second's worth), this job's share of it, so
/// the jobs in progress together hold about a second's worth.
fn claim_size(paced: Option<usize>, job: usize) -> usize {
    paced
        .map_or(job, |second| second.div_ceil(JOBS_AT_ONCE))
        .max(1)
}

/// Counts a job as in progress in its lane until dropped.
struct Busy<'a>(&'a AtomicUsize);

impl<'a> Busy<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Busy(counter)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn expired() -> OutcomeKind {
    OutcomeKind::Expired {
        reason: "the notice ended before the message could go out".to_owned(),
    }
}

/// What became of one delivery of a job.
enum Done {
    Recorded {
        retry_in: Option<Duration>,
    },
    /// Given back unsent for a higher lane; recorded as `queued`.
    Yielded,
    /// Not recorded (or not attempted after a failed record).
    Unrecorded,
}

impl Worker {
    pub(super) fn new(
        dispatcher: Arc<Dispatcher>,
        writer: OutcomeWriter,
        channel: ChannelKind,
        limiter: Arc<Limiter>,
    ) -> Self {
        Self {
            dispatcher,
            writer,
            channel,
            limiter,
            contexts: std::sync::Mutex::new(HashMap::new()),
            busy: Default::default(),
        }
    }

    /// Takes jobs until shutdown, `JOBS_AT_ONCE` in progress at most; on
    /// shutdown, finishes the jobs in progress.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let queue = Arc::clone(&self.dispatcher.queue);
        let mut failures = 0u32;
        let mut running = futures::stream::FuturesUnordered::new();
        loop {
            if failures > 0 && running.is_empty() {
                // The queue or the database is failing: wait before the next
                // job instead of spinning through redeliveries.
                let pause = Duration::from_millis(100 * 2u64.pow(failures.min(8))).min(MAX_PAUSE);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            // After a failure, one job at a time until one succeeds.
            let room = if failures > 0 { 1 } else { JOBS_AT_ONCE };
            tokio::select! {
                next = queue.next(self.channel, &shutdown), if running.len() < room => match next {
                    Ok(Some(received)) => running.push(self.handle(received)),
                    Ok(None) => break,
                    Err(e) => {
                        failures += 1;
                        tracing::error!(channel = %self.channel, error = %e, "taking a job failed");
                    }
                },
                Some(ok) = running.next(), if !running.is_empty() => {
                    failures = if ok { 0 } else { failures + 1 };
                }
            }
        }
        while running.next().await.is_some() {}
        tracing::debug!(channel = %self.channel, "worker stopped");
    }

    /// Processes one job and acknowledges it, or gives it back; returns
    /// whether it was processed.
    async fn handle(&self, received: Received) -> bool {
        let queue = &self.dispatcher.queue;
        // A panic costs this job (given back, its deliveries stay claimed
        // until redelivered), not the worker and the channel with it.
        let ok = crate::supervise::catch("worker", self.process(&received.job))
            .await
            .unwrap_or(false);
        let settled = if ok {
            queue.ack(self.channel, received.tag).await
        } else {
            queue.nack(self.channel, received.tag).await
        };
        if let Err(e) = settled {
            tracing::warn!(channel = %self.channel, error = %e, "settling a job with the queue failed; it may be redelivered");
        }
        ok
    }

    /// Whether a job of a lane above `lane` is in progress here.
    fn busy_above(&self, lane: Lane) -> bool {
        Lane::ALL
            .into_iter()
            .take_while(|l| *l < lane)
            .any(|l| self.busy[l as usize].load(Ordering::SeqCst) > 0)
    }

    /// Sends a job's deliveries; returns whether every outcome is recorded
    /// (only then may the job be acknowledged).
    ///
    /// A rate-limited channel claims about a second's worth at a time,
    /// shared by the jobs in progress: what is not claimed stays `queued`,
    /// where a later update, the close of the notice or its expiry can
    /// still stop it.
    async fn process(&self, job: &Job) -> bool {
        let _busy = Busy::new(&self.busy[job.lane as usize]);
        let chunk = claim_size(self.limiter.claim_chunk(), job.deliveries.len());
        let mut results = Vec::with_capacity(job.deliveries.len());
        let mut chunks = job.deliveries.chunks(chunk);
        for ids in chunks.by_ref() {
            let Some(done) = self.process_chunk(job.lane, ids).await else {
                return false;
            };
            let stop = done
                .iter()
                .any(|(_, d)| matches!(d, Done::Yielded | Done::Unrecorded));
            results.extend(done);
            if stop {
                break;
            }
        }
        // Unclaimed rest after giving way: still `queued`, re-published
        // with what was given back.
        let unclaimed = chunks.flatten().map(|id| (*id, Done::Yielded));
        if results.iter().any(|(_, d)| matches!(d, Done::Yielded)) {
            results.extend(unclaimed);
        }
        self.settle(job.lane, results).await
    }

    /// Claims and sends some of a job's deliveries; `None` when the claim
    /// itself failed.
    async fn process_chunk(
        &self,
        lane: Lane,
        ids: &[DeliveryId],
    ) -> Option<Vec<(DeliveryId, Done)>> {
        let lease = Lease::new(self.dispatcher.lease_term());
        let claimed = match self.dispatcher.store.claim(ids, lease).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(channel = %self.channel, error = %e, "claiming deliveries failed; the job goes back to the queue");
                return None;
            }
        };
        let mut work = Vec::with_capacity(claimed.len());
        for d in claimed {
            match self.context(d.event_id).await {
                Some(ctx) => work.push((d, ctx)),
                None => tracing::error!(delivery = %d.id, "notice event of a delivery is missing"),
            }
        }
        let this = self;
        // Once an outcome cannot be recorded, the rest of the job is not
        // sent: it stays `sending`, the job goes back to the queue, and each
        // message is sent once later instead of twice.
        let abandon = AtomicBool::new(false);
        let abandon = &abandon;
        // Each outcome is recorded as soon as its send returns (the writer
        // merges concurrent ones into one transaction), so a crash can only
        // repeat the sends whose answer arrived in the last few milliseconds,
        // not the whole batch. The provider permit is held until the
        // outcome is recorded, so those are at most `max_in_flight`.
        let sends = futures::stream::iter(work)
            .map(|(d, ctx)| async move {
                let id = d.id;
                if abandon.load(Ordering::Relaxed) {
                    return (id, Done::Unrecorded);
                }
                let (outcome, done, permit) = match this.attempt(d, &ctx, lane).await {
                    Some((outcome, retry_in, permit)) => {
                        (outcome, Done::Recorded { retry_in }, permit)
                    }
                    None => (this.yielded(id), Done::Yielded, None),
                };
                let recorded = this.writer.write(vec![outcome]).await;
                drop(permit);
                if !recorded {
                    abandon.store(true, Ordering::Relaxed);
                    return (id, Done::Unrecorded);
                }
                (id, done)
            })
            .buffer_unordered(self.limiter.max_in_flight())
            .collect::<Vec<(DeliveryId, Done)>>();
        let results = tokio::select! {
            results = sends => results,
            never = self.keep(lease, abandon) => match never {},
        };
        self.end(lease, &results).await;
        Some(results)
    }

    /// Renews `lease` while its deliveries are being sent (a rate wait can
    /// outlast it). Once it cannot be renewed another claim may take them,
    /// so nothing more is sent under it; never returns.
    async fn keep(&self, lease: Lease, abandon: &AtomicBool) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(lease.term / 3).await;
            let renewed = self.dispatcher.store.renew_lease(lease).await;
            if !matches!(renewed, Ok(true)) {
                let error = renewed.err().map(|e| e.to_string());
                tracing::error!(channel = %self.channel, ?error, "renewing a claim's lease failed; its unsent deliveries go back once it runs out");
                abandon.store(true, Ordering::Relaxed);
                return std::future::pending().await;
            }
        }
    }

    /// Ends the lease of a chunk whose every outcome is recorded. One with
    /// unrecorded deliveries is left to run out: they are `sending` still,
    /// and go back to `pending` when it does.
    async fn end(&self, lease: Lease, results: &[(DeliveryId, Done)]) {
        if results.iter().any(|(_, d)| matches!(d, Done::Unrecorded)) {
            return;
        }
        if let Err(e) = self.dispatcher.store.end_lease(lease).await {
            tracing::warn!(channel = %self.channel, error = %e, "ending a claim's lease failed; it runs out on its own");
        }
    }

    /// Schedules retries and re-publishes what was given back; returns
    /// whether the job may be acknowledged.
    async fn settle(&self, lane: Lane, results: Vec<(DeliveryId, Done)>) -> bool {
        let mut retries: HashMap<Duration, Vec<DeliveryId>> = HashMap::new();
        let mut yielded = Vec::new();
        let mut all_recorded = true;
        for (id, done) in results {
            match done {
                Done::Unrecorded => {
                    tracing::warn!(channel = %self.channel, delivery = %id, "outcome not recorded or not sent; the job goes back to the queue");
                    all_recorded = false;
                }
                Done::Recorded { retry_in: Some(d) } => retries.entry(d).or_default().push(id),
                Done::Recorded { retry_in: None } => {}
                Done::Yielded => yielded.push(id),
            }
        }
        for (delay, ids) in retries {
            // A retry the queue did not take would be lost once this job is
            // acknowledged: give the job back instead.
            all_recorded &= self.schedule_retry(lane, ids, delay).await;
        }
        if !yielded.is_empty() {
            tracing::debug!(channel = %self.channel, lane = lane.as_str(), deliveries = yielded.len(), "gave way to a higher lane");
            let rest = Job {
                channel: self.channel,
                lane,
                deliveries: yielded,
            };
            if let Err(e) = self.dispatcher.queue.publish(vec![rest]).await {
                tracing::error!(channel = %self.channel, error = %e, "re-publishing a preempted job failed; the job goes back to the queue");
                all_recorded = false;
            }
        }
        all_recorded
    }

    fn yielded(&self, id: DeliveryId) -> Outcome {
        Outcome {
            delivery: id,
            contact: None,
            at: Utc::now(),
            kind: OutcomeKind::Yielded,
        }
    }

    /// Checks expiry, waits for the provider's pace and sends. `None` when
    /// a higher lane took the slot.
    async fn attempt(
        &self,
        d: ClaimedDelivery,
        ctx: &EventContext,
        lane: Lane,
    ) -> Option<(Outcome, Option<Duration>, Option<Permit>)> {
        let ended = || retry::expiry(&ctx.notice, &ctx.event).is_some_and(|end| end <= Utc::now());
        if ended() {
            return Some((self.finish(&d, expired()), None, None));
        }
        let queue = &self.dispatcher.queue;
        let channel = self.channel;
        let mut permit = match self
            .limiter
            .acquire(|| queue.waiting_above(channel, lane) || self.busy_above(lane))
            .await
        {
            Ok(p) => p,
            Err(Refusal::Preempted) => return None,
        };
        // The wait for a slot may have outlasted the notice.
        if ended() {
            return Some((self.finish(&d, expired()), None, None));
        }
        let (outcome, retry_in) = self.deliver(d, ctx).await;
        self.limiter.answered(&mut permit).await;
        Some((outcome, retry_in, Some(permit)))
    }

    async fn context(&self, event: EventId) -> Option<Context> {
        let lock = || self.contexts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, ctx)) = lock().get(&event)
            && at.elapsed() < CONTEXT_TTL
        {
            return Some(Arc::clone(ctx));
        }
        match self.dispatcher.store.event_context(event).await {
            Ok(Some((notice, read))) => {
                let ctx = Arc::new(EventContext {
                    notice,
                    event: read,
                    texts: RenderCache::default(),
                });
                let mut contexts = lock();
                if contexts.len() > 1_000 {
                    contexts.clear();
                }
                contexts.insert(event, (Instant::now(), Arc::clone(&ctx)));
                Some(ctx)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::error!(%event, error = %e, "reading notice event failed");
                None
            }
        }
    }

    /// Sends one delivery and says what happened, with the delay before
    /// the next attempt when there is one. Never fails: every error becomes
    /// an outcome.
    async fn deliver(&self, d: ClaimedDelivery, ctx: &EventContext) -> (Outcome, Option<Duration>) {
        let msg = match self.message(&d, ctx) {
            Ok(m) => m,
            Err(kind) => return (self.finish(&d, kind), None),
        };
        let channel = self.dispatcher.channels.get(d.channel);
        let timeout = Duration::from_secs(self.dispatcher.config.send_timeout_secs);
        let started = Instant::now();
        let sent = tokio::time::timeout(timeout, channel.send(&msg)).await;
        metrics::provider_latency(d.channel, channel.provider(), started.elapsed());
        let result = match sent {
            Ok(r) => r,
            Err(_) => Err(SendError::Retryable {
                reason: format!("provider did not answer within {}s", timeout.as_secs()),
                retry_after: None,
            }),
        };
        let kind = match result {
            Ok(r) if r.delivered => OutcomeKind::Delivered {
                provider_id: r.provider_id,
            },
            Ok(r) => OutcomeKind::Sent {
                provider_id: r.provider_id,
            },
            Err(SendError::Retryable {
                reason,
                retry_after,
            }) => {
                if let Some(wait) = retry_after {
                    // The provider is saying "too fast" (or "down until"):
                    // that holds for every message, not only this one.
                    self.limiter.pause(wait).await;
                }
                return self.after_failure(&d, ctx, reason, retry_after);
            }
            Err(SendError::Permanent { reason }) => OutcomeKind::Failed { reason },
            Err(SendError::InvalidAddress { reason }) => OutcomeKind::InvalidAddress { reason },
        };
        (self.finish(&d, kind), None)
    }

    fn after_failure(
        &self,
        d: &ClaimedDelivery,
        ctx: &EventContext,
        reason: String,
        retry_after: Option<Duration>,
    ) -> (Outcome, Option<Duration>) {
        let failure = Failure {
            reason: &reason,
            attempts: d.attempts,
            created_at: d.created_at,
            expires_at: retry::expiry(&ctx.notice, &ctx.event),
            retry_after,
        };
        match self
            .dispatcher
            .retry
            .after(&failure, Utc::now(), retry::jitter())
        {
            Next::RetryIn(delay) => {
                let kind = OutcomeKind::Retry { reason };
                (self.outcome(d, kind), Some(delay))
            }
            Next::Fail(reason) => (self.finish(d, OutcomeKind::Failed { reason }), None),
            Next::Expire(reason) => (self.finish(d, OutcomeKind::Expired { reason }), None),
        }
    }

    fn outcome(&self, d: &ClaimedDelivery, kind: OutcomeKind) -> Outcome {
        Outcome {
            delivery: d.id,
            contact: d.contact_id,
            at: Utc::now(),
            kind,
        }
    }

    /// A final outcome, counted in the metrics.
    fn finish(&self, d: &ClaimedDelivery, kind: OutcomeKind) -> Outcome {
        metrics::outcome(d.channel, kind.target().as_str());
        self.outcome(d, kind)
    }

    fn message(
        &self,
        d: &ClaimedDelivery,
        ctx: &EventContext,
    ) -> Result<OutboundMessage, OutcomeKind> {
        let (notice, event) = (&ctx.notice, &ctx.event);
        let links = &self.dispatcher.links;
        let address =
            Address::parse(d.channel, &d.address).map_err(|e| OutcomeKind::InvalidAddress {
                reason: format!("stored address no longer valid: {e}"),
            })?;
        let ack_url = links.ack_url(d.id);
        // Only a call gathers a key press; only an email has a footer link.
        let gather_url = (d.channel == ChannelKind::Voice).then(|| links.gather_url(d.id));
        let unsubscribe_url =
            (d.channel == ChannelKind::Email).then(|| links.unsubscribe_url(d.id));
        let input = MessageInput {
            notice,
            event,
            language: &d.language,
            ack_url: Some(&ack_url),
            gather_url: gather_url.as_deref(),
            unsubscribe_url: unsubscribe_url.as_deref(),
        };
        let content = self
            .dispatcher
            .renderer
            .render_cached(&ctx.texts, d.channel, &input)
            .map_err(|e| OutcomeKind::Failed {
                reason: e.to_string(),
            })?;
        // A message about works that are over is noise; a closing message
        // has no end of relevance.
        let expires_at = retry::expiry(notice, event).filter(|end| *end > Utc::now());
        let simulated = self.dispatcher.channels.get(d.channel).simulated();
        Ok(OutboundMessage {
            delivery_id: d.id.0,
            notice_id: notice.id.0,
            idempotency_key: format!("{}-{}", self.dispatcher.instance, d.id),
            address,
            content,
            urgent: notice.kind == NoticeKind::Emergency,
            expires_at,
            collapse_id: Some(format!("notice-{}", notice.id)),
            status_callback: if simulated {
                None
            } else {
                links.status_callback(d.channel, d.id)
            },
            unsubscribe_url,
        })
    }

    /// Hands retries back to the queue with their backoff; returns whether
    /// the queue took them.
    async fn schedule_retry(&self, lane: Lane, ids: Vec<DeliveryId>, delay: Duration) -> bool {
        for _ in &ids {
            metrics::retry(self.channel);
        }
        let job = Job {
            channel: self.channel,
            lane,
            deliveries: ids,
        };
        match self.dispatcher.queue.publish_after(job, delay).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(channel = %self.channel, error = %e, "scheduling retries failed; the job goes back to the queue");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{JOBS_AT_ONCE, claim_size};

    #[test]
    fn an_unpaced_channel_claims_the_whole_job() {
        assert_eq!(claim_size(None, 200), 200);
        assert_eq!(claim_size(None, 0), 1);
    }

    #[test]
    fn paced_jobs_in_progress_together_claim_about_a_second() {
        for second in [1, 3, 10, 100, 1_000] {
            let together = claim_size(Some(second), 200) * JOBS_AT_ONCE;
            assert!(
                together >= second && together < second + JOBS_AT_ONCE,
                "{second}/s: {together} claimed by {JOBS_AT_ONCE} jobs"
            );
        }
        assert_eq!(claim_size(Some(1), 200), 1, "never less than one");
    }
}
