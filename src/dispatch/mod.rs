//! The dispatcher: hands deliveries to the queue and runs the workers that
//! send them.
//!
//! Flow: the store writes pending deliveries at fan-out → `enqueue` pages
//! through them, marks them queued and publishes jobs (batches of ids per
//! channel and lane) → one worker per channel takes jobs (two at a time),
//! highest lane first, claims the deliveries, renders and sends them with bounded
//! concurrency, and records the outcomes through the batching writer.

mod bypass;
mod gate;
mod limiter;
mod release;
mod retry;
mod worker;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tocsin_channels::ChannelKind;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, DispatchConfig};
use crate::domain::{DeliveryId, DeliveryState, EventId, Lane, ResidentId};
use crate::links::Links;
use crate::providers::ChannelSet;
use crate::queue::{Job, Queue, QueueError};
use crate::render::Renderer;
use crate::store::{QueuedDelivery, Store, StoreError, ToQueue};
use gate::{Gate, Verdict};
use limiter::Limiter;
use release::Decision;
use retry::RetryPolicy;
pub use writer::OutcomeWriter;

/// Deliveries read from the store per page while enqueueing.
const ENQUEUE_PAGE: u32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[derive(Debug)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    channels: Arc<ChannelSet>,
    renderer: Arc<Renderer>,
    links: Arc<Links>,
    config: DispatchConfig,
    retry: RetryPolicy,
    /// One per channel: the provider account's pace, shared by every lane.
    limiters: BTreeMap<ChannelKind, Arc<Limiter>>,
    /// Quiet hours and the daily cap, applied when a message is queued.
    gate: Gate,
    /// Alert events the lane table lets past quiet hours.
    bypass: bypass::QuietBypass,
    clock: Arc<dyn Clock>,
    /// Prefix of idempotency keys, unique per installation: two
    /// installations sharing one provider account (staging and production)
    /// must never suppress each other's messages.
    instance: String,
    /// One enqueue at a time in this process: a notice's own, the release
    /// loop's and the sweeper's would otherwise page the same pending rows
    /// and publish them twice. (A second job is harmless — the claim's
    /// lease stops it — but costs a claim per row.)
    enqueueing: tokio::sync::Mutex<()>,
}

/// What the dispatcher works with, built by `app.rs`.
#[derive(Debug)]
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub channels: Arc<ChannelSet>,
    pub renderer: Arc<Renderer>,
    pub links: Arc<Links>,
    pub clock: Arc<dyn Clock>,
}

/// Handles of the running workers and the outcome writer.
#[derive(Debug)]
pub struct Running {
    workers: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
}

impl Running {
    /// Waits until every worker has finished its current job and the last
    /// outcomes are written.
    pub async fn wait(self) {
        for w in self.workers {
            let _ = w.await;
        }
        let _ = self.writer.await;
    }
}

impl Dispatcher {
    pub fn new(parts: Parts, config: &Config, instance: String) -> Self {
        let Parts {
            store,
            queue,
            channels,
            renderer,
            links,
            clock,
        } = parts;
        // With a broker, workers in several processes may send through one
        // provider account, so the pace is kept in the shared database.
        let shared = queue.durable().then(|| Arc::clone(&store));
        let limiters = ChannelKind::ALL
            .into_iter()
            .map(|kind| {
                let limiter = Limiter::new(
                    kind,
                    config.rates.get(kind),
                    config.dispatch.concurrency,
                    shared.clone(),
                );
                (kind, Arc::new(limiter))
            })
            .collect();
        let retry = RetryPolicy {
            base: Duration::from_secs(config.dispatch.retry_base_secs),
            max_attempts: i64::from(config.dispatch.max_attempts),
            deadline: Duration::from_secs(config.policy.retry_deadline_secs),
        };
        Self {
            store,
            queue,
            channels,
            renderer,
            links,
            config: config.dispatch.clone(),
            retry,
            limiters,
            gate: Gate {
                city_tz: config.timezone(),
                quiet: config.policy.quiet_hours,
                cap: config.policy.daily_cap,
            },
            bypass: bypass::QuietBypass::default(),
            clock,
            instance,
            enqueueing: tokio::sync::Mutex::new(()),
        }
    }

    /// How long a claim holds its deliveries between renewals.
    fn lease_term(&self) -> Duration {
        Duration::from_secs(self.config.lease_secs.max(1))
    }

    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// Publishes the deliveries `scope` names and returns how many it
    /// handed to the queue. They are marked `queued` only after the queue
    /// confirmed them: a crash in between leaves them `pending`, to be
    /// published again (a duplicate job is harmless, a lost one is not).
    pub async fn enqueue(&self, scope: ToQueue) -> Result<usize, DispatchError> {
        let _one = self.enqueueing.lock().await;
        self.enqueue_pages(scope).await
    }

    async fn enqueue_pages(&self, scope: ToQueue) -> Result<usize, DispatchError> {
        let mut after = DeliveryId(0);
        let mut total = 0;
        loop {
            let page = self
                .store
                .deliveries_to_queue(scope, after, ENQUEUE_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let page = self.gate_page(page).await?;
            let mut groups: BTreeMap<(Lane, ChannelKind), Vec<DeliveryId>> = BTreeMap::new();
            for d in &page {
                groups.entry((d.lane, d.channel)).or_default().push(d.id);
            }
            let jobs: Vec<Job> = groups
                .into_iter()
                .flat_map(|((lane, channel), ids)| {
                    ids.chunks(self.config.batch_size)
                        .map(|chunk| Job {
                            channel,
                            lane,
                            deliveries: chunk.to_vec(),
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let ids: Vec<DeliveryId> = page.iter().map(|d| d.id).collect();
            self.queue.publish(jobs).await?;
            self.store.mark_queued(&ids).await?;
            total += page.len();
        }
        Ok(total)
    }

    /// Applies quiet hours and the daily cap to a page about to be queued;
    /// returns what goes now. Held and dropped messages are recorded.
    async fn gate_page(
        &self,
        page: Vec<QueuedDelivery>,
    ) -> Result<Vec<QueuedDelivery>, DispatchError> {
        let gated: Vec<&QueuedDelivery> =
            page.iter().filter(|d| self.gate.applies(d.lane)).collect();
        if gated.is_empty() {
            return Ok(page);
        }
        let bypassing = self.bypass.events(self.store.as_ref(), &gated).await?;
        let mut residents: Vec<_> = gated
            .iter()
            .filter(|d| !bypassing.contains(&d.event))
            .filter_map(|d| d.resident)
            .collect();
        if residents.is_empty() {
            return Ok(page);
        }
        residents.sort_unstable();
        residents.dedup();
        let now = self.clock.now();
        let prefs = self.store.recipient_preferences(&residents).await?;
        let mut today: HashMap<ResidentId, Vec<EventId>> = HashMap::new();
        if self.gate.cap.is_some() && page.iter().any(|d| d.lane == Lane::Routine) {
            let since = self.gate.day_start(now);
            for (r, e) in self.store.routine_events_since(&residents, since).await? {
                today.entry(r).or_default().push(e);
            }
        }
        let mut send = Vec::with_capacity(page.len());
        let mut held: BTreeMap<(Option<chrono::DateTime<chrono::Utc>>, String), Vec<DeliveryId>> =
            BTreeMap::new();
        for d in page {
            if bypassing.contains(&d.event) {
                send.push(d);
                continue;
            }
            let (p, t) = match d.resident {
                Some(r) => (prefs.get(&r), today.get(&r).map_or(&[][..], Vec::as_slice)),
                None => (None, &[][..]),
            };
            match self.gate.judge(&d, p, t, now) {
                Verdict::Send => send.push(d),
                Verdict::Hold { until, reason } => {
                    held.entry((Some(until), reason)).or_default().push(d.id)
                }
                Verdict::Drop { reason } => {
                    crate::metrics::outcome(d.channel, DeliveryState::Suppressed.as_str());
                    held.entry((None, reason)).or_default().push(d.id);
                }
            }
        }
        for ((until, reason), ids) in held {
            self.store.hold(&ids, until, &reason).await?;
        }
        Ok(send)
    }

    /// Releases waiting messages whose time has come (cascade steps, quiet
    /// hours) every `period`: expired, dropped or queued.
    pub fn spawn_release(self: &Arc<Self>, period: Duration, shutdown: CancellationToken) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = shutdown.cancelled() => return,
                }
                let released = crate::supervise::catch("release", this.release_due()).await;
                if let Some(Err(e)) = released {
                    tracing::warn!(error = %e, "releasing waiting messages failed; will retry");
                }
            }
        });
    }

    async fn release_due(&self) -> Result<(), DispatchError> {
        const BATCH: u32 = 5_000;
        loop {
            let now = self.clock.now();
            let due = self.store.due_deliveries(now, BATCH).await?;
            let mut release = Vec::new();
            let mut finish: BTreeMap<(DeliveryState, &str), Vec<DeliveryId>> = BTreeMap::new();
            for d in &due {
                match release::decide(d, now) {
                    Decision::Release => release.push(d.id),
                    Decision::Finish(state, reason) => {
                        crate::metrics::outcome(d.channel, state.as_str());
                        finish.entry((state, reason)).or_default().push(d.id);
                    }
                }
            }
            for ((state, reason), ids) in finish {
                self.store.finish_waiting(&ids, state, reason).await?;
            }
            if !release.is_empty() {
                self.store.release(&release).await?;
                let n = self.enqueue(ToQueue::AllPending).await?;
                tracing::debug!(
                    released = release.len(),
                    queued = n,
                    "waiting messages released"
                );
            }
            if due.len() < BATCH as usize {
                return Ok(());
            }
        }
    }

    /// What to re-publish at start: a durable queue still holds what was
    /// handed over; the in-process queue holds nothing.
    pub fn restart_scope(&self) -> ToQueue {
        if self.queue.durable() {
            ToQueue::AllPending
        } else {
            ToQueue::AllUnfinished
        }
    }

    /// Enqueues in the background so the API can answer at once; if this
    /// fails the deliveries stay pending and the next start re-queues them.
    pub fn spawn_enqueue(self: &Arc<Self>, event: EventId) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match crate::supervise::catch("enqueue", this.enqueue(ToQueue::Event(event))).await {
                Some(Ok(n)) => tracing::debug!(%event, deliveries = n, "event enqueued"),
                Some(Err(e)) => {
                    tracing::error!(%event, error = %e, "enqueueing event failed; will retry at next start")
                }
                None => {}
            }
        });
    }

    /// Publishes what was left `pending`: deliveries whose publishing
    /// failed while the broker was away, and those whose claim's lease ran
    /// out because their worker died.
    pub fn spawn_sweeper(self: &Arc<Self>, period: Duration, shutdown: CancellationToken) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(period) => {}
                    _ = shutdown.cancelled() => return,
                }
                match crate::supervise::catch("sweeper", this.sweep()).await {
                    Some(Ok(0)) | None => {}
                    Some(Ok(n)) => {
                        tracing::info!(deliveries = n, "published deliveries left pending")
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "publishing pending deliveries failed; will retry")
                    }
                }
            }
        });
    }

    async fn sweep(&self) -> Result<usize, DispatchError> {
        let expired = self.store.expire_leases().await?;
        if expired > 0 {
            tracing::warn!(
                deliveries = expired,
                "deliveries held by a worker that is gone go out again"
            );
        }
        // A sweep behind an enqueue in progress would find nothing to do.
        match self.enqueueing.try_lock() {
            Ok(one) => {
                drop(one);
                self.enqueue(ToQueue::AllPending).await
            }
            Err(_) => Ok(0),
        }
    }

    /// Starts one worker per channel and the outcome writer.
    pub fn start(self: &Arc<Self>, shutdown: CancellationToken) -> Running {
        let (writer, writer_task) = OutcomeWriter::start(Arc::clone(&self.store));
        let workers = ChannelKind::ALL
            .into_iter()
            .map(|channel| {
                let limiter = Arc::clone(&self.limiters[&channel]);
                let (this, writer, shutdown) = (Arc::clone(self), writer.clone(), shutdown.clone());
                // Jobs catch their own panics; this restarts a worker whose
                // loop panicked, so the channel never stops for good.
                crate::supervise::spawn_supervised("worker", shutdown.clone(), move || {
                    let worker = worker::Worker::new(
                        Arc::clone(&this),
                        writer.clone(),
                        channel,
                        Arc::clone(&limiter),
                    );
                    worker.run(shutdown.clone())
                })
            })
            .collect();
        Running {
            workers,
            writer: writer_task,
        }
    }
}
