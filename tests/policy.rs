//! Delivery policy against a mock Twilio gateway that timestamps every
//! request: each message once while notices and a cascade overlap, the
//! provider rate limit per rolling second, a provider-wide
//! pause on 429 + Retry-After, an emergency overtaking a routine backlog,
//! expiry at the end of the works and a closing message stopping what the
//! first message had not yet reached.

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Backend, Providers, TestApp, busiest_second, notice_body, rect};

/// Registers `count` residents with SMS numbers `+380{prefix}{i:07}` in a
/// new zone and returns the zone.
async fn residents(app: &TestApp, name: &str, prefix: &str, count: usize, lon: f64) -> i64 {
    let zone = app
        .create_zone(name, &rect(lon, 50.70, lon + 0.05, 50.75))
        .await;
    app.import_residents((0..count).map(|i| {
        json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": format!("+380{prefix}{i:07}")}]})
    }))
    .await;
    zone
}

fn in_zone(kind: &str, zone: i64) -> Value {
    notice_body(kind, json!({"zones": [zone]}))
}

async fn no_second_exceeds_the_rate_limit(backend: Backend) {
    const RATE: usize = 50;
    const BURST: usize = 10;
    const MESSAGES: usize = 2_000;
    let p = Providers::start().await;
    let config = p.config(&format!(
        "[rates.sms]\nper_second = {RATE}\nburst = {BURST}\n"
    ));
    let mut app = TestApp::spawn_on(backend, &config).await;
    if app.is_cluster() {
        // Two workers: the limit is the account's, not each process's.
        app.start_worker().await;
    }
    let zone = residents(&app, "Місто", "67", MESSAGES, 25.30).await;
    let id = app.publish(in_zone("unplanned", zone)).await["id"]
        .as_i64()
        .unwrap();
    let s = app.wait_settled_within(id, Duration::from_secs(120)).await;
    assert_eq!(s["by_state"]["sent"], MESSAGES as i64, "{s}");
    let times: Vec<Instant> = p.twilio.arrivals().iter().map(|a| a.at).collect();
    assert_eq!(times.len(), MESSAGES);
    // Any rolling second, the first one (burst and all) included.
    let busiest = busiest_second(&times);
    eprintln!("busiest second: {busiest} requests (limit {RATE}/s, burst {BURST})");
    assert!(busiest <= RATE, "{busiest} requests in one second");
    // And the limit was not met by sending far below it.
    assert!(
        busiest >= RATE - BURST,
        "only {busiest} requests in the busiest second"
    );
}

async fn retry_after_pauses_the_whole_provider(backend: Backend) {
    let p = Providers::start().await;
    // One call at a time, so "the next request" is well defined: a pause
    // of only the refused message would let the next resident's go at once.
    let app = TestApp::spawn_on(backend, &p.config("[rates.sms]\nmax_in_flight = 1\n")).await;
    let zone = residents(&app, "Центр", "67", 12, 25.30).await;
    p.twilio.fail_next(2, 429, Some(Duration::from_secs(2)));
    let id = app.publish(in_zone("unplanned", zone)).await["id"]
        .as_i64()
        .unwrap();
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["sent"], 12, "{s}\n{}", app.logs());
    let arrivals = p.twilio.arrivals();
    assert_eq!(arrivals.len(), 14, "{arrivals:?}");
    for (i, a) in arrivals.iter().enumerate() {
        if a.refused != Some(429) {
            continue;
        }
        let next = arrivals[i + 1].at - a.at;
        assert!(
            next >= Duration::from_secs(2),
            "request {} came {next:?} after a 429 asking for 2 s",
            i + 1
        );
    }
}

async fn an_emergency_overtakes_a_routine_backlog(backend: Backend) {
    const BACKLOG: usize = 100_000;
    const URGENT: usize = 30;
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("[rates.sms]\nper_second = 200\n")).await;
    let routine = residents(&app, "Місто", "67", BACKLOG, 25.30).await;
    let urgent = residents(&app, "Вокзал", "50", URGENT, 25.50).await;
    let planned = app.publish(in_zone("planned", routine)).await;
    assert_eq!(planned["deliveries"], BACKLOG as i64);
    // Let the backlog start draining.
    assert!(p.twilio.wait_for(200, Duration::from_secs(60)).await);

    let emergency = app.publish(in_zone("emergency", urgent)).await;
    // From the moment the API answered 201.
    let accepted = Instant::now();
    assert_eq!(emergency["deliveries"], URGENT as i64);
    let is_urgent =
        |m: &tocsin_testkit::TwilioRequest| m.param("To").unwrap().starts_with("+38050");
    let first = loop {
        if let Some(i) = p.twilio.messages().iter().position(is_urgent) {
            break i;
        }
        assert!(
            accepted.elapsed() < Duration::from_secs(5),
            "no emergency message within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let latency = accepted.elapsed();
    eprintln!("first emergency message {latency:?} after the API accepted it");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let id = emergency["id"].as_i64().unwrap();
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["sent"], URGENT as i64, "{s}");
    // From the first emergency message on, nothing routine until the last.
    let sent = p.twilio.messages();
    let order: Vec<bool> = sent[first..].iter().map(is_urgent).collect();
    let last = order.iter().rposition(|u| *u).unwrap();
    assert!(
        order[..=last].iter().all(|u| *u),
        "routine messages went between emergency ones: {order:?}"
    );
    let routine_left = app.summary(planned["id"].as_i64().unwrap()).await;
    assert!(
        routine_left["by_state"]["sent"].as_i64().unwrap() < BACKLOG as i64 / 2,
        "the backlog was not waiting: {routine_left}"
    );
}

async fn unsent_messages_expire_when_the_works_end(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(
        backend,
        &p.config("[rates.sms]\nper_second = 2\nburst = 1\n"),
    )
    .await;
    let zone = residents(&app, "Центр", "67", 20, 25.30).await;
    let mut body = in_zone("planned", zone);
    body["expected_end"] = json!((chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339());
    let id = app.publish(body).await["id"].as_i64().unwrap();
    let s = app.wait_settled(id).await;
    let sent = s["by_state"]["sent"].as_i64().unwrap_or(0);
    let expired = s["by_state"]["expired"].as_i64().unwrap_or(0);
    assert_eq!(sent + expired, 20, "{s}");
    assert!((3..=10).contains(&sent), "{s}");
    assert_eq!(p.twilio.messages().len() as i64, sent);
    let r = app
        .get(&format!("/api/v1/notices/{id}/deliveries?state=expired"))
        .await;
    assert!(
        r.body["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("ended"),
        "{r:?}"
    );
}

async fn closing_stops_what_the_first_message_had_not_reached(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(
        backend,
        &p.config("[rates.sms]\nper_second = 5\nburst = 1\n"),
    )
    .await;
    let zone = residents(&app, "Центр", "67", 40, 25.30).await;
    let id = app.publish(in_zone("planned", zone)).await["id"]
        .as_i64()
        .unwrap();
    assert!(p.twilio.wait_for(3, Duration::from_secs(10)).await);
    let r = app
        .post(
            &format!("/api/v1/notices/{id}/close"),
            &json!({"message": "Водопостачання відновлено"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let s = app.wait_settled_within(id, Duration::from_secs(60)).await;
    let first = &s["by_event"]["0"]["by_state"];
    let stopped = first["suppressed"].as_i64().unwrap_or(0);
    assert!(stopped >= 20, "{s}");
    let sent_first = first["sent"].as_i64().unwrap_or(0);
    assert_eq!(sent_first + stopped, 40, "{s}");
    // Everyone gets the closing message; the stopped first ones never went.
    assert_eq!(s["by_event"]["1"]["by_state"]["sent"], 40, "{s}");
    assert_eq!(p.twilio.messages().len() as i64, sent_first + 40);
}

/// Several notices published close together while a cascade releases the
/// email step of the earlier ones: the release loop's publishing and each
/// notice's own overlap, and no message may go out twice.
async fn notices_close_together_with_a_cascade_send_each_message_once(backend: Backend) {
    const RESIDENTS: usize = 60;
    const NOTICES: usize = 10;
    let p = Providers::start().await;
    let cascade = r#"
[policy.fallback]
unplanned = [
  { channels = ["sms"] },
  { channels = ["email"], after_secs = 1, unless = "delivered" },
]
"#;
    let app = TestApp::spawn_on(backend, &p.config(cascade)).await;
    let zone = app
        .create_zone("Місто", &rect(25.30, 50.70, 25.35, 50.75))
        .await;
    app.import_residents((0..RESIDENTS).map(|i| {
        json!({"language": "uk", "zones": [zone], "contacts": [
            {"channel": "sms", "address": format!("+38066{i:07}")},
            {"channel": "email", "address": format!("r{i}@lutsk.example")}]})
    }))
    .await;
    let mut notices = Vec::new();
    for k in 0..NOTICES {
        let mut body = in_zone("unplanned", zone);
        body["title"] = json!(format!("Ремонт водогону №{k}"));
        notices.push(app.publish(body).await["id"].as_i64().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = RESIDENTS * NOTICES;
    assert!(
        p.smtp.wait_for(all, Duration::from_secs(60)).await,
        "{}",
        app.logs()
    );
    for id in notices {
        app.wait_settled(id).await;
    }
    // Late duplicates would arrive after the last first copy.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (channel, tally) in [("sms", p.twilio.tally()), ("email", p.smtp.tally())] {
        eprintln!(
            "{channel}: {} messages to {} recipients, {} duplicates",
            tally.messages(),
            tally.recipients(),
            tally.duplicates()
        );
        assert_eq!(tally.duplicates(), 0, "{channel}: {:?}", tally.duplicated());
        assert_eq!(
            (tally.messages(), tally.recipients()),
            (all, RESIDENTS),
            "{channel}"
        );
    }
}

on_both_backends!(
    notices_close_together_with_a_cascade_send_each_message_once,
    no_second_exceeds_the_rate_limit,
    retry_after_pauses_the_whole_provider,
    an_emergency_overtakes_a_routine_backlog,
    unsent_messages_expire_when_the_works_end,
    closing_stops_what_the_first_message_had_not_reached,
);
