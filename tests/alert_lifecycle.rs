//! An alert's life after it is sent, through the API: it changes only
//! through the alert path (never a notice update that repeats the alarm),
//! an Update says its own text and reaches everyone newly inside its area,
//! an all-clear ends it under the alert's approval rules, a pre-approved
//! correction only ends an alert that was sent, the lane table decides
//! quiet hours, and a pending alert nobody approved expires.

mod support;

use serde_json::{Value, json};
use support::alerts::{
    POLYGON, Person, cap, journal_actions, operator, person, post_cap, resident,
};
use support::{Backend, TestApp};

/// `POST /api/v1/alerts/{id}/approve` by a second person, who succeeds.
async fn approve(app: &TestApp, by: &Person, alert: i64) -> Value {
    let r = support::alerts::approve(app, by, alert).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

/// An approved Actual alert from `cap()`: Extreme, Immediate, the Lutsk
/// centre polygon, created by an operator's token. Returns (alert id,
/// notice id).
async fn sent_alert(app: &TestApp, creator: &str, approver: &Person, id: &str) -> (i64, i64) {
    let r = post_cap(app, creator, "", &cap(id, "Actual", "Extreme", "Immediate")).await;
    assert_eq!(r.status, 202, "{r:?}");
    let alert = r.body["id"].as_i64().unwrap();
    let sent = approve(app, approver, alert).await;
    (alert, sent["notice_id"].as_i64().unwrap())
}

/// SMS bodies the simulated provider sent for the notice, oldest first.
async fn sms_bodies(app: &TestApp, notice: i64) -> Vec<String> {
    app.outbox(&format!("notice={notice}&channel=sms"))
        .await
        .iter()
        .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
        .collect()
}

async fn public_feed(app: &TestApp) -> String {
    app.client()
        .get(app.url("/feeds/alerts.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn public_alerts(app: &TestApp) -> Vec<Value> {
    let r = app
        .send(app.client().get(app.url("/api/v1/public/notices")))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["alerts"].as_array().unwrap().clone()
}

/// Observation 1: notice update/close on an alert resent the alarm
/// without approval; the alert stayed `sent` and in the feeds.
async fn an_alert_changes_and_ends_only_through_the_alert(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let anna = operator(&app, "Анна").await;
    let petro = person(&app, "petro", "Петро").await;
    resident(&app, 1, "uk", true, json!({})).await;
    let (alert, notice) = sent_alert(&app, &anna, &petro, "FIRE-1").await;
    app.wait_settled(notice).await;
    assert_eq!(sms_bodies(&app, notice).await.len(), 1);

    for (who, path) in [
        (anna.as_str(), "update"),
        (support::ADMIN_TOKEN, "update"),
        (anna.as_str(), "close"),
        (support::ADMIN_TOKEN, "close"),
    ] {
        let r = app
            .post_as(
                who,
                &format!("/api/v1/notices/{notice}/{path}"),
                &json!({"message": "Відбій"}),
            )
            .await;
        assert_eq!(r.status, 409, "{path}: {r:?}");
        assert!(
            r.message()
                .contains(&format!("/api/v1/alerts/{alert}/all-clear")),
            "{r:?}"
        );
    }
    assert_eq!(sms_bodies(&app, notice).await.len(), 1, "nothing resent");
    // The notice says it is a real alert, how grave, and which alert.
    let n = app.get(&format!("/api/v1/notices/{notice}")).await;
    assert_eq!(
        (
            &n.body["alert"]["id"],
            &n.body["alert"]["real"],
            &n.body["alert"]["severity"]
        ),
        (&json!(alert), &json!(true), &json!("Extreme")),
        "{n:?}"
    );
    let a = app.get(&format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(a.body["severity"], "Extreme", "{a:?}");

    // An Update says its own text; an Actual one waits for a second person.
    let update = json!({"infos": [{"language": "uk-UA", "event": "Пожежа",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Observed",
        "headline": "Пожежу локалізовано", "instruction": "Тримайте вікна зачиненими"}]});
    let r = app
        .post_as(&anna, &format!("/api/v1/alerts/{alert}/update"), &update)
        .await;
    assert_eq!(
        (r.status, &r.body["state"]),
        (202, &json!("pending")),
        "{r:?}"
    );
    let upd = r.body["id"].as_i64().unwrap();
    assert_eq!(sms_bodies(&app, notice).await.len(), 1, "unapproved");
    let r = app
        .post_as(&anna, &format!("/api/v1/alerts/{upd}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, 403, "a token cannot approve: {r:?}");
    approve(&app, &petro, upd).await;
    app.wait_settled(notice).await;
    let bodies = sms_bodies(&app, notice).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[1], "Пожежу локалізовано. Тримайте вікна зачиненими.");
    let original = app.get_as(&anna, &format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(
        (&original.body["state"], &original.body["superseded_by"]),
        (&json!("superseded"), &json!(upd)),
        "{original:?}"
    );
    let feed = public_feed(&app).await;
    assert!(feed.contains(&format!("/feeds/alerts/{upd}.cap")), "{feed}");
    assert!(
        !feed.contains(&format!("/feeds/alerts/{alert}.cap")),
        "{feed}"
    );

    // The all-clear: its own text, approved by a second person, ends the
    // whole alert; it leaves the active lists, the feed carries the Cancel.
    let r = app
        .post_as(
            &anna,
            &format!("/api/v1/alerts/{alert}/all-clear"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["msg_type"]),
        (202, &json!("Cancel")),
        "{r:?}"
    );
    let end = r.body["id"].as_i64().unwrap();
    approve(&app, &petro, end).await;
    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 6, "three messages × two channels: {s}");
    let bodies = sms_bodies(&app, notice).await;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[2].starts_with("Відбій тривоги"), "{bodies:?}");
    assert!(!bodies[2].contains("укриття"), "{bodies:?}");
    for id in [alert, upd] {
        let a = app.get_as(&anna, &format!("/api/v1/alerts/{id}")).await;
        assert_eq!(
            (&a.body["state"], &a.body["ended_by"]),
            (&json!("ended"), &json!(end)),
            "{a:?}"
        );
    }
    let n = app.get(&format!("/api/v1/notices/{notice}")).await;
    assert_eq!(n.body["status"], "closed", "{n:?}");
    assert!(public_alerts(&app).await.is_empty());
    let feed = public_feed(&app).await;
    assert!(feed.contains(&format!("/feeds/alerts/{end}.cap")), "{feed}");
    assert!(feed.contains("<category term=\"Cancel\"/>"), "{feed}");
    assert!(
        !feed.contains(&format!("/feeds/alerts/{upd}.cap")),
        "{feed}"
    );
    let r = app
        .post_as(
            &anna,
            &format!("/api/v1/alerts/{alert}/all-clear"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "ended twice: {r:?}");
}

/// Observation 2: one operator sent the pre-approved `cancel` template as
/// a new Actual alert to a free area.
async fn a_preapproved_correction_only_ends_a_sent_alert(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let anna = operator(&app, "Анна").await;
    let petro = person(&app, "petro", "Петро").await;
    resident(&app, 1, "uk", true, json!({})).await;
    // Inside a circle around the centre, outside the alert's polygon.
    app.create_resident(
        json!({"language": "uk", "location": {"lat": 50.70, "lon": 25.33},
        "contacts": [{"channel": "sms", "address": "+380671199999"}]}),
    )
    .await;
    let circle = json!([{"area_desc": "Луцьк", "circles": ["50.747,25.325 6"]}]);
    for template in ["cancel", "all_clear"] {
        let r = app
            .post_as(
                &anna,
                "/api/v1/alerts",
                &json!({"status": "Actual", "template": template, "areas": circle}),
            )
            .await;
        assert_eq!(
            (r.status, r.field()),
            (422, "template"),
            "{template}: {r:?}"
        );
    }
    let r = app
        .post_as(
            &anna,
            "/api/v1/alerts",
            &json!({"status": "Actual", "msg_type": "Cancel", "template": "cancel", "areas": circle}),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "areas"), "{r:?}");
    let r = app
        .post_as(
            &anna,
            "/api/v1/alerts",
            &json!({"status": "Actual", "msg_type": "Cancel", "template": "cancel"}),
        )
        .await;
    assert_eq!(r.status, 422, "a Cancel of nothing: {r:?}");
    assert!(app.outbox("").await.is_empty(), "nothing was sent");

    // The correction of a sent alert: one request, one operator, and only
    // the alert's own audience.
    let (alert, notice) = sent_alert(&app, &anna, &petro, "WRONG-1").await;
    app.wait_settled(notice).await;
    let r = app
        .post_as(&anna, &format!("/api/v1/alerts/{alert}/cancel"), &json!({}))
        .await;
    assert_eq!((r.status, &r.body["state"]), (201, &json!("sent")), "{r:?}");
    app.wait_settled(notice).await;
    let sent = app.outbox("channel=sms").await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().all(|m| m["address"] == "+380671100001"),
        "{sent:?}"
    );
    assert!(
        sent[1]["content"]["body"]
            .as_str()
            .unwrap()
            .contains("помилково"),
        "{sent:?}"
    );
    let cap_out = app
        .client()
        .get(app.url(&format!("/api/v1/alerts/{}.cap", r.body["id"])))
        .bearer_auth(&anna)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cap_out.contains("<areaDesc>Луцьк, центр</areaDesc>"),
        "the original area: {cap_out}"
    );
}

/// Observation 3: an Update with the original polygon and a new one
/// never reached the residents of the new one.
async fn an_update_reaches_everyone_newly_inside_its_area(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let anna = operator(&app, "Анна").await;
    let petro = person(&app, "petro", "Петро").await;
    resident(&app, 1, "uk", true, json!({})).await;
    // East of the centre polygon (25.35 ≤ lon).
    app.create_resident(
        json!({"language": "uk", "location": {"lat": 50.745, "lon": 25.37},
        "contacts": [{"channel": "sms", "address": "+380671122222"}]}),
    )
    .await;
    let (_, notice) = sent_alert(&app, &anna, &petro, "FLOOD-1").await;
    app.wait_settled(notice).await;
    let east = "50.73,25.35 50.73,25.40 50.76,25.40 50.76,25.35 50.73,25.35";
    let update = cap("FLOOD-2", "Actual", "Extreme", "Immediate")
        .replace(
            "<msgType>Alert</msgType>",
            "<msgType>Update</msgType>\
            <references>cp@lutsk.example,FLOOD-1,2026-11-24T03:12:00+02:00</references>",
        )
        .replace(
            &format!("<polygon>{POLYGON}</polygon>"),
            &format!("<polygon>{POLYGON}</polygon><polygon>{east}</polygon>"),
        )
        .replace("Повітряна тривога в Луцьку", "Зона підтоплення розширена");
    let r = post_cap(&app, &anna, "", &update).await;
    assert_eq!(r.status, 202, "{r:?}");
    let update = r.body["id"].as_i64().unwrap();
    let approved = approve(&app, &petro, update).await;
    assert_eq!(approved["notice_id"], notice, "{approved:?}");
    let s = app.wait_settled(notice).await;
    let sent = app.outbox("channel=sms").await;
    let to = |addr: &str| -> Vec<String> {
        sent.iter()
            .filter(|m| m["address"] == addr)
            .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        to("+380671100001").len(),
        2,
        "the original audience: {sent:?}"
    );
    let east_sms = to("+380671122222");
    assert_eq!(east_sms.len(), 1, "newly covered, once: {sent:?} {s}");
    assert!(
        east_sms[0].starts_with("Зона підтоплення розширена"),
        "{east_sms:?}"
    );
    let n = app.get(&format!("/api/v1/notices/{notice}")).await;
    assert_eq!(n.body["recipients"], 2, "{n:?}");
}

on_both_backends!(
    an_alert_changes_and_ends_only_through_the_alert,
    a_preapproved_correction_only_ends_a_sent_alert,
    an_update_reaches_everyone_newly_inside_its_area,
);

/// Observation 4 (the lane table): a rule may let a normal-lane alert past
/// quiet hours, and an Exercise takes the lane of the Actual it rehearses.
#[tokio::test]
async fn the_lane_table_decides_quiet_hours_and_drills_rehearse_the_real_lane() {
    let config = r#"
[policy]
quiet_hours = "00:00-23:59"
[[alerts.lanes.rules]]
urgency = ["Immediate", "Expected"]
severity = ["Extreme", "Severe"]
lane = "urgent"
[[alerts.lanes.rules]]
severity = ["Moderate"]
lane = "normal"
quiet_hours = "bypass"
"#;
    let app = TestApp::spawn_with_config(config).await;
    let anna = operator(&app, "Анна").await;
    let petro = person(&app, "petro", "Петро").await;
    resident(&app, 1, "uk", true, json!({})).await;
    let send = |id: &str, severity: &str| {
        let xml = cap(id, "Actual", severity, "Immediate");
        let (app, anna, petro) = (&app, anna.clone(), &petro);
        async move {
            let r = post_cap(app, &anna, "", &xml).await;
            assert_eq!(r.status, 202, "{r:?}");
            let sent = approve(app, petro, r.body["id"].as_i64().unwrap()).await;
            sent["notice_id"].as_i64().unwrap()
        }
    };
    let boil_water = send("WATER-1", "Moderate").await;
    let s = app.wait_settled(boil_water).await;
    assert_eq!(s["by_state"]["delivered"], 2, "past quiet hours: {s}");
    let n = app.get(&format!("/api/v1/notices/{boil_water}")).await;
    assert_eq!(n.body["kind"], "unplanned", "in the normal lane: {n:?}");
    let minor = send("INFO-1", "Minor").await;
    let s = app.wait_settled(minor).await;
    assert_eq!(s["by_state"]["suppressed"], 1, "SMS held: {s}");

    let drill = app
        .post_as(
            &anna,
            "/api/v1/alerts",
            &json!({"status": "Exercise", "widen": true, "infos": [{"language": "uk-UA",
                "event": "Хімічна небезпека", "urgency": "Immediate", "severity": "Severe",
                "certainty": "Observed", "headline": "Навчання: викид аміаку",
                "areas": [{"area_desc": "Луцьк", "polygons": [POLYGON]}]}]}),
        )
        .await;
    assert_eq!(drill.status, 201, "{drill:?}");
    let notice = drill.body["notice_id"].as_i64().unwrap();
    let n = app.get(&format!("/api/v1/notices/{notice}")).await;
    assert_eq!(n.body["kind"], "emergency", "the real alert's lane: {n:?}");
    let s = app.wait_settled(notice).await;
    assert_eq!(s["by_state"]["delivered"], 2, "{s}");
    let sms = sms_bodies(&app, notice).await;
    assert!(sms[0].starts_with("НАВЧАННЯ"), "still marked: {sms:?}");
}

/// Observation 5: a pending alert past its `expires` stayed pending for
/// ever, and approving it failed with a 422 about `expires`.
#[tokio::test]
async fn a_pending_alert_nobody_approved_expires() {
    let app = TestApp::spawn_with_config("[testing]\nadjustable_clock = true\n").await;
    let anna = operator(&app, "Анна").await;
    let petro = person(&app, "petro", "Петро").await;
    resident(&app, 1, "uk", true, json!({})).await;
    let now = chrono::Utc::now();
    let body = |hours: i64| {
        json!({"status": "Actual", "infos": [{"language": "uk-UA", "event": "Гроза",
            "urgency": "Expected", "severity": "Severe", "certainty": "Likely",
            "headline": "Штормове попередження",
            "expires": (now + chrono::Duration::hours(hours)).to_rfc3339(),
            "areas": [{"area_desc": "Луцьк", "polygons": [POLYGON]}]}]})
    };
    let r = app.post_as(&anna, "/api/v1/alerts", &body(-1)).await;
    assert_eq!(
        (r.status, r.field()),
        (422, "alert/info/expires"),
        "already past: {r:?}"
    );
    let r = app.post_as(&anna, "/api/v1/alerts", &body(1)).await;
    assert_eq!(r.status, 202, "{r:?}");
    let first = r.body["id"].as_i64().unwrap();
    let r = app.post_as(&anna, "/api/v1/alerts", &body(3)).await;
    let second = r.body["id"].as_i64().unwrap();

    // Two hours later the scheduler has expired the first, not the second.
    let r = app
        .send(
            app.client()
                .put(app.url("/api/v1/testing/clock"))
                .bearer_auth(support::ADMIN_TOKEN)
                .json(&json!({"now": (now + chrono::Duration::hours(2)).to_rfc3339()})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let a = petro.get(&app, &format!("/api/v1/alerts/{first}")).await;
        if a.body["state"] == "expired" {
            assert!(a.body["ended_at"].is_string(), "{a:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {a:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = support::alerts::approve(&app, &petro, first).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.message().contains("expired"), "{r:?}");
    let a = petro.get(&app, &format!("/api/v1/alerts/{second}")).await;
    assert_eq!(a.body["state"], "pending", "{a:?}");
    assert!(app.outbox("").await.is_empty(), "nothing was sent");
    let actions = journal_actions(&app).await;
    assert!(
        actions.iter().any(|(a, _)| a == "alert.expired"),
        "{actions:?}"
    );
    approve(&app, &petro, second).await;
}
