//! In-process queue for the embedded mode: one unbounded FIFO per channel
//! and lane. It is not durable by itself — the deliveries table is; on
//! start the dispatcher re-queues every unfinished delivery.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tocsin_channels::ChannelKind;
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Job, Queue, QueueError, Received};
use crate::domain::Lane;

#[derive(Debug)]
struct Lanes {
    senders: [mpsc::UnboundedSender<Job>; 3],
    /// A tokio mutex because a consumer holds it across the await of
    /// `recv`; several workers of one channel take turns.
    receivers: Mutex<[mpsc::UnboundedReceiver<Job>; 3]>,
    depth: [Arc<AtomicUsize>; 3],
}

impl Lanes {
    fn new() -> Self {
        let (s0, r0) = mpsc::unbounded_channel();
        let (s1, r1) = mpsc::unbounded_channel();
        let (s2, r2) = mpsc::unbounded_channel();
        Self {
            senders: [s0, s1, s2],
            receivers: Mutex::new([r0, r1, r2]),
            depth: Default::default(),
        }
    }
}

#[derive(Debug)]
pub struct MemoryQueue {
    channels: HashMap<ChannelKind, Lanes>,
    /// Jobs handed to a worker and not yet acknowledged, so `nack` can put
    /// them back.
    in_flight: StdMutex<HashMap<u64, Job>>,
    next_tag: AtomicU64,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    pub fn new() -> Self {
        let channels = ChannelKind::ALL
            .into_iter()
            .map(|k| (k, Lanes::new()))
            .collect();
        Self {
            channels,
            in_flight: StdMutex::new(HashMap::new()),
            next_tag: AtomicU64::new(1),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Job>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lanes(&self, channel: ChannelKind) -> &Lanes {
        &self.channels[&channel]
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn publish(&self, jobs: Vec<Job>) -> Result<(), QueueError> {
        for job in jobs {
            let lanes = self.lanes(job.channel);
            let lane = job.lane as usize;
            lanes.depth[lane].fetch_add(1, Ordering::Relaxed);
            lanes.senders[lane]
                .send(job)
                .map_err(|_| QueueError::Closed)?;
        }
        Ok(())
    }

    /// A timer task re-publishes the job. If the process stops first, the
    /// deliveries are `queued` in the store and the next start sends them.
    async fn publish_after(&self, job: Job, delay: Duration) -> Result<(), QueueError> {
        let lanes = self.lanes(job.channel);
        let lane = job.lane as usize;
        let sender = lanes.senders[lane].clone();
        let depth = Arc::clone(&lanes.depth[lane]);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // Counted only once it is ready: a retry waiting out its
            // backoff must not make lower lanes give way.
            depth.fetch_add(1, Ordering::Relaxed);
            if sender.send(job).is_err() {
                depth.fetch_sub(1, Ordering::Relaxed);
            }
        });
        Ok(())
    }

    async fn next(
        &self,
        channel: ChannelKind,
        shutdown: &CancellationToken,
    ) -> Result<Option<Received>, QueueError> {
        let lanes = self.lanes(channel);
        let mut rx = tokio::select! {
            guard = lanes.receivers.lock() => guard,
            _ = shutdown.cancelled() => return Ok(None),
        };
        let [urgent, normal, routine] = &mut *rx;
        // `biased` makes the select poll lanes in priority order, so an
        // urgent job is always taken before any waiting routine one.
        let job = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Ok(None),
            Some(job) = urgent.recv() => job,
            Some(job) = normal.recv() => job,
            Some(job) = routine.recv() => job,
            else => return Err(QueueError::Closed),
        };
        lanes.depth[job.lane as usize].fetch_sub(1, Ordering::Relaxed);
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        self.in_flight().insert(tag, job.clone());
        Ok(Some(Received { job, tag }))
    }

    async fn ack(&self, _channel: ChannelKind, tag: u64) -> Result<(), QueueError> {
        self.in_flight().remove(&tag);
        Ok(())
    }

    async fn nack(&self, _channel: ChannelKind, tag: u64) -> Result<(), QueueError> {
        let job = self.in_flight().remove(&tag);
        match job {
            Some(job) => self.publish(vec![job]).await,
            None => Ok(()),
        }
    }

    fn durable(&self) -> bool {
        false
    }

    fn waiting_above(&self, channel: ChannelKind, lane: Lane) -> bool {
        let d = &self.lanes(channel).depth;
        Lane::ALL
            .into_iter()
            .take_while(|l| *l < lane)
            .any(|l| d[l as usize].load(Ordering::Relaxed) > 0)
    }

    async fn depth(&self, channel: ChannelKind) -> [usize; 3] {
        let d = &self.lanes(channel).depth;
        Lane::ALL.map(|l| d[l as usize].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeliveryId;

    fn job(lane: Lane, id: i64) -> Job {
        Job {
            channel: ChannelKind::Sms,
            lane,
            deliveries: vec![DeliveryId(id)],
        }
    }

    #[tokio::test]
    async fn urgent_jobs_overtake_waiting_routine_ones() {
        let q = MemoryQueue::new();
        let stop = CancellationToken::new();
        q.publish(vec![job(Lane::Routine, 1), job(Lane::Routine, 2)])
            .await
            .unwrap();
        q.publish(vec![job(Lane::Normal, 3), job(Lane::Urgent, 4)])
            .await
            .unwrap();
        assert_eq!(q.depth(ChannelKind::Sms).await, [1, 1, 2]);
        let mut order = Vec::new();
        for _ in 0..4 {
            let r = q.next(ChannelKind::Sms, &stop).await.unwrap().unwrap();
            order.push(r.job.deliveries[0].0);
        }
        assert_eq!(order, vec![4, 3, 1, 2]);
        assert_eq!(q.depth(ChannelKind::Sms).await, [0, 0, 0]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_ready_jobs_of_higher_lanes_make_a_lane_give_way() {
        let q = MemoryQueue::new();
        assert!(!q.waiting_above(ChannelKind::Sms, Lane::Routine));
        q.publish_after(job(Lane::Urgent, 1), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!q.waiting_above(ChannelKind::Sms, Lane::Routine));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(q.waiting_above(ChannelKind::Sms, Lane::Routine));
        assert!(q.waiting_above(ChannelKind::Sms, Lane::Normal));
        assert!(!q.waiting_above(ChannelKind::Sms, Lane::Urgent));
        assert!(!q.waiting_above(ChannelKind::Email, Lane::Routine));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_jobs_arrive_after_their_delay() {
        let q = MemoryQueue::new();
        let stop = CancellationToken::new();
        q.publish_after(job(Lane::Normal, 9), Duration::from_secs(30))
            .await
            .unwrap();
        let early =
            tokio::time::timeout(Duration::from_secs(29), q.next(ChannelKind::Sms, &stop)).await;
        assert!(early.is_err(), "delivered before its delay");
        let r = q.next(ChannelKind::Sms, &stop).await.unwrap().unwrap();
        assert_eq!(r.job.deliveries, vec![DeliveryId(9)]);
    }

    #[tokio::test]
    async fn a_nacked_job_comes_back() {
        let q = MemoryQueue::new();
        let stop = CancellationToken::new();
        q.publish(vec![job(Lane::Routine, 5)]).await.unwrap();
        let first = q.next(ChannelKind::Sms, &stop).await.unwrap().unwrap();
        q.nack(ChannelKind::Sms, first.tag).await.unwrap();
        let again = q.next(ChannelKind::Sms, &stop).await.unwrap().unwrap();
        assert_eq!(again.job, first.job);
        q.ack(ChannelKind::Sms, again.tag).await.unwrap();
        assert!(q.in_flight().is_empty());
    }

    #[tokio::test]
    async fn shutdown_wakes_a_waiting_consumer() {
        let q = MemoryQueue::new();
        let stop = CancellationToken::new();
        stop.cancel();
        assert!(q.next(ChannelKind::Email, &stop).await.unwrap().is_none());
    }
}
