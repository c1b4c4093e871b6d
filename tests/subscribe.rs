//! Residents subscribing themselves: a one-time code first, nothing sent
//! to an address before it is verified, guessing stopped, and a link to
//! delete it all.

mod support;

use serde_json::{Value, json};
use support::{TestApp, notice_body, rect};

const PHONE: &str = "+380671112233";

async fn anonymous_post(app: &TestApp, path: &str, body: &Value) -> support::Reply {
    app.send(app.client().post(app.url(path)).json(body)).await
}

fn subscription(phone: &str, zone: i64) -> Value {
    json!({"language": "uk", "zones": [zone], "categories": ["water"],
           "contact": {"channel": "sms", "address": phone}})
}

/// The SMS bodies the simulated provider took for `phone`.
async fn texts_to(app: &TestApp, phone: &str) -> Vec<String> {
    app.outbox("channel=sms")
        .await
        .iter()
        .filter(|m| m["address"] == phone)
        .map(|m| m["content"]["body"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The six-digit code in the newest message to `phone`.
async fn code_for(app: &TestApp, phone: &str) -> String {
    let texts = texts_to(app, phone).await;
    let last = texts.last().expect("a code was sent");
    last.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("no code in {last:?}"))
        .to_owned()
}

async fn start() -> (TestApp, i64) {
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    (app, zone)
}

#[tokio::test]
async fn a_resident_subscribes_with_a_code_and_receives_the_next_notice() {
    let (app, zone) = start().await;
    let r = anonymous_post(
        &app,
        "/api/v1/public/subscriptions",
        &subscription(PHONE, zone),
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["verification_id"].as_i64().unwrap();
    let code = code_for(&app, PHONE).await;
    assert!(
        texts_to(&app, PHONE).await[0].contains("код"),
        "in Ukrainian"
    );

    // Not a recipient before the code is verified.
    let early = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    assert_eq!(early["deliveries"], 0, "{early}");

    let verify = format!("/api/v1/public/subscriptions/{id}/verify");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = anonymous_post(&app, &verify, &json!({"code": wrong})).await;
    assert_eq!((r.status, r.field()), (422, "code"), "{r:?}");
    assert!(r.message().contains("4 tries left"), "{r:?}");
    let r = anonymous_post(&app, &verify, &json!({"code": format!(" {code} ")})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let resident = r.body["resident_id"].as_i64().unwrap();
    let r = anonymous_post(&app, &verify, &json!({"code": code})).await;
    assert_eq!(r.status, 404, "a code works once: {r:?}");

    let notice = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    let id = notice["id"].as_i64().unwrap();
    app.wait_settled(id).await;
    let sent = app.outbox(&format!("notice={id}&channel=sms")).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["address"], PHONE);

    // The manage link came to the same phone; it shows and deletes.
    let texts = texts_to(&app, PHONE).await;
    let link = texts
        .iter()
        .find_map(|t| t.split_whitespace().find(|w| w.contains("/subscription/")))
        .expect("a manage link")
        .to_owned();
    let path = &link[link.find("/subscription/").unwrap()..];
    let page = app
        .client()
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(PHONE), "{page}");
    // The same link changes what the resident hears about.
    let form = "language=pl&category=heating&quiet_hours=off";
    let resp = app
        .client()
        .post(app.url(&format!("{path}/preferences")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Saved."));
    let stored = app.get(&format!("/api/v1/residents/{resident}")).await;
    assert_eq!(stored.body["language"], "pl", "{stored:?}");
    assert_eq!(stored.body["categories"], json!(["heating"]), "{stored:?}");
    assert_eq!(stored.body["quiet_hours"], "off", "{stored:?}");
    let water = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    assert_eq!(
        water["deliveries"], 0,
        "no longer wants water notices: {water}"
    );
    let r = app
        .client()
        .post(app.url(&format!("{path}/preferences")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("language=xx-bad-language-tag-that-is-too-long&category=water")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a bad value is refused, nothing changes");

    let forged = format!("{}x", &path[..path.len() - 1]);
    let r = app.client().get(app.url(&forged)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = app.client().post(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.get(&format!("/api/v1/residents/{resident}"))
            .await
            .status,
        404,
        "deleting removes the resident"
    );
}

#[tokio::test]
async fn guessing_a_code_is_stopped_after_five_tries() {
    let (app, zone) = start().await;
    let r = anonymous_post(
        &app,
        "/api/v1/public/subscriptions",
        &subscription(PHONE, zone),
    )
    .await;
    assert_eq!(r.status, 202, "{r:?}");
    let id = r.body["verification_id"].as_i64().unwrap();
    let code = code_for(&app, PHONE).await;
    let verify = format!("/api/v1/public/subscriptions/{id}/verify");
    let guesses: Vec<String> = (0..5)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    for (i, guess) in guesses.iter().enumerate() {
        let r = anonymous_post(&app, &verify, &json!({"code": guess})).await;
        if i < 4 {
            assert_eq!(r.status, 422, "{r:?}");
        } else {
            assert_eq!(r.status, 429, "the fifth wrong code ends it: {r:?}");
        }
    }
    let r = anonymous_post(&app, &verify, &json!({"code": code})).await;
    assert_eq!(r.status, 404, "even the right code is too late: {r:?}");
    let notice = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    assert_eq!(notice["deliveries"], 0, "{notice}");
}

#[tokio::test]
async fn codes_are_limited_per_address_and_per_minute() {
    let app = TestApp::spawn_with_config("[limits]\ncodes_per_minute = 5\n").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    for _ in 0..3 {
        let r = anonymous_post(
            &app,
            "/api/v1/public/subscriptions",
            &subscription(PHONE, zone),
        )
        .await;
        assert_eq!(r.status, 202, "{r:?}");
    }
    let r = anonymous_post(
        &app,
        "/api/v1/public/subscriptions",
        &subscription(PHONE, zone),
    )
    .await;
    assert_eq!(r.status, 429, "a fourth code within the hour: {r:?}");
    assert_eq!(texts_to(&app, PHONE).await.len(), 3);
    for (i, expect) in [(1, 202), (2, 202), (3, 429)] {
        let phone = format!("+38067111220{i}");
        let r = anonymous_post(
            &app,
            "/api/v1/public/subscriptions",
            &subscription(&phone, zone),
        )
        .await;
        assert_eq!(r.status, expect, "code {} this minute: {r:?}", 3 + i);
    }
}

/// The per-address limit counts an address however its letters are
/// cased: four spellings of one mailbox are one mailbox.
#[tokio::test]
async fn the_address_limit_ignores_letter_case() {
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let spellings = [
        "victim@example.com",
        "Victim@example.com",
        "VICTIM@example.com",
        "ViCtim@Example.com",
    ];
    for (i, address) in spellings.iter().enumerate() {
        let body = json!({"language": "uk", "zones": [zone], "categories": ["water"],
                          "contact": {"channel": "email", "address": address}});
        let r = anonymous_post(&app, "/api/v1/public/subscriptions", &body).await;
        let expect = if i < 3 { 202 } else { 429 };
        assert_eq!(r.status, expect, "{address}: {r:?}");
    }
    let mails = app.outbox("channel=email").await;
    assert!(
        mails.iter().all(|m| m["address"] == "victim@example.com"),
        "{mails:?}"
    );
    assert_eq!(mails.len(), 3);
}

#[tokio::test]
async fn bad_subscriptions_name_the_field_and_send_nothing() {
    let (app, zone) = start().await;
    for (body, field) in [
        (
            json!({"language": "uk", "zones": [zone], "contact": {"channel": "fcm", "address": "tok"}}),
            "contact.channel",
        ),
        (
            json!({"language": "uk", "zones": [zone], "contact": {"channel": "sms", "address": "12"}}),
            "contact.address",
        ),
        (
            json!({"language": "uk", "contact": {"channel": "sms", "address": PHONE}}),
            "location",
        ),
        (subscription(PHONE, 9999), "zones[0]"),
        (
            json!({"language": "??", "zones": [zone], "contact": {"channel": "sms", "address": PHONE}}),
            "language",
        ),
    ] {
        let r = anonymous_post(&app, "/api/v1/public/subscriptions", &body).await;
        assert_eq!((r.status, r.field()), (422, field), "{body}: {r:?}");
    }
    assert!(texts_to(&app, PHONE).await.is_empty());
}

#[tokio::test]
async fn the_public_page_lists_current_notices_and_planned_works_as_a_calendar() {
    let (app, zone) = start().await;
    let elsewhere = app
        .create_zone("Далеко", &rect(25.50, 50.90, 25.55, 50.95))
        .await;
    let mut works = notice_body("planned", json!({"zones": [zone]}));
    works["title"] = json!("Заміна труб, вул. Лесі Українки; 2 етап");
    works["cause"] = json!("Планова заміна,\nдругий етап");
    let planned = app.publish(works).await["id"].as_i64().unwrap();
    let mut burst = notice_body(
        "emergency",
        json!({"circle": {"lat": 50.745, "lon": 25.32, "radius_m": 300}}),
    );
    burst["category"] = json!("heating");
    let emergency = app.publish(burst).await["id"].as_i64().unwrap();
    let closed = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(&format!("/api/v1/notices/{closed}/close"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    let public = |path: String| {
        let app = &app;
        async move {
            let resp = app.client().get(app.url(&path)).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, body) = public("/api/v1/public/notices".into()).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<i64> = body["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert!(
        ids.contains(&planned) && ids.contains(&emergency),
        "{ids:?}"
    );
    assert!(!ids.contains(&closed), "closed notices are not current");
    let (_, body) = public("/api/v1/public/notices?category=heating".into()).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["notices"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["notices"][0]["area"]["circles"][0]["radius_m"], 300.0);
    let (status, _) = public("/api/v1/public/notices?category=nonsense".into()).await;
    assert_eq!(status, 400);

    let (status, ics) = public(format!("/feeds/zones/{zone}.ics")).await;
    assert_eq!(status, 200);
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert_eq!(
        ics.matches("BEGIN:VEVENT").count(),
        1,
        "planned works only: {ics}"
    );
    assert!(ics.contains(&format!("UID:notice-{planned}@")), "{ics}");
    let unfolded = ics.replace("\r\n ", "");
    assert!(
        unfolded.contains("SUMMARY:Заміна труб\\, вул. Лесі Українки\\; 2 етап"),
        "{unfolded}"
    );
    assert!(
        unfolded.contains("DESCRIPTION:Планова заміна\\,\\nдругий етап"),
        "{unfolded}"
    );
    let (_, other) = public(format!("/feeds/zones/{elsewhere}.ics")).await;
    assert_eq!(other.matches("BEGIN:VEVENT").count(), 0, "{other}");
    let (status, _) = public("/feeds/zones/999.ics".into()).await;
    assert_eq!(status, 404);

    let (status, page) = public("/".into()).await;
    assert_eq!(status, 200);
    assert!(page.contains("/assets/resident.js"), "{page}");
}
