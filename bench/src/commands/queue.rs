//! `tocsin-bench queue`: RabbitMQ through lapin alone, medians of `runs`.

use tocsin_bench::queue::{self, QueuePlan};
use tocsin_bench::stats::median;

use super::spinner;

pub async fn run(url: &str, plan: QueuePlan, runs: usize) -> anyhow::Result<()> {
    let mut done = Vec::new();
    for i in 0..runs {
        let s = spinner(&format!("run {}/{runs}: publish, then consume", i + 1));
        done.push(queue::run(url, plan).await?);
        s.finish_and_clear();
    }
    let kind = if plan.quorum { "quorum" } else { "classic" };
    println!(
        "\nRabbitMQ through lapin: {} persistent messages of {} bytes, {kind} queue, confirms awaited per {} publishes, prefetch {}",
        plan.messages, plan.bytes, plan.window, plan.prefetch
    );
    println!("\n| run | publish + confirm msg/s | consume + ack msg/s |");
    println!("|---|---|---|");
    for (i, r) in done.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.0} |",
            i + 1,
            r.publish_per_s,
            r.consume_per_s
        );
    }
    let publish = median(done.iter().map(|r| r.publish_per_s).collect());
    let consume = median(done.iter().map(|r| r.consume_per_s).collect());
    println!(
        "\nMedians: publish {publish:.0} msg/s, consume {consume:.0} msg/s; at 200 deliveries per job that carries {:.0} deliveries/s",
        publish.min(consume) * 200.0
    );
    Ok(())
}
