//! The delivery queue seam: jobs of delivery ids, per channel and priority
//! lane. The embedded backend is an in-process queue (`memory`); the
//! cluster backend (RabbitMQ) implements the same trait.
//!
//! A job carries ids only, never message content: the store is the truth,
//! so a lost or duplicated job costs at most a re-read, and a worker that
//! claims an already-sent delivery simply gets nothing back.

pub mod amqp;
pub mod memory;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tocsin_channels::ChannelKind;
use tokio_util::sync::CancellationToken;

use crate::domain::{DeliveryId, Lane};

/// A batch of deliveries for one channel in one lane. Batching keeps queue
/// overhead per delivery small (one job carries hundreds of ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub channel: ChannelKind,
    pub lane: Lane,
    pub deliveries: Vec<DeliveryId>,
}

/// A job taken from the queue; `tag` identifies it for `ack`.
#[derive(Debug)]
pub struct Received {
    pub job: Job,
    pub tag: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue is closed")]
    Closed,
    #[error("queue backend error: {0}")]
    Backend(String),
}

#[async_trait]
pub trait Queue: Send + Sync + std::fmt::Debug {
    /// Hands jobs to the queue; returns once the backend holds them.
    async fn publish(&self, jobs: Vec<Job>) -> Result<(), QueueError>;

    /// Hands a job to the queue to be delivered after `delay` (a retry's
    /// backoff). Returns once the backend holds it.
    async fn publish_after(&self, job: Job, delay: std::time::Duration) -> Result<(), QueueError>;

    /// The next job for `channel`, higher lanes first; `None` once
    /// `shutdown` is cancelled.
    async fn next(
        &self,
        channel: ChannelKind,
        shutdown: &CancellationToken,
    ) -> Result<Option<Received>, QueueError>;

    /// Confirms a job after its outcomes are recorded in the store.
    async fn ack(&self, channel: ChannelKind, tag: u64) -> Result<(), QueueError>;

    /// Gives a job back (its outcomes could not be recorded), to be
    /// delivered again.
    async fn nack(&self, channel: ChannelKind, tag: u64) -> Result<(), QueueError>;

    /// Whether jobs survive a restart of this process.
    fn durable(&self) -> bool;

    /// Whether a lane above `lane` has a job ready for `channel`. A worker
    /// sending a lower lane's job checks this before each message and
    /// gives the rest of its job back, so urgent work never waits for a
    /// routine batch to finish.
    fn waiting_above(&self, channel: ChannelKind, lane: Lane) -> bool;

    /// Jobs waiting per lane for one channel (for metrics).
    async fn depth(&self, channel: ChannelKind) -> [usize; 3];

    /// Whether the backend is reachable.
    async fn ready(&self) -> bool {
        true
    }
}
