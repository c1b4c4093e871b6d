//! One worker per channel: take a job, claim its deliveries, render and
//! send them with bounded concurrency, record the outcomes, acknowledge
//! the job. A worker never gives up on an error: what it cannot finish
//! stays unfinished in the store and is re-queued.

use chrono::Utc;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tocsin_channels::{Address, ChannelKind, OutboundMessage, SendError};
use tokio_util::sync::CancellationToken;

use super::{Dispatcher, OutcomeWriter};
use crate::domain::{DeliveryId, EventId, EventKind, Lane, NoticeKind};
use crate::metrics;
use crate::queue::Job;
use crate::render::MessageInput;
use crate::store::{ClaimedDelivery, Notice, NoticeEvent, Outcome, OutcomeKind};

/// How long a worker reuses a notice it has read; an update to the notice
/// is a new event anyway, so this only bounds staleness of the old one.
const CONTEXT_TTL: Duration = Duration::from_secs(10);
/// Longest backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Longest pause of a worker whose jobs keep failing.
const MAX_PAUSE: Duration = Duration::from_secs(30);

type Context = Arc<(Notice, NoticeEvent)>;

#[derive(Debug)]
pub(super) struct Worker {
    dispatcher: Arc<Dispatcher>,
    writer: OutcomeWriter,
    channel: ChannelKind,
    contexts: HashMap<EventId, (Instant, Context)>,
}

impl Worker {
    pub(super) fn new(
        dispatcher: Arc<Dispatcher>,
        writer: OutcomeWriter,
        channel: ChannelKind,
    ) -> Self {
        Self {
            dispatcher,
            writer,
            channel,
            contexts: HashMap::new(),
        }
    }

    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        let queue = Arc::clone(&self.dispatcher.queue);
        let mut failures = 0u32;
        loop {
            if failures > 0 {
                // The queue or the database is failing: wait before the next
                // job instead of spinning through redeliveries.
                let pause = Duration::from_millis(100 * 2u64.pow(failures.min(8))).min(MAX_PAUSE);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            let received = match queue.next(self.channel, &shutdown).await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    failures += 1;
                    tracing::error!(channel = %self.channel, error = %e, "taking a job failed");
                    continue;
                }
            };
            let settled = if self.process(&received.job).await {
                failures = 0;
                queue.ack(self.channel, received.tag).await
            } else {
                failures += 1;
                queue.nack(self.channel, received.tag).await
            };
            if let Err(e) = settled {
                tracing::warn!(channel = %self.channel, error = %e, "settling a job with the queue failed; it may be redelivered");
            }
        }
        tracing::debug!(channel = %self.channel, "worker stopped");
    }

    /// Sends a job's deliveries; returns whether every outcome is recorded
    /// (only then may the job be acknowledged).
    async fn process(&mut self, job: &Job) -> bool {
        let claimed = match self.dispatcher.store.claim(&job.deliveries).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(channel = %self.channel, error = %e, "claiming deliveries failed; the job goes back to the queue");
                return false;
            }
        };
        let mut work = Vec::with_capacity(claimed.len());
        for d in claimed {
            match self.context(d.event_id).await {
                Some(ctx) => work.push((d, ctx)),
                None => tracing::error!(delivery = %d.id, "notice event of a delivery is missing"),
            }
        }
        let this = &*self;
        // Once an outcome cannot be recorded, the rest of the job is not
        // sent: it stays `sending`, the job goes back to the queue, and each
        // message is sent once later instead of twice.
        let abandon = AtomicBool::new(false);
        let abandon = &abandon;
        // Each outcome is recorded as soon as its send returns (the writer
        // merges concurrent ones into one transaction), so a crash can only
        // repeat the sends whose answer arrived in the last few milliseconds,
        // not the whole batch.
        let results: Vec<(DeliveryId, bool, Option<Duration>)> = futures::stream::iter(work)
            .map(|(d, ctx)| async move {
                if abandon.load(Ordering::Relaxed) {
                    return (d.id, false, None);
                }
                let (outcome, retry_in) = this.deliver(d, &ctx).await;
                let id = outcome.delivery;
                let recorded = this.writer.write(vec![outcome]).await;
                if !recorded {
                    abandon.store(true, Ordering::Relaxed);
                }
                (id, recorded, retry_in)
            })
            .buffer_unordered(self.dispatcher.config.concurrency)
            .collect()
            .await;
        let mut retries: HashMap<Duration, Vec<DeliveryId>> = HashMap::new();
        let mut all_recorded = true;
        for (id, recorded, retry_in) in results {
            if !recorded {
                tracing::warn!(channel = %self.channel, delivery = %id, "outcome not recorded or not sent; the job goes back to the queue");
                all_recorded = false;
                continue;
            }
            if let Some(delay) = retry_in {
                retries.entry(delay).or_default().push(id);
            }
        }
        for (delay, ids) in retries {
            // A retry the queue did not take would be lost once this job is
            // acknowledged: give the job back instead.
            all_recorded &= self.schedule_retry(job.lane, ids, delay).await;
        }
        all_recorded
    }

    async fn context(&mut self, event: EventId) -> Option<Context> {
        if let Some((at, ctx)) = self.contexts.get(&event)
            && at.elapsed() < CONTEXT_TTL
        {
            return Some(Arc::clone(ctx));
        }
        match self.dispatcher.store.event_context(event).await {
            Ok(Some(ctx)) => {
                let ctx = Arc::new(ctx);
                if self.contexts.len() > 1_000 {
                    self.contexts.clear();
                }
                self.contexts
                    .insert(event, (Instant::now(), Arc::clone(&ctx)));
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
    async fn deliver(
        &self,
        d: ClaimedDelivery,
        ctx: &(Notice, NoticeEvent),
    ) -> (Outcome, Option<Duration>) {
        let outcome = |kind| Outcome {
            delivery: d.id,
            contact: d.contact_id,
            at: Utc::now(),
            kind,
        };
        let msg = match self.message(&d, ctx) {
            Ok(m) => m,
            Err(kind) => return (outcome(kind), None),
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
        let max = i64::from(self.dispatcher.config.max_attempts);
        let kind = match result {
            Ok(r) if r.delivered => OutcomeKind::Delivered {
                provider_id: r.provider_id,
            },
            Ok(r) => OutcomeKind::Sent {
                provider_id: r.provider_id,
            },
            Err(SendError::Retryable { reason, .. }) if d.attempts >= max => OutcomeKind::Failed {
                reason: format!("gave up after {max} attempts: {reason}"),
            },
            Err(SendError::Retryable {
                reason,
                retry_after,
            }) => {
                let delay = self
                    .backoff(d.attempts)
                    .max(retry_after.unwrap_or_default());
                return (
                    outcome(OutcomeKind::Retry { reason }),
                    Some(delay.min(MAX_BACKOFF)),
                );
            }
            Err(SendError::Permanent { reason }) => OutcomeKind::Failed { reason },
            Err(SendError::InvalidAddress { reason }) => OutcomeKind::InvalidAddress { reason },
        };
        metrics::outcome(d.channel, kind.target().as_str());
        (outcome(kind), None)
    }

    /// Exponential: base, 2×base, 4×base … capped.
    fn backoff(&self, attempts: i64) -> Duration {
        let base = Duration::from_secs(self.dispatcher.config.retry_base_secs);
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(16);
        base.saturating_mul(2u32.saturating_pow(exp))
            .min(MAX_BACKOFF)
    }

    fn message(
        &self,
        d: &ClaimedDelivery,
        ctx: &(Notice, NoticeEvent),
    ) -> Result<OutboundMessage, OutcomeKind> {
        let (notice, event) = ctx;
        let links = &self.dispatcher.links;
        let address =
            Address::parse(d.channel, &d.address).map_err(|e| OutcomeKind::InvalidAddress {
                reason: format!("stored address no longer valid: {e}"),
            })?;
        let ack_url = links.ack_url(d.id);
        let gather_url = links.gather_url(d.id);
        let unsubscribe_url =
            (d.channel == ChannelKind::Email).then(|| links.unsubscribe_url(d.id));
        let input = MessageInput {
            notice,
            event,
            language: &d.language,
            ack_url: Some(&ack_url),
            gather_url: Some(&gather_url),
            unsubscribe_url: unsubscribe_url.as_deref(),
        };
        let content = self
            .dispatcher
            .renderer
            .render(d.channel, &input)
            .map_err(|e| OutcomeKind::Failed {
                reason: e.to_string(),
            })?;
        // A message about works that are over is noise; a closing message
        // has no end of relevance.
        let expires_at = match event.kind {
            EventKind::Closed => None,
            _ => event.expected_end.filter(|end| *end > Utc::now()),
        };
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
