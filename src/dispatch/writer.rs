//! Batches delivery outcomes from every worker into few transactions.
//!
//! One transaction per message caps SQLite at a few hundred messages per
//! second; merging whatever has arrived while the previous commit ran
//! keeps latency low when traffic is light and throughput high when it
//! is heavy.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::{Outcome, Store};

/// Outcomes merged into one transaction at most.
const MAX_BATCH: usize = 5_000;
/// Attempts at writing a batch before reporting failure to the workers.
const WRITE_ATTEMPTS: u32 = 5;

struct Request {
    outcomes: Vec<Outcome>,
    done: oneshot::Sender<bool>,
}

#[derive(Debug, Clone)]
pub struct OutcomeWriter {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request({} outcomes)", self.outcomes.len())
    }
}

impl OutcomeWriter {
    /// Starts the writer task. It ends after every `OutcomeWriter` clone is
    /// dropped and the last batch is written, which is how shutdown
    /// flushes.
    pub fn start(store: Arc<dyn Store>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(1024);
        let task = tokio::spawn(run(store, rx));
        (Self { tx }, task)
    }

    /// Records outcomes; returns whether they are durably written.
    pub async fn write(&self, outcomes: Vec<Outcome>) -> bool {
        if outcomes.is_empty() {
            return true;
        }
        let (done, wait) = oneshot::channel();
        if self.tx.send(Request { outcomes, done }).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Request>) {
    while let Some(first) = rx.recv().await {
        let mut requests = vec![first];
        let mut count = requests[0].outcomes.len();
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => {
                    count += r.outcomes.len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        let outcomes: Vec<Outcome> = requests
            .iter()
            .flat_map(|r| r.outcomes.iter().cloned())
            .collect();
        let ok = crate::supervise::catch(
            "outcome writer",
            write_with_retry(store.as_ref(), &outcomes),
        )
        .await
        .unwrap_or(false);
        for r in requests {
            let _ = r.done.send(ok);
        }
    }
}

async fn write_with_retry(store: &dyn Store, outcomes: &[Outcome]) -> bool {
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.record_outcomes(outcomes).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::error!(attempt, outcomes = outcomes.len(), error = %e, "recording delivery outcomes failed");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
    false
}
