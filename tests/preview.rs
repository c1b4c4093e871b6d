//! `POST /notices/preview`: the counts, sizes, cost and time of a notice
//! before publishing it, with nothing written or sent, and exactly what a
//! real publication then produces.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use support::{Backend, TestApp, notice_body, rect};

const RATES: &str = r#"
[policy]
currency = "EUR"

[rates.sms]
per_second = 2.0
price = 0.07

[rates.email]
per_second = 10.0
price = 0.01

[rates.voice]
price = 0.25
"#;

const PREVIEW: &str = "/api/v1/notices/preview";

fn all_channels(n: u32) -> Value {
    json!([
        {"channel": "sms", "address": format!("+38050123{n:04}")},
        {"channel": "email", "address": format!("resident{n}@example.com")},
        {"channel": "fcm", "address": format!("fcm-token-{n}")},
        {"channel": "apns", "address": format!("ab{n:062x}")},
        {"channel": "voice", "address": format!("+38067123{n:04}")},
    ])
}

fn sms(n: u32) -> Value {
    json!({"channel": "sms", "address": format!("+38050555{n:04}")})
}

/// Five recipients in the centre (languages uk ×2, en, pl, de) and two
/// residents who must not count.
async fn residents(app: &TestApp, centre: i64) {
    let inside = json!({"lat": 50.745, "lon": 25.32});
    let people = [
        json!({"language": "uk", "location": inside, "contacts": all_channels(1)}),
        json!({"language": "uk", "location": inside, "contacts": [sms(2),
            {"channel": "voice", "address": "+380671110002"}]}),
        json!({"language": "en", "location": inside, "contacts": [sms(3),
            {"channel": "email", "address": "john@example.com"}]}),
        json!({"language": "pl", "location": {"lat": 50.77, "lon": 25.32},
            "zones": [centre], "contacts": [sms(4)]}),
        json!({"language": "de", "location": inside, "contacts": [sms(5)]}),
        json!({"language": "uk", "location": inside, "categories": ["power"],
            "contacts": [sms(6)]}),
        json!({"language": "en", "location": {"lat": 50.60, "lon": 25.10},
            "contacts": [sms(7)]}),
    ];
    for p in people {
        app.create_resident(p).await;
    }
}

fn english_notice(centre: i64) -> Value {
    let mut body = notice_body("planned", json!({"zones": [centre]}));
    body["title"] = json!("Water main repair");
    body["cause"] = json!("Pipe burst");
    body
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Sum of `count` × `per` over the rows of a per-language list.
fn units(rows: &Value, count: &str, per: &str) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| n(&r[count]) * n(&r[per]))
        .sum()
}

async fn preview_counts_prices_and_times_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend, RATES).await;
    let centre = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    residents(&app, centre).await;
    let body = english_notice(centre);

    let r = app.post(PREVIEW, &body).await;
    assert_eq!(r.status, 200, "{r:?}");
    let p = r.body;
    assert_eq!(p["recipients"]["residents"], 5, "{p}");
    assert_eq!(p["recipients"]["contacts"], 11, "{p}");
    assert_eq!(
        p["recipients"]["by_channel"],
        json!({"sms": 5, "email": 2, "fcm": 1, "apns": 1, "voice": 2}),
        "{p}"
    );

    let sms = &p["sms"];
    let languages: Vec<(&str, u64, &str)> = sms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let lang = r["language"].as_str().unwrap();
            (lang, n(&r["recipients"]), r["encoding"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        languages,
        vec![
            ("de", 1, "GSM7"),
            ("en", 1, "GSM7"),
            ("pl", 1, "GSM7"),
            ("uk", 2, "UCS2")
        ],
        "English text stays GSM-7 in Latin-script templates; Ukrainian labels need UCS-2: {p}"
    );
    let voice = &p["voice"];
    assert_eq!(voice.as_array().unwrap().len(), 1, "{p}");
    assert_eq!(
        (&voice[0]["language"], &voice[0]["calls"]),
        (&json!("uk"), &json!(2))
    );
    assert!(n(&voice[0]["words"]) > 10, "{p}");

    let sms_units = units(sms, "recipients", "segments");
    let voice_units = units(voice, "calls", "minutes_per_call");
    let cost = &p["cost"];
    assert_eq!(cost["currency"], "EUR");
    assert_eq!(cost["by_channel"]["sms"]["units"], sms_units, "{p}");
    assert_eq!(cost["by_channel"]["sms"]["unit"], "segment");
    assert_eq!(cost["by_channel"]["sms"]["unit_price"], 0.07);
    assert_eq!(cost["by_channel"]["voice"]["units"], voice_units, "{p}");
    assert_eq!(cost["by_channel"]["voice"]["unit"], "minute");
    assert_eq!(cost["by_channel"]["email"]["amount"], 0.02, "{p}");
    let cents = sms_units * 7 + voice_units * 25 + 2;
    assert_eq!(cost["total"], json!(cents as f64 / 100.0), "{p}");
    assert_eq!(cost["unpriced"], json!(["fcm", "apns"]), "{p}");

    let time = &p["estimated_seconds"];
    assert_eq!(time["by_channel"], json!({"sms": 2.5, "email": 0.2}), "{p}");
    assert_eq!(time["total"], 2.5);
    assert_eq!(time["unlimited"], json!(["fcm", "apns", "voice"]));

    let notices = app.get("/api/v1/notices").await.body;
    assert_eq!(notices["notices"], json!([]), "a preview stores no notice");
    assert!(app.outbox("").await.is_empty(), "a preview sends nothing");

    let created = app.publish(body).await;
    assert_eq!(created["recipients"], 5, "{created}");
    assert_eq!(created["deliveries"], 11, "{created}");
    for row in sms.as_array().unwrap() {
        let lang = row["language"].as_str().unwrap();
        if let Some(published) = created["sms"].get(lang) {
            assert_eq!(published["segments"], row["segments"], "{lang}: {created}");
            assert_eq!(published["units"], row["units"], "{lang}: {created}");
        }
    }
    let summary = app.summary(created["id"].as_i64().unwrap()).await;
    let written: BTreeMap<String, u64> = summary["by_channel"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, states)| (k.clone(), states.as_object().unwrap().values().map(n).sum()))
        .collect();
    let previewed: BTreeMap<String, u64> = p["recipients"]["by_channel"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| n(v) > 0)
        .map(|(k, v)| (k.clone(), n(v)))
        .collect();
    assert_eq!(written, previewed, "{summary}");
}

async fn preview_fails_like_create(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let centre = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = english_notice(centre);
        f(&mut b);
        b
    };
    let bodies = [
        with(&|b| b["area"] = json!({"zones": [centre, 4242]})),
        with(&|b| b["area"] = json!({})),
        with(&|b| b["area"] = json!({"circle": {"lat": 50.7, "lon": 25.3, "radius_m": -5}})),
        with(&|b| b["expected_end"] = json!("2026-11-23T07:00:00Z")),
        with(&|b| b["title"] = json!("   ")),
        with(&|b| b["kind"] = json!("urgent")),
        with(&|b| b["extra"] = json!(1)),
    ];
    for body in bodies {
        let create = app.post("/api/v1/notices", &body).await;
        let preview = app.post(PREVIEW, &body).await;
        assert_eq!(create.status, 422, "{body}: {create:?}");
        assert_eq!(
            (preview.status, &preview.body),
            (create.status, &create.body),
            "{body}"
        );
    }
    let malformed = app
        .post_raw(PREVIEW, "application/json", "{\"kind\": ")
        .await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    let text = app.post_raw(PREVIEW, "text/plain", "{}").await;
    assert_eq!(text.status, 415, "{text:?}");
    let anonymous = app
        .send(
            app.client()
                .post(app.url(PREVIEW))
                .json(&english_notice(centre)),
        )
        .await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let notices = app.get("/api/v1/notices").await.body;
    assert_eq!(notices["notices"], json!([]));
}

async fn executors_preview_only_inside_their_territory(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let centre = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let outside = app
        .create_zone("Далеко", &rect(25.50, 50.90, 25.55, 50.95))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [centre], "contacts": [sms(1)]}))
        .await;
    let territory = json!({"type": "Polygon", "coordinates": [rect(25.25, 50.70, 25.40, 50.80)]});
    let r = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "Луцькводоканал", "territory": territory}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let water = r.body["token"].as_str().unwrap().to_owned();

    let away = english_notice(outside);
    let create = app.post_as(&water, "/api/v1/notices", &away).await;
    let preview = app.post_as(&water, PREVIEW, &away).await;
    assert_eq!(create.status, 403, "{create:?}");
    assert_eq!((preview.status, &preview.body), (403, &create.body));

    let r = app.post_as(&water, PREVIEW, &english_notice(centre)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["recipients"]["by_channel"]["sms"], 1, "{r:?}");
    assert_eq!(
        r.body["cost"]["unpriced"],
        json!(["sms"]),
        "no price configured"
    );
    assert_eq!(r.body["estimated_seconds"]["unlimited"], json!(["sms"]));
    let notices = app.get("/api/v1/notices").await.body;
    assert_eq!(notices["notices"], json!([]));
}

on_both_backends!(
    preview_counts_prices_and_times_and_writes_nothing,
    preview_fails_like_create,
    executors_preview_only_inside_their_territory,
);
