//! Fan-out end to end: import the city into a real `tocsin serve` pointed
//! at the mock providers, publish one notice to everyone, and time it from
//! the POST until every delivery has settled; then, against the same
//! mocks, time a bare client (the machine's limit) sending the same
//! requests, and check they are the same size. Also records the
//! service's peak memory, how much its database grew per million
//! deliveries, and where the CPU went (`cpu`) during the fan-out and
//! during the bare client's run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_testkit::Providers;
use tocsin_zones::GeoPoint;

use crate::api::{self, Contacts, city_notice};
use crate::bare::{self, BareRun, Shape};
use crate::cpu::{Mark, Spent};
use crate::setup::{Loaded, Setup};

/// Bare-client messages per run: enough for a steady rate.
const BARE_COUNT: usize = 200_000;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct FanoutRun {
    pub residents: usize,
    pub import_per_s: f64,
    /// From sending the POST to its answer (targeting + writing deliveries).
    pub accept_s: f64,
    /// From sending the POST until nothing is pending, queued or sending.
    pub settle_s: f64,
    pub deliveries: u64,
    /// Deliveries in a final state other than sent/delivered.
    pub not_delivered: u64,
    /// Requests the mock providers accepted.
    pub provider_accepted: usize,
    /// The bare client's rate before and after the fan-out, messages/s.
    pub bare_per_s: Option<(f64, f64)>,
    /// The bare client's rate with the minimal request, after the fan-out.
    pub minimal_per_s: Option<f64>,
    /// Mean JSON body bytes: Tocsin's last messages, the bare client's.
    pub body_bytes: Option<(f64, f64)>,
    /// What differs between Tocsin's requests and the bare client's.
    pub shape_mismatch: Option<String>,
    /// Peak RSS of `serve`, then of each worker, in bytes.
    pub peak_rss: Vec<u64>,
    pub db_bytes_before: u64,
    pub db_bytes_after: u64,
    /// CPU from the POST until settled, per delivery.
    pub cpu: Spent,
    /// CPU of the bare client's run after the fan-out, per request.
    pub bare_cpu: Option<Spent>,
}

impl FanoutRun {
    pub fn per_s(&self) -> f64 {
        self.deliveries as f64 / self.settle_s
    }

    /// Tocsin's rate over the mean of the bare client's two rates.
    pub fn ratio(&self) -> Option<f64> {
        self.bare_per_s
            .map(|(before, after)| self.per_s() / ((before + after) / 2.0))
    }

    /// Tocsin's rate over the minimal-request bare client's.
    pub fn minimal_ratio(&self) -> Option<f64> {
        self.minimal_per_s.map(|bare| self.per_s() / bare)
    }

    /// Database growth per million deliveries, in bytes.
    pub fn db_per_million(&self) -> f64 {
        let grown = self.db_bytes_after.saturating_sub(self.db_bytes_before) as f64;
        grown / self.deliveries.max(1) as f64 * 1e6
    }
}

/// One complete run: fresh mocks, fresh service, import, publish, settle,
/// bare client. `watchers` console pages follow the fan-out live.
pub async fn run(
    setup: &Setup,
    points: &[GeoPoint],
    progress: &indicatif::ProgressBar,
    watchers: usize,
) -> anyhow::Result<FanoutRun> {
    let Loaded {
        providers,
        service,
        api,
        import_per_s,
    } = setup.load(points, progress).await?;
    let mode = setup.mode;
    let db_bytes_before = service.database_bytes().await?;
    // The bare client before and after the fan-out: on a shared machine
    // its rate drifts within minutes, and one sample made the ratio swing
    // by half. Their mean is the ratio's denominator; both are reported.
    progress.set_message("bare client (before)");
    let bare_before = bare_rate(setup, &providers, points.len(), Shape::Tocsin).await?;
    let accepted_before = providers.accepted();

    progress.set_message(format!("{mode}: fan-out"));
    let mut pages = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        pages.push(api.watch_live().await?);
    }
    let pids = service.pids();
    let mark = Mark::now(&pids);
    let sent = Instant::now();
    let (id, deliveries) = api.publish(&city_notice("planned", "Fan-out")).await?;
    let accept_s = sent.elapsed().as_secs_f64();
    progress.set_length(deliveries);
    let watch = watch_progress(&providers, accepted_before, progress);
    // The summary counts a million rows; asking it often would slow the
    // very fan-out it measures. The mocks' counters cost nothing.
    let mut last_check = Instant::now();
    while ((providers.accepted() - accepted_before) as u64) < deliveries {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if last_check.elapsed() > Duration::from_secs(5) {
            if api::busy(&api.summary(id).await?) == 0 {
                break; // some were refused or failed: no use waiting
            }
            last_check = Instant::now();
        }
    }
    let (summary, settled) = api.settled(id, Duration::from_millis(20)).await?;
    watch.abort();
    pages.iter().for_each(|p| p.abort());
    let settle_s = settled.duration_since(sent).as_secs_f64();
    let by_state = &summary["by_state"];
    let ok = ["sent", "delivered", "acknowledged"]
        .iter()
        .map(|k| by_state[k].as_u64().unwrap_or(0))
        .sum::<u64>();
    let total = summary["total"].as_u64().unwrap_or(deliveries);
    let cpu = mark.spent(&pids, total);
    let peak_rss = service.peak_rss();
    let db_bytes_after = service.database_bytes().await?;
    service.stop().await;
    let provider_accepted = providers.accepted() - accepted_before;
    let (tocsin_bytes, shape_mismatch) = sent_shape(setup, &providers);

    progress.set_message("bare client (after)");
    let mark = Mark::now(&[]);
    let bare_after = bare_rate(setup, &providers, points.len(), Shape::Tocsin).await?;
    let bare_cpu = bare_after.map(|_| mark.spent(&[], BARE_COUNT.min(points.len()) as u64));
    progress.set_message("bare client (minimal request)");
    let minimal = bare_rate(setup, &providers, points.len(), Shape::Minimal).await?;
    let bare_per_s = bare_before.zip(bare_after).map(|(b, a)| (b.per_s, a.per_s));
    let body_bytes = tocsin_bytes.zip(bare_after.map(|a| a.body_bytes));
    Ok(FanoutRun {
        residents: points.len(),
        import_per_s,
        accept_s,
        settle_s,
        deliveries: total,
        not_delivered: total - ok,
        provider_accepted,
        bare_per_s,
        minimal_per_s: minimal.map(|m| m.per_s),
        body_bytes,
        shape_mismatch,
        peak_rss,
        db_bytes_before,
        db_bytes_after,
        cpu,
        bare_cpu,
    })
}

/// The bare client's rate against this run's mock, for single-channel
/// runs (a mixed run has no one provider to compare with).
async fn bare_rate(
    setup: &Setup,
    providers: &Providers,
    residents: usize,
    shape: Shape,
) -> anyhow::Result<Option<BareRun>> {
    let count = BARE_COUNT.min(residents);
    let in_flight = setup.in_flight;
    Ok(match setup.contacts {
        Contacts::Fcm => Some(bare::fcm(&providers.fcm, count, in_flight, shape).await?),
        Contacts::Apns => Some(bare::apns(&providers.apns, count, in_flight, shape).await?),
        Contacts::Mixed => None,
    })
}

/// Mean body bytes of Tocsin's last messages, and which optional APNs
/// headers they lack that the bare client sends: the bare client mirrors
/// Tocsin's request, and this says when the two drift apart.
fn sent_shape(setup: &Setup, providers: &Providers) -> (Option<f64>, Option<String>) {
    const SAMPLE: usize = 1_000;
    let mean = |sizes: Vec<usize>| {
        (!sizes.is_empty()).then(|| sizes.iter().sum::<usize>() as f64 / sizes.len() as f64)
    };
    match setup.contacts {
        Contacts::Fcm => (mean(providers.fcm.recent_body_bytes(SAMPLE)), None),
        Contacts::Apns => {
            let recent = providers.apns.recent(SAMPLE);
            let missing: Vec<&str> = recent
                .first()
                .map(|(r, _)| {
                    [
                        ("apns-id", r.apns_id.is_none()),
                        ("apns-expiration", r.expiration.is_none()),
                        ("apns-collapse-id", r.collapse_id.is_none()),
                    ]
                    .into_iter()
                    .filter_map(|(name, absent)| absent.then_some(name))
                    .collect()
                })
                .unwrap_or_default();
            let mismatch =
                (!missing.is_empty()).then(|| format!("Tocsin sent no {}", missing.join(", ")));
            (mean(recent.into_iter().map(|(_, n)| n).collect()), mismatch)
        }
        Contacts::Mixed => (None, None),
    }
}

/// Moves the bar as the mocks accept messages, counting from `already`
/// (what they had accepted before, such as the bare client's requests).
pub fn watch_progress(
    providers: &Arc<Providers>,
    already: usize,
    progress: &indicatif::ProgressBar,
) -> tokio::task::JoinHandle<()> {
    let providers = providers.clone();
    let progress = progress.clone();
    tokio::spawn(async move {
        loop {
            progress.set_position(providers.accepted().saturating_sub(already) as u64);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
