//! The cluster backend for tests: a fresh PostgreSQL database and a unique
//! RabbitMQ name prefix per test app, both removed afterwards.
//!
//! Without PostgreSQL or RabbitMQ on this machine the cluster tests are
//! skipped with the reason printed — except in CI (`CI=true`), where they
//! fail, because a green CI must mean they ran.

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;
use tocsin::store::postgres::TempDatabase;

/// Which backends a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite + in-process queue, one process.
    Embedded,
    /// PostgreSQL + RabbitMQ, `serve` plus worker processes.
    Cluster,
}

pub fn amqp_url() -> String {
    std::env::var("TOCSIN_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Backend {
    /// The cluster backend if RabbitMQ answers (PostgreSQL is checked when
    /// the database is created); `None` with a printed reason otherwise.
    pub async fn cluster() -> Option<Backend> {
        let url = amqp_url();
        let reachable = tokio::time::timeout(
            Duration::from_secs(5),
            lapin::Connection::connect(&url, lapin::ConnectionProperties::default()),
        )
        .await;
        match reachable {
            Ok(Ok(conn)) => {
                let _ = conn.close(200, "probe".into()).await;
                Some(Backend::Cluster)
            }
            _ => {
                let why = format!(
                    "RabbitMQ is not reachable at {url}; start it with `rabbitmq-server -detached`"
                );
                assert!(!in_ci(), "{why}");
                eprintln!("skipping cluster test: {why}");
                None
            }
        }
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one cluster test app owns.
pub struct ClusterEnv {
    pub db: TempDatabase,
    pub amqp: String,
    pub prefix: String,
    /// The API's fixed port: workers build links from `public_url`.
    /// Another process may take it between choosing and binding it, so
    /// the launcher may choose again.
    api_port: AtomicU16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl ClusterEnv {
    pub async fn create() -> Self {
        let db = TempDatabase::create()
            .await
            .expect("PostgreSQL is not reachable (start it with pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
        Self {
            prefix: format!("tocsin-test-{}", random_hex()),
            db,
            amqp: amqp_url(),
            api_port: AtomicU16::new(free_port()),
        }
    }

    pub fn api_port(&self) -> u16 {
        self.api_port.load(Ordering::SeqCst)
    }

    /// Chooses another port for the API, after the last one was taken.
    pub fn choose_another_port(&self) {
        self.api_port.store(free_port(), Ordering::SeqCst);
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("TOCSIN_DATABASE".into(), self.db.url()),
            ("TOCSIN_QUEUE".into(), self.amqp.clone()),
            ("TOCSIN_AMQP__PREFIX".into(), self.prefix.clone()),
            // The cluster mode needs the journal key configured.
            ("TOCSIN_JOURNAL__KEY".into(), "c1".repeat(32)),
            (
                "TOCSIN_PUBLIC_URL".into(),
                format!("http://127.0.0.1:{}", self.api_port()),
            ),
        ]
    }
}

impl Drop for ClusterEnv {
    fn drop(&mut self) {
        let (url, prefix) = (self.amqp.clone(), self.prefix.clone());
        // Drop cannot await; a short-lived runtime on its own thread can.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(tocsin::queue::amqp::delete_topology(&url, &prefix));
            }
        })
        .join();
    }
}

/// Runs each named `async fn name(backend: Backend)` as two tests,
/// `embedded::name` and `cluster::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Backend::Embedded).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = $crate::support::Backend::cluster().await {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}
