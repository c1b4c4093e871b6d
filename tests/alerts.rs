//! Civil-protection alerts through the API: the role matrix, the
//! two-person rule, the one-request cancel, exercise markers on every
//! channel, test-audience confinement, CAP in → CAP out, the public feed,
//! the urgent lane past opt-outs and quiet hours, and the drill report.

mod support;

use serde_json::{Value, json};
use support::{Backend, TestApp};

/// Lutsk centre: residents inside it are alerted, others are not.
const POLYGON: &str = "50.73,25.30 50.73,25.35 50.76,25.35 50.76,25.30 50.73,25.30";

fn cap(identifier: &str, status: &str, severity: &str, urgency: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>cp@lutsk.example</sender>
  <sent>2026-11-24T03:12:00+02:00</sent>
  <status>{status}</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>uk-UA</language>
    <category>Safety</category>
    <event>Повітряна тривога</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <headline>Повітряна тривога в Луцьку</headline>
    <description>Загроза ракетного удару &amp; атаки БпЛА.</description>
    <instruction>Негайно пройдіть до найближчого укриття</instruction>
    <area><areaDesc>Луцьк, центр</areaDesc><polygon>{POLYGON}</polygon></area>
  </info>
  <info>
    <language>pl</language>
    <category>Safety</category>
    <event>Alarm lotniczy</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <headline>Alarm lotniczy w Łucku</headline>
    <instruction>Natychmiast udaj się do schronu</instruction>
    <area><areaDesc>Łuck</areaDesc><circle>50.745,25.325 1.5</circle></area>
  </info>
</alert>"#
    )
}

async fn operator(app: &TestApp, name: &str) -> String {
    let r = app.post("/api/v1/operators", &json!({"name": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["token"].as_str().unwrap().to_owned()
}

async fn post_cap(app: &TestApp, token: &str, query: &str, xml: &str) -> support::Reply {
    app.send(
        app.client()
            .post(app.url(&format!("/api/v1/alerts/cap{query}")))
            .bearer_auth(token)
            .header("content-type", "application/cap+xml")
            .body(xml.to_owned()),
    )
    .await
}

/// A resident inside the polygon (or outside, at Kyiv) with SMS and email.
async fn resident(app: &TestApp, n: u32, language: &str, inside: bool, extra: Value) -> i64 {
    let (lat, lon) = if inside {
        (50.745, 25.325)
    } else {
        (50.45, 30.52)
    };
    let mut body = json!({"language": language, "location": {"lat": lat, "lon": lon},
        "contacts": [{"channel": "sms", "address": format!("+3806711{n:05}")},
                     {"channel": "email", "address": format!("r{n}@example.com")}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.create_resident(body).await
}

fn texts(message: &Value) -> Vec<String> {
    let c = &message["content"];
    ["title", "body", "subject", "speech"]
        .iter()
        .filter_map(|k| c[*k].as_str().map(str::to_owned))
        .collect()
}

async fn journal_actions(app: &TestApp) -> Vec<(String, String)> {
    let r = app.get("/api/v1/journal?limit=1000").await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn actual_alert_needs_a_second_operator_and_cancels_in_one_request(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let anna = operator(&app, "Анна Коваль").await;
    let petro = operator(&app, "Петро Мельник").await;
    let org = app
        .post("/api/v1/organisations", &json!({"name": "Водоканал"}))
        .await;
    let executor = org.body["token"].as_str().unwrap().to_owned();
    resident(&app, 1, "uk", true, json!({})).await;
    resident(&app, 2, "pl", true, json!({})).await;
    resident(&app, 3, "uk", false, json!({})).await;

    // The role matrix: executors neither create nor read alerts; an admin
    // reads but does not create.
    let xml = cap("LUTSK-1", "Actual", "Severe", "Expected");
    assert_eq!(post_cap(&app, &executor, "", &xml).await.status, 403);
    assert_eq!(app.get_as(&executor, "/api/v1/alerts").await.status, 403);
    assert_eq!(
        post_cap(&app, support::ADMIN_TOKEN, "", &xml).await.status,
        403
    );

    let r = post_cap(&app, &anna, "", &xml).await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["state"], "pending");
    let id = r.body["id"].as_i64().unwrap();
    assert!(
        app.outbox("").await.is_empty(),
        "nothing goes out unapproved"
    );

    let r = app
        .post_as(&anna, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, 403, "the creator cannot approve: {r:?}");
    assert!(r.message().contains("two-person"), "{r:?}");
    let r = app
        .post_as(
            &executor,
            &format!("/api/v1/alerts/{id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    let r = app
        .post_as(&petro, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "sent");
    assert_eq!(r.body["approved_by"], "Петро Мельник");
    let notice = r.body["notice_id"].as_i64().unwrap();
    let again = app
        .post_as(&petro, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(again.status, 409, "{again:?}");

    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 4, "two residents inside × two channels: {s}");
    let sent = app.outbox(&format!("notice={notice}")).await;
    let sms_uk = sent
        .iter()
        .find(|m| m["channel"] == "sms" && m["address"] == "+380671100001")
        .unwrap();
    assert_eq!(
        sms_uk["content"]["body"],
        "Повітряна тривога в Луцьку. Негайно пройдіть до найближчого укриття."
    );
    let sms_pl = sent
        .iter()
        .find(|m| m["channel"] == "sms" && m["address"] == "+380671100002")
        .unwrap();
    assert!(
        sms_pl["content"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Alarm lotniczy w Łucku")
    );

    // The false-alarm correction: one request, pre-approved, to the same
    // audience, and the alert leaves the public feed.
    let r = app
        .post_as(&anna, &format!("/api/v1/alerts/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (&r.body["msg_type"], &r.body["state"]),
        (&json!("Cancel"), &json!("sent"))
    );
    assert_eq!(r.body["references"], id);
    app.wait_settled(notice).await;
    let cancels: Vec<Value> = app
        .outbox(&format!("notice={notice}&channel=sms"))
        .await
        .into_iter()
        .filter(|m| {
            m["content"]["body"].as_str().unwrap().contains("помилково")
                || m["content"]["body"].as_str().unwrap().contains("omyłkowo")
        })
        .collect();
    assert_eq!(cancels.len(), 2, "{cancels:?}");
    let original = app.get_as(&anna, &format!("/api/v1/alerts/{id}")).await;
    assert!(original.body["cancelled_at"].is_string(), "{original:?}");
    let r = app
        .post_as(&petro, &format!("/api/v1/alerts/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(r.status, 409, "cancelled twice: {r:?}");

    let report = app
        .get_as(&petro, &format!("/api/v1/alerts/{id}/report"))
        .await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(
        report.body["channels"]["sms"]["recipients"], 2,
        "{report:?}"
    );
    assert_eq!(report.body["channels"]["sms"]["delivered"], 2, "{report:?}");
    assert!(
        report.body["channels"]["sms"]["p95_delivery_ms"].is_i64(),
        "{report:?}"
    );

    let actions = journal_actions(&app).await;
    for (action, actor) in [
        ("alert.created", "operator:Анна Коваль"),
        ("alert.approved", "operator:Петро Мельник"),
        ("alert.sent", "operator:Петро Мельник"),
        ("alert.preapproved_template_used", "operator:Анна Коваль"),
    ] {
        assert!(
            actions.iter().any(|(a, b)| a == action && b == actor),
            "{action} by {actor} missing from {actions:?}"
        );
    }
}

/// A cascade that would hold most channels back for many minutes: a drill
/// must test every channel at once all the same.
const SLOW_CASCADE: &str = r#"
[policy.fallback]
unplanned = [
  { channels = ["fcm", "apns"] },
  { channels = ["sms"], after_secs = 600, unless = "delivered" },
  { channels = ["voice", "email"], after_secs = 900, unless = "delivered" },
]
"#;

async fn an_exercise_is_marked_everywhere_and_reaches_only_its_audience(backend: Backend) {
    let app = TestApp::spawn_on(backend, SLOW_CASCADE).await;
    let anna = operator(&app, "Анна").await;
    let every_channel = json!({"contacts": [
        {"channel": "sms", "address": "+380671100011"},
        {"channel": "email", "address": "drill@example.com"},
        {"channel": "fcm", "address": "fcm-drill"},
        {"channel": "apns", "address": "a".repeat(64)},
        {"channel": "voice", "address": "+380671100012"}]});
    let member = resident(&app, 11, "pl", true, every_channel).await;
    resident(&app, 13, "uk", true, json!({})).await;
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "drill-team", "residents": [member]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "ghosts", "residents": [999999]}),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "residents"), "{r:?}");

    let body = |extra: Value| {
        let mut b = json!({"status": "Exercise", "template": "cancel",
            "areas": [{"area_desc": "Луцьк", "polygons": [POLYGON]}]});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    // The built-in texts make a fine drill message; no audience → refused.
    let r = app.post_as(&anna, "/api/v1/alerts", &body(json!({}))).await;
    assert_eq!((r.status, r.field()), (422, "audience"), "{r:?}");

    let r = app
        .post_as(
            &anna,
            "/api/v1/alerts",
            &body(json!({"audience": "drill-team"})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let drill = r.body["id"].as_i64().unwrap();
    let notice = r.body["notice_id"].as_i64().unwrap();
    let s = app.wait_settled(notice).await;
    assert_eq!(
        s["total"], 5,
        "only the audience member, on all five channels: {s}"
    );
    let sent = app.outbox(&format!("notice={notice}")).await;
    let channels: std::collections::BTreeSet<&str> = sent
        .iter()
        .map(|m| m["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels.len(), 5, "{channels:?}");
    for m in &sent {
        for t in texts(m) {
            assert!(
                t.trim_start_matches('[').starts_with("ĆWICZENIA"),
                "{} unmarked: {t}",
                m["channel"]
            );
        }
    }

    // An Update of the drill reaches the same audience, marked again.
    let update = json!({"status": "Exercise", "msg_type": "Update", "references": drill,
        "infos": [{"language": "pl", "event": "Alarm", "urgency": "Immediate",
                   "severity": "Severe", "certainty": "Observed",
                   "headline": "Zmiana: ćwiczenie przedłużone"}]});
    let r = app.post_as(&anna, "/api/v1/alerts", &update).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        (r.body["notice_id"].as_i64(), &r.body["references"]),
        (Some(notice), &json!(drill))
    );
    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 10, "{s}");
    let sms = app.outbox(&format!("notice={notice}&channel=sms")).await;
    let last = sms.last().unwrap()["content"]["body"].as_str().unwrap();
    assert_eq!(last, "ĆWICZENIA: Zmiana: ćwiczenie przedłużone.", "{sms:?}");
    let wrong = json!({"status": "Actual", "msg_type": "Cancel", "references": drill, "template": "cancel"});
    let r = app.post_as(&anna, "/api/v1/alerts", &wrong).await;
    assert_eq!(
        (r.status, r.field()),
        (422, "alert/status"),
        "an Actual cannot cancel a drill: {r:?}"
    );

    // Widened explicitly: the whole area, and the journal says so.
    let r = app
        .post_as(&anna, "/api/v1/alerts", &body(json!({"widen": true})))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let notice = r.body["notice_id"].as_i64().unwrap();
    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 7, "both residents: {s}");
    for m in app.outbox(&format!("notice={notice}&channel=sms")).await {
        let body = m["content"]["body"].as_str().unwrap();
        assert!(
            body.starts_with("ĆWICZENIA") || body.starts_with("НАВЧАННЯ"),
            "{body}"
        );
    }
    let actions = journal_actions(&app).await;
    assert!(
        actions.iter().any(|(a, _)| a == "alert.audience_widened"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn cap_in_equals_cap_out_and_the_feed_lists_public_alerts() {
    let app = TestApp::spawn().await;
    let (anna, petro) = (operator(&app, "a").await, operator(&app, "b").await);
    let xml = cap("LUTSK-RT", "Actual", "Extreme", "Immediate");
    let r = post_cap(&app, &anna, "", &xml).await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();

    let out = app
        .client()
        .get(app.url(&format!("/api/v1/alerts/{id}.cap")))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    assert!(
        out.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/cap+xml")
    );
    let out = out.text().await.unwrap();
    assert_eq!(
        tocsin_cap::parse(&out).unwrap(),
        tocsin_cap::parse(&xml).unwrap()
    );

    let public = |path: String| {
        let c = app.client().clone();
        async move { c.get(path).send().await.unwrap() }
    };
    let feed = public(app.url("/feeds/alerts.atom"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !feed.contains("LUTSK-RT"),
        "pending alerts are not public: {feed}"
    );
    assert_eq!(
        public(app.url(&format!("/feeds/alerts/{id}.cap")))
            .await
            .status(),
        404
    );

    let r = app
        .post_as(&petro, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let feed = public(app.url("/feeds/alerts.atom")).await;
    assert!(
        feed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let feed = feed.text().await.unwrap();
    assert!(feed.contains("Повітряна тривога в Луцьку"), "{feed}");
    let link = format!("/feeds/alerts/{id}.cap");
    assert!(feed.contains(&link), "{feed}");
    let doc = public(app.url(&link)).await.text().await.unwrap();
    assert_eq!(
        tocsin_cap::parse(&doc).unwrap(),
        tocsin_cap::parse(&xml).unwrap()
    );

    // The same identifier again, bad CAP, and the wrong media type.
    assert_eq!(post_cap(&app, &anna, "", &xml).await.status, 409);
    let open_ring = xml.replace(POLYGON, "50.73,25.30 50.73,25.35 50.76,25.35 50.76,25.30");
    let r = post_cap(&app, &anna, "", &open_ring.replace("LUTSK-RT", "LUTSK-X")).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), "alert/info[1]/area[1]/polygon[1]", "{r:?}");
    let r = app
        .send(
            app.client()
                .post(app.url("/api/v1/alerts/cap"))
                .bearer_auth(&anna)
                .header("content-type", "application/json")
                .body(xml.clone()),
        )
        .await;
    assert_eq!(r.status, 415, "{r:?}");
}

#[tokio::test]
async fn only_extreme_immediate_alerts_pass_opt_outs_and_quiet_hours() {
    let app = TestApp::spawn_with_config("[policy]\nquiet_hours = \"00:00-23:59\"\n").await;
    let (anna, petro) = (operator(&app, "a").await, operator(&app, "b").await);
    // Opted out of civil-protection alerts; quiet hours all day.
    resident(&app, 21, "uk", true, json!({"categories": ["water"]})).await;
    resident(&app, 22, "uk", true, json!({})).await;

    let send = |identifier: &str, severity: &str, urgency: &str| {
        let xml = cap(identifier, "Actual", severity, urgency);
        let (anna, petro) = (anna.clone(), petro.clone());
        let app = &app;
        async move {
            let r = post_cap(app, &anna, "", &xml).await;
            assert_eq!(r.status, 202, "{r:?}");
            let id = r.body["id"].as_i64().unwrap();
            let r = app
                .post_as(&petro, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body["notice_id"].as_i64().unwrap()
        }
    };
    let severe = send("SEVERE", "Severe", "Expected").await;
    let summary = app.summary(severe).await;
    assert_eq!(
        summary["total"], 2,
        "only the resident who kept civil alerts: {summary}"
    );

    let extreme = send("EXTREME", "Extreme", "Immediate").await;
    let s = app.wait_settled(extreme).await;
    assert_eq!(s["total"], 4, "everyone, opted out or not: {s}");
    assert_eq!(
        s["by_state"]["delivered"], 4,
        "not held by quiet hours: {s}"
    );
    let n = app.get(&format!("/api/v1/notices/{extreme}")).await;
    assert_eq!(n.body["kind"], "emergency", "the urgent lane: {n:?}");
}

on_both_backends!(
    actual_alert_needs_a_second_operator_and_cancels_in_one_request,
    an_exercise_is_marked_everywhere_and_reaches_only_its_audience,
);

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
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "duty-officers", "residents": [member]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
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

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let runs = loop {
        let r = app.get_as(&anna, "/api/v1/checks").await;
        assert_eq!(r.status, 200, "{r:?}");
        let runs = r.body["checks"][0]["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let delivered = runs
            .first()
            .is_some_and(|run| run["state"] == "sent" && run["channels"]["sms"]["delivered"] == 1);
        if delivered {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{runs:?}\n{}",
            app.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
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
        }
    }
    let actions = journal_actions(&app).await;
    let journaled = actions.iter().filter(|(a, _)| a == "check.missed").count();
    assert_eq!(journaled, missed.len(), "{actions:?}");
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
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "duty", "residents": [member]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
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

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let runs = loop {
        let r = app.get_as(&anna, "/api/v1/checks").await;
        let runs = r.body["checks"][0]["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if runs
            .first()
            .is_some_and(|r| r["channels"]["sms"]["delivered"] == 1)
        {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{r:?}\n{}",
            app.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
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
async fn a_local_threat_alerts_only_the_zone_named() {
    let app = TestApp::spawn().await;
    let (anna, petro) = (operator(&app, "a").await, operator(&app, "b").await);
    let north = app
        .create_zone("Північ", &support::rect(25.30, 50.76, 25.35, 50.79))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [north],
        "contacts": [{"channel": "sms", "address": "+380671100051"}]}))
        .await;
    resident(&app, 52, "uk", true, json!({})).await;

    let body = |zone: i64| {
        json!({"status": "Actual", "infos": [{"language": "uk-UA", "event": "Витік газу",
            "urgency": "Immediate", "severity": "Severe", "certainty": "Observed",
            "headline": "Витік газу на півночі міста",
            "areas": [{"area_desc": "Північ", "zones": [zone]}]}]})
    };
    let r = app.post_as(&anna, "/api/v1/alerts", &body(9999)).await;
    assert_eq!(
        (r.status, r.field()),
        (422, "alert/info[1]/area[1]/geocode[1]"),
        "{r:?}"
    );
    let r = app.post_as(&anna, "/api/v1/alerts", &body(north)).await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    let cap = app
        .client()
        .get(app.url(&format!("/api/v1/alerts/{id}.cap")))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cap.contains("<valueName>tocsin:zone</valueName>"), "{cap}");
    let r = app
        .post_as(&petro, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let notice = r.body["notice_id"].as_i64().unwrap();
    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 1, "only the northern subscriber: {s}");
    let sent = app.outbox(&format!("notice={notice}")).await;
    assert_eq!(sent[0]["address"], "+380671100051", "{sent:?}");
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
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "duty", "residents": [member]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let run = loop {
        let r = app.get_as(&anna, "/api/v1/checks").await;
        if let Some(run) = r.body["checks"][0]["runs"]
            .as_array()
            .and_then(|r| r.first())
            .cloned()
        {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{r:?}\n{}",
            app.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        (&run["due_at"], &run["state"]),
        (&json!("2027-03-28T01:00:00Z"), &json!("sent")),
        "{run}"
    );
}
