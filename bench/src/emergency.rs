//! Emergency latency under a backlog: while a routine notice to the whole
//! city drains, publish emergency notices to small circles one after
//! another and time, at the mock provider, each one's first and last
//! message from the moment its POST was sent.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use tocsin_zones::GeoPoint;

use crate::api::{Contacts, busy, circle_notice, city_notice};
use crate::setup::{Loaded, Setup};

/// One emergency notice, timed.
#[derive(Debug, Clone)]
pub struct Sample {
    pub deliveries: u64,
    /// POST sent → its answer (the deliveries are written by then).
    pub answered_ms: f64,
    /// POST sent → first / last message of this notice at the mock.
    pub first_ms: f64,
    pub last_ms: f64,
    /// Routine deliveries still waiting when this notice was published.
    pub backlog_waiting: u64,
}

#[derive(Debug)]
pub struct EmergencyRun {
    pub backlog: u64,
    pub samples: Vec<Sample>,
}

/// How the emergencies are spread: `count` notices `interval` apart, each
/// to the residents within `radius_m` of a resident.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub count: usize,
    pub interval: Duration,
    pub radius_m: f64,
}

pub async fn run(
    setup: &Setup,
    points: &[GeoPoint],
    plan: Plan,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<EmergencyRun> {
    let Loaded {
        providers,
        service,
        api,
        ..
    } = setup.load(points, progress).await?;
    progress.set_message(format!("{}: backlog + emergencies", setup.mode));
    let (routine, backlog) = api.publish(&city_notice("planned", "Backlog")).await?;
    progress.set_length(backlog);
    let watch = crate::fanout::watch_progress(&providers, 0, progress);
    // Let the backlog start draining before the first emergency.
    while providers.accepted() < 1_000 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut published = Vec::new();
    for k in 0..plan.count {
        let centre = points[(k * 7_919 + 13) % points.len()];
        let notice = circle_notice(
            "emergency",
            &format!("Emergency {k}"),
            centre,
            plan.radius_m,
        );
        let sent = Instant::now();
        let (id, deliveries) = api.publish(&notice).await?;
        let answered_ms = sent.elapsed().as_secs_f64() * 1e3;
        let waiting = busy(&api.summary(routine).await?);
        published.push((id, sent, answered_ms, deliveries, waiting));
        tokio::time::sleep(plan.interval).await;
    }
    for (id, ..) in &published {
        api.settled(*id, Duration::from_millis(50)).await?;
    }
    // One pass over the million messages at the mock, grouped by notice.
    let tags: HashSet<String> = published.iter().map(|p| p.0.to_string()).collect();
    let pick = |tag: Option<&str>| tag.filter(|t| tags.contains(*t)).map(str::to_owned);
    let mut by_notice = match setup.contacts {
        Contacts::Apns => providers
            .apns
            .accepted_at(|r| pick(r.body["notice_id"].as_str())),
        _ => providers
            .fcm
            .accepted_at(|m| pick(m["message"]["data"]["notice_id"].as_str())),
    };
    let mut samples = Vec::new();
    for (id, sent, answered_ms, deliveries, backlog_waiting) in published {
        let mut times = by_notice.remove(&id.to_string()).unwrap_or_default();
        times.sort();
        let first = times.first().context("an emergency reached nobody")?;
        let last = times.last().expect("not empty");
        samples.push(Sample {
            deliveries,
            answered_ms,
            first_ms: first.duration_since(sent).as_secs_f64() * 1e3,
            last_ms: last.duration_since(sent).as_secs_f64() * 1e3,
            backlog_waiting,
        });
    }
    watch.abort();
    service.stop().await;
    Ok(EmergencyRun { backlog, samples })
}
