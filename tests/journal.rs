//! The tamper-evident journal: actions are journaled, `GET /api/v1/journal`
//! pages them, `tocsin journal verify` passes on the untouched database
//! and names what was changed by someone with the database file but not
//! the key (an edited row, plain hashes recomputed, the newest rows
//! deleted, an alert's CAP), `tocsin journal export` writes NDJSON, and
//! people cannot take the names the service journals under.

mod support;

use serde_json::json;
use std::path::Path;
use std::process::Output;
use support::{TestApp, notice_body, rect};
use tocsin::domain::journal::entry_hash;

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
    assert!(
        text(&ok.stdout).starts_with("journal intact: 4 entries, 0 of them legacy"),
        "{}",
        text(&ok.stdout)
    );
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
    assert_eq!(broken.status.code(), Some(1));
    let err = text(&broken.stderr);
    assert!(
        err.contains("journal BROKEN: entry 3: its content was changed"),
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
    for path in ["/api/v1/journal", "/api/v1/journal/head"] {
        let r = app.get_as(&token, path).await;
        assert_eq!(r.status, 403, "{path}: {r:?}");
        let r = app.send(app.client().get(app.url(path))).await;
        assert_eq!(r.status, 401, "{path}: {r:?}");
    }
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

fn sqlite_url(data: &Path) -> String {
    format!("sqlite://{}", data.join("tocsin.sqlite3").display())
}

/// What someone with the database file but not the key can do: give the
/// entries in `ids` the plain SHA-256 `verify` once accepted, each chained
/// to the one before.
async fn rehash_plain(data: &Path, ids: std::ops::RangeInclusive<i64>) {
    type Row = (i64, i64, String, String, String, String, String, String);
    let pool = sqlx::SqlitePool::connect(&sqlite_url(data)).await.unwrap();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM journal ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut prev: Option<String> = None;
    for (id, at, actor, action, subject, detail, prev_hash, hash) in rows {
        if !ids.contains(&id) {
            prev = Some(hash);
            continue;
        }
        let prev_hash = prev.take().unwrap_or(prev_hash);
        let hash = entry_hash(&prev_hash, id, at, &actor, &action, &subject, &detail);
        sqlx::query("UPDATE journal SET prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&prev_hash)
            .bind(&hash)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        prev = Some(hash);
    }
    pool.close().await;
}

async fn sql(data: &Path, statement: &str) {
    let pool = sqlx::SqlitePool::connect(&sqlite_url(data)).await.unwrap();
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

/// A service with a few journaled actions, stopped; its data directory.
async fn journaled_and_stopped() -> (TestApp, std::path::PathBuf) {
    let mut app = TestApp::spawn().await;
    for name in ["Луцькводоканал", "Теплокомуненерго", "Луцькгаз"]
    {
        let r = app
            .post("/api/v1/organisations", &json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    app.terminate().await;
    let data = app.dir.path().join("data");
    (app, data)
}

#[tokio::test]
async fn recomputing_the_plain_hashes_does_not_pass_verify() {
    let (_app, data) = journaled_and_stopped().await;
    sql(
        &data,
        "UPDATE journal SET actor = 'organisation:9' WHERE id = 3",
    )
    .await;
    rehash_plain(&data, 3..=i64::MAX).await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("entry 3: has a plain SHA-256 but follows keyed entries"),
        "{err}"
    );

    // The whole journal rewritten with plain hashes: its newest entry is
    // not keyed, so that does not pass either.
    rehash_plain(&data, 1..=i64::MAX).await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("entry 4: the newest entry has a plain SHA-256"),
        "{err}"
    );
}

#[tokio::test]
async fn deleting_the_newest_rows_is_found_with_a_head_recorded_before() {
    let mut app = TestApp::spawn().await;
    for name in ["Луцькводоканал", "Теплокомуненерго"] {
        app.post("/api/v1/organisations", &json!({"name": name}))
            .await;
    }
    let head = app.get("/api/v1/journal/head").await;
    assert_eq!(head.status, 200, "{head:?}");
    let entries = app.get("/api/v1/journal").await.body["entries"].clone();
    let newest = entries.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        head.body,
        json!({"id": newest["id"], "hash": newest["hash"]})
    );
    let hash = head.body["hash"].as_str().unwrap().to_owned();
    app.terminate().await;
    let data = app.dir.path().join("data");

    let out = tocsin(&data, &["journal", "verify", "--head", &hash]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("head: 3 {hash}")),
        "{}",
        text(&out.stdout)
    );

    sql(&data, "DELETE FROM journal WHERE id >= 3").await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert!(out.status.success(), "without --head a shorter chain fits");
    let out = tocsin(&data, &["journal", "verify", "--head", &hash]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("the entry with hash {hash} is not in the journal"))
            && err.contains("its newest entry is now 2"),
        "{err}"
    );
    let out = tocsin(&data, &["journal", "verify", "--head", "nothex"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[tokio::test]
async fn an_exercise_changed_to_actual_in_the_database_is_found() {
    let mut app = TestApp::spawn().await;
    let token = support::alerts::operator(&app, "Оксана").await;
    let r = app
        .post_as(
            &token,
            "/api/v1/alerts",
            &json!({"status": "Exercise", "widen": true, "infos": [{"language": "uk-UA",
                    "event": "Повітряна тривога", "urgency": "Immediate", "severity": "Extreme",
                    "certainty": "Observed", "headline": "Навчання: повітряна тривога",
                    "areas": [{"area_desc": "Луцьк", "polygons": [support::alerts::POLYGON]}]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let alert = r.body["id"].as_i64().unwrap();
    app.terminate().await;
    let data = app.dir.path().join("data");
    let out = tocsin(&data, &["journal", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("alerts: 1,"),
        "{}",
        text(&out.stdout)
    );

    sql(
        &data,
        "UPDATE alerts SET status = 'Actual', \
         cap = replace(cap, '<status>Exercise</status>', '<status>Actual</status>')",
    )
    .await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("alert {alert}: its stored CAP does not match")),
        "{err}"
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
    let account = |username: &str, name: Option<&str>| json!({"username": username, "role": "civil_protection", "name": name});
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

#[tokio::test]
async fn verify_and_export_without_a_database_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("data");
    for command in ["verify", "export"] {
        let out = tocsin(&absent, &["journal", command]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(&format!(
                "no database at {}",
                absent.join("tocsin.sqlite3").display()
            )),
            "{}",
            text(&out.stderr)
        );
        assert!(!absent.exists(), "{command} created the data directory");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = tocsin(&empty, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing created"
    );
}

#[tokio::test]
async fn a_journal_from_before_the_key_is_sealed_at_the_next_start() {
    let (mut app, data) = journaled_and_stopped().await;
    // As an older version wrote it: plain SHA-256 throughout.
    rehash_plain(&data, 1..=i64::MAX).await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1), "not verifiable before the seal");

    app.restart().await;
    let entries = app.get("/api/v1/journal").await.body["entries"].clone();
    let seal = &entries.as_array().unwrap()[4];
    assert_eq!(
        (&seal["action"], &seal["actor"], &seal["prev_hash"]),
        (
            &json!("journal.keyed"),
            &json!("system:service"),
            &entries[3]["hash"]
        )
    );
    app.terminate().await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("journal intact: 5 entries, 4 of them legacy"),
        "{}",
        text(&out.stdout)
    );

    // From now on the legacy prefix is covered too.
    sql(
        &data,
        "UPDATE journal SET actor = 'organisation:9' WHERE id = 2",
    )
    .await;
    rehash_plain(&data, 2..=4).await;
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("entry 5: does not follow"), "{err}");
}

#[tokio::test]
async fn serve_refuses_a_key_the_journal_was_not_written_with() {
    let (_app, data) = journaled_and_stopped().await;
    let key = data.join("journal.key");
    let before = std::fs::read_to_string(&key).unwrap();
    assert_eq!(before.trim().len(), 64, "32 bytes as hex");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    let serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("TOCSIN_CONFIG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), serve)
        .await
        .expect("serve should stop at once")
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("does not verify with the configured journal key"),
        "{err}"
    );
    let out = tocsin(&data, &["journal", "verify"]);
    assert_eq!(out.status.code(), Some(1), "verify says the same");
}
