//! Console accounts in the tests: an admin creates one, its owner enrols
//! through the one-time link and signs in (session cookie + CSRF token).

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use super::{Reply, TestApp};

/// The password every test person chooses at enrolment.
pub const PASSWORD: &str = "correct horse battery staple";

/// Creates an account (admin) and returns the token of its enrolment link.
pub async fn new_account(app: &TestApp, body: &Value) -> String {
    let r = app.post("/api/v1/accounts", body).await;
    assert_eq!(r.status, 201, "{body}: {r:?}");
    link_token(&r.body)
}

/// The token in the `enrolment.url` of an answer (after `#enrol=`).
pub fn link_token(body: &Value) -> String {
    let url = body["enrolment"]["url"]
        .as_str()
        .expect("an enrolment link");
    let (_, token) = url.split_once("/console#enrol=").expect("a console link");
    token.to_owned()
}

/// A browser's session: its cookie and the CSRF token the console keeps.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub body: Value,
}

/// Sends a public POST and returns the answer with the session it opened.
async fn post_for_session(app: &TestApp, path: &str, body: &Value) -> (Reply, Option<Session>) {
    let resp = app
        .client()
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .expect("request");
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tocsin_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let reply = Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    };
    let session = match (cookie, reply.body["csrf_token"].as_str()) {
        (Some(cookie), Some(csrf)) if status == 200 => Some(Session {
            cookie,
            csrf: csrf.to_owned(),
            body: reply.body.clone(),
        }),
        _ => None,
    };
    (reply, session)
}

/// `POST /api/v1/enrolment`: the owner chooses `password` with the link.
pub async fn enrol(app: &TestApp, token: &str, password: &str) -> (Reply, Option<Session>) {
    post_for_session(
        app,
        "/api/v1/enrolment",
        &json!({"token": token, "password": password}),
    )
    .await
}

/// `POST /api/v1/session`.
pub async fn sign_in(app: &TestApp, username: &str, password: &str) -> (Reply, Option<Session>) {
    post_for_session(
        app,
        "/api/v1/session",
        &json!({"username": username, "password": password}),
    )
    .await
}

/// Creates the account, enrols it with `PASSWORD` and signs in.
pub async fn enrolled(app: &TestApp, body: &Value) -> Session {
    let token = new_account(app, body).await;
    let (r, _) = enrol(app, &token, PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    let username = body["username"].as_str().expect("a username");
    let (r, session) = sign_in(app, username, PASSWORD).await;
    session.unwrap_or_else(|| panic!("{username} does not sign in: {r:?}"))
}

impl Session {
    pub async fn request(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut req = app
            .client()
            .request(method, app.url(path))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            req = req.json(b);
        }
        app.send(req).await
    }
}
