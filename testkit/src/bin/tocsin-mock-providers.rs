//! Runs every mock provider (FCM, APNs, Twilio SMS and voice, SMTP) until
//! Ctrl-C, writes the Tocsin configuration that points at them, and prints
//! per channel the messages, recipients and duplicate copies every five
//! seconds and on exit, then who got duplicates — for load checks against
//! real wire formats.
//!
//! ```sh
//! cargo run --release -p tocsin-testkit --bin tocsin-mock-providers -- /tmp/mocks.toml
//! cargo run --release -- --config /tmp/mocks.toml serve
//! ```

use std::time::Duration;

use tocsin_testkit::Tally;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mock-providers.toml".to_owned());
    let providers = tocsin_testkit::Providers::start().await;
    std::fs::write(&path, providers.config(""))?;
    println!("mock providers running; Tocsin configuration written to {path}");
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    // SIGTERM too: a shell script's background jobs ignore SIGINT.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick() => report(&providers.tallies()),
        }
    }
    let tallies = providers.tallies();
    report(&tallies);
    list_duplicated(&tallies);
    Ok(())
}

/// Most duplicated recipients listed per channel at exit.
const LISTED: usize = 20;

/// One line: per channel the messages, recipients and duplicate copies.
fn report(tallies: &[(&str, Tally)]) {
    let parts: Vec<String> = tallies
        .iter()
        .map(|(channel, t)| {
            format!(
                "{channel} {} to {} · {} duplicates",
                t.messages(),
                t.recipients(),
                t.duplicates()
            )
        })
        .collect();
    println!("{}", parts.join("  |  "));
}

/// The recipients that got identical copies, most copies first.
fn list_duplicated(tallies: &[(&str, Tally)]) {
    for (channel, tally) in tallies {
        let duplicated = tally.duplicated();
        if duplicated.is_empty() {
            continue;
        }
        println!(
            "{channel}: {} recipients got a message more than once",
            duplicated.len()
        );
        for (recipient, copies) in duplicated.iter().take(LISTED) {
            println!("  {recipient}  {copies} copies");
        }
        if duplicated.len() > LISTED {
            println!("  … and {} more", duplicated.len() - LISTED);
        }
    }
}
