//! Cluster faults: a worker killed with SIGKILL, RabbitMQ restarted and
//! PostgreSQL restarted in the middle of a 20 000-delivery fan-out, and
//! `tocsin requeue` during a paced one. Every delivery must still reach
//! the provider. Only a death may send a message twice, and only one that
//! was in flight at the moment (the mock gateway creates it twice, as a
//! real one would, and its tally counts the duplicate); a broker restart
//! or a requeue sends nothing twice.
//!
//! The tests restart the machine's shared brokers, so they run one at a
//! time (a lock) and live in their own test binary (cargo runs binaries
//! one after another).

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Backend, Providers, TestApp, assert_no_loss, busiest_second, notice_body, rect};
use tokio::sync::Mutex;

const DELIVERIES: usize = 20_000;
/// Provider calls in flight per worker and channel: the most a fault can
/// catch between a provider's answer and our record of it.
const CONCURRENCY: usize = 16;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn fan_out(app: &TestApp) -> i64 {
    fan_out_of(app, DELIVERIES).await
}

async fn fan_out_of(app: &TestApp, count: usize) -> i64 {
    let zone = app
        .create_zone("Місто", &rect(25.0, 50.5, 25.6, 51.0))
        .await;
    app.import_residents(numbers(count).into_iter().map(|number| {
        json!({"language": "uk", "zones": [zone],
            "contacts": [{"channel": "sms", "address": number}]})
    }))
    .await;
    let created = app
        .publish(notice_body("unplanned", json!({"zones": [zone]})))
        .await;
    assert_eq!(created["deliveries"], count as i64);
    created["id"].as_i64().unwrap()
}

fn numbers(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("+38067{:07}", 1_000_000 + i))
        .collect()
}

/// Every number got the notice; returns the duplicate SMS the fault caused.
fn check_nothing_lost(p: &Providers, fault: &str) -> usize {
    assert_no_loss(&p.twilio.tally(), &numbers(DELIVERIES), fault)
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

/// The default lease (15 s) outlasts a database restart and the outcome
/// writer's retries, so a live worker keeps what it holds through them.
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
    // A short lease, so what the killed worker held goes out again within
    // seconds.
    let config = format!("{}lease_secs = 3\n", config());
    let mut app = TestApp::spawn_on(backend, &p.config(&config)).await;
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
    // The worker kept sending what it had claimed while the broker
    // redelivered those jobs: their claims' leases made them no-ops.
    let duplicates = check_nothing_lost(&p, "RabbitMQ restart");
    assert_eq!(duplicates, 0, "no process died, so nothing may go twice");
    assert_eq!(app.get("/readyz").await.status, 200);
}

/// `tocsin requeue` while a paced fan-out is under way publishes every
/// unfinished delivery again; what a live worker holds or has sent must
/// not go out a second time.
#[tokio::test]
async fn requeue_during_a_paced_fan_out_sends_nothing_twice() {
    const COUNT: usize = 400;
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(backend) = Backend::cluster().await else {
        return;
    };
    let p = Providers::start().await;
    let app = TestApp::spawn_on(backend, &p.config("[rates.sms]\nper_second = 40\n")).await;
    let id = fan_out_of(&app, COUNT).await;
    wait_for_progress(&p, COUNT / 4).await;
    for _ in 0..2 {
        let out = app.cli(&["requeue"]).await;
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("unfinished deliveries published"), "{said}");
    }
    let s = app.wait_settled_within(id, Duration::from_secs(120)).await;
    assert_eq!(s["by_state"]["sent"], COUNT as i64, "{s}\n{}", app.logs());
    let duplicates = assert_no_loss(&p.twilio.tally(), &numbers(COUNT), "requeue");
    assert_eq!(duplicates, 0);
    let times: Vec<_> = p.twilio.arrivals().iter().map(|a| a.at).collect();
    let busiest = busiest_second(&times);
    assert!(busiest <= 40, "{busiest} requests in one second at 40/s");
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
