//! RabbitMQ backend for the cluster mode (lapin).
//!
//! Topology, all names under a configurable prefix (`tocsin` by default):
//!
//! - `{p}.jobs`, a topic exchange; one durable queue per channel × lane,
//!   `{p}.{channel}.{lane}` (quorum by default), bound to `{channel}.{lane}`
//!   and `{channel}.{lane}.*`. Each has *single active consumer*: one worker
//!   process at a time sends through a provider (so one process holds its
//!   rate limit), and the next registered worker takes over when it dies.
//! - `{p}.delay`, a topic exchange; classic queues `{p}.delay.{ms}` with a
//!   message TTL that dead-letter back into `{p}.jobs`. A retry is
//!   published with routing key `{channel}.{lane}.d{ms}` and comes back to
//!   its lane queue after the delay, surviving any process restart.
//! - `{p}.dead`: jobs that cannot be parsed or were delivered too often
//!   (quorum `x-delivery-limit`) are dead-lettered there for inspection.
//!
//! Every publish waits for the broker's confirm (pipelined within a call);
//! jobs are acknowledged only after their outcomes are recorded; prefetch is
//! bounded per lane. Connections are re-established with exponential
//! backoff; while the broker is away `publish` fails (the API answers, the
//! deliveries stay `pending` and are re-published at the next start) and
//! workers wait.

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tocsin_channels::ChannelKind;
use tokio::sync::{Mutex, OnceCell, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Job, Queue, QueueError, Received};
use crate::domain::Lane;

/// Retry delays are rounded up to one of these, so a handful of delay
/// queues serves every backoff (RabbitMQ expires messages only at the head
/// of a queue, so one queue must hold one delay).
const DELAY_BUCKETS_MS: [u64; 10] = [
    1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 120_000, 300_000, 900_000,
];
/// Deliveries of one job before the broker dead-letters it (a job that
/// crashes every worker must not crash them forever).
const DELIVERY_LIMIT: i64 = 20;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Settings of the AMQP backend (`[amqp]` in tocsin.toml).
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    pub url: String,
    /// Prefix of every exchange and queue name; tests use a unique one.
    pub prefix: String,
    /// Unacknowledged jobs per lane consumer.
    pub prefetch: u16,
    /// Quorum queues (replicated, durable) or classic durable queues.
    pub quorum: bool,
}

fn err(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn lane_queue(prefix: &str, channel: ChannelKind, lane: Lane) -> String {
    format!("{prefix}.{channel}.{}", lane.as_str())
}

fn routing_key(channel: ChannelKind, lane: Lane) -> String {
    format!("{channel}.{}", lane.as_str())
}

fn delay_bucket(delay: Duration) -> u64 {
    let ms = delay.as_millis() as u64;
    DELAY_BUCKETS_MS
        .into_iter()
        .find(|b| *b >= ms)
        .unwrap_or(DELAY_BUCKETS_MS[DELAY_BUCKETS_MS.len() - 1])
}

async fn connect(url: &str, name: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.to_owned().into());
    Connection::connect(url, props).await
}

/// Declares every exchange and queue; idempotent, run on each connect.
async fn declare_topology(ch: &Channel, s: &AmqpSettings) -> lapin::Result<()> {
    let p = &s.prefix;
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (name, kind) in [
        (format!("{p}.jobs"), ExchangeKind::Topic),
        (format!("{p}.delay"), ExchangeKind::Topic),
        (format!("{p}.dead"), ExchangeKind::Fanout),
    ] {
        ch.exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await?;
    }
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dead = format!("{p}.dead");
    ch.queue_declare(dead.clone().into(), durable_queue, FieldTable::default())
        .await?;
    ch.queue_bind(
        dead.clone().into(),
        dead.clone().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;

    for channel in ChannelKind::ALL {
        for lane in Lane::ALL {
            let mut args = FieldTable::default();
            args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(dead.clone().into()),
            );
            if s.quorum {
                args.insert(
                    "x-queue-type".into(),
                    AMQPValue::LongString("quorum".into()),
                );
                args.insert(
                    "x-delivery-limit".into(),
                    AMQPValue::LongLongInt(DELIVERY_LIMIT),
                );
            }
            let queue = lane_queue(p, channel, lane);
            ch.queue_declare(queue.clone().into(), durable_queue, args)
                .await?;
            let key = routing_key(channel, lane);
            for binding in [key.clone(), format!("{key}.*")] {
                ch.queue_bind(
                    queue.clone().into(),
                    format!("{p}.jobs").into(),
                    binding.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            }
        }
    }
    for ms in DELAY_BUCKETS_MS {
        let mut args = FieldTable::default();
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms as i64));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(format!("{p}.jobs").into()),
        );
        let queue = format!("{p}.delay.{ms}");
        ch.queue_declare(queue.clone().into(), durable_queue, args)
            .await?;
        ch.queue_bind(
            queue.into(),
            format!("{p}.delay").into(),
            format!("*.*.d{ms}").into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

/// Deletes every exchange and queue under `prefix` (tests clean up with it).
#[doc(hidden)]
pub async fn delete_topology(url: &str, prefix: &str) -> Result<(), QueueError> {
    let conn = connect(url, "tocsin-cleanup").await.map_err(err)?;
    let ch = conn.create_channel().await.map_err(err)?;
    let mut queues = vec![format!("{prefix}.dead")];
    for channel in ChannelKind::ALL {
        queues.extend(Lane::ALL.map(|lane| lane_queue(prefix, channel, lane)));
    }
    queues.extend(DELAY_BUCKETS_MS.map(|ms| format!("{prefix}.delay.{ms}")));
    for q in queues {
        ch.queue_delete(q.into(), QueueDeleteOptions::default())
            .await
            .map_err(err)?;
    }
    for x in ["jobs", "delay", "dead"] {
        ch.exchange_delete(
            format!("{prefix}.{x}").into(),
            ExchangeDeleteOptions::default(),
        )
        .await
        .map_err(err)?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// The publishing side: one connection and a confirm-mode channel,
/// re-established on demand.
#[derive(Debug)]
struct Publisher {
    conn: Connection,
    channel: Channel,
}

/// A delivered job waiting for `ack`/`nack`, by local tag.
type Pending = StdMutex<HashMap<u64, Acker>>;

/// Consumer state for one delivery channel (SMS, email, …).
#[derive(Debug)]
struct ConsumerSide {
    /// Filled by the consuming task, one buffer per lane.
    receivers: Mutex<[mpsc::Receiver<lapin::message::Delivery>; 3]>,
    senders: [mpsc::Sender<lapin::message::Delivery>; 3],
    started: OnceCell<()>,
    pending: Pending,
}

#[derive(Debug)]
pub struct AmqpQueue {
    settings: AmqpSettings,
    publisher: Mutex<Option<Publisher>>,
    consumers: HashMap<ChannelKind, ConsumerSide>,
    next_tag: AtomicU64,
    /// Whether the consuming side currently holds a live connection.
    consuming: Arc<AtomicBool>,
}

impl AmqpQueue {
    /// Connects once to check the URL and declares the topology, so a
    /// wrong URL fails at start with a clear message.
    pub async fn connect(settings: AmqpSettings) -> Result<Self, QueueError> {
        let consumers = ChannelKind::ALL
            .into_iter()
            .map(|kind| {
                let buffered = usize::from(settings.prefetch).max(1);
                let (s0, r0) = mpsc::channel(buffered);
                let (s1, r1) = mpsc::channel(buffered);
                let (s2, r2) = mpsc::channel(buffered);
                let side = ConsumerSide {
                    receivers: Mutex::new([r0, r1, r2]),
                    senders: [s0, s1, s2],
                    started: OnceCell::new(),
                    pending: StdMutex::new(HashMap::new()),
                };
                (kind, side)
            })
            .collect();
        let queue = Self {
            settings,
            publisher: Mutex::new(None),
            consumers,
            next_tag: AtomicU64::new(1),
            consuming: Arc::new(AtomicBool::new(false)),
        };
        queue.publisher_channel().await?;
        Ok(queue)
    }

    /// The live publishing channel, reconnecting if the old one died.
    async fn publisher_channel(&self) -> Result<Channel, QueueError> {
        let mut guard = self.publisher.lock().await;
        if let Some(p) = guard.as_ref()
            && p.conn.status().connected()
            && p.channel.status().connected()
        {
            return Ok(p.channel.clone());
        }
        let conn = connect(&self.settings.url, "tocsin-publisher")
            .await
            .map_err(err)?;
        let channel = conn.create_channel().await.map_err(err)?;
        declare_topology(&channel, &self.settings)
            .await
            .map_err(err)?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err)?;
        *guard = Some(Publisher {
            conn,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    async fn publish_to(&self, exchange: &str, jobs: Vec<(String, Job)>) -> Result<(), QueueError> {
        let channel = self.publisher_channel().await?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        let mut confirms = Vec::with_capacity(jobs.len());
        // Publish everything, then wait: confirms pipeline instead of one
        // round trip per job.
        for (key, job) in &jobs {
            let payload = serde_json::to_vec(job).map_err(err)?;
            let confirm = channel
                .basic_publish(
                    exchange.into(),
                    key.clone().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    props.clone(),
                )
                .await
                .map_err(err)?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            let confirmation = confirm.await.map_err(err)?;
            if confirmation.is_nack() {
                return Err(QueueError::Backend(
                    "the broker refused a job (nack)".into(),
                ));
            }
        }
        Ok(())
    }

    fn side(&self, channel: ChannelKind) -> &ConsumerSide {
        &self.consumers[&channel]
    }

    /// Starts the task that keeps consuming the three lane queues of
    /// `channel`, reconnecting with backoff until shutdown.
    fn spawn_consumer(&self, channel: ChannelKind, shutdown: CancellationToken) {
        let settings = self.settings.clone();
        let senders = self.side(channel).senders.clone();
        let consuming = Arc::clone(&self.consuming);
        tokio::spawn(async move {
            let mut failures = 0u32;
            while !shutdown.is_cancelled() {
                let consumed = crate::supervise::catch(
                    "amqp consumer",
                    consume_until_broken(&settings, channel, &senders, &consuming, &shutdown),
                )
                .await;
                match consumed {
                    Some(Ok(())) => failures = 0,
                    Some(Err(e)) => {
                        failures += 1;
                        tracing::warn!(%channel, error = %e, "lost the broker; reconnecting");
                    }
                    // Logged by `catch`; reconnecting starts the consumers afresh.
                    None => failures += 1,
                }
                consuming.store(false, Ordering::Relaxed);
                let pause = Duration::from_millis(250 * 2u64.pow(failures.min(7))).min(MAX_BACKOFF);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        });
    }
}

/// Consumes the three lane queues of one channel until the connection
/// breaks or shutdown; deliveries go to the per-lane buffers.
async fn consume_until_broken(
    s: &AmqpSettings,
    channel: ChannelKind,
    senders: &[mpsc::Sender<lapin::message::Delivery>; 3],
    consuming: &AtomicBool,
    shutdown: &CancellationToken,
) -> Result<(), QueueError> {
    let conn = connect(&s.url, &format!("tocsin-worker-{channel}"))
        .await
        .map_err(err)?;
    let ch = conn.create_channel().await.map_err(err)?;
    declare_topology(&ch, s).await.map_err(err)?;
    ch.basic_qos(s.prefetch, BasicQosOptions::default())
        .await
        .map_err(err)?;
    let mut streams = Vec::new();
    for lane in Lane::ALL {
        let consumer = ch
            .basic_consume(
                lane_queue(&s.prefix, channel, lane).into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        streams.push(consumer.map(move |d| (lane, d)));
    }
    consuming.store(true, Ordering::Relaxed);
    tracing::info!(%channel, "consuming from the broker");
    let mut merged = futures::stream::select_all(streams);
    loop {
        let next = tokio::select! {
            next = merged.next() => next,
            _ = shutdown.cancelled() => {
                // Unacknowledged jobs go back to the queue when the
                // connection closes; in-flight ones are acked before that.
                return Ok(());
            }
        };
        match next {
            Some((lane, Ok(delivery))) => {
                if senders[lane as usize].send(delivery).await.is_err() {
                    return Ok(());
                }
            }
            Some((_, Err(e))) => return Err(err(e)),
            None => {
                return Err(QueueError::Backend(
                    "the broker closed the consumers".into(),
                ));
            }
        }
    }
}

#[async_trait]
impl Queue for AmqpQueue {
    async fn publish(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        let exchange = format!("{}.jobs", self.settings.prefix);
        let keyed = jobs
            .into_iter()
            .map(|j| (routing_key(j.channel, j.lane), j))
            .collect();
        self.publish_to(&exchange, keyed).await
    }

    async fn publish_after(&self, job: Job, delay: Duration) -> Result<(), QueueError> {
        let exchange = format!("{}.delay", self.settings.prefix);
        let key = format!(
            "{}.d{}",
            routing_key(job.channel, job.lane),
            delay_bucket(delay)
        );
        self.publish_to(&exchange, vec![(key, job)]).await
    }

    async fn next(
        &self,
        channel: ChannelKind,
        shutdown: &CancellationToken,
    ) -> Result<Option<Received>, QueueError> {
        let side = self.side(channel);
        side.started
            .get_or_init(|| async { self.spawn_consumer(channel, shutdown.clone()) })
            .await;
        loop {
            let mut rx = tokio::select! {
                guard = side.receivers.lock() => guard,
                _ = shutdown.cancelled() => return Ok(None),
            };
            let [urgent, normal, routine] = &mut *rx;
            // Biased: the urgent buffer is always looked at first.
            let delivery = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(None),
                Some(d) = urgent.recv() => d,
                Some(d) = normal.recv() => d,
                Some(d) = routine.recv() => d,
                else => return Err(QueueError::Closed),
            };
            drop(rx);
            match serde_json::from_slice::<Job>(&delivery.data) {
                Ok(job) => {
                    let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
                    side.pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(tag, delivery.acker);
                    return Ok(Some(Received { job, tag }));
                }
                Err(e) => {
                    tracing::error!(%channel, error = %e, "unreadable job dead-lettered");
                    let _ = delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await;
                }
            }
        }
    }

    async fn ack(&self, channel: ChannelKind, tag: u64) -> Result<(), QueueError> {
        let acker = self
            .side(channel)
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tag);
        match acker {
            Some(a) => a
                .ack(BasicAckOptions::default())
                .await
                .map(drop)
                .map_err(err),
            None => Ok(()),
        }
    }

    async fn nack(&self, channel: ChannelKind, tag: u64) -> Result<(), QueueError> {
        let acker = self
            .side(channel)
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&tag);
        match acker {
            Some(a) => a
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
                .map(drop)
                .map_err(err),
            None => Ok(()),
        }
    }

    fn durable(&self) -> bool {
        true
    }

    /// The consumer side's per-lane buffers hold what the broker already
    /// delivered to this process (up to the prefetch).
    fn waiting_above(&self, channel: ChannelKind, lane: Lane) -> bool {
        let senders = &self.side(channel).senders;
        Lane::ALL.into_iter().take_while(|l| *l < lane).any(|l| {
            let s = &senders[l as usize];
            s.capacity() < s.max_capacity()
        })
    }

    async fn depth(&self, channel: ChannelKind) -> [usize; 3] {
        let Ok(ch) = self.publisher_channel().await else {
            return [0; 3];
        };
        let mut out = [0; 3];
        for lane in Lane::ALL {
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            if let Ok(q) = ch
                .queue_declare(
                    lane_queue(&self.settings.prefix, channel, lane).into(),
                    passive,
                    FieldTable::default(),
                )
                .await
            {
                out[lane as usize] = q.message_count() as usize;
            }
        }
        out
    }

    async fn ready(&self) -> bool {
        tokio::time::timeout(Duration::from_secs(2), self.publisher_channel())
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_a_bucket() {
        assert_eq!(delay_bucket(Duration::ZERO), 1_000);
        assert_eq!(delay_bucket(Duration::from_millis(1_500)), 2_000);
        assert_eq!(delay_bucket(Duration::from_secs(8)), 8_000);
        assert_eq!(delay_bucket(Duration::from_secs(3_600)), 900_000);
    }

    #[test]
    fn names_are_prefixed() {
        assert_eq!(
            lane_queue("t1", ChannelKind::Sms, Lane::Urgent),
            "t1.sms.urgent"
        );
        assert_eq!(
            routing_key(ChannelKind::Voice, Lane::Routine),
            "voice.routine"
        );
    }
}
