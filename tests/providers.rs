//! Real provider wire formats: Tocsin configured against local mock servers
//! of FCM, APNs, Twilio (SMS and voice) and an SMTP server.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Backend, Providers, TestApp, notice_body, rect};

const FCM_TOKEN: &str = "fcm-device-token-olena";
const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

async fn delivery(app: &TestApp, notice: i64, channel: &str) -> Value {
    let r = app
        .get(&format!(
            "/api/v1/notices/{notice}/deliveries?channel={channel}"
        ))
        .await;
    r.body["deliveries"][0].clone()
}

async fn wait_state(app: &TestApp, notice: i64, channel: &str, state: &str) -> Value {
    for _ in 0..200 {
        let d = delivery(app, notice, channel).await;
        if d["state"] == state {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{channel} never became {state}: {}",
        delivery(app, notice, channel).await
    );
}

async fn each_provider_receives_its_exact_wire_format_and_receipts_move_states(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("")).await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
        {"channel": "fcm", "address": FCM_TOKEN},
        {"channel": "apns", "address": APNS_TOKEN},
        {"channel": "sms", "address": "+380671234567"},
        {"channel": "email", "address": "olena@example.com"},
        {"channel": "voice", "address": "+380671234568"},
    ]}))
    .await;
    let created = app
        .publish(notice_body("emergency", json!({"zones": [zone]})))
        .await;
    assert_eq!(created["simulated_channels"], json!([]), "{created}");
    let id = created["id"].as_i64().unwrap();
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["sent"], 5, "{s}\n{}", app.logs());

    // FCM HTTP v1: OAuth token from a verified JWT, one message per token.
    assert_eq!(p.fcm.token_requests(), 1);
    let fcm = &p.fcm.messages()[0]["message"];
    assert_eq!(fcm["token"], FCM_TOKEN);
    assert_eq!(
        fcm["notification"]["title"],
        "Аварійні роботи: водопостачання"
    );
    assert!(
        fcm["notification"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Ремонт водогону."),
        "{fcm}"
    );
    assert_eq!(fcm["android"]["priority"], "HIGH");
    assert_eq!(fcm["data"]["notice_id"], id.to_string());
    assert!(
        fcm["data"]["ack_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/ack/", app.base))
    );

    // APNs over HTTP/2 with a token-auth JWT.
    let apns = &p.apns.requests()[0];
    assert_eq!(apns.http_version, "HTTP/2.0");
    assert_eq!(apns.device_token, APNS_TOKEN);
    assert_eq!(apns.topic.as_deref(), Some("org.tocsin.app"));
    assert_eq!(apns.push_type.as_deref(), Some("alert"));
    assert_eq!(apns.priority.as_deref(), Some("10"));
    assert_eq!(
        apns.collapse_id.as_deref(),
        Some(format!("notice-{id}").as_str())
    );
    assert_eq!(
        apns.body["aps"]["alert"]["title"],
        "Аварійні роботи: водопостачання"
    );

    // Twilio Messages API: form fields, idempotency token, status callback.
    let sms = &p.twilio.messages()[0];
    assert_eq!(sms.param("To"), Some("+380671234567"));
    assert_eq!(sms.param("From"), Some("+380501234567"));
    assert!(
        sms.param("Body")
            .unwrap()
            .starts_with("АВАРІЯ, водопостачання: Ремонт водогону."),
        "{sms:?}"
    );
    let sms_delivery = delivery(&app, id, "sms").await;
    let callback = format!("{}/webhooks/twilio/sms/{}", app.base, sms_delivery["id"]);
    assert_eq!(sms.param("StatusCallback"), Some(callback.as_str()));
    assert!(
        sms.idempotency_token
            .as_deref()
            .unwrap()
            .ends_with(&format!("-{}", sms_delivery["id"]))
    );
    assert_eq!(sms_delivery["provider_id"], sms.sid.as_str());

    // Twilio Calls API with TwiML in the resident's language.
    let call = &p.twilio.calls()[0];
    let twiml = call.param("Twiml").unwrap();
    assert!(twiml.contains("<Say language=\"uk-UA\">Увага."), "{twiml}");
    assert!(twiml.contains("<Gather numDigits=\"1\""), "{twiml}");
    assert_eq!(call.param("To"), Some("+380671234568"));

    // SMTP: envelope, decoded Ukrainian subject, acknowledgement link.
    let mail = &p.smtp.mails()[0];
    assert_eq!(mail.to, vec!["olena@example.com".to_owned()]);
    assert_eq!(mail.from, "alerts@lutsk.example");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Аварійні роботи, водопостачання: Ремонт водогону")
    );
    assert!(
        mail.body_text().contains(&format!("{}/ack/", app.base)),
        "{}",
        mail.body_text()
    );

    // Receipts: SMS delivered, the call answered and confirmed with key 1.
    assert_eq!(
        p.twilio.send_status_callback(&sms.sid, "delivered").await,
        204
    );
    wait_state(&app, id, "sms", "delivered").await;
    assert_eq!(
        p.twilio
            .send_status_callback(&call.sid, "in-progress")
            .await,
        204
    );
    wait_state(&app, id, "voice", "delivered").await;
    assert_eq!(p.twilio.press_digits(&call.sid, "1").await, 200);
    let voice = wait_state(&app, id, "voice", "acknowledged").await;
    assert!(voice["acknowledged_at"].is_string());
    // A late "sent" receipt never moves a delivery backwards.
    assert_eq!(p.twilio.send_status_callback(&sms.sid, "sent").await, 204);
    assert_eq!(delivery(&app, id, "sms").await["state"], "delivered");
}

async fn callbacks_without_a_valid_signature_are_refused(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("")).await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [zone],
        "contacts": [{"channel": "sms", "address": "+380671234567"}]}))
        .await;
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    app.wait_settled(id).await;
    let d = delivery(&app, id, "sms").await;
    let url = app.url(&format!("/webhooks/twilio/sms/{}", d["id"]));
    let form = [
        ("MessageSid", d["provider_id"].as_str().unwrap()),
        ("MessageStatus", "delivered"),
    ];
    let unsigned = app.client().post(&url).form(&form).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let forged = app
        .client()
        .post(&url)
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(delivery(&app, id, "sms").await["state"], "sent");
}

async fn transient_errors_retry_and_invalid_addresses_deactivate_the_contact(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("[dispatch]\nretry_base_secs = 0\n")).await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let resident = app
        .create_resident(json!({"language": "en", "zones": [zone], "contacts": [
            {"channel": "fcm", "address": "unregistered-token-1"},
            {"channel": "sms", "address": "+380671234567"}]}))
        .await;
    // The gateway answers 503, then 429 with Retry-After, then accepts.
    p.twilio.fail_next(1, 503, None);
    p.twilio.fail_next(1, 429, Some(Duration::from_secs(1)));
    let id = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_channel"]["sms"]["sent"], 1, "{s}");
    assert_eq!(s["by_channel"]["fcm"]["failed"], 1, "{s}");
    assert_eq!(delivery(&app, id, "sms").await["attempts"], 3);
    assert_eq!(p.twilio.messages().len(), 1, "retries create one message");

    let fcm = delivery(&app, id, "fcm").await;
    assert_eq!(fcm["attempts"], 1, "an unregistered token is not retried");
    let r = app.get(&format!("/api/v1/residents/{resident}")).await.body;
    let contact = r["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "fcm")
        .unwrap()
        .clone();
    assert_eq!(contact["active"], false, "{r}");

    // An "unknown destination" receipt fails the SMS and retires the number.
    let sid = p.twilio.messages()[0].sid.clone();
    assert_eq!(
        p.twilio
            .send_status_callback_with_error(&sid, "undelivered", Some("30005"))
            .await,
        204
    );
    wait_state(&app, id, "sms", "failed").await;
    let again = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await;
    assert_eq!(again["recipients"], 1);
    assert_eq!(again["deliveries"], 0, "both contacts are retired: {again}");
}

async fn a_permanent_error_fails_without_retry(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("[dispatch]\nretry_base_secs = 0\n")).await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    app.create_resident(json!({"language": "en", "zones": [zone],
        "contacts": [{"channel": "sms", "address": "+380671234567"}]}))
        .await;
    p.twilio.fail_next(1, 400, None);
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let s = app.wait_settled(id).await;
    assert_eq!(s["by_state"]["failed"], 1, "{s}");
    assert_eq!(delivery(&app, id, "sms").await["attempts"], 1);
    assert!(p.twilio.messages().is_empty());
}

on_both_backends!(
    each_provider_receives_its_exact_wire_format_and_receipts_move_states,
    callbacks_without_a_valid_signature_are_refused,
    transient_errors_retry_and_invalid_addresses_deactivate_the_contact,
    a_permanent_error_fails_without_retry,
);
