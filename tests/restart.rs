//! Crashes and shutdowns lose nothing: unfinished deliveries are re-queued
//! at the next start, and a resend carries the same idempotency key.

mod support;

use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use support::{Providers, TestApp, assert_no_loss, notice_body, rect};

const RESIDENTS: usize = 60;

async fn city_with_sms_residents(app: &TestApp) -> i64 {
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.import_residents(numbers().into_iter().map(|number| {
        json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": number}]})
    }))
    .await;
    zone
}

fn numbers() -> Vec<String> {
    (0..RESIDENTS)
        .map(|i| format!("+38067{:07}", 1_000_000 + i))
        .collect()
}

/// Every number got the notice, each delivery under one key; returns the
/// extra copies the gateway sent.
fn assert_each_number_reached(p: &Providers, what: &str) -> usize {
    let keys: HashSet<String> = p
        .twilio
        .messages()
        .into_iter()
        .map(|m| m.idempotency_token.unwrap())
        .collect();
    assert_eq!(keys.len(), RESIDENTS, "one idempotency key per delivery");
    assert_no_loss(&p.twilio.tally(), &numbers(), what)
}

#[tokio::test]
async fn a_killed_process_finishes_every_delivery_after_restart() {
    let p = Providers::start().await;
    let app_config = p.config("[dispatch]\nconcurrency = 4\n");
    let mut app = TestApp::spawn_with_config(&app_config).await;
    let zone = city_with_sms_residents(&app).await;
    // Slow gateway: requests are recorded, then answered 150 ms later, so a
    // kill lands while some are accepted but not yet answered.
    p.twilio.set_delay(Duration::from_millis(150));
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    assert!(p.twilio.wait_for(15, Duration::from_secs(30)).await);
    app.kill().await;
    let before = p.twilio.messages().len();
    assert!(
        before < RESIDENTS,
        "killed too late to test anything ({before} sent)"
    );

    p.twilio.set_delay(Duration::ZERO);
    app.restart().await;
    let s = app.wait_settled(id).await;
    assert_eq!(
        s["by_state"]["sent"],
        RESIDENTS as i64,
        "{s}\n{}",
        app.logs()
    );
    let duplicates = assert_each_number_reached(&p, "kill -9");
    // Only messages in flight at the kill (concurrency 4) are sent again,
    // and each is a second SMS on that phone.
    assert!(duplicates <= 4, "{duplicates} duplicates");
    assert!(app.logs().contains("re-queued unfinished deliveries"));
}

#[tokio::test]
async fn sigterm_finishes_in_flight_sends_and_exits_cleanly() {
    let p = Providers::start().await;
    let mut app = TestApp::spawn_with_config(&p.config("[dispatch]\nconcurrency = 4\n")).await;
    let zone = city_with_sms_residents(&app).await;
    p.twilio.set_delay(Duration::from_millis(100));
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    assert!(p.twilio.wait_for(8, Duration::from_secs(30)).await);
    let status = app.terminate().await;
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());

    p.twilio.set_delay(Duration::ZERO);
    app.restart().await;
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["sent"], RESIDENTS as i64, "{s}");
    assert_eq!(
        assert_each_number_reached(&p, "SIGTERM"),
        0,
        "a graceful stop records every answer it got"
    );
}

/// The pace of a restarted process starts without a burst: it cannot know
/// what the one before it sent in its last second, and no rolling second
/// at the provider may carry more than `per_second`.
#[tokio::test]
async fn a_restart_mid_fan_out_keeps_to_the_rate() {
    const RATE: usize = 20;
    let p = Providers::start().await;
    let config = p.config(&format!("[rates.sms]\nper_second = {RATE}\nburst = 5\n"));
    let mut app = TestApp::spawn_with_config(&config).await;
    let zone = city_with_sms_residents(&app).await;
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    assert!(p.twilio.wait_for(RATE, Duration::from_secs(30)).await);
    app.kill().await;
    app.restart().await;
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["sent"], RESIDENTS as i64, "{s}");
    let times: Vec<_> = p.twilio.arrivals().iter().map(|a| a.at).collect();
    let busiest = support::busiest_second(&times);
    eprintln!("busiest second across the restart: {busiest} (limit {RATE})");
    assert!(busiest <= RATE, "{busiest} requests in one second");
    assert!(assert_each_number_reached(&p, "restart at a pace") <= 4);
}
