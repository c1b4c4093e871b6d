//! No single input stops the service: deeply nested bodies are refused by
//! every parser with a 422 naming the limit (and the process stays up), a
//! zone accepted under raised limits stays usable, and a stored zone or
//! territory edited into garbage is reported and skipped (or, for a
//! territory, fails closed) without failing anyone else.

mod support;

use serde_json::{Value, json};
use support::{Backend, Reply, TestApp, alerts, notice_body, rect, zone_feature};

const LEVELS: usize = 100_000;

fn deep_arrays() -> String {
    format!("{}{}", "[".repeat(LEVELS), "]".repeat(LEVELS))
}

fn deep_objects() -> String {
    format!("{}1{}", "{\"a\":".repeat(LEVELS), "}".repeat(LEVELS))
}

async fn post_as(app: &TestApp, token: &str, path: &str, media: &str, body: String) -> Reply {
    let mut req = app
        .client()
        .post(app.url(path))
        .header("content-type", media)
        .body(body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    app.send(req).await
}

fn assert_names_the_limit(r: &Reply, what: &str) {
    assert_eq!(r.status, 422, "{what}: {r:?}");
    let message = match r.body["error"]["code"].as_str() {
        Some("invalid_input") => r.body["error"]["errors"][0]["message"].as_str(),
        _ => r.body["error"]["message"].as_str(),
    };
    let message = message.unwrap_or_default();
    assert!(
        message.contains("nested more than 32 levels deep") && message.contains("the limit is 32"),
        "{what}: {r:?}"
    );
}

#[tokio::test]
async fn every_parser_refuses_a_hundred_thousand_levels_and_the_service_stays_up() {
    let app = TestApp::spawn().await;
    let admin = support::ADMIN_TOKEN;
    let operator = alerts::operator(&app, "Анна Коваль").await;
    let json = "application/json";
    let feature = format!(
        r#"{{"type":"Feature","properties":{{"name":"x"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}"#,
        deep_arrays()
    );
    let mut notice = notice_body("planned", json!({}));
    notice.as_object_mut().unwrap().remove("area");
    let notice = notice.to_string();
    let notice = format!(
        "{},\"area\":{{\"geometry\":{}}}}}",
        &notice[..notice.len() - 1],
        deep_objects()
    );
    let cases = [
        ("/api/v1/zones", admin, json, feature),
        ("/api/v1/zones", admin, json, deep_arrays()),
        ("/api/v1/notices", admin, json, notice.clone()),
        ("/api/v1/notices/preview", admin, json, notice),
        ("/api/v1/residents", admin, json, deep_objects()),
        ("/api/v1/organisations", admin, json, deep_arrays()),
        ("/api/v1/alerts", operator.as_str(), json, deep_objects()),
        ("/api/v1/public/subscriptions", "", json, deep_arrays()),
        (
            "/api/v1/residents/import",
            admin,
            "application/x-ndjson",
            deep_objects(),
        ),
    ];
    for (path, token, media, body) in cases {
        let r = post_as(&app, token, path, media, body).await;
        assert_names_the_limit(&r, path);
    }
    let levels = format!("{}{}", "<x>".repeat(LEVELS), "</x>".repeat(LEVELS));
    let cap = alerts::cap("DEEP-1", "Exercise", "Minor", "Future").replacen(
        "<info>",
        &format!("<info>{levels}"),
        1,
    );
    let r = post_as(
        &app,
        &operator,
        "/api/v1/alerts/cap",
        "application/cap+xml",
        cap,
    )
    .await;
    assert_names_the_limit(&r, "/api/v1/alerts/cap");
    assert_eq!(r.field(), "document");

    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = app.get("/api/v1/zones").await;
    assert_eq!(r.body["zones"], json!([]), "nothing was written: {r:?}");
}

/// `n` vertices on an ellipse around (25.33, 50.745), closed.
fn round_zone(name: &str, n: usize) -> Value {
    let ring: Vec<[f64; 2]> = (0..=n)
        .map(|i| {
            let a = std::f64::consts::TAU * (i % n) as f64 / n as f64;
            [25.33 + 0.02 * a.cos(), 50.745 + 0.012 * a.sin()]
        })
        .collect();
    zone_feature(name, &ring)
}

fn sms_resident(lat: f64, lon: f64, phone: &str) -> Value {
    json!({"language": "uk", "location": {"lat": lat, "lon": lon},
           "contacts": [{"channel": "sms", "address": phone}]})
}

async fn a_zone_over_the_default_vertex_limit_stays_usable(backend: Backend) {
    let app = TestApp::spawn_on(backend, "[limits]\nmax_vertices = 40000\n").await;
    let r = app
        .post("/api/v1/zones", &round_zone("Центр", 36_000))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let big = r.body["id"].as_i64().unwrap();
    app.create_resident(sms_resident(50.745, 25.33, "+380501110001"))
        .await;
    app.create_resident(sms_resident(50.60, 25.10, "+380501110002"))
        .await;

    let r = app.get("/api/v1/zones").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["zones"][0]["vertices"], 36_001);
    let r = app.get("/api/v1/public/zones").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["zones"][0]["id"], big);
    let r = app.get(&format!("/feeds/zones/{big}.ics")).await;
    assert_eq!(r.status, 200, "{r:?}");

    let unrelated = notice_body(
        "unplanned",
        json!({"circle": {"lat": 50.60, "lon": 25.10, "radius_m": 1000}}),
    );
    let in_big = notice_body("planned", json!({"zones": [big]}));
    for (body, who) in [(&unrelated, "+380501110002"), (&in_big, "+380501110001")] {
        let r = app.post("/api/v1/notices/preview", body).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["recipients"]["residents"], 1, "{r:?}");
        let published = app.publish(body.clone()).await;
        let notice = published["id"].as_i64().unwrap();
        app.wait_settled(notice).await;
        let to: Vec<Value> = app
            .outbox(&format!("notice={notice}"))
            .await
            .into_iter()
            .map(|m| m["address"].clone())
            .collect();
        assert_eq!(to, [json!(who)]);
    }
}

/// A zone row, a geometry and a territory as someone might leave them
/// after editing the database by hand.
const GARBAGE: &str = "not json at all";
const NOT_A_POLYGON: &str = r#"{"type":"Polygon","coordinates":[[[25.3,50.7]]]}"#;

async fn an_unreadable_zone_is_reported_and_skipped(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let good = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let garbled = app
        .create_zone("Захід", &rect(25.20, 50.73, 25.25, 50.76))
        .await;
    let broken = app
        .create_zone("Схід", &rect(25.40, 50.73, 25.45, 50.76))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [good],
        "contacts": [{"channel": "sms", "address": "+380502220001"}]}))
        .await;
    app.create_resident(sms_resident(50.745, 25.225, "+380502220002"))
        .await;
    app.edit_database(&format!(
        "UPDATE zones SET geometry = '{GARBAGE}' WHERE id = {garbled}"
    ))
    .await;
    app.edit_database(&format!(
        "UPDATE zones SET geometry = '{NOT_A_POLYGON}' WHERE id = {broken}"
    ))
    .await;

    for path in ["/api/v1/zones", "/api/v1/public/zones"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let ids: Vec<i64> = r.body["zones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|z| z["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [good], "{path}");
    }
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "one bad zone keeps the service ready: {r:?}");
    assert_eq!(r.body["status"], "degraded");
    assert_eq!(r.body["unreadable_zones"], json!([garbled, broken]));
    for path in [
        format!("/api/v1/zones/{garbled}"),
        format!("/feeds/zones/{broken}.ics"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 500, "{path}: {r:?}");
        assert_eq!(r.body["error"]["code"], "unreadable_data", "{path}");
    }

    // Other notices go on: the zone's subscribers, and residents located
    // where the unreadable zone was.
    let by_zone = notice_body("planned", json!({"zones": [good]}));
    let r = app.post("/api/v1/notices/preview", &by_zone).await;
    assert_eq!(r.body["recipients"]["residents"], 1, "{r:?}");
    let n = app.publish(by_zone).await;
    assert_eq!(n["recipients"], 1, "{n}");
    let west = notice_body(
        "unplanned",
        json!({"circle": {"lat": 50.745, "lon": 25.225, "radius_m": 500}}),
    );
    assert_eq!(app.publish(west).await["recipients"], 1);

    let named = notice_body("planned", json!({"zones": [good, garbled]}));
    for path in ["/api/v1/notices/preview", "/api/v1/notices"] {
        let r = app.post(path, &named).await;
        assert_eq!(r.status, 500, "{path}: {r:?}");
        assert_eq!(r.body["error"]["code"], "unreadable_data");
        assert!(
            r.message().contains(&format!(
                "area.zones[1]: zone {garbled} cannot be read back"
            )),
            "{r:?}"
        );
    }
    let r = app.get("/api/v1/notices").await;
    assert_eq!(r.body["notices"].as_array().unwrap().len(), 2, "{r:?}");
    assert!(app.logs().contains("a stored zone does not read back"));
}

async fn organisation(app: &TestApp, name: &str, ring: Vec<[f64; 2]>) -> (i64, String) {
    let territory = json!({"type": "Polygon", "coordinates": [ring]});
    let r = app
        .post(
            "/api/v1/organisations",
            &json!({"name": name, "territory": territory}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["id"].as_i64().unwrap(),
        r.body["token"].as_str().unwrap().to_owned(),
    )
}

async fn an_unreadable_territory_fails_closed_for_its_organisation_only(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let (water, water_token) =
        organisation(&app, "Луцькводоканал", rect(25.25, 50.70, 25.40, 50.80)).await;
    let (heat, heat_token) =
        organisation(&app, "Луцьктепло", rect(25.25, 50.70, 25.40, 50.80)).await;
    let (gas, gas_token) = organisation(&app, "Луцькгаз", rect(25.25, 50.70, 25.40, 50.80)).await;
    app.edit_database(&format!(
        "UPDATE organisations SET territory = '{GARBAGE}' WHERE id = {water}"
    ))
    .await;
    // JSON null is not "no territory" (SQL NULL) either.
    app.edit_database(&format!(
        "UPDATE organisations SET territory = 'null' WHERE id = {gas}"
    ))
    .await;

    let inside = notice_body(
        "planned",
        json!({"circle": {"lat": 50.745, "lon": 25.325, "radius_m": 300}}),
    );
    for token in [&water_token, &gas_token] {
        let r = app.get_as(token, "/api/v1/zones").await;
        assert_eq!(r.status, 200, "reading still works: {r:?}");
        for path in ["/api/v1/notices/preview", "/api/v1/notices"] {
            let r = app.post_as(token, path, &inside).await;
            assert_eq!(r.status, 500, "{path}: {r:?}");
            assert_eq!(r.body["error"]["code"], "unreadable_data");
            assert!(r.message().contains("territory"), "{r:?}");
        }
    }
    let r = app.post_as(&heat_token, "/api/v1/notices", &inside).await;
    assert_eq!(r.status, 201, "another organisation is unaffected: {r:?}");

    let r = app.get("/api/v1/organisations").await;
    assert_eq!(r.status, 200, "{r:?}");
    let orgs = r.body.as_array().unwrap();
    let by_id = |id: i64| orgs.iter().find(|o| o["id"] == id).unwrap();
    assert!(by_id(water)["territory"].is_null());
    assert_eq!(by_id(water)["territory_unreadable"], true);
    assert_eq!(by_id(heat)["territory"]["type"], "Polygon");
    assert!(by_id(heat).get("territory_unreadable").is_none());
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "degraded");
    assert_eq!(r.body["unreadable_territories"], json!([water, gas]));
    assert_eq!(r.body["unreadable_zones"], json!([]));
    let r = app.get("/api/v1/notices").await;
    assert_eq!(r.body["notices"].as_array().unwrap().len(), 1, "{r:?}");
}

on_both_backends!(
    a_zone_over_the_default_vertex_limit_stays_usable,
    an_unreadable_zone_is_reported_and_skipped,
    an_unreadable_territory_fails_closed_for_its_organisation_only,
);
