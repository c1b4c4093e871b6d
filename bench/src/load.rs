//! API load at a stated request rate: an open-loop generator that starts
//! request `i` at `start + i / rate` whether or not earlier ones answered,
//! and measures each latency from that scheduled moment. A closed-loop
//! tool (one that waits for an answer before the next request, like
//! `wrk`) sends less when the service slows down and so hides the slowdown
//! ("coordinated omission"); this one does not.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct LoadRun {
    pub requests: usize,
    pub errors: usize,
    /// The first error's text, to say what went wrong.
    pub first_error: Option<String>,
    /// Requests per second actually started (the stated rate unless this
    /// machine could not keep up).
    pub started_per_s: f64,
    /// Latencies of the successful requests, ms, sorted.
    pub latencies_ms: Vec<f64>,
}

impl LoadRun {
    /// Nearest-rank percentile of the latencies, ms.
    pub fn percentile(&self, p: f64) -> f64 {
        crate::stats::percentile(&self.latencies_ms, p)
    }
}

/// Runs `request(i)` at `rate` per second for `duration`.
pub async fn run<F, Fut>(rate: f64, duration: Duration, request: F) -> LoadRun
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = JoinSet::new();
    for i in 0..total {
        let due = start + period * i as u32;
        tokio::time::sleep_until(due).await;
        let call = request(i);
        let due: Instant = due.into_std();
        tasks.spawn(async move { call.await.map(|()| due.elapsed()) });
    }
    let started_per_s = total as f64 / (tokio::time::Instant::now() - start).as_secs_f64();
    let mut latencies_ms = Vec::with_capacity(total);
    let (mut errors, mut first_error) = (0, None);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(latency)) => latencies_ms.push(latency.as_secs_f64() * 1e3),
            Ok(Err(e)) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    LoadRun {
        requests: total,
        errors,
        first_error,
        started_per_s,
        latencies_ms,
    }
}
