//! The scheduler on a moved clock: reminders of planned works the day
//! before and at the start (once each), expired notices closed and
//! journaled, and the leadership digest by email with its counts.

mod support;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, TestApp, rect};

async fn set_clock(app: &TestApp, now: DateTime<Utc>) {
    let r = app
        .send(
            app.client()
                .put(app.url("/api/v1/testing/clock"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&json!({ "now": now })),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// Waits until `query` in the outbox has `n` messages (then a little
/// longer, to see that no more come).
async fn wait_outbox(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sent = app.outbox(query).await;
        if sent.len() >= n {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            let sent = app.outbox(query).await;
            assert_eq!(sent.len(), n, "{sent:?}");
            return sent;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sent:?}\n{}",
            app.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn sms_bodies(sent: &[Value]) -> Vec<String> {
    sent.iter()
        .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn planned_works_are_recalled_the_day_before_and_at_the_start() {
    let app = TestApp::spawn_with_config("[testing]\nadjustable_clock = true\n").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [zone],
        "quiet_hours": "off",
        "contacts": [{"channel": "sms", "address": "+380671234567"}]}))
        .await;
    let start = Utc::now() + Duration::days(3);
    let notice = app
        .publish(
            json!({"kind": "planned", "category": "water", "title": "Ремонт водогону",
            "starts_at": start, "expected_end": start + Duration::hours(8),
            "area": {"zones": [zone]}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let query = format!("notice={notice}&channel=sms");
    wait_outbox(&app, &query, 1).await;

    set_clock(&app, start - Duration::hours(23)).await;
    let sent = wait_outbox(&app, &query, 2).await;
    assert!(
        sms_bodies(&sent)[1].starts_with("Нагадування: Планові роботи"),
        "{sent:?}"
    );

    set_clock(&app, start + Duration::minutes(1)).await;
    let sent = wait_outbox(&app, &query, 3).await;
    assert!(
        sms_bodies(&sent)[2].starts_with("Нагадування: "),
        "{sent:?}"
    );

    // Later ticks send nothing more.
    set_clock(&app, start + Duration::minutes(30)).await;
    wait_outbox(&app, &query, 3).await;
    let events = app.get(&format!("/api/v1/notices/{notice}")).await;
    let kinds: Vec<&str> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["published", "reminder", "reminder"], "{events:?}");
}

#[tokio::test]
async fn a_notice_past_its_expiry_is_closed_and_journaled() {
    let app = TestApp::spawn_with_config("[testing]\nadjustable_clock = true\n").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let now = Utc::now();
    let notice = app
        .publish(
            json!({"kind": "unplanned", "category": "power", "title": "Відключення",
            "starts_at": now, "expected_end": now + Duration::hours(4),
            "expires_at": now + Duration::hours(6), "area": {"zones": [zone]}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    set_clock(&app, now + Duration::hours(7)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = app.get(&format!("/api/v1/notices/{notice}")).await;
        if n.body["status"] == "closed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{n:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let j = app.get("/api/v1/journal?limit=1000").await;
    let expired: Vec<&Value> = j.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "notice.expired")
        .collect();
    assert_eq!(expired.len(), 1, "{j:?}");
    assert_eq!(expired[0]["subject"], format!("notice/{notice}"));
}

#[tokio::test]
async fn the_leadership_digest_arrives_by_email_with_its_counts() {
    // The digest runs daily at a Kyiv time two hours from now (to the
    // minute): late enough that a notice due to end in an hour is overdue,
    // and always within the 24 hours it counts, whatever time the test
    // runs. (A fixed 07:30 fell outside them between 05:30 and 07:30.)
    let kyiv = chrono_tz::Europe::Kyiv;
    let local = (Utc::now() + Duration::hours(2)).with_timezone(&kyiv);
    let at = kyiv
        .from_local_datetime(
            &local
                .date_naive()
                .and_hms_opt(local.hour(), local.minute(), 0)
                .unwrap(),
        )
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    let config = format!(
        "[testing]\nadjustable_clock = true\n\n[digest]\n\
         to = [\"mayor@lutsk.example\", \"cp@lutsk.example\"]\n\
         cron = \"0 {} {} * * *\"\nlanguage = \"en\"\n",
        local.minute(),
        local.hour()
    );
    let app = TestApp::spawn_with_config(&config).await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(
        json!({"language": "uk", "zones": [zone], "quiet_hours": "off",
        "contacts": [{"channel": "sms", "address": "+380671234567"}]}),
    )
    .await;
    let now = Utc::now();
    // Overdue by the time of the digest: it should have ended in an hour.
    let overdue = app
        .publish(
            json!({"kind": "emergency", "category": "water", "title": "Прорив труби",
            "starts_at": now, "expected_end": now + Duration::hours(1),
            "area": {"zones": [zone]}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.wait_settled(overdue).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // Three seconds before the digest.
    assert!(
        at > now + Duration::hours(1),
        "the notice is overdue by then"
    );
    set_clock(&app, at - Duration::seconds(3)).await;
    let mail = wait_outbox(&app, "channel=email", 2).await;
    let to: Vec<&str> = mail
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    assert!(
        to.contains(&"mayor@lutsk.example") && to.contains(&"cp@lutsk.example"),
        "{to:?}"
    );
    let subject = mail[0]["content"]["subject"].as_str().unwrap();
    assert!(subject.starts_with("Daily digest, "), "{subject}");
    let body = mail[0]["content"]["body"].as_str().unwrap();
    assert!(
        body.contains("Notices published in the last 24 hours: 1"),
        "{body}"
    );
    assert!(body.contains("emergency: 1"), "{body}");
    assert!(body.contains("sms: sent 1, failed 0"), "{body}");
    assert!(body.contains(&format!("#{overdue} Прорив труби")), "{body}");
    // The journal's newest entry when it was written: a copy outside the
    // machine for `tocsin journal verify --head`.
    let head = body
        .lines()
        .find_map(|l| l.strip_prefix("Newest journal entry (for tocsin journal verify --head): #"))
        .unwrap_or_else(|| panic!("no journal head in {body}"));
    let (id, hash) = head.split_once(' ').unwrap();
    let id: i64 = id.parse().unwrap();
    let entry = app
        .get(&format!("/api/v1/journal?after={}&limit=1", id - 1))
        .await;
    assert_eq!(entry.body["entries"][0]["hash"], hash, "{body}");
}
