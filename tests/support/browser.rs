//! Driving the console in headless Chromium through chromedriver, for
//! the browser tests (`tests/browser.rs`, `tests/browser_alerts.rs`):
//! the driver, a browser session, signing in, finding and waiting for
//! elements, screenshots.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::TestApp;
use super::people::{PASSWORD, enrol, new_account};

/// A chromedriver process, killed when dropped.
pub struct Driver {
    _child: tokio::process::Child,
    url: String,
}

pub fn chromedriver_path() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromedriver")))
        .filter(|p| p.exists())
}

pub async fn start_driver() -> Option<Driver> {
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

pub async fn browser(driver: &Driver) -> Client {
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

pub async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// An admin's account, enrolled with `PASSWORD` through the API.
pub async fn admin_account(app: &TestApp, username: &str, name: &str) {
    let body = json!({"username": username, "role": "admin", "name": name});
    let token = new_account(app, &body).await;
    let (r, _) = enrol(app, &token, PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
}

pub async fn type_into(client: &Client, css: &str, text: &str) {
    let input = client.find(Locator::Css(css)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

pub async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Opens the console and signs in.
pub async fn sign_in(client: &Client, app: &TestApp, username: &str) {
    client.goto(&app.url("/console")).await.unwrap();
    text_of(client, "form#sign-in").await;
    type_into(client, "input[name=username]", username).await;
    type_into(client, "input[name=password]", PASSWORD).await;
    click(client, "form#sign-in button[type=submit]").await;
    text_of(client, "table#notices").await;
}

/// Waits for an element to exist and returns its text. Live pages
/// replace their rows as counts change, so an element found may be gone
/// before its text is read: then it is looked up again.
pub async fn text_of(client: &Client, css: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = client.find(Locator::Css(css)).await;
        let last = match found {
            Ok(el) => match el.text().await {
                Ok(text) => return text,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        assert!(std::time::Instant::now() < deadline, "{css}: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for_xpath(client: &Client, xpath: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(xpath))
        .await
        .unwrap_or_else(|e| panic!("{xpath}: {e}"));
}

/// Switches the console's language with its selector and waits for the
/// page to say so.
pub async fn select_language(client: &Client, lang: &str) {
    client
        .find(Locator::Css("select#lang"))
        .await
        .unwrap()
        .select_by_value(lang)
        .await
        .unwrap();
    wait_for_xpath(client, &format!("/html[@lang='{lang}']")).await;
}

/// Asserts that nothing matches `css` now.
pub async fn assert_absent(client: &Client, css: &str) {
    let found = client.find_all(Locator::Css(css)).await.unwrap();
    assert!(found.is_empty(), "{css} is on the page");
}
