//! Who gets what when: quiet hours (on a moved policy clock, not a sleep
//! until morning), the daily cap of informational notices, and the channel
//! fallback cascade with its "unless delivered / acknowledged" steps.

mod support;

use chrono::{DateTime, Duration as Span, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Kyiv;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Backend, Providers, TestApp, notice_body, rect};

const FCM_TOKEN: &str = "fcm-device-token-cascade";

/// The first `hh:mm` in Kyiv at least ten minutes from now, so times built
/// from it are in the real future whatever time CI runs at.
fn next_kyiv(hh: u32, mm: u32) -> DateTime<Utc> {
    let soon = (Utc::now() + Span::minutes(10)).with_timezone(&Kyiv);
    let mut day = soon.date_naive();
    loop {
        let t = Kyiv
            .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap()))
            .earliest()
            .unwrap();
        if t > soon {
            return t.with_timezone(&Utc);
        }
        day = day.succ_opt().unwrap();
    }
}

async fn set_clock(app: &TestApp, now: DateTime<Utc>) {
    let r = app
        .send(
            app.client()
                .put(app.url("/api/v1/testing/clock"))
                .bearer_auth(support::ADMIN_TOKEN)
                .json(&json!({ "now": now.to_rfc3339() })),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

async fn deliveries(app: &TestApp, notice: i64, channel: &str) -> Vec<Value> {
    let r = app
        .get(&format!(
            "/api/v1/notices/{notice}/deliveries?channel={channel}"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["deliveries"].as_array().unwrap().clone()
}

/// Waits until the delivery to `address` on `channel` is in `state`.
async fn wait_for(app: &TestApp, notice: i64, channel: &str, address: &str, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let list = deliveries(app, notice, channel).await;
        let d = list
            .iter()
            .find(|d| d["address"] == address)
            .unwrap_or_else(|| panic!("no {channel} delivery to {address}: {list:?}"))
            .clone();
        if d["state"] == state {
            return d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{channel} to {address} never became {state}: {d}\n{}",
            app.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn zone(app: &TestApp) -> i64 {
    app.create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await
}

async fn quiet_hours_hold_routine_messages_until_morning(backend: Backend) {
    let config = "[testing]\nadjustable_clock = true\n\n[policy]\nquiet_hours = \"22:00-07:00\"\n";
    let app = TestApp::spawn_on(backend, config).await;
    let zone = zone(&app).await;
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
        {"channel": "sms", "address": "+380671110001"},
        {"channel": "email", "address": "olena@example.com"},
    ]}))
    .await;
    // A resident who turned quiet hours off gets routine messages at night.
    app.create_resident(
        json!({"language": "uk", "zones": [zone], "quiet_hours": "off",
        "contacts": [{"channel": "sms", "address": "+380671110002"}]}),
    )
    .await;
    let night = next_kyiv(1, 30);
    set_clock(&app, night).await;

    let planned = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    let planned = planned["id"].as_i64().unwrap();
    // Works that end at 02:30 are over before anyone wakes up.
    let mut short = notice_body("unplanned", json!({"zones": [zone]}));
    short["expected_end"] = json!((night + Span::hours(1)).to_rfc3339());
    let short = app.publish(short).await["id"].as_i64().unwrap();
    let emergency = app
        .publish(notice_body("emergency", json!({"zones": [zone]})))
        .await;
    let emergency = emergency["id"].as_i64().unwrap();

    // Email never wakes anyone; the opted-out resident is not held.
    wait_for(&app, planned, "email", "olena@example.com", "delivered").await;
    wait_for(&app, planned, "sms", "+380671110002", "delivered").await;
    let held = wait_for(&app, planned, "sms", "+380671110001", "suppressed").await;
    assert_eq!(held["error"], "quiet hours until 07:00 EET", "{held}");
    wait_for(&app, short, "sms", "+380671110001", "suppressed").await;
    // An emergency goes at once.
    wait_for(&app, emergency, "sms", "+380671110001", "delivered").await;

    // Morning: the held message goes; the one for finished works expires.
    set_clock(&app, night + Span::hours(5) + Span::minutes(31)).await;
    wait_for(&app, planned, "sms", "+380671110001", "delivered").await;
    let expired = wait_for(&app, short, "sms", "+380671110001", "expired").await;
    assert!(
        expired["error"].as_str().unwrap().contains("ended"),
        "{expired}"
    );
}

async fn the_daily_cap_drops_informational_notices_beyond_it(backend: Backend) {
    let app = TestApp::spawn_on(backend, "[policy]\ndaily_cap = 2\n").await;
    let zone = zone(&app).await;
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
        {"channel": "sms", "address": "+380671110003"}]}))
        .await;
    let mut states = Vec::new();
    for kind in ["planned", "planned", "planned", "unplanned"] {
        let id = app
            .publish(notice_body(kind, json!({"zones": [zone]})))
            .await["id"]
            .as_i64()
            .unwrap();
        let s = app.wait_settled(id).await;
        let state = s["by_state"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        states.push(state);
    }
    // The simulated SMS gateway reports delivery.
    assert_eq!(
        states,
        ["delivered", "delivered", "suppressed", "delivered"]
    );
}

async fn a_cascade_falls_back_until_someone_is_reached(backend: Backend) {
    let p = Providers::start().await;
    let cascade = r#"
[policy.fallback]
unplanned = [
  { channels = ["fcm"] },
  { channels = ["sms"], after_secs = 2, unless = "delivered" },
  { channels = ["voice"], after_secs = 4, unless = "delivered" },
  { channels = ["email"], after_secs = 8, unless = "acknowledged" },
]
"#;
    let app = TestApp::spawn_on(backend, &p.config(cascade)).await;
    let zone = zone(&app).await;
    // Has the app: push first; push never reports delivery, so the SMS
    // follows, then the call (no SMS receipt either); pressing 1 on the
    // call makes the email unnecessary.
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
        {"channel": "fcm", "address": FCM_TOKEN},
        {"channel": "sms", "address": "+380671110011"},
        {"channel": "voice", "address": "+380671110010"},
        {"channel": "email", "address": "app@example.com"}]}))
        .await;
    // No app: starts with the SMS at once; nobody acknowledges, so the
    // email follows 6 s later (8 s - 2 s).
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
        {"channel": "sms", "address": "+380671110021"},
        {"channel": "email", "address": "noapp@example.com"}]}))
        .await;
    let published = Instant::now();
    let id = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();

    wait_for(&app, id, "fcm", FCM_TOKEN, "sent").await;
    wait_for(&app, id, "sms", "+380671110021", "sent").await;
    let no_app_sms = published.elapsed();
    assert!(no_app_sms < Duration::from_millis(1_900), "{no_app_sms:?}");
    let waiting = wait_for(&app, id, "sms", "+380671110011", "pending").await;
    assert!(waiting["sent_at"].is_null());

    wait_for(&app, id, "sms", "+380671110011", "sent").await;
    assert!(published.elapsed() >= Duration::from_secs(2));
    wait_for(&app, id, "voice", "+380671110010", "sent").await;
    assert!(published.elapsed() >= Duration::from_secs(4));
    let call = p
        .twilio
        .calls()
        .into_iter()
        .find(|c| c.param("To") == Some("+380671110010"))
        .unwrap();
    assert_eq!(p.twilio.press_digits(&call.sid, "1").await, 200);
    wait_for(&app, id, "voice", "+380671110010", "acknowledged").await;

    wait_for(&app, id, "email", "noapp@example.com", "sent").await;
    let dropped = wait_for(&app, id, "email", "app@example.com", "suppressed").await;
    assert!(
        dropped["error"]
            .as_str()
            .unwrap()
            .contains("earlier channel"),
        "{dropped}"
    );
    let mails = p.smtp.mails();
    assert_eq!(
        mails.len(),
        1,
        "an email went to a resident who acknowledged the call"
    );
}

async fn overlapping_notices_about_one_outage_message_each_resident_once(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let west = app
        .create_zone("Захід", &rect(25.30, 50.73, 25.33, 50.76))
        .await;
    let east = app
        .create_zone("Схід", &rect(25.32, 50.73, 25.35, 50.76))
        .await;
    // Three residents: in the west, in the overlap, in the east.
    for (i, lon) in [25.305, 25.325, 25.345].into_iter().enumerate() {
        app.create_resident(
            json!({"language": "uk", "location": {"lat": 50.745, "lon": lon},
            "contacts": [{"channel": "sms", "address": format!("+38067111004{i}")}]}),
        )
        .await;
    }
    let mut first = notice_body("unplanned", json!({"zones": [west]}));
    first["outage"] = json!("main-12");
    let first = app.publish(first).await;
    assert_eq!(first["deliveries"], 2);
    app.wait_settled(first["id"].as_i64().unwrap()).await;
    // The crew finds the break is wider: the same outage, both districts.
    let mut wider = notice_body("unplanned", json!({"zones": [west, east]}));
    wider["outage"] = json!("main-12");
    let wider = app.publish(wider).await;
    assert_eq!(wider["deliveries"], 1, "{wider}");
    let id = wider["id"].as_i64().unwrap();
    let sent = deliveries(&app, id, "sms").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["address"], "+380671110042");
    // All three are its audience: its updates reach everyone.
    let r = app
        .post(
            &format!("/api/v1/notices/{id}/update"),
            &json!({"message": "Ще 2 години"}),
        )
        .await;
    assert_eq!(r.body["event"]["deliveries"], 3, "{r:?}");
}

async fn a_residents_channel_order_reorders_the_cascade(backend: Backend) {
    let cascade = r#"
[policy.fallback]
unplanned = [
  { channels = ["fcm"] },
  { channels = ["sms"], after_secs = 2, unless = "delivered" },
]
"#;
    let app = TestApp::spawn_on(backend, cascade).await;
    let zone = zone(&app).await;
    // The simulated providers report every message delivered, so only the
    // first channel of each resident is ever used.
    let contacts = json!([
        {"channel": "fcm", "address": "token-a"},
        {"channel": "sms", "address": "+380671110050"}]);
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": contacts}))
        .await;
    let contacts = json!([
        {"channel": "fcm", "address": "token-b"},
        {"channel": "sms", "address": "+380671110051"}]);
    app.create_resident(
        json!({"language": "uk", "zones": [zone], "channels": ["sms", "fcm"],
        "contacts": contacts}),
    )
    .await;
    let id = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    wait_for(&app, id, "fcm", "token-a", "delivered").await;
    wait_for(&app, id, "sms", "+380671110051", "delivered").await;
    wait_for(&app, id, "sms", "+380671110050", "suppressed").await;
    wait_for(&app, id, "fcm", "token-b", "suppressed").await;
}

#[tokio::test]
async fn the_test_clock_exists_only_when_configured_and_checks_its_input() {
    let put = |app: &TestApp, body: Value| {
        app.client()
            .put(app.url("/api/v1/testing/clock"))
            .bearer_auth(support::ADMIN_TOKEN)
            .json(&body)
    };
    let production = TestApp::spawn().await;
    let r = production
        .send(put(&production, json!({"now": Utc::now()})))
        .await;
    assert_eq!(r.status, 404, "{r:?}");

    let app = TestApp::spawn_on(Backend::Embedded, "[testing]\nadjustable_clock = true\n").await;
    let r = app.send(put(&app, json!({"now": "tomorrow"}))).await;
    assert_eq!((r.status, r.field()), (422, "now"), "{r:?}");
    let r = app
        .send(put(&app, json!({"now": Utc::now(), "speed": 2})))
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = app
        .send(
            app.client()
                .put(app.url("/api/v1/testing/clock"))
                .json(&json!({"now": Utc::now()})),
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
}

on_both_backends!(
    a_residents_channel_order_reorders_the_cascade,
    overlapping_notices_about_one_outage_message_each_resident_once,
    quiet_hours_hold_routine_messages_until_morning,
    the_daily_cap_drops_informational_notices_beyond_it,
    a_cascade_falls_back_until_someone_is_reached,
);
