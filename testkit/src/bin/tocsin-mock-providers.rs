//! Runs every mock provider (FCM, APNs, Twilio SMS and voice, SMTP) until
//! Ctrl-C, writes the Tocsin configuration that points at them, and prints
//! what each received on exit — for load checks against real wire formats.
//!
//! ```sh
//! cargo run --release -p tocsin-testkit --bin tocsin-mock-providers -- /tmp/mocks.toml
//! cargo run --release -- --config /tmp/mocks.toml serve
//! ```

use std::time::Duration;

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
            _ = tick.tick() => report(&providers),
        }
    }
    report(&providers);
    Ok(())
}

fn report(p: &tocsin_testkit::Providers) {
    println!(
        "fcm {} · apns {} · sms {} · calls {} · email {} · resent with the same key {}",
        p.fcm.messages().len(),
        p.apns.requests().len(),
        p.twilio.messages().len(),
        p.twilio.calls().len(),
        p.smtp.mails().len(),
        p.twilio.duplicates(),
    );
}
