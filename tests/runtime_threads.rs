//! `threads` reaches the runtime `main` builds, and a bad value stops the
//! start with an error that names the setting.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tocsin(dir: &std::path::Path, threads: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TOCSIN_THREADS", threads)
        .env("RUST_BACKTRACE", "0")
        .env_remove("TOCSIN_CONFIG");
    cmd
}

#[test]
fn the_configured_thread_count_runs_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = tocsin(dir.path(), "3")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("listening on") || started.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(text.contains("runtime started"), "{text}");
    assert!(text.contains("threads=3"), "{text}");
    assert!(text.contains("listening on"), "{text}");
}

#[test]
fn a_bad_thread_count_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "5000"] {
        let out = tocsin(dir.path(), bad)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("threads = {bad}: must be 1 to 1024")),
            "{stderr}"
        );
    }
}
