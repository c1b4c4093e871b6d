//! The end-to-end benchmarks at a tiny size, so they cannot rot between
//! real runs: each starts the (debug) `tocsin` binary against the mock
//! providers and must print its table with every delivery accounted for.

use std::path::PathBuf;
use std::process::Command;

/// The `tocsin` binary of this build, built if `cargo test` was limited to
/// this package.
fn tocsin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tocsin-bench")).with_file_name("tocsin");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let built = Command::new(cargo)
            .args(["build", "-p", "tocsin", "--bin", "tocsin"])
            .status()
            .expect("running cargo build");
        assert!(built.success(), "building the tocsin binary failed");
    }
    bin
}

fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin-bench"))
        .args(args)
        .arg("--tocsin")
        .arg(tocsin())
        .output()
        .expect("running tocsin-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The table rows of a run (lines starting with "| <digit>").
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn fanout(workers: &str, contacts: &str, more: &[&str]) {
    let mut args = vec![
        "fanout",
        "--residents",
        "1000",
        "--runs",
        "1",
        "--workers",
        workers,
        "--contacts",
        contacts,
    ];
    args.extend_from_slice(more);
    let out = bench(&args);
    let rows = rows(&out);
    assert_eq!(rows.len(), 2, "the run's row and its CPU row: {out}");
    let row = &rows[0];
    assert_eq!(row[4], "1000", "deliveries: {out}");
    assert_eq!(row[5], "0", "not delivered: {out}");
    assert_eq!(row[6], "1000", "accepted by the mocks: {out}");
    assert!(out.contains("Medians:"), "{out}");
    // Where the CPU went: the service itself used some.
    let cpu = &rows[1];
    assert_eq!(cpu.len(), 10, "{out}");
    let tocsin: f64 = cpu[1].parse().unwrap_or_else(|_| panic!("{out}"));
    assert!(tocsin > 0.0, "the service's CPU per delivery: {out}");
    // The bare client must still send what Tocsin sends.
    assert!(!out.contains("warning:"), "{out}");
}

#[test]
fn fanout_embedded_over_fcm() {
    fanout("0", "fcm", &["--watchers", "2"]);
}

#[test]
fn fanout_embedded_over_every_channel() {
    fanout("0", "mixed", &[]);
}

#[test]
fn fanout_in_the_cluster_over_apns() {
    fanout("1", "apns", &[]);
}

#[test]
fn emergency_under_a_backlog() {
    let out = bench(&[
        "emergency",
        "--residents",
        "2000",
        "--runs",
        "1",
        "--count",
        "2",
        "--interval-ms",
        "100",
        "--radius-m",
        "500",
    ]);
    let rows = rows(&out);
    assert_eq!(rows.len(), 2, "{out}");
    for row in &rows {
        let first: f64 = row[4].parse().expect("first call ms");
        let last: f64 = row[5].parse().expect("last call ms");
        assert!(first > 0.0 && first <= last, "{out}");
    }
    assert!(out.contains("First call: p50"), "{out}");
}

#[test]
fn api_load_at_a_stated_rate() {
    let out = bench(&[
        "api",
        "--residents",
        "1000",
        "--resident-rate",
        "20",
        "--notice-rate",
        "5",
        "--seconds",
        "1",
    ]);
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| POST")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(!out.contains("note: first error"), "{out}");
}

/// Runs a subcommand that needs no `tocsin` binary, only a server the
/// machine runs (`needs` says which, for the failure message).
fn bench_alone(args: &[&str], needs: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin-bench"))
        .args(args)
        .output()
        .expect("running tocsin-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{needs}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn rabbitmq_alone() {
    let stdout = bench_alone(
        &["queue", "--messages", "500", "--runs", "1"],
        "RabbitMQ must run on 127.0.0.1:5672 (rabbitmq-server -detached)",
    );
    assert_eq!(rows(&stdout).len(), 1, "{stdout}");
}

#[test]
fn postgres_floor_at_a_tiny_size() {
    let stdout = bench_alone(
        &["floor", "--rows", "1000", "--runs", "1"],
        "PostgreSQL must run on 127.0.0.1:5432",
    );
    let rows = rows(&stdout);
    assert_eq!(rows.len(), 3, "insert, claim, outcome: {stdout}");
    // 1 000 rows in batches of 200 and 500.
    assert_eq!(rows[1][2], "5", "{stdout}");
    assert_eq!(rows[2][2], "2", "{stdout}");
    assert!(stdout.contains("of 2000 updates"), "{stdout}");
}
