//! Cluster faults: a worker killed with SIGKILL, RabbitMQ restarted and
//! PostgreSQL restarted in the middle of a 20 000-delivery fan-out. Every
//! delivery must still reach the provider; a message may be sent twice only
//! if it was in flight at the moment of the fault (the mock gateway creates
//! it twice, as a real one would, and its tally counts the duplicate).
//!
//! The tests restart the machine's shared brokers, so they run one at a
//! time (a lock) and live in their own test binary (cargo runs binaries
//! one after another).

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Backend, Providers, TestApp, assert_no_loss, notice_body, rect};
use tokio::sync::Mutex;

const DELIVERIES: usize = 20_000;
/// Provider calls in flight per worker and channel: the most a fault can
/// catch between a provider's answer and our record of it.
const CONCURRENCY: usize = 16;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn fan_out(app: &TestApp) -> i64 {
    let zone = app
        .create_zone("Місто", &rect(25.0, 50.5, 25.6, 51.0))
        .await;
    let lines: Vec<String> = numbers()
        .into_iter()
        .map(|number| {
            json!({"language": "uk", "zones": [zone],
                "contacts": [{"channel": "sms", "address": number}]})
            .to_string()
        })
        .collect();
    let r = app
        .post_raw(
            "/api/v1/residents/import",
            "application/x-ndjson",
            lines.join("\n"),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let created = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await;
    assert_eq!(created["deliveries"], DELIVERIES as i64);
    created["id"].as_i64().unwrap()
}

fn numbers() -> Vec<String> {
    (0..DELIVERIES)
        .map(|i| format!("+38067{:07}", 1_000_000 + i))
        .collect()
}

/// Every number got the notice; returns the duplicate SMS the fault caused.
fn check_nothing_lost(p: &Providers, fault: &str) -> usize {
    assert_no_loss(&p.twilio.tally(), &numbers(), fault)
}

async fn settle(app: &TestApp, id: i64) {
    let s = app.wait_settled_within(id, Duration::from_secs(300)).await;
    assert_eq!(
        s["by_state"]["sent"],
        DELIVERIES as i64,
        "{s}\n{}",
        app.logs()
    );
}

async fn wait_for_progress(p: &Providers, count: usize) {
    assert!(
        p.twilio.wait_for(count, Duration::from_secs(120)).await,
        "the fan-out never reached {count} messages"
    );
}

fn run(cmd: &str, args: &[&str]) {
    let status = std::process::Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(status.success(), "{cmd} {args:?} failed: {status}");
}

fn config() -> String {
    format!("[dispatch]\nconcurrency = {CONCURRENCY}\nretry_base_secs = 1\n")
}

#[tokio::test]
async fn a_worker_killed_mid_fan_out_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(backend) = Backend::cluster().await else {
        return;
    };
    let p = Providers::start().await;
    let mut app = TestApp::spawn_on(backend, &p.config(&config())).await;
    app.start_worker().await;
    let id = fan_out(&app).await;
    wait_for_progress(&p, DELIVERIES / 4).await;
    // The first worker registered first, so it is the active consumer.
    app.kill_worker(0).await;
    app.start_worker().await;
    settle(&app, id).await;
    let duplicates = check_nothing_lost(&p, "worker SIGKILL");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates exceed the {CONCURRENCY} in flight"
    );
}

#[tokio::test]
async fn a_rabbitmq_restart_mid_fan_out_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(backend) = Backend::cluster().await else {
        return;
    };
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config(&config())).await;
    let id = fan_out(&app).await;
    wait_for_progress(&p, DELIVERIES / 4).await;
    run("rabbitmqctl", &["stop_app"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = app.get("/readyz").await;
    assert_eq!(
        (r.status, r.body["queue"].as_str()),
        (503, Some("unreachable")),
        "{r:?}"
    );
    run("rabbitmqctl", &["start_app"]);
    settle(&app, id).await;
    let duplicates = check_nothing_lost(&p, "RabbitMQ restart");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates exceed the {CONCURRENCY} in flight"
    );
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn a_postgresql_restart_mid_fan_out_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(backend) = Backend::cluster().await else {
        return;
    };
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config(&config())).await;
    let id = fan_out(&app).await;
    wait_for_progress(&p, DELIVERIES / 4).await;
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .expect("a PostgreSQL cluster under /etc/postgresql");
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "restart"],
    );
    settle(&app, id).await;
    let duplicates = check_nothing_lost(&p, "PostgreSQL restart");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates exceed the {CONCURRENCY} in flight"
    );
}
