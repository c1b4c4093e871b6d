//! Who may do what: tokens, roles, territories, and what executors see.

mod support;

use serde_json::json;
use support::{ADMIN_TOKEN, Backend, TestApp, notice_body, rect};

async fn organisation(app: &TestApp, name: &str, territory: Option<serde_json::Value>) -> String {
    let mut body = json!({"name": name});
    if let Some(t) = territory {
        body["territory"] = t;
    }
    let r = app.post("/api/v1/organisations", &body).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["token"].as_str().unwrap().to_owned()
}

async fn requests_without_a_valid_token_are_refused(backend: Backend) {
    let app = TestApp::spawn_on(backend, "").await;
    let r = app.send(app.client().get(app.url("/api/v1/zones"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "unauthorized");
    let r = app.get_as("tcn_not-a-real-token", "/api/v1/zones").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let token = organisation(&app, "Луцькводоканал", None).await;
    let db = std::fs::read(app.dir.path().join("data/tocsin.sqlite3")).unwrap();
    let wal = std::fs::read(app.dir.path().join("data/tocsin.sqlite3-wal")).unwrap_or_default();
    for secret in [ADMIN_TOKEN, token.as_str()] {
        let needle = secret.as_bytes();
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "a token is stored in clear"
            );
        }
    }
    assert!(!app.logs().contains(&token), "a token was logged");
}

async fn executors_publish_only_inside_their_territory_and_see_only_their_notices(
    backend: Backend,
) {
    let app = TestApp::spawn_on(backend, "").await;
    let centre = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let outside = app
        .create_zone("Далеко", &rect(25.50, 50.90, 25.55, 50.95))
        .await;
    app.create_resident(json!({"language": "uk", "zones": [centre],
        "contacts": [{"channel": "sms", "address": "+380501234567"}]}))
        .await;
    let territory = json!({"type": "Polygon", "coordinates": [rect(25.25, 50.70, 25.40, 50.80)]});
    let water = organisation(&app, "Луцькводоканал", Some(territory)).await;
    let heat = organisation(&app, "Луцьктепло", None).await;

    let r = app
        .post("/api/v1/organisations", &json!({"name": "Луцькводоканал"}))
        .await;
    assert_eq!(r.status, 409, "{r:?}");

    // Executors do not run the installation.
    let r = app
        .post_as(
            &water,
            "/api/v1/zones",
            &support::zone_feature("X", &rect(25.3, 50.7, 25.31, 50.71)),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(app.get_as(&water, "/api/v1/residents/1").await.status, 403);
    assert_eq!(
        app.get_as(&water, "/api/v1/simulated/outbox").await.status,
        403
    );
    assert_eq!(
        app.get_as(&water, "/api/v1/organisations").await.status,
        403
    );
    assert_eq!(
        app.get_as(&water, "/api/v1/zones").await.status,
        200,
        "zones are readable to pick an area"
    );

    let r = app
        .post_as(
            &water,
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [outside]})),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = app
        .post_as(
            &water,
            "/api/v1/notices",
            &notice_body(
                "planned",
                json!({"circle": {"lat": 50.75, "lon": 25.39, "radius_m": 2000}}),
            ),
        )
        .await;
    assert_eq!(r.status, 403, "a circle poking out of the territory: {r:?}");
    assert_eq!(
        app.get("/api/v1/notices").await.body["notices"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let r = app
        .post_as(
            &water,
            "/api/v1/notices",
            &notice_body("planned", json!({"zones": [centre]})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    app.wait_settled(id).await;

    assert_eq!(
        app.get_as(&water, &format!("/api/v1/notices/{id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_as(&heat, &format!("/api/v1/notices/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        app.get_as(&heat, &format!("/api/v1/notices/{id}/deliveries"))
            .await
            .status,
        404
    );
    let r = app
        .post_as(&heat, &format!("/api/v1/notices/{id}/close"), &json!({}))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        app.get_as(&heat, "/api/v1/notices").await.body["notices"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        app.get_as(&water, "/api/v1/notices").await.body["notices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let mine = app
        .get_as(&water, &format!("/api/v1/notices/{id}/deliveries"))
        .await;
    let address = mine.body["deliveries"][0]["address"].as_str().unwrap();
    assert!(
        address.contains('*') && !address.contains("1234567"),
        "executors see masked numbers: {address}"
    );
    let admin = app.get(&format!("/api/v1/notices/{id}/deliveries")).await;
    assert_eq!(admin.body["deliveries"][0]["address"], "+380501234567");
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_and_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let (mut child, base, printed) = support::start_with(dir.path(), None, None).await;
    let token = printed
        .iter()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("tcn_")))
        .unwrap_or_else(|| panic!("no token printed: {printed:?}"))
        .to_owned();
    let zones = |base: String, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/api/v1/zones"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(zones(base.clone(), token.clone()).await, 200);
    assert!(
        !std::fs::read_to_string(dir.path().join("tocsin.log"))
            .unwrap()
            .contains(&token),
        "logged"
    );
    child.kill().await.unwrap();

    let (mut child, base, printed) = support::start_with(dir.path(), None, None).await;
    assert!(
        printed.iter().all(|l| !l.contains("tcn_")),
        "shown only once: {printed:?}"
    );
    assert_eq!(
        zones(base.clone(), token.clone()).await,
        200,
        "still valid after a restart"
    );
    child.kill().await.unwrap();

    // `tocsin admin-token` replaces the generated token.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("admin-token")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("TOCSIN_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fresh = stdout
        .split_whitespace()
        .find(|w| w.starts_with("tcn_"))
        .unwrap()
        .to_owned();
    let (_child, base, _) = support::start_with(dir.path(), None, None).await;
    assert_eq!(zones(base.clone(), fresh).await, 200);
    assert_eq!(zones(base, token).await, 401);
}

on_both_backends!(
    requests_without_a_valid_token_are_refused,
    executors_publish_only_inside_their_territory_and_see_only_their_notices,
);

#[tokio::test]
async fn changing_the_configured_admin_token_revokes_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _, _) =
        support::start_with(dir.path(), None, Some("first-admin-token-0123456789")).await;
    child.kill().await.unwrap();
    let (_child, base, _) =
        support::start_with(dir.path(), None, Some("second-admin-token-0123456789")).await;
    let http = support::client();
    let status = |token: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/api/v1/zones"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status("second-admin-token-0123456789").await, 200);
    assert_eq!(status("first-admin-token-0123456789").await, 401);
}

/// With `[metrics] token`, `/metrics` answers only a scraper that sends
/// it: how busy the city's alerting is is not for everyone.
#[tokio::test]
async fn metrics_need_the_configured_token() {
    const TOKEN: &str = "metrics-scraper-token-0123456789";
    let app = TestApp::spawn_with_config(&format!("[metrics]\ntoken = \"{TOKEN}\"\n")).await;
    let get = |bearer: Option<&str>| {
        let mut req = app.client().get(app.url("/metrics"));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    for bearer in [
        None,
        Some(ADMIN_TOKEN),
        Some("metrics-scraper-token-012345678"),
    ] {
        let r = get(bearer).await.unwrap();
        assert_eq!(r.status(), 401, "{bearer:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let r = get(Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("tocsin_"));
    // A token too short to be a secret is refused at start.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tocsin.toml");
    std::fs::write(&config, "[metrics]\ntoken = \"short\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.token"));
}

/// Live streams are capped per token and in total: one token cannot hold
/// thousands open (each costs memory and counting), and the cap frees as
/// streams close.
#[tokio::test]
async fn live_streams_are_capped_per_token_and_in_total() {
    let app =
        TestApp::spawn_with_config("[limits]\nlive_streams = 3\nlive_streams_per_token = 2\n")
            .await;
    let r = app
        .post("/api/v1/organisations", &json!({"name": "Луцькводоканал"}))
        .await;
    let org = r.body["token"].as_str().unwrap().to_owned();
    let open = |token: String| {
        let req = app
            .client()
            .get(app.url("/api/v1/notices/live"))
            .bearer_auth(token);
        async move { req.send().await.unwrap() }
    };
    let a1 = open(ADMIN_TOKEN.into()).await;
    let a2 = open(ADMIN_TOKEN.into()).await;
    assert_eq!((a1.status().as_u16(), a2.status().as_u16()), (200, 200));
    let refused = open(ADMIN_TOKEN.into()).await;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this token"),
        "{body}"
    );
    let o1 = open(org.clone()).await;
    assert_eq!(o1.status(), 200);
    let full = open(org.clone()).await;
    assert_eq!(full.status(), 429, "a fourth stream in total");
    // Closing a stream frees its slot (once the server sees it gone).
    drop(a1);
    let mut again = None;
    for _ in 0..100 {
        let r = open(org.clone()).await;
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the closed stream's slot never came back");
    // Other requests are not affected by the cap.
    assert_eq!(app.get("/healthz").await.status, 200);
    drop((a2, o1));
}
