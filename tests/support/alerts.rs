//! Helpers for the civil-protection tests (alerts, checks): operators'
//! tokens, officers signed in to the console (`Person`), CAP documents,
//! residents inside or outside the Lutsk centre polygon.

use serde_json::{Value, json};

use super::people::{Session, enrolled};
use super::{Reply, TestApp};

/// A civil-protection person: an account enrolled through its own link
/// and signed in to the console (session cookie + CSRF token).
pub struct Person {
    pub name: String,
    session: Session,
}

/// Creates the account (admin), enrols it with its link, signs in.
pub async fn person(app: &TestApp, username: &str, name: &str) -> Person {
    let body = json!({"username": username, "name": name, "role": "civil_protection"});
    Person {
        name: name.to_owned(),
        session: enrolled(app, &body).await,
    }
}

impl Person {
    pub async fn post(&self, app: &TestApp, path: &str, body: &Value) -> Reply {
        self.session
            .request(app, reqwest::Method::POST, path, Some(body))
            .await
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> Reply {
        self.session
            .request(app, reqwest::Method::GET, path, None)
            .await
    }
}

/// `POST /api/v1/alerts/{id}/approve` as this person.
pub async fn approve(app: &TestApp, by: &Person, alert: i64) -> Reply {
    by.post(app, &format!("/api/v1/alerts/{alert}/approve"), &json!({}))
        .await
}

/// Lutsk centre: residents inside it are alerted, others are not.
pub const POLYGON: &str = "50.73,25.30 50.73,25.35 50.76,25.35 50.76,25.30 50.73,25.30";

pub fn cap(identifier: &str, status: &str, severity: &str, urgency: &str) -> String {
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

pub async fn operator(app: &TestApp, name: &str) -> String {
    let r = app.post("/api/v1/operators", &json!({"name": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["token"].as_str().unwrap().to_owned()
}

pub async fn post_cap(app: &TestApp, token: &str, query: &str, xml: &str) -> Reply {
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
pub async fn resident(app: &TestApp, n: u32, language: &str, inside: bool, extra: Value) -> i64 {
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

pub fn texts(message: &Value) -> Vec<String> {
    let c = &message["content"];
    ["title", "body", "subject", "speech"]
        .iter()
        .filter_map(|k| c[*k].as_str().map(str::to_owned))
        .collect()
}

pub async fn journal_actions(app: &TestApp) -> Vec<(String, String)> {
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

/// A test audience of these residents, created by `token`.
pub async fn create_audience(app: &TestApp, token: &str, name: &str, residents: &[i64]) {
    let r = app
        .post_as(
            token,
            "/api/v1/audiences",
            &json!({"name": name, "residents": residents}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}
