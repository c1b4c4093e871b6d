//! Test harness: starts the real `tocsin` binary on an ephemeral port with
//! a temporary data directory and drives it over HTTP.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod alerts;
pub mod browser;
mod cluster;
pub mod people;
pub use cluster::{Backend, ClusterEnv};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

pub struct TestApp {
    pub base: String,
    pub dir: tempfile::TempDir,
    launch: Launch,
    child: Child,
    /// Worker processes and their base URLs (cluster mode only).
    workers: Vec<(Child, String)>,
    http: reqwest::Client,
}

/// A response: status and JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The `error.field` of an error response.
    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

/// How to start the processes of one test app.
#[derive(Clone)]
struct Launch {
    dir: PathBuf,
    config: Option<PathBuf>,
    cluster: Option<std::sync::Arc<ClusterEnv>>,
}

enum Role {
    Serve,
    Worker,
}

async fn start(launch: &Launch, role: Role) -> (Child, String) {
    let (child, base, _) = spawn_process(launch, role, Some(ADMIN_TOKEN)).await;
    (child, base)
}

/// Starts `tocsin serve` embedded in `dir`; returns the child, its base URL
/// and the lines it printed before listening.
pub async fn start_with(
    dir: &Path,
    config: Option<&Path>,
    admin_token: Option<&str>,
) -> (Child, String, Vec<String>) {
    let launch = Launch {
        dir: dir.to_owned(),
        config: config.map(Path::to_owned),
        cluster: None,
    };
    spawn_process(&launch, Role::Serve, admin_token).await
}

async fn spawn_process(
    launch: &Launch,
    role: Role,
    admin_token: Option<&str>,
) -> (Child, String, Vec<String>) {
    // A cluster API's port is chosen before `serve` binds it; if another
    // process took it meanwhile, choose again (the workers start after).
    for _ in 0..5 {
        match try_spawn(launch, &role, admin_token).await {
            Ok(started) => return started,
            Err(log) => match (&launch.cluster, &role) {
                (Some(c), Role::Serve) if log.contains("Address already in use") => {
                    c.choose_another_port();
                }
                _ => panic!("tocsin exited before listening; log:\n{log}"),
            },
        }
    }
    panic!("no free port for the cluster API after five tries");
}

/// Starts one process; on exit before listening, the log it wrote.
async fn try_spawn(
    launch: &Launch,
    role: &Role,
    admin_token: Option<&str>,
) -> Result<(Child, String, Vec<String>), String> {
    let dir = &launch.dir;
    let log_path = dir.join("tocsin.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("log file");
    let logged_before = log.metadata().map_or(0, |m| m.len() as usize);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    let (subcommand, marker) = match role {
        Role::Serve => ("serve", "tocsin listening on "),
        Role::Worker => ("worker", "tocsin worker listening on "),
    };
    cmd.arg(subcommand)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("TOCSIN_ADMIN_TOKEN")
        .env("RUST_LOG", "info,sqlx=warn,lapin=warn")
        .env_remove("TOCSIN_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    match (&launch.cluster, role) {
        (None, _) => cmd.args(["--listen", "127.0.0.1:0"]),
        (Some(c), Role::Serve) => cmd.args(["--listen", &format!("127.0.0.1:{}", c.api_port())]),
        (Some(_), Role::Worker) => cmd.args(["--listen", "127.0.0.1:0"]),
    };
    if let Some(c) = &launch.cluster {
        cmd.envs(c.env());
    }
    if let Some(config) = &launch.config {
        cmd.arg("--config").arg(config);
    }
    if let Some(token) = admin_token {
        cmd.env("TOCSIN_ADMIN_TOKEN", token);
    }
    let mut child = cmd.spawn().expect("starting tocsin");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        let mut printed = Vec::new();
        while let Some(line) = lines.next_line().await.expect("reading stdout") {
            if let Some(url) = line.strip_prefix(marker) {
                return Some((url.trim().to_owned(), printed));
            }
            printed.push(line);
        }
        None
    })
    .await
    .expect("tocsin did not start within 60 s");
    let Some((base, printed)) = listening else {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        return Err(log.get(logged_before..).unwrap_or(&log).to_owned());
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, base, printed))
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(Backend::Embedded, "").await
    }

    /// Starts with `toml` as the configuration file.
    pub async fn spawn_with_config(toml: &str) -> Self {
        Self::spawn_on(Backend::Embedded, toml).await
    }

    /// Starts on `backend` with `toml` (may be empty) as the configuration
    /// file; on the cluster backend also one worker process.
    pub async fn spawn_on(backend: Backend, toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = (!toml.is_empty()).then(|| {
            let path = dir.path().join("tocsin.toml");
            std::fs::write(&path, toml).expect("writing config");
            path
        });
        let cluster = match backend {
            Backend::Embedded => None,
            Backend::Cluster => Some(std::sync::Arc::new(ClusterEnv::create().await)),
        };
        let launch = Launch {
            dir: dir.path().to_owned(),
            config,
            cluster,
        };
        let (child, base) = start(&launch, Role::Serve).await;
        let mut app = Self {
            base,
            dir,
            launch,
            child,
            workers: Vec::new(),
            http: client(),
        };
        if app.launch.cluster.is_some() {
            app.start_worker().await;
        }
        app
    }

    /// Starts one more worker process (cluster mode).
    pub async fn start_worker(&mut self) {
        let worker = start(&self.launch, Role::Worker).await;
        self.workers.push(worker);
    }

    /// Kills worker `i` without warning (SIGKILL).
    pub async fn kill_worker(&mut self, i: usize) {
        self.workers[i].0.kill().await.expect("killing a worker");
    }

    pub fn is_cluster(&self) -> bool {
        self.launch.cluster.is_some()
    }

    /// Kills every process without warning (SIGKILL), as a crash would.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing tocsin");
        for (w, _) in &mut self.workers {
            let _ = w.kill().await;
        }
        self.workers.clear();
    }

    /// Starts the service again on the same data (and, in the cluster
    /// mode, a worker).
    pub async fn restart(&mut self) {
        let (child, base) = start(&self.launch, Role::Serve).await;
        self.child = child;
        self.base = base;
        if self.is_cluster() {
            self.start_worker().await;
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running child");
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        tokio::time::timeout(Duration::from_secs(40), self.child.wait())
            .await
            .expect("tocsin did not stop within 40 s of SIGTERM")
            .expect("waiting for tocsin")
    }

    /// Runs `tocsin <args>` on this app's data, configuration and
    /// cluster, as an operator beside the running service would.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.launch.dir.join("data"))
            .env("RUST_LOG", "warn")
            .env_remove("TOCSIN_CONFIG");
        if let Some(c) = &self.launch.cluster {
            cmd.envs(c.env());
        }
        if let Some(config) = &self.launch.config {
            cmd.arg("--config").arg(config);
        }
        cmd.output().await.expect("running the tocsin CLI")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tocsin.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => panic!("request failed: {e}\n{}", self.logs()),
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Reply {
        self.send(self.http.post(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(ADMIN_TOKEN, path, body).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let req = self
            .http
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body);
        self.send(req).await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Reply {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_as(ADMIN_TOKEN, path).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.http.delete(self.url(path)).bearer_auth(ADMIN_TOKEN))
            .await
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    // --- domain helpers ---

    pub async fn create_zone(&self, name: &str, ring: &[[f64; 2]]) -> i64 {
        let r = self.post("/api/v1/zones", &zone_feature(name, ring)).await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["id"].as_i64().expect("zone id")
    }

    /// Imports `residents` (one JSON object each) as one NDJSON request.
    pub async fn import_residents(&self, residents: impl IntoIterator<Item = Value>) {
        let lines: Vec<String> = residents.into_iter().map(|r| r.to_string()).collect();
        let r = self
            .post_raw(
                "/api/v1/residents/import",
                "application/x-ndjson",
                lines.join("\n"),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }

    pub async fn create_resident(&self, body: Value) -> i64 {
        let r = self.post("/api/v1/residents", &body).await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["id"].as_i64().expect("resident id")
    }

    pub async fn publish(&self, body: Value) -> Value {
        let r = self.post("/api/v1/notices", &body).await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body
    }

    pub async fn summary(&self, notice: i64) -> Value {
        let r = self
            .get(&format!("/api/v1/notices/{notice}/deliveries/summary"))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    /// Waits until no delivery of the notice is pending, queued or sending.
    pub async fn wait_settled(&self, notice: i64) -> Value {
        self.wait_settled_within(notice, Duration::from_secs(60))
            .await
    }

    pub async fn wait_settled_within(&self, notice: i64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let r = self
                .get(&format!("/api/v1/notices/{notice}/deliveries/summary"))
                .await;
            if r.status != 200 {
                // The API may be briefly unable to answer (database restart).
                assert!(
                    Instant::now() < deadline,
                    "summary of {notice} unavailable: {r:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let s = r.body;
            let busy: i64 = ["pending", "queued", "sending"]
                .iter()
                .map(|k| s["by_state"][k].as_i64().unwrap_or(0))
                .sum();
            if busy == 0 && s["total"].as_i64().unwrap_or(0) > 0 {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "notice {notice} did not settle: {s}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the simulated providers sent. In the cluster mode each worker
    /// keeps its own outbox, so all of them are read and merged.
    pub async fn outbox(&self, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/simulated/outbox?limit=10000&{query}");
        let bases: Vec<String> = if self.is_cluster() {
            self.workers.iter().map(|(_, base)| base.clone()).collect()
        } else {
            vec![self.base.clone()]
        };
        let mut all = Vec::new();
        for base in bases {
            let r = self
                .send(
                    self.http
                        .get(format!("{base}{path}"))
                        .bearer_auth(ADMIN_TOKEN),
                )
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            all.extend(r.body["messages"].as_array().cloned().unwrap_or_default());
        }
        all.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
        all
    }

    /// Runs one SQL statement on the app's database behind its back, as
    /// someone editing the database by hand would: the SQLite file, or the
    /// cluster's PostgreSQL database.
    pub async fn edit_database(&self, statement: &str) {
        use sqlx::Connection;
        match &self.launch.cluster {
            Some(c) => {
                let mut conn = sqlx::PgConnection::connect(&c.db.url()).await.unwrap();
                sqlx::query(statement).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            None => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(self.launch.dir.join("data").join("tocsin.sqlite3"))
                    .busy_timeout(Duration::from_secs(10));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::query(statement).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// Every delivery record of a notice, following the cursor.
    pub async fn all_deliveries(&self, notice: i64) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let r = self
                .get(&format!(
                    "/api/v1/notices/{notice}/deliveries?limit=1000{cursor}"
                ))
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            out.extend(r.body["deliveries"].as_array().cloned().unwrap_or_default());
            match r.body["next_cursor"].as_i64() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return out,
            }
        }
    }
}

impl Drop for TestApp {
    /// Stops the processes before the cluster resources go: a worker still
    /// running would re-declare the queues that the cleanup deletes.
    fn drop(&mut self) {
        let mut children: Vec<&mut Child> = vec![&mut self.child];
        children.extend(self.workers.iter_mut().map(|(c, _)| c));
        for c in &mut children {
            let _ = c.start_kill();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in children {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A client without connection reuse: the server closes a connection after
/// refusing a body it did not read, and a pooled client can race that close
/// and see "IncompleteMessage" on its next request.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client")
}

/// A GeoJSON Feature with one closed ring given as [lon, lat] pairs.
pub fn zone_feature(name: &str, ring: &[[f64; 2]]) -> Value {
    json!({
        "type": "Feature",
        "properties": { "name": name },
        "geometry": { "type": "Polygon", "coordinates": [ring] },
    })
}

/// A closed axis-aligned rectangle ring.
pub fn rect(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> Vec<[f64; 2]> {
    vec![
        [min_lon, min_lat],
        [max_lon, min_lat],
        [max_lon, max_lat],
        [min_lon, max_lat],
        [min_lon, min_lat],
    ]
}

/// Works that started an hour ago and end in two days: relative, because
/// unsent deliveries of a notice whose end has passed expire.
pub fn notice_body(kind: &str, area: Value) -> Value {
    let now = chrono::Utc::now();
    json!({
        "kind": kind,
        "category": "water",
        "title": "Ремонт водогону",
        "cause": "Пошкодження труби",
        "starts_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "expected_end": (now + chrono::Duration::days(2)).to_rfc3339(),
        "area": area,
    })
}

#[allow(unused_imports)] // not every test binary uses the mocks
pub use tocsin_testkit::Providers;

/// For one notice: every `expected` recipient got it, nobody else did,
/// and nobody got a second, different text. Prints and returns the extra
/// identical copies, which a fault may cause only for sends in flight.
pub fn assert_no_loss(tally: &tocsin_testkit::Tally, expected: &[String], what: &str) -> usize {
    let missing = tally.missing(expected.iter().map(String::as_str));
    assert!(
        missing.is_empty(),
        "{what}: {} recipients got nothing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        tally.recipients(),
        expected.len(),
        "{what}: unexpected recipients"
    );
    let duplicates = tally.duplicates();
    let duplicated = tally.duplicated();
    eprintln!(
        "{what}: {} messages to {} recipients, {duplicates} duplicates {:?}",
        tally.messages(),
        tally.recipients(),
        &duplicated[..duplicated.len().min(5)]
    );
    assert_eq!(
        tally.messages(),
        expected.len() + duplicates,
        "{what}: a recipient got two different texts"
    );
    duplicates
}

/// The most requests in any rolling one-second window.
pub fn busiest_second(times: &[std::time::Instant]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}
