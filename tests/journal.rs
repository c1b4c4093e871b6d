//! The tamper-evident journal: actions are journaled, `GET /api/v1/journal`
//! pages them, `tocsin journal verify` passes on the untouched database
//! and names the entry after a direct edit of a row, `tocsin journal
//! export` writes NDJSON, and people cannot take the names the service
//! journals under.

mod support;

use serde_json::json;
use std::path::Path;
use std::process::Output;
use support::{TestApp, notice_body, rect};

fn tocsin(data_dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TOCSIN_CONFIG")
        .output()
        .expect("running tocsin")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn actions_are_journaled_and_a_direct_edit_is_detected() {
    let mut app = TestApp::spawn().await;
    let r = app
        .post("/api/v1/organisations", &json!({"name": "Луцькводоканал"}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let zone = app
        .create_zone("Центр", &rect(25.30, 50.73, 25.35, 50.76))
        .await;
    let id = app
        .publish(notice_body("planned", json!({"zones": [zone]})))
        .await["id"]
        .as_i64()
        .unwrap();
    let r = app
        .post(&format!("/api/v1/notices/{id}/close"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    let page = app.get("/api/v1/journal?limit=3").await;
    assert_eq!(page.status, 200, "{page:?}");
    let entries = page.body["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["config.changed", "organisation.created", "notice.published"]
    );
    let detail: serde_json::Value =
        serde_json::from_str(entries[0]["detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["first_start"], true);
    assert_eq!(entries[2]["subject"], format!("notice/{id}"));
    assert_eq!(entries[2]["prev_hash"], entries[1]["hash"]);
    let next = app
        .get(&format!(
            "/api/v1/journal?after={}",
            page.body["next_after"]
        ))
        .await;
    assert_eq!(next.body["entries"][0]["action"], "notice.closed");
    assert!(next.body["next_after"].is_null());

    app.terminate().await;
    let data = app.dir.path().join("data");
    let ok = tocsin(&data, &["journal", "verify"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout).trim(), "journal intact: 4 entries");
    let export = tocsin(&data, &["journal", "export"]);
    let lines: Vec<serde_json::Value> = text(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["action"], "notice.closed");

    // Someone with database access rewrites who published the notice.
    let url = format!("sqlite://{}", data.join("tocsin.sqlite3").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE journal SET actor = 'organisation:1' WHERE id = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let broken = tocsin(&data, &["journal", "verify"]);
    assert!(!broken.status.success());
    let err = text(&broken.stderr);
    assert!(
        err.contains("journal BROKEN at journal entry 3: its content was changed"),
        "{err}"
    );
}

#[tokio::test]
async fn only_admins_read_the_journal() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/organisations",
            &json!({"name": "Теплокомуненерго"}),
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let r = app.get_as(&token, "/api/v1/journal").await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = app.send(app.client().get(app.url("/api/v1/journal"))).await;
    assert_eq!(r.status, 401, "{r:?}");
}

async fn changes(app: &TestApp) -> Vec<serde_json::Value> {
    let r = app.get("/api/v1/journal?limit=1000").await;
    r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "config.changed")
        .map(|e| {
            let detail: serde_json::Value =
                serde_json::from_str(e["detail"].as_str().unwrap()).unwrap();
            detail["sections"].clone()
        })
        .collect()
}

#[tokio::test]
async fn a_changed_configuration_is_journaled_at_start_naming_the_section() {
    let mut app = TestApp::spawn_with_config("[policy]\ncurrency = \"UAH\"\n").await;
    assert_eq!(changes(&app).await.len(), 1, "the first start");
    app.kill().await;
    let config = app.dir.path().join("tocsin.toml");
    std::fs::write(&config, "[policy]\ncurrency = \"UAH\"\ndaily_cap = 3\n").unwrap();
    app.restart().await;
    let seen = changes(&app).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1], json!(["policy"]));
    app.kill().await;
    app.restart().await;
    assert_eq!(
        changes(&app).await.len(),
        2,
        "an unchanged restart is not a change"
    );
}

#[tokio::test]
async fn people_cannot_take_the_names_the_service_journals_under() {
    let app = TestApp::spawn().await;
    for name in [
        "scheduler",
        "Ѕcheduler",
        "ADMIN",
        "sуstem",
        " admin\u{200B} ",
    ] {
        let r = app.post("/api/v1/operators", &json!({"name": name})).await;
        assert_eq!((r.status, r.field()), (422, "name"), "{name:?}: {r:?}");
        assert_eq!(r.body["error"]["code"], "invalid_field", "{r:?}");
    }
    let account = |username: &str, name: Option<&str>| {
        json!({"username": username, "password": "correct horse battery",
               "role": "civil_protection", "name": name})
    };
    let r = app
        .post("/api/v1/accounts", &account("scheduler", None))
        .await;
    assert_eq!((r.status, r.field()), (422, "username"), "{r:?}");
    let r = app
        .post("/api/v1/accounts", &account("olena", Some("Ѕcheduler")))
        .await;
    assert_eq!((r.status, r.field()), (422, "name"), "{r:?}");
    let r = app
        .post("/api/v1/accounts", &account("olena", Some("Олена")))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = app
        .post("/api/v1/operators", &json!({"name": "Оксана"}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}
