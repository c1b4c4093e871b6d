//! `tocsin-bench api`: resident registration, then notice creation, each
//! at a stated rate against a service holding the city.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tocsin_bench::api::circle_notice;
use tocsin_bench::load::{self, LoadRun};
use tocsin_bench::setup::Loaded;

use super::{bar, residents, spinner};
use crate::ServiceArgs;

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub resident_rate: f64,
    pub notice_rate: f64,
    pub duration: Duration,
    pub radius_m: f64,
}

pub async fn run(args: &ServiceArgs, load: Load) -> anyhow::Result<()> {
    let points = Arc::new(residents(args.residents, args.seed));
    let progress = bar(0, "");
    // The mocks must outlive the load: the notices' messages go to them.
    let Loaded {
        providers: _mocks,
        service,
        api,
        ..
    } = args.setup()?.load(&points, &progress).await?;
    progress.finish_and_clear();

    let s = spinner(&format!(
        "registering residents at {}/s",
        load.resident_rate
    ));
    let registrations = load::run(load.resident_rate, load.duration, |i| {
        let api = api.clone();
        let p = points[(i * 7_919) % points.len()];
        async move {
            let body = json!({
                "language": "uk",
                "location": { "lat": p.lat(), "lon": p.lon() },
                "contacts": [{ "channel": "sms", "address": format!("+38063{i:07}") }],
            });
            api.post("/api/v1/residents", &body).await.map(drop)
        }
    })
    .await;
    s.finish_and_clear();

    let s = spinner(&format!("creating notices at {}/s", load.notice_rate));
    let recipients = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let notices = load::run(load.notice_rate, load.duration, |i| {
        let api = api.clone();
        let centre = points[(i * 104_729 + 7) % points.len()];
        let recipients = recipients.clone();
        async move {
            let notice = circle_notice("unplanned", &format!("Load {i}"), centre, load.radius_m);
            let (_, deliveries) = api.publish(&notice).await?;
            recipients.fetch_add(deliveries, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    })
    .await;
    s.finish_and_clear();
    service.stop().await;

    println!(
        "\nAPI load, open loop, {} s per endpoint, {} residents ({:?} contacts) loaded, {}",
        load.duration.as_secs(),
        args.residents,
        args.contacts,
        args.mode()
    );
    println!(
        "\n| request | stated rate/s | started rate/s | requests | errors | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    row("POST /api/v1/residents", load.resident_rate, &registrations);
    row("POST /api/v1/notices", load.notice_rate, &notices);
    let per_notice = recipients.load(std::sync::atomic::Ordering::Relaxed) as f64
        / notices.latencies_ms.len().max(1) as f64;
    println!(
        "\nEach notice: a circle of {} m around a resident, {per_notice:.0} deliveries on average (written before the answer)",
        load.radius_m
    );
    for (what, r) in [("residents", &registrations), ("notices", &notices)] {
        if let Some(e) = &r.first_error {
            println!("note: first error of {what}: {e}");
        }
    }
    Ok(())
}

fn row(what: &str, rate: f64, r: &LoadRun) {
    println!(
        "| {what} | {rate} | {:.1} | {} | {} | {:.1} | {:.1} | {:.1} |",
        r.started_per_s,
        r.requests,
        r.errors,
        r.percentile(50.0),
        r.percentile(99.0),
        r.latencies_ms.last().copied().unwrap_or(f64::NAN)
    );
}
