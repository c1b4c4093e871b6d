//! Civil-protection alerts through the API: the role matrix, the
//! two-person rule (two people in the console, never tokens), the
//! one-request cancel, exercise markers on every
//! channel, test-audience confinement, CAP in → CAP out, the public feed,
//! the urgent lane past opt-outs and quiet hours, zones as targets, and
//! the drill report.

mod support;

use serde_json::{Value, json};
use support::alerts::{
    POLYGON, approve, cap, create_audience, journal_actions, operator, person, post_cap, resident,
    texts,
};
use support::{Backend, TestApp};

async fn actual_alert_needs_a_second_person_and_cancels_in_one_request(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let anna = person(&app, "anna", "Анна Коваль").await;
    let petro = person(&app, "petro", "Петро Мельник").await;
    let gateway = operator(&app, "Сирена-шлюз").await;
    let second_token = operator(&app, "Другий токен").await;
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

    // Another system's token creates; no token approves.
    let r = post_cap(&app, &gateway, "", &xml).await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["state"], "pending");
    let id = r.body["id"].as_i64().unwrap();
    assert!(
        app.outbox("").await.is_empty(),
        "nothing goes out unapproved"
    );
    let path = format!("/api/v1/alerts/{id}/approve");
    for token in [&gateway, &second_token, &executor] {
        let r = app.post_as(token, &path, &json!({})).await;
        assert_eq!(r.status, 403, "a token cannot approve: {r:?}");
        assert!(r.message().contains("console"), "{r:?}");
    }

    let r = approve(&app, &petro, id).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], "sent");
    assert_eq!(r.body["approved_by"], "Петро Мельник");
    assert_eq!(r.body["approved_by_kind"], "person");
    assert_eq!(r.body["created_by_kind"], "token");
    let notice = r.body["notice_id"].as_i64().unwrap();
    let again = approve(&app, &petro, id).await;
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
    let r = anna
        .post(&app, &format!("/api/v1/alerts/{id}/cancel"), &json!({}))
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
    let original = anna.get(&app, &format!("/api/v1/alerts/{id}")).await;
    assert_eq!(original.body["state"], "ended", "{original:?}");
    assert!(original.body["ended_at"].is_string(), "{original:?}");
    assert_eq!(original.body["ended_by"], r.body["id"], "{original:?}");
    let r = petro
        .post(&app, &format!("/api/v1/alerts/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(r.status, 409, "cancelled twice: {r:?}");

    let report = petro
        .get(&app, &format!("/api/v1/alerts/{id}/report"))
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
        ("alert.created", "operator:Сирена-шлюз"),
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

#[tokio::test]
async fn an_admin_with_two_operator_tokens_cannot_create_and_approve_alone() {
    let app = TestApp::spawn().await;
    resident(&app, 5, "uk", true, json!({})).await;
    let first = operator(&app, "Перший").await;
    let second = operator(&app, "Другий").await;
    let xml = cap("ALONE-1", "Actual", "Extreme", "Immediate");
    let r = post_cap(&app, &first, "", &xml).await;
    assert_eq!(r.status, 202, "tokens still create: {r:?}");
    let id = r.body["id"].as_i64().unwrap();
    for token in [&second, &first] {
        let r = app
            .post_as(token, &format!("/api/v1/alerts/{id}/approve"), &json!({}))
            .await;
        assert_eq!(r.status, 403, "{r:?}");
        assert!(
            r.message().contains("a person must approve") && r.message().contains("console"),
            "{r:?}"
        );
    }
    let r = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(r.body["state"], "pending", "{r:?}");
    assert!(app.outbox("").await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn two_people_approve_and_the_alert_and_its_report_name_both() {
    let app = TestApp::spawn().await;
    resident(&app, 6, "uk", true, json!({})).await;
    let anna = person(&app, "anna", "Анна Коваль").await;
    let petro = person(&app, "petro", "Петро Мельник").await;
    let body = json!({"status": "Actual", "infos": [{"language": "uk-UA", "event": "Тривога",
        "urgency": "Immediate", "severity": "Severe", "certainty": "Observed",
        "headline": "Загроза у центрі",
        "areas": [{"area_desc": "Центр", "polygons": [POLYGON]}]}]});
    let r = anna.post(&app, "/api/v1/alerts", &body).await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();

    let own = approve(&app, &anna, id).await;
    assert_eq!(own.status, 403, "the creator's own account: {own:?}");
    assert!(own.message().contains("two-person"), "{own:?}");
    let r = approve(&app, &petro, id).await;
    assert_eq!(r.status, 200, "{r:?}");

    let view = app.get(&format!("/api/v1/alerts/{id}")).await.body;
    let report = app.get(&format!("/api/v1/alerts/{id}/report")).await.body;
    for alert in [&view, &report["alert"]] {
        assert_eq!(alert["created_by"], "Анна Коваль", "{alert}");
        assert_eq!(alert["created_by_kind"], "person", "{alert}");
        assert_eq!(alert["created_by_username"], "anna", "{alert}");
        assert_eq!(alert["approved_by"], "Петро Мельник", "{alert}");
        assert_eq!(alert["approved_by_kind"], "person", "{alert}");
        assert_eq!(alert["approved_by_username"], "petro", "{alert}");
    }
    let journal = app.get("/api/v1/journal?limit=1000").await.body;
    let approved = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "alert.approved")
        .expect("alert.approved journaled");
    assert_eq!(approved["actor"], "operator:Петро Мельник");
    let detail: Value = serde_json::from_str(approved["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["username"], "petro", "{approved}");
    assert_eq!(detail["created_by_username"], "anna", "{approved}");
}

#[tokio::test]
async fn an_account_whose_password_an_admin_set_cannot_approve() {
    let app = TestApp::spawn().await;
    let gateway = operator(&app, "Шлюз").await;
    let olha = person(&app, "olha", "Ольга").await;
    let xml = cap("LEGACY-1", "Actual", "Severe", "Expected");
    let id = post_cap(&app, &gateway, "", &xml).await.body["id"]
        .as_i64()
        .unwrap();
    // An account from before enrolment links: its password was chosen by
    // an admin (the migration leaves `enrolled_at` empty for those).
    let db = app.dir.path().join("data/tocsin.sqlite3");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        db.display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE accounts SET enrolled_at = NULL WHERE username = 'olha'")
        .execute(&mut conn)
        .await
        .unwrap();
    let r = approve(&app, &olha, id).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.message().contains("set by an admin"), "{r:?}");
    let accounts = app.get("/api/v1/accounts").await.body;
    assert_eq!(
        accounts["accounts"][0]["password_state"], "set_by_admin",
        "{accounts}"
    );
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
emergency = [
  { channels = ["fcm", "apns"] },
  { channels = ["sms"], after_secs = 600, unless = "delivered" },
  { channels = ["voice", "email"], after_secs = 900, unless = "delivered" },
]
[alerts.templates.drill]
event = "Air raid"
urgency = "Immediate"
severity = "Extreme"
certainty = "Observed"
[alerts.templates.drill.text.uk-UA]
headline = "Повітряна тривога"
instruction = "Пройдіть до укриття"
[alerts.templates.drill.text.pl-PL]
headline = "Alarm lotniczy"
instruction = "Udaj się do schronu"
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
    create_audience(&app, &anna, "drill-team", &[member]).await;
    let r = app
        .post_as(
            &anna,
            "/api/v1/audiences",
            &json!({"name": "ghosts", "residents": [999999]}),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "residents"), "{r:?}");

    let body = |extra: Value| {
        let mut b = json!({"status": "Exercise", "template": "drill",
            "areas": [{"area_desc": "Луцьк", "polygons": [POLYGON]}]});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    // No audience → refused.
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
    let anna = operator(&app, "a").await;
    let petro = person(&app, "petro", "b").await;
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

    let r = approve(&app, &petro, id).await;
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
async fn severe_and_extreme_threats_pass_opt_outs_and_quiet_hours() {
    let app = TestApp::spawn_with_config("[policy]\nquiet_hours = \"00:00-23:59\"\n").await;
    let anna = operator(&app, "a").await;
    let petro = person(&app, "petro", "b").await;
    // Opted out of civil-protection alerts; quiet hours all day.
    resident(&app, 21, "uk", true, json!({"categories": ["water"]})).await;
    resident(&app, 22, "uk", true, json!({})).await;

    let send = |identifier: &str, severity: &str, urgency: &str| {
        let xml = cap(identifier, "Actual", severity, urgency);
        let (anna, petro) = (anna.clone(), &petro);
        let app = &app;
        async move {
            let r = post_cap(app, &anna, "", &xml).await;
            assert_eq!(r.status, 202, "{r:?}");
            let id = r.body["id"].as_i64().unwrap();
            let r = approve(app, petro, id).await;
            assert_eq!(r.status, 200, "{r:?}");
            r.body["notice_id"].as_i64().unwrap()
        }
    };
    let moderate = send("MODERATE", "Moderate", "Immediate").await;
    let summary = app.summary(moderate).await;
    assert_eq!(
        summary["total"], 2,
        "only the resident who kept civil alerts: {summary}"
    );
    let n = app.get(&format!("/api/v1/notices/{moderate}")).await;
    assert_eq!(n.body["kind"], "unplanned", "the normal lane: {n:?}");

    // An ammonia release: Severe and Immediate is the urgent lane too.
    for (id, severity) in [("SEVERE", "Severe"), ("EXTREME", "Extreme")] {
        let notice = send(id, severity, "Immediate").await;
        let s = app.wait_settled(notice).await;
        assert_eq!(s["total"], 4, "{severity}: everyone, opted out or not: {s}");
        assert_eq!(
            s["by_state"]["delivered"], 4,
            "{severity}: not held by quiet hours: {s}"
        );
        let n = app.get(&format!("/api/v1/notices/{notice}")).await;
        assert_eq!(n.body["kind"], "emergency", "the urgent lane: {n:?}");
    }
}

on_both_backends!(
    actual_alert_needs_a_second_person_and_cancels_in_one_request,
    an_exercise_is_marked_everywhere_and_reaches_only_its_audience,
);

#[tokio::test]
async fn a_local_threat_alerts_only_the_zone_named() {
    let app = TestApp::spawn().await;
    let anna = operator(&app, "a").await;
    let petro = person(&app, "petro", "b").await;
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
    let r = approve(&app, &petro, id).await;
    assert_eq!(r.status, 200, "{r:?}");
    let notice = r.body["notice_id"].as_i64().unwrap();
    let s = app.wait_settled(notice).await;
    assert_eq!(s["total"], 1, "only the northern subscriber: {s}");
    let sent = app.outbox(&format!("notice={notice}")).await;
    assert_eq!(sent[0]["address"], "+380671100051", "{sent:?}");
}
