//! People in the console: accounts, sign-in, sessions, CSRF, session
//! fixation, lockout, and what an executor's session may see.

mod support;

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use support::{Backend, Reply, TestApp, notice_body, rect};

const PASSWORD: &str = "correct horse battery staple";

/// A browser as the tests drive it: its cookie, and the CSRF token the
/// console would keep.
#[derive(Debug, Clone, Default)]
struct Browser {
    cookie: Option<String>,
    csrf: Option<String>,
}

/// The session cookie's `name=value` from a sign-in answer, and its flags.
fn session_cookie(resp: &reqwest::Response) -> Option<(String, String)> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tocsin_session="))
        .map(|v| {
            let (pair, flags) = v.split_once(';').unwrap_or((v, ""));
            (pair.to_owned(), flags.to_owned())
        })
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

impl Browser {
    async fn request(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        csrf: Option<&str>,
    ) -> reqwest::Response {
        let mut req = app.client().request(method, app.url(path));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request")
    }

    async fn get(&self, app: &TestApp, path: &str) -> Reply {
        reply(
            self.request(app, reqwest::Method::GET, path, None, None)
                .await,
        )
        .await
    }

    /// A request that changes something, with the session's CSRF token.
    async fn post(&self, app: &TestApp, path: &str, body: &Value) -> Reply {
        let csrf = self.csrf.as_deref();
        reply(
            self.request(app, reqwest::Method::POST, path, Some(body), csrf)
                .await,
        )
        .await
    }

    async fn sign_in(&mut self, app: &TestApp, username: &str, password: &str) -> Reply {
        let body = json!({"username": username, "password": password});
        let resp = self
            .request(
                app,
                reqwest::Method::POST,
                "/api/v1/session",
                Some(&body),
                None,
            )
            .await;
        if let Some((pair, flags)) = session_cookie(&resp) {
            assert!(flags.contains("HttpOnly"), "{flags}");
            assert!(flags.contains("SameSite=Strict"), "{flags}");
            self.cookie = Some(pair);
        }
        let r = reply(resp).await;
        if r.status == 200 {
            self.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }
}

async fn account(app: &TestApp, username: &str, role: &str, org: Option<i64>) {
    let r = app
        .post(
            "/api/v1/accounts",
            &json!({"username": username, "password": PASSWORD, "role": role,
                    "organisation_id": org}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}

async fn organisation(app: &TestApp, name: &str) -> (i64, String) {
    let r = app
        .post("/api/v1/organisations", &json!({"name": name}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["id"].as_i64().unwrap(),
        r.body["token"].as_str().unwrap().to_owned(),
    )
}

async fn a_person_signs_in_and_acts_only_with_the_csrf_token(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let (org, _) = organisation(&app, "Луцькводоканал").await;

    // Bad accounts are refused with the field that is wrong.
    for (body, field) in [
        (
            json!({"username": "ok.name", "password": "short", "role": "admin"}),
            "password",
        ),
        (
            json!({"username": "x", "password": PASSWORD, "role": "admin"}),
            "username",
        ),
        (
            json!({"username": "ok.name", "password": PASSWORD, "role": "executor"}),
            "organisation_id",
        ),
        (
            json!({"username": "ok.name", "password": PASSWORD, "role": "admin",
                   "organisation_id": org}),
            "organisation_id",
        ),
        (
            json!({"username": "ok.name", "password": PASSWORD, "role": "king"}),
            "role",
        ),
    ] {
        let r = app.post("/api/v1/accounts", &body).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.field(), field, "{r:?}");
    }
    account(&app, "Olena.Dispatcher", "executor", Some(org)).await;
    let r = app
        .post(
            "/api/v1/accounts",
            &json!({"username": "olena.dispatcher", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 409, "usernames ignore case: {r:?}");

    let mut browser = Browser::default();
    let r = browser
        .sign_in(&app, "olena.dispatcher", "wrong password!!")
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["error"]["code"], "wrong_credentials");
    let r = browser.sign_in(&app, "nobody.here", PASSWORD).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.body["error"]["message"], "wrong username or password",
        "an unknown name answers like a wrong password"
    );
    assert!(browser.cookie.is_none());

    let r = browser.sign_in(&app, "OLENA.dispatcher", PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["role"], "executor");
    assert_eq!(r.body["organisation_id"], org);
    let r = browser.get(&app, "/api/v1/session").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["username"], "olena.dispatcher");
    assert_eq!(browser.get(&app, "/api/v1/notices").await.status, 200);

    // The cookie alone does not change anything: another site's form
    // would send it too.
    let notice = notice_body("planned", json!({"zones": [zone]}));
    let no_token = Browser {
        csrf: None,
        ..browser.clone()
    };
    let r = no_token.post(&app, "/api/v1/notices", &notice).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.message().contains("CSRF"), "{r:?}");
    let wrong = Browser {
        csrf: Some("A".repeat(43)),
        ..browser.clone()
    };
    assert_eq!(
        wrong.post(&app, "/api/v1/notices", &notice).await.status,
        403
    );
    let r = browser.post(&app, "/api/v1/notices", &notice).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    let r = app.get(&format!("/api/v1/notices/{id}")).await;
    assert_eq!(
        r.body["organisation_id"], org,
        "published as the organisation"
    );

    // An executor's session cannot act as an admin.
    let r = browser
        .post(
            &app,
            "/api/v1/accounts",
            &json!({"username": "mallory", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    // Signing out needs the token too, then the cookie is dead.
    let r = reply(
        no_token
            .request(&app, reqwest::Method::DELETE, "/api/v1/session", None, None)
            .await,
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    let resp = browser
        .request(
            &app,
            reqwest::Method::DELETE,
            "/api/v1/session",
            None,
            browser.csrf.as_deref(),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let (_, flags) = session_cookie(&resp).expect("the cookie is cleared");
    assert!(flags.contains("Max-Age=0"), "{flags}");
    assert_eq!(browser.get(&app, "/api/v1/notices").await.status, 401);

    let actions: Vec<String> = app.get("/api/v1/journal").await.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for action in ["account.created", "account.signed_in", "account.signed_out"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

async fn signing_in_always_issues_a_fresh_session(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    account(&app, "duty.officer", "civil_protection", None).await;

    // A session id planted by someone else is never adopted.
    let planted = "tocsin_session=planted-by-an-attacker-0123456789abcdef".to_owned();
    let mut browser = Browser {
        cookie: Some(planted.clone()),
        csrf: None,
    };
    assert_eq!(browser.get(&app, "/api/v1/session").await.status, 401);
    assert_eq!(
        browser.sign_in(&app, "duty.officer", PASSWORD).await.status,
        200
    );
    let first = browser.cookie.clone().unwrap();
    assert_ne!(first, planted);
    let planted_browser = Browser {
        cookie: Some(planted),
        csrf: None,
    };
    assert_eq!(
        planted_browser.get(&app, "/api/v1/session").await.status,
        401
    );

    // An officer's own notice is visible to them.
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let r = browser
        .post(
            &app,
            "/api/v1/notices",
            &notice_body("emergency", json!({"zones": [zone]})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let own = r.body["id"].as_i64().unwrap();
    assert_eq!(
        browser
            .get(&app, &format!("/api/v1/notices/{own}"))
            .await
            .status,
        200
    );

    // Signing in again with a live session replaces it.
    let old = browser.clone();
    assert_eq!(
        browser.sign_in(&app, "duty.officer", PASSWORD).await.status,
        200
    );
    assert_ne!(browser.cookie.as_ref().unwrap(), &first);
    assert_eq!(old.get(&app, "/api/v1/session").await.status, 401);
    assert_eq!(browser.get(&app, "/api/v1/session").await.status, 200);
    assert_ne!(
        old.csrf, browser.csrf,
        "each session has its own CSRF token"
    );
}

async fn an_executor_session_sees_only_its_organisation(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let (water, _) = organisation(&app, "Луцькводоканал").await;
    let (_, heat_token) = organisation(&app, "Луцьктепло").await;
    account(&app, "water.dispatcher", "executor", Some(water)).await;
    let r = app
        .post_as(
            &heat_token,
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [zone]})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let theirs = r.body["id"].as_i64().unwrap();

    let mut browser = Browser::default();
    assert_eq!(
        browser
            .sign_in(&app, "water.dispatcher", PASSWORD)
            .await
            .status,
        200
    );
    let r = browser.get(&app, "/api/v1/notices").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["notices"], json!([]), "{r:?}");
    for path in [
        format!("/api/v1/notices/{theirs}"),
        format!("/api/v1/notices/{theirs}/deliveries/summary"),
        format!("/api/v1/notices/{theirs}/progress"),
    ] {
        assert_eq!(browser.get(&app, &path).await.status, 404, "{path}");
    }
    let r = browser
        .post(&app, &format!("/api/v1/notices/{theirs}/close"), &json!({}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");

    // The console's live list: the first event lists none of theirs.
    let mut resp = browser
        .request(
            &app,
            reqwest::Method::GET,
            "/api/v1/notices/live",
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.starts_with("event: notices\n"), "{text}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let live: Value = serde_json::from_str(data).unwrap();
    assert_eq!(live["notices"], json!([]), "{live}");
    let admin = reply(
        app.client()
            .get(app.url("/api/v1/notices/live"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(admin.status, 401, "no session, no stream");
}

async fn wrong_passwords_lock_the_account(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    account(&app, "duty.officer", "civil_protection", None).await;
    let mut browser = Browser::default();
    for i in 0..5 {
        let r = browser
            .sign_in(&app, "duty.officer", &format!("guess number {i}"))
            .await;
        assert_eq!(r.status, 401, "{r:?}");
    }
    // Locked now: even the right password waits.
    let r = browser.sign_in(&app, "duty.officer", PASSWORD).await;
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.message().contains("locked until"), "{r:?}");
    assert!(browser.cookie.is_none());
    let actions = app.get("/api/v1/journal").await.body["entries"].to_string();
    assert!(actions.contains("account.locked"), "{actions}");
}

on_both_backends!(
    a_person_signs_in_and_acts_only_with_the_csrf_token,
    signing_in_always_issues_a_fresh_session,
    an_executor_session_sees_only_its_organisation,
    wrong_passwords_lock_the_account,
);

#[tokio::test]
async fn passwords_and_sessions_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    account(&app, "duty.officer", "civil_protection", None).await;
    let mut browser = Browser::default();
    assert_eq!(
        browser.sign_in(&app, "duty.officer", PASSWORD).await.status,
        200
    );
    let session = browser.cookie.clone().unwrap();
    let session = session.trim_start_matches("tocsin_session=").to_owned();
    let db = std::fs::read(app.dir.path().join("data/tocsin.sqlite3")).unwrap();
    let wal = std::fs::read(app.dir.path().join("data/tocsin.sqlite3-wal")).unwrap_or_default();
    for secret in [PASSWORD, session.as_str()] {
        let needle = secret.as_bytes();
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "a secret is stored in clear"
            );
        }
        assert!(!app.logs().contains(secret), "a secret was logged");
    }
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let resp = app.client().get(app.url("/console")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let console = resp.text().await.unwrap();
    assert!(console.contains("/assets/console.js"));
    let resident = app
        .client()
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every file either page refers to is served, with its type.
    let mut referenced = 0;
    for html in [&console, &resident] {
        for path in html.split('"').filter(|p| p.starts_with("/assets/")) {
            let resp = app.client().get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let kind = if path.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            };
            assert!(ct.starts_with(kind), "{path}: {ct}");
            referenced += 1;
        }
    }
    assert!(referenced >= 8, "{referenced}");
    let resp = app
        .client()
        .get(app.url("/assets/..%2fCargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
