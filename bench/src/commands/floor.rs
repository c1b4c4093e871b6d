//! `tocsin-bench floor`: PostgreSQL's least CPU for tracking a delivery,
//! `runs` times, each step and the medians.

use tocsin_bench::floor::{self, FloorPlan, FloorRun};
use tocsin_bench::stats::median;

use super::spinner;

pub async fn run(plan: FloorPlan, runs: usize) -> anyhow::Result<()> {
    let mut done = Vec::new();
    for i in 0..runs {
        let s = spinner(&format!("run {}/{runs}: insert, claim, outcome", i + 1));
        done.push(floor::run(plan).await?);
        s.finish_and_clear();
    }
    println!(
        "\nPostgreSQL alone: {} rows as wide as a delivery, two indexes, inserted, claimed and given their outcome (one connection, a commit per statement)",
        plan.rows
    );
    println!(
        "\n| run | step | statements | backend CPU µs/row | all PostgreSQL CPU µs/row | wall µs/row | machine busy |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, r) in done.iter().enumerate() {
        for s in &r.steps {
            let sp = &s.spent;
            println!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} % |",
                i + 1,
                s.name,
                s.statements,
                sp.per_unit_us(s.backend_s),
                sp.per_unit_us(sp.used.postgres),
                sp.per_unit_us(sp.wall_s),
                sp.busy_share() * 100.0
            );
        }
    }
    let cpu = median(done.iter().map(FloorRun::postgres_per_row_us).collect());
    let wall = median(done.iter().map(FloorRun::wall_per_row_us).collect());
    let (hot, all) = done.last().map_or((0, 0), |r| r.hot_updates);
    println!(
        "\nMedians over the three steps: PostgreSQL {cpu:.1} µs of CPU and {wall:.1} µs of wall time per delivery; {hot} of {all} updates in place (HOT)"
    );
    Ok(())
}
