//! The benchmark at a tiny size, so it cannot rot between real runs: it
//! generates a city of 1 000, times the three cases and, where PostGIS is
//! installed, finds the same residents there.

use std::process::Command;

#[test]
fn the_targeting_benchmark_runs_at_a_tiny_size() {
    let url = std::env::var("TOCSIN_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let out = Command::new(env!("CARGO_BIN_EXE_tocsin-bench"))
        .args([
            "targeting",
            "--residents",
            "1000",
            "--runs",
            "1",
            "--postgres",
            &url,
        ])
        .output()
        .expect("running tocsin-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| 1")).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    if stdout.contains("PostGIS absent") {
        assert!(rows.iter().all(|r| r.ends_with("| – |")), "{stdout}");
    } else {
        assert!(rows.iter().all(|r| r.ends_with("× |")), "{stdout}");
        assert!(
            !stdout.contains("note: PostGIS counted"),
            "the same residents: {stdout}"
        );
    }
}
