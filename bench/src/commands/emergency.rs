//! `tocsin-bench emergency`: emergency notices under a draining backlog,
//! p50/p99 over every emergency of every run.

use tocsin_bench::emergency::{self, Plan, Sample};
use tocsin_bench::stats::percentile;

use super::{bar, residents};
use crate::ServiceArgs;

pub async fn run(args: &ServiceArgs, plan: Plan, runs: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.contacts != tocsin_bench::api::Contacts::Mixed,
        "emergency times one push channel: use --contacts fcm or apns"
    );
    let points = residents(args.residents, args.seed);
    let progress = bar(0, "");
    let mut samples: Vec<Sample> = Vec::new();
    let mut backlogs = Vec::new();
    let setup = args.setup()?;
    for _ in 0..runs {
        let r = emergency::run(&setup, &points, plan, &progress).await?;
        backlogs.push(r.backlog);
        samples.extend(r.samples);
    }
    progress.finish_and_clear();
    println!(
        "\nEmergency under a backlog: {} residents ({:?}), {}, {} emergencies per run {} ms apart, circles of {} m, {runs} run(s); backlog deliveries per run {backlogs:?}",
        args.residents,
        args.contacts,
        args.mode(),
        plan.count,
        plan.interval.as_millis(),
        plan.radius_m
    );
    println!(
        "\n| emergency | deliveries | routine still waiting | POST answered ms | POST → first call ms | POST → last call ms |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, s) in samples.iter().enumerate() {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} |",
            i + 1,
            s.deliveries,
            s.backlog_waiting,
            s.answered_ms,
            s.first_ms,
            s.last_ms
        );
    }
    let sorted = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let first = sorted(|s| s.first_ms);
    let last = sorted(|s| s.last_ms);
    let drained = samples.iter().filter(|s| s.backlog_waiting == 0).count();
    println!(
        "\nFirst call: p50 {:.0} ms, p99 {:.0} ms; last call: p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        percentile(&first, 50.0),
        percentile(&first, 99.0),
        percentile(&last, 50.0),
        percentile(&last, 99.0),
        samples.len()
    );
    if drained > 0 {
        println!("note: {drained} emergencies were published after the backlog had drained");
    }
    let met = if percentile(&first, 99.0) < 1_000.0 {
        "met"
    } else {
        "NOT met"
    };
    println!("Target, first emergency call < 1 s p99 under the backlog: {met}");
    Ok(())
}
