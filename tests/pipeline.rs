//! The whole pipeline on simulated providers, as a newcomer runs it:
//! zones → residents → notice → deliveries → update → close.

mod support;

use serde_json::{Value, json};
use std::collections::HashSet;
use support::{Backend, TestApp, notice_body, rect};

/// Lutsk-like layout: "Центр" and "Північ" share the border at lat 50.76.
async fn city(app: &TestApp) -> (i64, i64) {
    let centre = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let north = app
        .create_zone("Північ", &rect(25.30, 50.76, 25.35, 50.80))
        .await;
    (centre, north)
}

fn all_channels(n: u32) -> Value {
    json!([
        {"channel": "sms", "address": format!("+38050123{n:04}")},
        {"channel": "email", "address": format!("resident{n}@example.com")},
        {"channel": "fcm", "address": format!("fcm-token-{n}")},
        {"channel": "apns", "address": format!("ab{n:062x}")},
        {"channel": "voice", "address": format!("+38067123{n:04}")},
    ])
}

async fn notice_reaches_its_area_in_each_language_then_updates_and_closes(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let (centre, north) = city(&app).await;
    // Inside the centre, subscribed to it too: still one message per contact.
    let olena = app
        .create_resident(
            json!({"language": "uk", "location": {"lat": 50.745, "lon": 25.32},
            "zones": [centre], "contacts": all_channels(1)}),
        )
        .await;
    // Lives in the north but subscribes to the centre.
    let marek = app
        .create_resident(
            json!({"language": "pl", "location": {"lat": 50.77, "lon": 25.32},
            "zones": [centre], "contacts": [{"channel": "sms", "address": "+48601234567"}]}),
        )
        .await;
    // Far away, no subscription.
    app.create_resident(
        json!({"language": "en", "location": {"lat": 50.60, "lon": 25.10},
        "contacts": [{"channel": "email", "address": "far@example.com"}]}),
    )
    .await;
    // In the centre but only wants power notices.
    app.create_resident(
        json!({"language": "uk", "location": {"lat": 50.74, "lon": 25.33},
        "categories": ["power"], "contacts": [{"channel": "sms", "address": "+380501110000"}]}),
    )
    .await;
    // Subscribes to the north, which only touches the centre.
    app.create_resident(json!({"language": "en", "zones": [north],
        "contacts": [{"channel": "email", "address": "north@example.com"}]}))
        .await;

    let created = app
        .publish(notice_body("planned", json!({"zones": [centre]})))
        .await;
    assert_eq!(created["recipients"], 2, "{created}");
    assert_eq!(created["deliveries"], 6, "{created}");
    assert_eq!(created["simulated_channels"].as_array().unwrap().len(), 5);
    assert_eq!(created["sms"]["uk"]["encoding"], "UCS2", "{created}");
    assert!(
        created["sms"]["en"]["segments"].as_u64().unwrap() >= 1,
        "{created}"
    );
    let id = created["id"].as_i64().unwrap();

    let s = app.wait_settled(id).await;
    assert_eq!(s["total"], 6);
    assert_eq!(s["by_state"]["delivered"], 6, "{s}");
    assert_eq!(s["by_channel"]["sms"]["delivered"], 2, "{s}");

    let sent = app.outbox(&format!("notice={id}")).await;
    assert_eq!(sent.len(), 6, "{:?}\n{}", app.outbox("").await, app.logs());
    let keys: HashSet<&str> = sent
        .iter()
        .map(|m| m["idempotency_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 6, "one message per contact");
    let sms_to = |addr: &str| {
        sent.iter()
            .find(|m| m["channel"] == "sms" && m["address"] == addr)
            .unwrap_or_else(|| panic!("no SMS to {addr}: {sent:?}"))["content"]["body"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        sms_to("+380501230001").starts_with("Планові роботи (водопостачання): Ремонт водогону.")
    );
    assert!(sms_to("+48601234567").starts_with("Prace planowe (woda): Ремонт водогону."));
    assert!(sent.iter().all(|m| m["simulated"] == true));
    // A call gathers the resident's key press at its own link.
    let call = sent.iter().find(|m| m["channel"] == "voice").unwrap();
    let gather = call["content"]["gather_url"].as_str().unwrap_or_default();
    let delivery = call["delivery_id"].as_i64().unwrap();
    assert!(
        gather.ends_with(&format!("/webhooks/twilio/voice/{delivery}/gather")),
        "{call}"
    );

    let r = app
        .post(
            &format!("/api/v1/notices/{id}/update"),
            &json!({
            "message": "Ремонт продовжено до 18:00", "expected_end": "2036-11-23T18:00:00+02:00"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["event"]["deliveries"], 6);
    // Closing stops what has not gone out yet: let the update go first.
    app.wait_settled(id).await;
    let r = app
        .post(
            &format!("/api/v1/notices/{id}/close"),
            &json!({"message": "Воду відновлено"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["notice"]["status"], "closed");
    app.wait_settled(id).await;
    let s = app.summary(id).await;
    for seq in ["0", "1", "2"] {
        assert_eq!(s["by_event"][seq]["total"], 6, "{s}");
    }

    let sent = app.outbox(&format!("notice={id}&channel=sms")).await;
    let to_marek: Vec<&str> = sent
        .iter()
        .filter(|m| m["address"] == "+48601234567")
        .map(|m| m["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(to_marek.len(), 3);
    assert!(
        to_marek[1].starts_with("Aktualizacja: Ремонт водогону. Ремонт продовжено до 18:00."),
        "{to_marek:?}"
    );
    assert!(
        to_marek[1].ends_with("Przewidywane zakończenie: 23.11.2036 18:00."),
        "{to_marek:?}"
    );
    assert!(
        to_marek[2].starts_with("Prace zakończone: Ремонт водогону. Воду відновлено."),
        "{to_marek:?}"
    );

    let r = app
        .post(
            &format!("/api/v1/notices/{id}/update"),
            &json!({"message": "again"}),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");

    let notice = app.get(&format!("/api/v1/notices/{id}")).await.body;
    assert_eq!(notice["events"].as_array().unwrap().len(), 3);
    assert_eq!(notice["recipients"], 2);

    let all = app.all_deliveries(id).await;
    assert_eq!(all.len(), 18);
    let residents: HashSet<i64> = all
        .iter()
        .map(|d| d["resident_id"].as_i64().unwrap())
        .collect();
    assert_eq!(residents, HashSet::from([olena, marek]));
    let page = app
        .get(&format!(
            "/api/v1/notices/{id}/deliveries?limit=4&channel=sms&state=delivered"
        ))
        .await;
    assert_eq!(page.body["deliveries"].as_array().unwrap().len(), 4);
    let next = page.body["next_cursor"].as_i64().unwrap();
    let rest = app
        .get(&format!(
            "/api/v1/notices/{id}/deliveries?limit=4&channel=sms&state=delivered&cursor={next}"
        ))
        .await;
    assert_eq!(rest.body["deliveries"].as_array().unwrap().len(), 2);
    assert!(rest.body["next_cursor"].is_null());
}

async fn geometry_with_a_hole_and_a_circle(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let email = |n: u32| json!([{"channel": "email", "address": format!("r{n}@example.com")}]);
    let at = |lat: f64, lon: f64| json!({"lat": lat, "lon": lon});
    let inside = app
        .create_resident(
            json!({"language": "en", "location": at(50.745, 25.305), "contacts": email(1)}),
        )
        .await;
    let on_edge = app
        .create_resident(
            json!({"language": "en", "location": at(50.73, 25.32), "contacts": email(2)}),
        )
        .await;
    app.create_resident(
        json!({"language": "en", "location": at(50.745, 25.325), "contacts": email(3)}),
    )
    .await; // in the hole
    let in_circle = app
        .create_resident(
            json!({"language": "en", "location": at(50.90, 25.50), "contacts": email(4)}),
        )
        .await;
    app.create_resident(
        json!({"language": "en", "location": at(50.92, 25.50), "contacts": email(5)}),
    )
    .await; // ~2.2 km out

    let geometry = json!({"type": "Polygon", "coordinates": [
        rect(25.30, 50.73, 25.35, 50.76),
        rect(25.32, 50.74, 25.33, 50.75),
    ]});
    let created = app
        .publish(notice_body(
            "unplanned",
            json!({
            "geometry": geometry,
            "circle": {"lat": 50.90, "lon": 25.50, "radius_m": 1000}}),
        ))
        .await;
    assert_eq!(created["recipients"], 3, "{created}");
    let id = created["id"].as_i64().unwrap();
    app.wait_settled(id).await;
    let got: HashSet<i64> = app
        .all_deliveries(id)
        .await
        .iter()
        .map(|d| d["resident_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, HashSet::from([inside, on_edge, in_circle]));
}

async fn residents_confirm_through_the_link_and_a_get_never_confirms(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [zone],
        "contacts": [{"channel": "email", "address": "olena@example.com"}]}))
        .await;
    let id = app
        .publish(notice_body("emergency", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    app.wait_settled(id).await;
    let mail = &app.outbox(&format!("notice={id}&channel=email")).await[0];
    let body = mail["content"]["body"].as_str().unwrap();
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/ack/"))
        .unwrap_or_else(|| panic!("no ack link in {body}"));
    assert!(link.starts_with(&app.base), "{link}");

    let page = app.client().get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<form method=\"post\""), "{page}");
    // In the resident's language, not English.
    assert!(page.contains("Підтвердьте, що ви отримали"), "{page}");
    assert!(!page.contains("Confirm"), "{page}");
    assert_eq!(
        app.summary(id).await["by_state"]["delivered"],
        1,
        "a GET must not acknowledge"
    );

    let forged = format!("{}x", &link[..link.len() - 1]);
    assert_eq!(
        app.client().post(&forged).send().await.unwrap().status(),
        404
    );
    let done = app.client().post(link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Дякуємо"));
    assert_eq!(
        app.client().post(link).send().await.unwrap().status(),
        200,
        "confirming twice is fine"
    );
    let s = app.summary(id).await;
    assert_eq!(s["by_state"]["acknowledged"], 1, "{s}");
    let d = &app.all_deliveries(id).await[0];
    assert!(d["acknowledged_at"].is_string(), "{d}");
}

async fn an_invalid_address_fails_once_and_its_contact_is_deactivated(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    // Twilio's magic "invalid number": the simulated SMS provider rejects it like Twilio does.
    let resident = app
        .create_resident(json!({"language": "en", "zones": [zone], "contacts": [
            {"channel": "sms", "address": "+15005550001"},
            {"channel": "email", "address": "ok@example.com"}]}))
        .await;
    let first = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let s = app.wait_settled(first).await;
    assert_eq!(s["by_channel"]["sms"]["failed"], 1, "{s}");
    let failed = app
        .get(&format!("/api/v1/notices/{first}/deliveries?state=failed"))
        .await;
    assert!(
        failed.body["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("21211"),
        "{failed:?}"
    );

    let r = app.get(&format!("/api/v1/residents/{resident}")).await.body;
    let sms = r["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "sms")
        .unwrap()
        .clone();
    assert_eq!(sms["active"], false, "{r}");

    let second = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    assert_eq!(
        second["deliveries"], 1,
        "the dead number is not tried again: {second}"
    );
}

async fn deleting_a_resident_removes_them_from_targeting_and_history(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let gone = app
        .create_resident(
            json!({"language": "uk", "location": {"lat": 50.745, "lon": 25.32},
            "contacts": [{"channel": "sms", "address": "+380501234567"}]}),
        )
        .await;
    let first = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    app.wait_settled(first).await;

    assert_eq!(
        app.delete(&format!("/api/v1/residents/{gone}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/residents/{gone}")).await.status,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v1/residents/{gone}"))
            .await
            .status,
        404
    );
    let history = app.all_deliveries(first).await;
    assert_eq!(history.len(), 1, "the count stays");
    assert_eq!(history[0]["address"], "", "the phone number goes");
    assert!(history[0]["resident_id"].is_null());

    let r = app
        .post(
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [zone]})),
        )
        .await;
    assert_eq!(r.body["recipients"], 0, "{r:?}");
}

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let r = app.get("/healthz").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["store"], "ok");
}

async fn zones_are_listed_fetched_and_deleted(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let collection = json!({"type": "FeatureCollection", "features": [
        support::zone_feature("Центр", &rect(25.30, 50.73, 25.35, 50.76)),
        support::zone_feature("Північ", &rect(25.30, 50.76, 25.35, 50.80)),
    ]});
    let r = app.post("/api/v1/zones", &collection).await;
    assert_eq!((r.status, &r.body["ids"]), (201, &json!([1, 2])), "{r:?}");
    let list = app.get("/api/v1/zones").await.body;
    assert_eq!(list["zones"][1]["name"], "Північ");
    assert_eq!(
        list["zones"][0]["bbox"],
        json!([25.30, 50.73, 25.35, 50.76])
    );
    let feature = app.get("/api/v1/zones/1").await.body;
    assert_eq!(feature["type"], "Feature");
    assert_eq!(feature["properties"]["name"], "Центр");

    app.create_resident(json!({"language": "uk", "zones": [2],
        "contacts": [{"channel": "sms", "address": "+380501234567"}]}))
        .await;
    assert_eq!(app.delete("/api/v1/zones/2").await.status, 204);
    assert_eq!(app.get("/api/v1/zones/2").await.status, 404);
    assert_eq!(app.delete("/api/v1/zones/2").await.status, 404);
    let r = app
        .post(
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [2]})),
        )
        .await;
    assert_eq!((r.status, r.field()), (422, "area.zones[0]"), "{r:?}");
    let r = app
        .post(
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [1]})),
        )
        .await;
    assert_eq!(
        r.body["recipients"], 0,
        "the subscription went with the zone: {r:?}"
    );
}

on_both_backends!(
    notice_reaches_its_area_in_each_language_then_updates_and_closes,
    geometry_with_a_hole_and_a_circle,
    residents_confirm_through_the_link_and_a_get_never_confirms,
    an_invalid_address_fails_once_and_its_contact_is_deactivated,
    deleting_a_resident_removes_them_from_targeting_and_history,
    health_and_readiness,
    zones_are_listed_fetched_and_deleted,
);
