//! People in the console: accounts, enrolment links, sign-in, sessions,
//! CSRF, session fixation, lockout, and what an executor's session may
//! see.

mod support;

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use support::people::{PASSWORD, enrol, link_token, new_account};
use support::{Backend, Reply, TestApp, notice_body, rect};

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

/// An account whose owner enrolled with `PASSWORD` through its link.
async fn account(app: &TestApp, username: &str, role: &str, org: Option<i64>) {
    let body = json!({"username": username, "role": role, "organisation_id": org});
    let token = new_account(app, &body).await;
    let (r, _) = enrol(app, &token, PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
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

    // Bad accounts are refused with the field that is wrong; nobody but
    // the owner chooses a password.
    for (body, field) in [
        (
            json!({"username": "ok.name", "password": PASSWORD, "role": "admin"}),
            "password",
        ),
        (json!({"username": "x", "role": "admin"}), "username"),
        (
            json!({"username": "ok.name", "role": "executor"}),
            "organisation_id",
        ),
        (
            json!({"username": "ok.name", "role": "admin", "organisation_id": org}),
            "organisation_id",
        ),
        (json!({"username": "ok.name", "role": "king"}), "role"),
    ] {
        let r = app.post("/api/v1/accounts", &body).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.field(), field, "{r:?}");
    }
    account(&app, "Olena.Dispatcher", "executor", Some(org)).await;
    let r = app
        .post(
            "/api/v1/accounts",
            &json!({"username": "olena.dispatcher", "role": "admin"}),
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
            &json!({"username": "mallory", "role": "admin"}),
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

async fn an_enrolment_link_sets_the_owners_password_once(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let r = app
        .post(
            "/api/v1/accounts",
            &json!({"username": "anna", "name": "Анна Коваль", "role": "civil_protection"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["password_state"], "none", "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    let url = r.body["enrolment"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/console#enrol=", app.base)),
        "{url}"
    );
    let expires: chrono::DateTime<chrono::Utc> = r.body["enrolment"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((71.9..=72.0).contains(&hours), "{hours} h");
    let token = link_token(&r.body);
    assert_eq!(token.len(), 43, "256 bits");

    // Before enrolment nothing signs in, and it looks like a wrong password.
    let mut browser = Browser::default();
    let r = browser.sign_in(&app, "anna", PASSWORD).await;
    assert_eq!(r.body["error"]["code"], "wrong_credentials", "{r:?}");

    // A too short password does not use the link up; a wrong token is
    // refused as unknown.
    let (r, _) = enrol(&app, &token, "short").await;
    assert_eq!((r.status, r.field()), (422, "password"), "{r:?}");
    let (r, _) = enrol(&app, &format!("{token}x"), PASSWORD).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body["error"]["code"], "not_found");
    let r = app
        .send(
            app.client()
                .post(app.url("/api/v1/enrolment"))
                .json(&json!({"token": token})),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");

    let (r, session) = enrol(&app, &token, PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["username"], "anna");
    assert_eq!(r.body["may_approve"], true, "{r:?}");
    let session = session.expect("signed in");
    let owner = Browser {
        cookie: Some(session.cookie),
        csrf: Some(session.csrf),
    };
    assert_eq!(owner.get(&app, "/api/v1/session").await.status, 200);
    let (again, _) = enrol(&app, &token, "another long password").await;
    assert_eq!(again.status, 410, "{again:?}");
    assert_eq!(again.body["error"]["code"], "link_used_or_expired");
    assert!(again.message().contains("already used"), "{again:?}");
    assert_eq!(browser.sign_in(&app, "anna", PASSWORD).await.status, 200);
    let accounts = app.get("/api/v1/accounts").await;
    assert_eq!(accounts.body["accounts"][0]["password_state"], "own");

    // A lost password: a new link voids the password and every session.
    let path = format!("/api/v1/accounts/{id}/enrolment");
    assert_eq!(owner.post(&app, &path, &json!({})).await.status, 403);
    let r = app.post(&path, &json!({})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let second = link_token(&r.body);
    assert_eq!(owner.get(&app, "/api/v1/session").await.status, 401);
    assert_eq!(browser.get(&app, "/api/v1/session").await.status, 401);
    let r = browser.sign_in(&app, "anna", PASSWORD).await;
    assert_eq!(r.status, 401, "the old password is void: {r:?}");
    let r = app.post(&path, &json!({})).await;
    let third = link_token(&r.body);
    let (r, _) = enrol(&app, &second, PASSWORD).await;
    assert_eq!(r.status, 410, "{r:?}");
    assert!(r.message().contains("newer"), "{r:?}");
    let (r, _) = enrol(&app, &third, "a new long password").await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = app.post("/api/v1/accounts/999/enrolment", &json!({})).await;
    assert_eq!(r.status, 404, "{r:?}");

    let entries = app.get("/api/v1/journal?limit=1000").await.body["entries"].clone();
    let count = |action: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action)
            .count()
    };
    assert_eq!(count("account.enrolment_issued"), 3, "{entries}");
    assert_eq!(count("account.enrolment_used"), 2, "{entries}");
    let text = entries.to_string();
    for secret in [&token, &second, &third] {
        assert!(!text.contains(secret.as_str()), "a link was journaled");
    }
}

on_both_backends!(
    an_enrolment_link_sets_the_owners_password_once,
    a_person_signs_in_and_acts_only_with_the_csrf_token,
    signing_in_always_issues_a_fresh_session,
    an_executor_session_sees_only_its_organisation,
    wrong_passwords_lock_the_account,
);

#[tokio::test]
async fn passwords_sessions_and_links_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "duty.officer", "role": "civil_protection"});
    let link = new_account(&app, &body).await;
    let (r, _) = enrol(&app, &link, PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut browser = Browser::default();
    assert_eq!(
        browser.sign_in(&app, "duty.officer", PASSWORD).await.status,
        200
    );
    let session = browser.cookie.clone().unwrap();
    let session = session.trim_start_matches("tocsin_session=").to_owned();
    let db = std::fs::read(app.dir.path().join("data/tocsin.sqlite3")).unwrap();
    let wal = std::fs::read(app.dir.path().join("data/tocsin.sqlite3-wal")).unwrap_or_default();
    for secret in [PASSWORD, session.as_str(), link.as_str()] {
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
