//! Scheduled warning-system checks through the real service on a moved
//! clock: on time, missed while the service was down (recorded, then the
//! next run fires), defined over the API, and on a DST day.

mod support;

use serde_json::{Value, json};
use support::TestApp;
use support::alerts::{create_audience, journal_actions, operator, resident, texts};

/// The first check's runs, newest first, once `done` holds (30 s at most).
async fn wait_for_runs(app: &TestApp, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = app.get_as(token, "/api/v1/checks").await;
        assert_eq!(r.status, 200, "{r:?}");
        let runs = r.body["checks"][0]["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if done(&runs) {
            return runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{runs:?}\n{}",
            app.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The check config used below: three times a day, city time.
const CHECKS: &str = r#"
[testing]
adjustable_clock = true

[[alerts.checks]]
name = "sirens"
cron = "0 0 8,14,20 * * *"
audience = "duty-officers"
circle = "50.745,25.325 5"
"#;

#[tokio::test]
async fn scheduled_checks_fire_on_time_and_missed_runs_are_recorded() {
    use chrono::{Duration, TimeZone, Utc};
    let app = TestApp::spawn_with_config(CHECKS).await;
    let anna = operator(&app, "Анна").await;
    let member = resident(&app, 31, "uk", true, json!({})).await;
    create_audience(&app, &anna, "duty-officers", &[member]).await;
    // Let the scheduler see the check at today's time first.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // The day after tomorrow, three seconds before 08:00 in Kyiv: every
    // run in between passed while "the service was down".
    let kyiv = chrono_tz::Europe::Kyiv;
    let day = Utc::now().with_timezone(&kyiv).date_naive() + Duration::days(2);
    let eight = kyiv
        .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    let r = app
        .send(
            app.client()
                .put(app.url("/api/v1/testing/clock"))
                .bearer_auth(support::ADMIN_TOKEN)
                .json(&json!({"now": eight - Duration::seconds(3)})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    let runs = wait_for_runs(&app, &anna, |runs| {
        runs.first()
            .is_some_and(|run| run["state"] == "sent" && run["channels"]["sms"]["delivered"] == 1)
    })
    .await;
    let latest = &runs[0];
    assert_eq!(latest["due_at"], json!(eight), "{latest}");
    assert!(
        latest["channels"]["sms"]["first_delivered_at"].is_string(),
        "{latest}"
    );
    let missed: Vec<&Value> = runs.iter().filter(|r| r["state"] == "missed").collect();
    assert!(
        missed.len() >= 3,
        "at least tomorrow's three checks: {runs:?}"
    );
    assert!(runs[1..].iter().all(|r| r["state"] == "missed"), "{runs:?}");

    // The check is a Test alert: marked, and only to the audience.
    let alert = latest["alert"].as_i64().unwrap();
    let a = app.get_as(&anna, &format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(
        (&a.body["status"], &a.body["created_by"]),
        (&json!("Test"), &json!("scheduler"))
    );
    let notice = a.body["notice_id"].as_i64().unwrap();
    for m in app.outbox(&format!("notice={notice}")).await {
        for t in texts(&m) {
            assert!(t.trim_start_matches('[').starts_with("ТЕСТ"), "{t}");
            // A Ukrainian resident reads it all in Ukrainian.
            assert!(!t.contains("Warning system check"), "{t}");
        }
    }
    let email = &app.outbox(&format!("notice={notice}&channel=email")).await[0];
    let body = email["content"]["body"].as_str().unwrap();
    assert!(
        body.starts_with("ТЕСТ: Перевірка системи оповіщення"),
        "{body}"
    );
    assert_eq!(
        a.body["headline"], "Перевірка системи оповіщення, дій не потрібно",
        "the city's language first: {a:?}"
    );
    let actions = journal_actions(&app).await;
    let journaled = actions.iter().filter(|(a, _)| a == "check.missed").count();
    assert_eq!(journaled, missed.len(), "{actions:?}");
    // The scheduler journals under a `system:` actor, which no operator's
    // (`operator:<name>`) can equal.
    let scheduled: Vec<&str> = actions
        .iter()
        .filter(|(a, _)| a == "check.missed" || a == "alert.created")
        .map(|(_, actor)| actor.as_str())
        .collect();
    assert!(
        !scheduled.is_empty() && scheduled.iter().all(|a| *a == "system:scheduler"),
        "{actions:?}"
    );
}

/// 08:00 in Kyiv `days` from today, in UTC.
fn kyiv_eight(days: i64) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let kyiv = chrono_tz::Europe::Kyiv;
    let day = chrono::Utc::now().with_timezone(&kyiv).date_naive() + chrono::Duration::days(days);
    kyiv.from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn clock_config(start: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "[testing]\nadjustable_clock = true\nclock_start = \"{}\"\n",
        start.to_rfc3339()
    )
}

#[tokio::test]
async fn a_check_defined_over_the_api_records_the_runs_missed_while_the_service_was_down() {
    use chrono::Duration;
    // Started the day after tomorrow at 07:00 city time.
    let first = kyiv_eight(2) - Duration::hours(1);
    let mut app = TestApp::spawn_with_config(&clock_config(first)).await;
    let anna = operator(&app, "Анна").await;
    let member = resident(&app, 41, "pl", true, json!({})).await;
    create_audience(&app, &anna, "duty", &[member]).await;
    let spec = |cron: &str, audience: &str| json!({"name": "sirens", "cron": cron, "audience": audience, "circle": "50.745,25.325 5"});
    let r = app
        .post_as(&anna, "/api/v1/checks", &spec("0 0 25 * * *", "duty"))
        .await;
    assert_eq!((r.status, r.field()), (422, "cron"), "{r:?}");
    let r = app
        .post_as(
            &anna,
            "/api/v1/checks",
            &spec("0 0 8,14,20 * * *", "nobody"),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "audience"), "{r:?}");
    let org = app
        .post("/api/v1/organisations", &json!({"name": "Водоканал"}))
        .await;
    let executor = org.body["token"].as_str().unwrap();
    let r = app
        .post_as(executor, "/api/v1/checks", &spec("0 0 8 * * *", "duty"))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = app
        .post_as(&anna, "/api/v1/checks", &spec("0 0 8,14,20 * * *", "duty"))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (&r.body["source"], &r.body["next_run"]),
        (&json!("api"), &json!(kyiv_eight(2)))
    );
    let r = app
        .post_as(&anna, "/api/v1/checks", &spec("0 0 8 * * *", "duty"))
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    // Let the scheduler look at the check once before the service stops.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    // Down from 07:00 until a day later, three seconds before 08:00: the
    // 08:00, 14:00 and 20:00 runs in between were missed.
    app.kill().await;
    let back = kyiv_eight(3) - Duration::seconds(3);
    std::fs::write(app.dir.path().join("tocsin.toml"), clock_config(back)).unwrap();
    app.restart().await;

    let runs = wait_for_runs(&app, &anna, |runs| {
        runs.first()
            .is_some_and(|r| r["channels"]["sms"]["delivered"] == 1)
    })
    .await;
    let states: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r["due_at"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let expected = [
        (at(kyiv_eight(3)), "sent"),
        (at(kyiv_eight(2) + Duration::hours(12)), "missed"),
        (at(kyiv_eight(2) + Duration::hours(6)), "missed"),
        (at(kyiv_eight(2)), "missed"),
    ];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(t, s)| (t.as_str(), *s)).collect();
    assert_eq!(states, expected, "{runs:?}");

    let r = app
        .send(
            app.client()
                .delete(app.url("/api/v1/checks/sirens"))
                .bearer_auth(&anna),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let actions = journal_actions(&app).await;
    for action in ["check.created", "check.deleted", "check.missed"] {
        assert!(
            actions.iter().any(|(a, _)| a == action),
            "{action}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_check_in_the_spring_forward_gap_fires_when_the_gap_ends() {
    // Europe/Kyiv, 2027-03-28: 03:00 local jumps to 04:00 at 01:00 UTC, so
    // 03:30 never shows on the clock. The `cron` crate skips such a run.
    let config = "[testing]\nadjustable_clock = true\nclock_start = \"2027-03-28T00:59:57Z\"\n\n\
                  [alerts]\ntest_audience = \"duty\"\n\n[[alerts.checks]]\nname = \"night\"\n\
                  cron = \"0 30 3 * * *\"\ncircle = \"50.745,25.325 5\"\n";
    let app = TestApp::spawn_with_config(config).await;
    let anna = operator(&app, "Анна").await;
    let member = resident(&app, 61, "en", true, json!({})).await;
    create_audience(&app, &anna, "duty", &[member]).await;
    let runs = wait_for_runs(&app, &anna, |runs| !runs.is_empty()).await;
    let run = &runs[0];
    assert_eq!(
        (&run["due_at"], &run["state"]),
        (&json!("2027-03-28T01:00:00Z"), &json!("sent")),
        "{run}"
    );
}
