//! Bad input gets a clear 4xx naming what was wrong, and changes nothing.

mod support;

use serde_json::json;
use support::{Backend, TestApp, notice_body, rect, zone_feature};

async fn notice_count(app: &TestApp) -> usize {
    app.get("/api/v1/notices").await.body["notices"]
        .as_array()
        .unwrap()
        .len()
}

async fn malformed_bodies_and_wrong_content_types(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let r = app
        .post_raw("/api/v1/residents", "application/json", "{\"language\": ")
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["error"]["code"], "bad_request");
    assert!(r.message().contains("malformed JSON"), "{r:?}");
    let r = app.post_raw("/api/v1/notices", "text/plain", "{}").await;
    assert_eq!(r.status, 415, "{r:?}");
    let r = app
        .post("/api/v1/notices", &json!({"kind": "planned", "titel": "x"}))
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.message().contains("titel"), "{r:?}");
    let huge = format!("{{\"language\":\"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let r = app
        .post_raw("/api/v1/residents", "application/json", huge)
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    let r = app.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = app.get("/api/v1/notices/abc").await;
    assert_eq!(r.status, 404, "{r:?}");
}

async fn bodies_over_the_limit_are_refused(backend: Backend) {
    // A small limit keeps the whole body inside the socket buffers: with a
    // large one the server answers 413 before reading it and the client
    // sees a reset instead of the response.
    let app = TestApp::spawn_on(backend, "[limits]\nmax_body_bytes = 4096\n").await;
    let big = format!("{{\"language\":\"{}\"}}", "x".repeat(8 * 1024));
    let r = app
        .post_raw("/api/v1/residents", "application/json", big)
        .await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.body["error"]["code"], "payload_too_large");
    assert!(r.message().contains("4096"), "{r:?}");
}

async fn invalid_geojson_names_the_problem_and_writes_no_zone(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let mut open_ring = rect(25.30, 50.73, 25.35, 50.76);
    open_ring.pop();
    let r = app
        .post("/api/v1/zones", &zone_feature("Центр", &open_ring))
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), "geometry");
    assert!(r.message().contains("not closed"), "{r:?}");

    let bow_tie = vec![
        [25.30, 50.73],
        [25.35, 50.76],
        [25.35, 50.73],
        [25.30, 50.76],
        [25.30, 50.73],
    ];
    let collection = json!({"type": "FeatureCollection", "features": [
        zone_feature("A", &rect(25.30, 50.73, 25.35, 50.76)),
        zone_feature("B", &bow_tie),
    ]});
    let r = app.post("/api/v1/zones", &collection).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), "features[1].geometry", "{r:?}");

    let r = app
        .post(
            "/api/v1/zones",
            &zone_feature("Far", &rect(25.0, 95.0, 25.1, 95.1)),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.message().contains("latitude"), "{r:?}");

    let line = json!({"type": "Feature", "properties": {"name": "L"},
        "geometry": {"type": "LineString", "coordinates": [[25.3, 50.7], [25.4, 50.8]]}});
    let r = app.post("/api/v1/zones", &line).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.message().contains("LineString"), "{r:?}");

    let nameless = json!({"type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [rect(25.30, 50.73, 25.35, 50.76)]}});
    let r = app.post("/api/v1/zones", &nameless).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.field(), "properties.name", "{r:?}");

    let zones = app.get("/api/v1/zones").await;
    assert_eq!(
        zones.body["zones"].as_array().unwrap().len(),
        0,
        "nothing written: {zones:?}"
    );
}

async fn invalid_residents_name_the_field(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let cases = [
        (
            json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "sms", "address": "050 123 45 67"}]}),
            "contacts[0].address",
            "+",
        ),
        (
            json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "email", "address": "olena.example.com"}]}),
            "contacts[0].address",
            "@",
        ),
        (
            // A Lutsk landline: it takes calls, not texts.
            json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "sms", "address": "+380332724512"}]}),
            "contacts[0].address",
            "cannot receive SMS",
        ),
        (
            json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "pager", "address": "1"}]}),
            "contacts[0].channel",
            "pager",
        ),
        (
            json!({"language": "uk", "zones": [zone, 999], "contacts": [{"channel": "email", "address": "a@example.com"}]}),
            "zones[1]",
            "999",
        ),
        (
            json!({"language": "uk", "location": {"lat": 50.7, "lon": 200.0}, "contacts": [{"channel": "email", "address": "a@example.com"}]}),
            "location",
            "longitude",
        ),
        (
            json!({"language": "uk", "zones": [zone], "categories": ["sewage"], "contacts": [{"channel": "email", "address": "a@example.com"}]}),
            "categories[0]",
            "sewage",
        ),
    ];
    for (body, field, hint) in cases {
        let r = app.post("/api/v1/residents", &body).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.field(), field, "{body}: {r:?}");
        assert!(r.message().contains(hint), "{body}: {r:?}");
    }
    // Nothing was written: the first resident created now gets id 1.
    let id = app
        .create_resident(json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "email", "address": "a@example.com"}]}))
        .await;
    assert_eq!(id, 1);
    // The same landline is a fine voice contact.
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "voice", "address": "+380332724512"}]}))
        .await;
}

async fn an_import_with_one_bad_line_imports_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let good = |n: u32| {
        json!({"language": "uk", "zones": [zone], "contacts": [{"channel": "sms", "address": format!("+38050{n:07}")}]})
            .to_string()
    };
    let body = format!(
        "{}\n{}\n{}\n{}\n",
        good(1),
        r#"{"language":"uk","zones":[1],"contacts":[{"channel":"sms","address":"12"}]}"#,
        good(3),
        json!({"language": "uk", "zones": [77], "contacts": [{"channel": "email", "address": "a@example.com"}]})
    );
    let r = app
        .post_raw("/api/v1/residents/import", "application/x-ndjson", body)
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let errors = r.body["error"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{r:?}");
    assert_eq!(
        (errors[0]["line"].as_i64(), errors[0]["field"].as_str()),
        (Some(2), Some("contacts[0].address"))
    );
    assert_eq!(
        (errors[1]["line"].as_i64(), errors[1]["field"].as_str()),
        (Some(4), Some("zones[0]"))
    );
    assert!(r.message().contains("nothing was imported"));

    let r = app
        .post_raw(
            "/api/v1/residents/import",
            "application/x-ndjson",
            format!("{}\n\n{}", good(1), good(2)),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body["ids"],
        json!([1, 2]),
        "the failed import wrote nothing"
    );
    let r = app
        .post_raw("/api/v1/residents/import", "application/x-ndjson", "\n\n")
        .await;
    assert_eq!(r.status, 422, "{r:?}");
}

async fn invalid_notices_name_the_field_and_write_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let mut open_ring = rect(25.30, 50.73, 25.35, 50.76);
    open_ring.pop();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = notice_body("planned", json!({"zones": [zone]}));
        f(&mut b);
        b
    };
    let cases = [
        (
            with(&|b| b["area"] = json!({"zones": [zone, 4242]})),
            "area.zones[1]",
        ),
        (with(&|b| b["area"] = json!({})), "area"),
        (
            with(&|b| {
                b["area"] =
                    json!({"geometry": {"type": "Polygon", "coordinates": [open_ring.clone()]}})
            }),
            "area.geometry",
        ),
        (
            with(&|b| b["area"] = json!({"circle": {"lat": 50.7, "lon": 25.3, "radius_m": -5}})),
            "area.circle",
        ),
        (
            with(&|b| b["expected_end"] = json!("2026-11-23T07:00:00Z")),
            "expected_end",
        ),
        (
            with(&|b| b["starts_at"] = json!("tomorrow morning")),
            "starts_at",
        ),
        (with(&|b| b["title"] = json!("   ")), "title"),
        (with(&|b| b["kind"] = json!("urgent")), "kind"),
        (with(&|b| b["category"] = json!("sewage")), "category"),
        (
            with(&|b| b["expires_at"] = json!("2020-01-01T00:00:00Z")),
            "expires_at",
        ),
        (with(&|b| b["outage"] = json!("x".repeat(101))), "outage"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/notices", &body).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.field(), field, "{body}: {r:?}");
        assert!(!r.message().is_empty());
    }
    let r = app
        .post("/api/v1/notices", &with(&|b| b["kind"] = json!("urgent")))
        .await;
    assert!(
        r.message().contains("planned"),
        "lists the valid kinds: {r:?}"
    );
    assert_eq!(notice_count(&app).await, 0);

    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(&format!("/api/v1/notices/{id}/update"), &json!({}))
        .await;
    assert_eq!((r.status, r.field()), (422, "message"), "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/notices/{id}/update"),
            &json!({"expected_end": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "expected_end"), "{r:?}");
    let r = app.post("/api/v1/notices/999/close", &json!({})).await;
    assert_eq!(r.status, 404, "{r:?}");
    let events = app.get(&format!("/api/v1/notices/{id}")).await.body["events"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(events, 1, "rejected updates add no event");
}

on_both_backends!(
    malformed_bodies_and_wrong_content_types,
    bodies_over_the_limit_are_refused,
    invalid_geojson_names_the_problem_and_writes_no_zone,
    invalid_residents_name_the_field,
    an_import_with_one_bad_line_imports_nothing,
    invalid_notices_name_the_field_and_write_nothing,
);
