//! The console in a real browser: headless Chromium driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`; `.ci/run`
//! installs them). Screenshots of each page are saved under
//! `target/tmp/screenshots/` as test artefacts.
//!
//! Without chromedriver the tests say so and pass, except under `CI=true`,
//! where they fail: CI must never skip them silently.

mod support;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use support::{TestApp, notice_body, rect};

const PASSWORD: &str = "correct horse battery staple";

/// A chromedriver process, killed when dropped.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

fn chromedriver_path() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")))
        .filter(|p| p.exists())
}

async fn start_driver() -> Option<Driver> {
    let Some(path) = chromedriver_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver not found: apt-get install chromium chromium-driver"
        );
        eprintln!("skipping: no chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{url}/status")).send().await.is_ok() {
            return Some(Driver { _child: child, url });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en"],
        }),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits for an element to exist and returns its text.
async fn text_of(client: &Client, css: &str) -> String {
    let el = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    el.text().await.unwrap()
}

#[tokio::test]
async fn an_operator_signs_in_and_watches_deliveries_arrive() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    for i in 0..3 {
        app.create_resident(json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": format!("+38050123456{i}")}]}))
            .await;
    }
    let r = app
        .post(
            "/api/v1/accounts",
            &json!({"username": "olena", "password": PASSWORD, "role": "admin",
                    "name": "Олена Коваль"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    let client = browser(&driver).await;
    client.goto(&app.url("/console")).await.unwrap();
    text_of(&client, "form#sign-in").await;
    // The browser asked for English.
    assert_eq!(
        text_of(&client, "form#sign-in h1").await,
        "Sign in to the console"
    );
    screenshot(&client, "console-sign-in").await;

    // A wrong password is shown, not a blank page.
    client
        .find(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys("olena")
        .await
        .unwrap();
    let password = client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap();
    password.send_keys("not the password").await.unwrap();
    password.send_keys("\u{E007}").await.unwrap(); // Enter
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//p[@id='sign-in-error'][contains(., 'wrong username or password')]",
        ))
        .await
        .unwrap();
    password.clear().await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    password.send_keys("\u{E007}").await.unwrap();
    text_of(&client, "table#notices").await;
    assert!(text_of(&client, "#who").await.contains("Олена Коваль"));

    // A notice published now appears, and its counts rise to what the
    // provider took.
    let notice = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await;
    let id = notice["id"].as_i64().unwrap();
    app.wait_settled(id).await;
    let row = format!("tr[data-notice='{id}']");
    let text = text_of(&client, &row).await;
    assert!(
        text.contains("Ремонт водогону") && text.contains("active"),
        "{text}"
    );
    let sent = app.outbox("channel=sms").await.len();
    assert_eq!(sent, 3);
    let done = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!(
            "//tr[@data-notice='{id}']//span[@data-state='delivered' or @data-state='sent'][contains(., ': {sent}')]"
        )))
        .await
        .expect("the row shows every message the provider took");
    assert!(!done.text().await.unwrap().is_empty());
    screenshot(&client, "console-notices").await;

    // Polish, then sign out.
    client
        .find(Locator::Css("select#lang"))
        .await
        .unwrap()
        .select_by_value("pl")
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//h1[.='Komunikaty']"))
        .await
        .unwrap();
    screenshot(&client, "console-notices-pl").await;
    client
        .find(Locator::Css("button#sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_of(&client, "form#sign-in").await;
    let r = app
        .client()
        .get(app.url("/api/v1/journal"))
        .bearer_auth(support::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("account.signed_out"), "{r}");
    client.close().await.unwrap();
}
