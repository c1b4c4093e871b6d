//! The service under test: a release `tocsin serve` (and, in cluster mode,
//! `tocsin worker` processes) started as child processes, pointed at mock
//! providers by a config file, and stopped and cleaned up on `stop`.
//!
//! The benchmarks run the real binaries, not the library in-process, so
//! what they measure is what an operator runs, and the service's memory is
//! its own process's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tocsin::store::postgres::TempDatabase;

/// Embedded (SQLite + in-process queue) or cluster (PostgreSQL + RabbitMQ,
/// `serve` plus workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Cluster { workers: usize },
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Embedded => f.write_str("embedded"),
            Mode::Cluster { workers } => write!(f, "cluster, {workers} worker(s)"),
        }
    }
}

/// PostgreSQL database and RabbitMQ prefix a cluster run owns.
#[derive(Debug)]
struct ClusterParts {
    db: TempDatabase,
    amqp: String,
    prefix: String,
}

/// A running service; see the module docs.
#[derive(Debug)]
pub struct Service {
    pub url: String,
    pub token: String,
    pub mode: Mode,
    children: Vec<Child>,
    dir: tempfile::TempDir,
    cluster: Option<ClusterParts>,
}

/// The `tocsin` binary next to this one (`target/release/tocsin` when the
/// benchmark runs from `target/release`).
pub fn sibling_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name("tocsin")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Service {
    /// Starts the service with `config` (TOML) and waits until every
    /// process listens.
    pub async fn start(bin: &Path, mode: Mode, config: &str) -> anyhow::Result<Service> {
        if !bin.exists() {
            bail!(
                "{} not found: build it first with `cargo build --release`",
                bin.display()
            );
        }
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("tocsin.toml"), config)?;
        let port = free_port()?;
        let mut token_bytes = [0u8; 16];
        getrandom::fill(&mut token_bytes)?;
        let token: String = token_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let cluster = match mode {
            Mode::Embedded => None,
            Mode::Cluster { .. } => Some(ClusterParts {
                db: TempDatabase::create()
                    .await
                    .context("cluster mode needs PostgreSQL on 127.0.0.1:5432")?,
                amqp: std::env::var("TOCSIN_TEST_AMQP")
                    .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
                prefix: format!("tocsin-bench-{}", &token[..12]),
            }),
        };
        let mut service = Service {
            url: format!("http://127.0.0.1:{port}"),
            token,
            mode,
            children: Vec::new(),
            dir,
            cluster,
        };
        let listen = format!("127.0.0.1:{port}");
        service.spawn(bin, &["serve", "--listen", &listen], "serve")?;
        if let Mode::Cluster { workers } = mode {
            for i in 0..workers {
                let log = format!("worker{i}");
                service.spawn(bin, &["worker", "--listen", "127.0.0.1:0"], &log)?;
            }
        }
        Ok(service)
    }

    /// Starts one process and waits for its "listening" line.
    fn spawn(&mut self, bin: &Path, args: &[&str], log: &str) -> anyhow::Result<()> {
        let dir = self.dir.path();
        let stderr = std::fs::File::create(dir.join(format!("{log}.log")))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(dir.join("tocsin.toml"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(args)
            .env("TOCSIN_ADMIN_TOKEN", &self.token)
            .env("TOCSIN_PUBLIC_URL", &self.url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(c) = &self.cluster {
            cmd.env("TOCSIN_DATABASE", c.db.url())
                .env("TOCSIN_QUEUE", &c.amqp)
                .env("TOCSIN_AMQP__PREFIX", &c.prefix)
                // The cluster mode needs the journal key configured.
                .env("TOCSIN_JOURNAL__KEY", "b0".repeat(32));
        }
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped");
        self.children.push(child);
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading after the line so the pipe never fills up.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let log = std::fs::read_to_string(dir.join(format!("{log}.log"))).unwrap_or_default();
            bail!("tocsin {} did not start:\n{log}", args[0]);
        }
        Ok(())
    }

    /// Process ids: `serve` first, then the workers.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Peak resident memory (VmHWM) of each process, in bytes: `serve`
    /// first, then the workers.
    pub fn peak_rss(&self) -> Vec<u64> {
        self.children
            .iter()
            .map(|c| status_kib(c.id(), "VmHWM:").unwrap_or(0) * 1024)
            .collect()
    }

    /// Bytes the database takes: the SQLite files, or PostgreSQL's
    /// `pg_database_size`.
    pub async fn database_bytes(&self) -> anyhow::Result<u64> {
        match &self.cluster {
            None => Ok(dir_bytes(&self.dir.path().join("data"))),
            Some(c) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&c.db.url()).await?;
                let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(&mut conn)
                    .await?;
                Ok(size as u64)
            }
        }
    }

    /// Stops every process (SIGTERM, then kill) and removes the database,
    /// the queues and the temporary directory.
    pub async fn stop(mut self) {
        let mut children = std::mem::take(&mut self.children);
        for child in &mut children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        for child in &mut children {
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(c) = self.cluster.take() {
            let _ = tocsin::queue::amqp::delete_topology(&c.amqp, &c.prefix).await;
            c.db.drop_database().await;
        }
    }
}

impl Drop for Service {
    /// A benchmark that failed halfway must not leave the service running.
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
