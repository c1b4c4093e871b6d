//! Residents' own choices: preferences set at registration and changed
//! with PATCH, SMS opt-out by keyword (STOP / START through Twilio's
//! incoming-message webhook) and email opt-out by the unsubscribe link of
//! a real email (List-Unsubscribe, RFC 8058 one-click).

mod support;

use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Backend, Providers, Reply, TestApp, notice_body, rect};

const NUMBER: &str = "+380671234567";
const OTHER_NUMBER: &str = "+380671234999";
const CITY_NUMBER: &str = "+380501234567";
const EMAIL: &str = "olena@example.com";

async fn patch(app: &TestApp, resident: i64, body: &Value) -> Reply {
    let url = app.url(&format!("/api/v1/residents/{resident}"));
    app.send(app.client().patch(url).bearer_auth(ADMIN_TOKEN).json(body))
        .await
}

async fn zone(app: &TestApp) -> i64 {
    app.create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await
}

/// Publishes a notice to the zone and waits until every delivery is final.
async fn notify(app: &TestApp, zone: i64) -> i64 {
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    app.wait_settled(id).await;
    id
}

async fn contact(app: &TestApp, resident: i64, channel: &str) -> Value {
    let r = app.get(&format!("/api/v1/residents/{resident}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == channel)
        .cloned()
        .unwrap_or_else(|| panic!("no {channel} contact: {}", r.body))
}

#[tokio::test]
async fn preferences_are_registered_patched_and_each_bad_field_is_named() {
    let app = TestApp::spawn().await;
    let zone = zone(&app).await;
    let id = app
        .create_resident(json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": NUMBER}],
            "timezone": "Europe/Kyiv", "quiet_hours": "23:00-06:00", "channels": ["sms", "voice"]}))
        .await;
    let r = app.get(&format!("/api/v1/residents/{id}")).await.body;
    assert_eq!(r["timezone"], "Europe/Kyiv");
    assert_eq!(r["quiet_hours"], "23:00-06:00");
    assert_eq!(r["channels"], json!(["sms", "voice"]));

    let r = patch(
        &app,
        id,
        &json!({"language": "pl", "categories": ["water", "gas"], "timezone": "Europe/Warsaw",
                "quiet_hours": "22:00-07:00", "channels": ["fcm", "sms", "email"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["language"], "pl");
    assert_eq!(r.body["categories"], json!(["water", "gas"]));
    assert_eq!(r.body["timezone"], "Europe/Warsaw");
    assert_eq!(r.body["quiet_hours"], "22:00-07:00");
    assert_eq!(r.body["channels"], json!(["fcm", "sms", "email"]));
    assert_eq!(r.body["zones"], json!([zone]), "untouched fields stay");

    // Absent = unchanged, null = the city's default, "off" = none.
    let r = patch(&app, id, &json!({"quiet_hours": "off", "timezone": null})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["quiet_hours"], "off");
    assert_eq!(r.body["timezone"], Value::Null);
    assert_eq!(r.body["channels"], json!(["fcm", "sms", "email"]));
    let r = patch(&app, id, &json!({"quiet_hours": null, "channels": null})).await;
    assert_eq!(r.body["quiet_hours"], Value::Null);
    assert_eq!(r.body["channels"], Value::Null);
    assert_eq!(r.body["language"], "pl");
    // GET agrees with what PATCH returned.
    let r = app.get(&format!("/api/v1/residents/{id}")).await.body;
    assert_eq!(
        (&r["quiet_hours"], &r["timezone"], &r["channels"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );

    let cases = [
        (
            json!({"timezone": "Europe/Kiev2"}),
            "timezone",
            "\"Europe/Kyiv\"",
        ),
        (json!({"quiet_hours": "22-7"}), "quiet_hours", "22:00-07:00"),
        (json!({"quiet_hours": 2200}), "quiet_hours", "string"),
        (json!({"channels": []}), "channels", "at least one"),
        (json!({"channels": ["sms", "sms"]}), "channels", "twice"),
        (json!({"channels": ["pigeon"]}), "channels", "not a channel"),
        (
            json!({"language": null}),
            "language",
            "always has a language",
        ),
        (json!({"language": "ukrainian"}), "language", "language tag"),
        (json!({"categories": []}), "categories", "at least one"),
        (
            json!({"location": {"lat": 50.7, "lon": 25.3}}),
            "location",
            "unknown field",
        ),
        (json!({"contacts": []}), "contacts", "unknown field"),
    ];
    for (body, field, words) in cases {
        let r = patch(&app, id, &body).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.field(), field, "{body}: {r:?}");
        assert!(r.message().contains(words), "{body}: {r:?}");
    }
    let r = patch(&app, id, &json!({"timezone": "Europe/Kiev2"})).await;
    assert_eq!(
        r.message(),
        "timezone \"Europe/Kiev2\" is not an IANA time zone such as \"Europe/Kyiv\""
    );
    let r = app.get(&format!("/api/v1/residents/{id}")).await.body;
    assert_eq!(r["language"], "pl", "a rejected PATCH changes nothing");

    assert_eq!(patch(&app, id + 1000, &json!({})).await.status, 404);
    let executor = app
        .post("/api/v1/organisations", &json!({"name": "Луцькводоканал"}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url(&format!("/api/v1/residents/{id}"));
    let as_executor = app
        .send(
            app.client()
                .patch(&url)
                .bearer_auth(executor)
                .json(&json!({"quiet_hours": "off"})),
        )
        .await;
    assert_eq!(as_executor.status, 403, "{as_executor:?}");
    let anonymous = app
        .send(
            app.client()
                .patch(&url)
                .json(&json!({"quiet_hours": "off"})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn inbound_sms_is_not_found_without_twilio() {
    let app = TestApp::spawn().await;
    let r = app
        .client()
        .post(app.url("/webhooks/twilio/sms/inbound"))
        .form(&[("From", NUMBER), ("Body", "STOP")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// Messages the Twilio mock was asked to send to `to`.
fn texts_to(p: &Providers, to: &str) -> usize {
    p.twilio
        .messages()
        .iter()
        .filter(|m| m.param("To") == Some(to))
        .count()
}

async fn stop_ends_texts_to_that_number_and_start_brings_them_back(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("")).await;
    let zone = zone(&app).await;
    let olena = app
        .create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
            {"channel": "sms", "address": NUMBER}, {"channel": "email", "address": EMAIL}]}))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [zone],
        "contacts": [{"channel": "sms", "address": OTHER_NUMBER}]}))
        .await;
    notify(&app, zone).await;
    assert_eq!((texts_to(&p, NUMBER), p.smtp.mails().len()), (1, 1));

    let inbound = app.url("/webhooks/twilio/sms/inbound");
    // Not signed by Twilio: refused, nothing changes.
    let forged = app
        .client()
        .post(&inbound)
        .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&[("From", NUMBER), ("To", CITY_NUMBER), ("Body", "STOP")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(contact(&app, olena, "sms").await["active"], true);

    // Anything but a keyword is ignored.
    let chat = p
        .twilio
        .send_inbound_sms(&inbound, NUMBER, CITY_NUMBER, "Дякую!")
        .await;
    assert_eq!(chat.status, 200, "{chat:?}");
    assert_eq!(contact(&app, olena, "sms").await["active"], true);

    let stop = p
        .twilio
        .send_inbound_sms(&inbound, NUMBER, CITY_NUMBER, " Стоп ")
        .await;
    assert_eq!(stop.status, 200, "{stop:?}");
    assert!(stop.content_type.starts_with("text/xml"), "{stop:?}");
    assert!(stop.body.ends_with("<Response/>"), "{stop:?}");
    let sms = contact(&app, olena, "sms").await;
    assert_eq!(sms["active"], false, "{sms}");
    assert_eq!(sms["deactivated_reason"], "STOP keyword received");
    assert_eq!(contact(&app, olena, "email").await["active"], true);

    // The next notice: no SMS to that number, email to the same resident,
    // SMS to everyone else.
    notify(&app, zone).await;
    assert_eq!(texts_to(&p, NUMBER), 1, "no SMS after STOP");
    assert_eq!(texts_to(&p, OTHER_NUMBER), 2);
    assert_eq!(p.smtp.mails().len(), 2, "email still goes out");

    let start = p
        .twilio
        .send_inbound_sms(&inbound, NUMBER, CITY_NUMBER, "start")
        .await;
    assert_eq!(start.status, 200, "{start:?}");
    let sms = contact(&app, olena, "sms").await;
    assert_eq!(sms["active"], true, "{sms}");
    assert!(sms.get("deactivated_reason").is_none(), "{sms}");
    notify(&app, zone).await;
    assert_eq!(texts_to(&p, NUMBER), 2, "SMS again after START");
}

/// The target of `List-Unsubscribe: <url>`.
fn list_unsubscribe(mail: &tocsin_testkit::ReceivedMail) -> String {
    let header = mail
        .header("List-Unsubscribe")
        .unwrap_or_else(|| panic!("no List-Unsubscribe in {}", mail.data));
    header
        .strip_prefix('<')
        .and_then(|h| h.strip_suffix('>'))
        .unwrap_or_else(|| panic!("List-Unsubscribe is not <url>: {header}"))
        .to_owned()
}

async fn the_unsubscribe_link_of_an_email_stops_email_only_when_posted(backend: Backend) {
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("")).await;
    let zone = zone(&app).await;
    let olena = app
        .create_resident(json!({"language": "uk", "zones": [zone], "contacts": [
            {"channel": "sms", "address": NUMBER}, {"channel": "email", "address": EMAIL}]}))
        .await;
    notify(&app, zone).await;
    let mail = &p.smtp.mails()[0];
    let url = list_unsubscribe(mail);
    assert!(
        url.starts_with(&format!("{}/unsubscribe/", app.base)),
        "{url}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let body = mail.body_text();
    assert!(
        body.contains(&format!("Не отримувати більше листів: {url}")),
        "{body}"
    );

    // GET (what a mail scanner does) only shows the button.
    let page = app.client().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\"") && html.contains("Відписатися"),
        "{html}"
    );
    assert_eq!(contact(&app, olena, "email").await["active"], true);

    // The acknowledgement token of the same email is no unsubscribe token.
    let ack = body
        .split_whitespace()
        .find(|w| w.contains("/ack/"))
        .unwrap_or_else(|| panic!("no ack link in {body}"));
    let ack_as_unsubscribe = ack.replace("/ack/", "/unsubscribe/");
    let refused = app.client().post(&ack_as_unsubscribe).send().await.unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(contact(&app, olena, "email").await["active"], true);

    // A mail client's one-click POST (RFC 8058).
    let one_click = app
        .client()
        .post(&url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(one_click.status(), 200);
    let email = contact(&app, olena, "email").await;
    assert_eq!(email["active"], false, "{email}");
    assert_eq!(email["deactivated_reason"], "unsubscribed by link");
    assert_eq!(contact(&app, olena, "sms").await["active"], true);
    // Pressing the page's button afterwards still answers kindly.
    let again = app.client().post(&url).send().await.unwrap();
    assert_eq!(again.status(), 200);

    notify(&app, zone).await;
    assert_eq!(p.smtp.mails().len(), 1, "no email after unsubscribing");
    assert_eq!(texts_to(&p, NUMBER), 2, "SMS still goes out");
}

on_both_backends!(
    stop_ends_texts_to_that_number_and_start_brings_them_back,
    the_unsubscribe_link_of_an_email_stops_email_only_when_posted,
);
