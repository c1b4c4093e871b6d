//! Prometheus metrics: counters and histograms recorded where things
//! happen, queue depth sampled when `/metrics` is scraped.
//!
//! Delivery states are counted as transitions (`tocsin_delivery_outcomes_total`)
//! rather than by counting rows, so a scrape never scans the deliveries
//! table.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tocsin_channels::ChannelKind;

use crate::domain::Lane;
use crate::queue::Queue;

pub const OUTCOMES: &str = "tocsin_delivery_outcomes_total";
pub const PROVIDER_LATENCY: &str = "tocsin_provider_latency_seconds";
pub const RETRIES: &str = "tocsin_retries_total";
pub const QUEUE_DEPTH: &str = "tocsin_queue_depth";
pub const NOTICE_EVENTS: &str = "tocsin_notice_events_total";

/// Latency buckets in seconds: providers answer in tens of milliseconds
/// when healthy and in seconds when they are not.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide recorder; installed once (a process has one registry).
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often recorded histogram samples are folded into their buckets.
/// `build_recorder` leaves this to us: without it every provider call's
/// latency stays queued in the recorder until `/metrics` is scraped, so a
/// service nobody scrapes grows by every message it sends.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    pub fn install() -> Self {
        let handle = HANDLE
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(
                        Matcher::Full(PROVIDER_LATENCY.to_owned()),
                        &LATENCY_BUCKETS,
                    )
                    .expect("non-empty bucket list")
                    .build_recorder();
                let handle = recorder.handle();
                spawn_upkeep(handle.clone());
                // Fails only if another recorder is installed, e.g. by a
                // test harness; metrics then go there instead.
                let _ = metrics::set_global_recorder(recorder);
                handle
            })
            .clone();
        Self { handle }
    }

    /// The text exposition, with queue depths sampled now.
    pub async fn render(&self, queue: &dyn Queue) -> String {
        for channel in ChannelKind::ALL {
            let depth = queue.depth(channel).await;
            for lane in Lane::ALL {
                metrics::gauge!(QUEUE_DEPTH, "channel" => channel.as_str(), "lane" => lane.as_str())
                    .set(depth[lane as usize] as f64);
            }
        }
        self.handle.render()
    }
}

/// A thread rather than a task: the recorder is process-wide and outlives
/// any one runtime (tests start many).
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || {
        loop {
            std::thread::sleep(UPKEEP_PERIOD);
            handle.run_upkeep();
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(upkeep)
    {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded only when /metrics is scraped");
    }
}

pub fn outcome(channel: ChannelKind, state: &'static str) {
    metrics::counter!(OUTCOMES, "channel" => channel.as_str(), "state" => state).increment(1);
}

pub fn provider_latency(channel: ChannelKind, provider: &'static str, took: Duration) {
    metrics::histogram!(PROVIDER_LATENCY, "channel" => channel.as_str(), "provider" => provider)
        .record(took.as_secs_f64());
}

pub fn retry(channel: ChannelKind) {
    metrics::counter!(RETRIES, "channel" => channel.as_str()).increment(1);
}

pub fn notice_event(kind: &'static str, event: &'static str) {
    metrics::counter!(NOTICE_EVENTS, "kind" => kind, "event" => event).increment(1);
}
