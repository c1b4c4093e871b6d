//! `tocsin-bench fanout`: runs `tocsin_bench::fanout` `runs` times and
//! prints each run and the medians, with the targets.

use tocsin_bench::fanout::{self, FanoutRun};
use tocsin_bench::stats::median;

use super::{bar, mib, residents};
use crate::ServiceArgs;

pub async fn run(args: &ServiceArgs, runs: usize, watchers: usize) -> anyhow::Result<()> {
    let points = residents(args.residents, args.seed);
    let progress = bar(0, "");
    let mut done = Vec::new();
    let setup = args.setup()?;
    for _ in 0..runs {
        done.push(fanout::run(&setup, &points, &progress, watchers).await?);
    }
    progress.finish_and_clear();
    print(args, watchers, &done);
    Ok(())
}

fn print(args: &ServiceArgs, watchers: usize, runs: &[FanoutRun]) {
    println!(
        "\nFan-out, {} residents ({:?} contacts, seed {}), {}, {watchers} console page(s) watching: {} run(s)",
        args.residents,
        args.contacts,
        args.seed,
        args.mode(),
        runs.len()
    );
    println!(
        "\n| run | import residents/s | POST answered s | settled s | deliveries | not delivered | accepted by mocks | deliveries/s | bare client/s before / after | Tocsin / bare (mean) | body bytes Tocsin / bare | minimal-request bare/s | Tocsin / minimal | peak RSS serve MiB | workers MiB | DB MiB after import | DB bytes per delivery |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, r) in runs.iter().enumerate() {
        let bare = r
            .bare_per_s
            .map_or("–".to_owned(), |(b, a)| format!("{b:.0} / {a:.0}"));
        let percent =
            |x: Option<f64>| x.map_or("–".to_owned(), |x| format!("{:.0} %", x * 100.0));
        let ratio = percent(r.ratio());
        let bytes = r
            .body_bytes
            .map_or("–".to_owned(), |(t, b)| format!("{t:.0} / {b:.0}"));
        let minimal = r
            .minimal_per_s
            .map_or("–".to_owned(), |m| format!("{m:.0}"));
        let minimal_ratio = percent(r.minimal_ratio());
        let workers: Vec<String> = r.peak_rss[1..]
            .iter()
            .map(|b| format!("{:.0}", mib(*b)))
            .collect();
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {:.0} | {bare} | {ratio} | {bytes} | {minimal} | {minimal_ratio} | {:.0} | {} | {:.0} | {:.0} |",
            i + 1,
            r.import_per_s,
            r.accept_s,
            r.settle_s,
            r.deliveries,
            r.not_delivered,
            r.provider_accepted,
            r.per_s(),
            mib(r.peak_rss[0]),
            if workers.is_empty() {
                "–".to_owned()
            } else {
                workers.join(" / ")
            },
            mib(r.db_bytes_before),
            r.db_per_million() / 1e6,
        );
    }
    let per_s = median(runs.iter().map(FanoutRun::per_s).collect());
    let settle = median(runs.iter().map(|r| r.settle_s).collect());
    let rss = median(runs.iter().map(|r| mib(r.peak_rss[0])).collect());
    let db = median(
        runs.iter()
            .map(|r| r.db_per_million() / (1024.0 * 1024.0))
            .collect(),
    );
    println!(
        "\nMedians: {per_s:.0} deliveries/s, settled in {settle:.1} s, peak RSS of serve {rss:.0} MiB, database growth {db:.0} MiB per million deliveries"
    );
    let ratios: Vec<f64> = runs.iter().filter_map(FanoutRun::ratio).collect();
    if !ratios.is_empty() {
        let ratio = median(ratios);
        let met = if ratio >= 0.5 { "met" } else { "NOT met" };
        let minimal = median(runs.iter().filter_map(FanoutRun::minimal_ratio).collect());
        println!(
            "Target, fan-out ≥ 50 % of the bare client sending the same requests: {met} ({:.0} %; {:.0} % of the bare client sending the minimal request)",
            ratio * 100.0,
            minimal * 100.0
        );
    }
    print_cpu(runs);
    check_shape(runs);
    let missed = runs.iter().map(|r| r.not_delivered).sum::<u64>();
    if missed > 0 {
        println!("note: {missed} deliveries did not end delivered; see the states above");
    }
}

/// Where the CPU went, per delivery, beside the bare client's cost per
/// request and what 50 % of its rate would leave per delivery: whether
/// the service is short of CPU or waits, and which part costs most.
fn print_cpu(runs: &[FanoutRun]) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    println!(
        "\nCPU per delivery from the POST until settled (µs; `/proc`, {cpus} CPUs), and the bare client's CPU per request:"
    );
    println!(
        "\n| run | Tocsin | PostgreSQL | RabbitMQ | benchmark (mocks) | all | machine busy | bare client + mock µs/request | machine busy (bare) | µs per delivery at 50 % of the bare client |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (i, r) in runs.iter().enumerate() {
        let c = &r.cpu;
        let u = |s: f64| format!("{:.1}", c.per_unit_us(s));
        let all = c.used.tocsin + c.used.postgres + c.used.rabbitmq + c.used.bench;
        let bare = r.bare_cpu.map_or(("–".to_owned(), "–".to_owned()), |b| {
            (
                format!("{:.1}", b.per_unit_us(b.used.bench)),
                format!("{:.0} %", b.busy_share() * 100.0),
            )
        });
        // At half the bare client's mean rate, each delivery may use the
        // machine's CPU time for 1 / (rate / 2) seconds.
        let budget = r.bare_per_s.map_or("–".to_owned(), |(b, a)| {
            format!("{:.1}", cpus * 1e6 / ((b + a) / 4.0))
        });
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.0} % | {} | {} | {budget} |",
            i + 1,
            u(c.used.tocsin),
            u(c.used.postgres),
            u(c.used.rabbitmq),
            u(c.used.bench),
            u(all),
            c.busy_share() * 100.0,
            bare.0,
            bare.1,
        );
    }
}

/// Warns when the bare client's requests no longer look like Tocsin's, so
/// a ratio is never quoted against a different request unnoticed.
fn check_shape(runs: &[FanoutRun]) {
    for r in runs {
        if let Some(mismatch) = &r.shape_mismatch {
            println!("warning: the bare client sends headers Tocsin did not: {mismatch}");
        }
        if let Some((tocsin, bare)) = r.body_bytes
            && (tocsin - bare).abs() > tocsin * 0.1
        {
            println!(
                "warning: Tocsin's bodies average {tocsin:.0} bytes and the bare client's {bare:.0}; update bench/src/bare.rs to match"
            );
        }
    }
}
