//! A throw-away PostgreSQL database for tests. Public (and `doc(hidden)`)
//! because integration tests link the library without `cfg(test)`.

use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;

use crate::domain::auth::random_bytes;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A uniquely named database (`tocsin_test_<hex>`) created through the
/// admin URL in `TOCSIN_TEST_POSTGRES` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`). It is dropped by
/// `drop_database`, or by `Drop` (also when the test panics), with
/// `WITH (FORCE)` so pools that are still open do not keep it alive.
#[doc(hidden)]
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    dropped: bool,
}

impl TempDatabase {
    /// `None` (with the reason on stderr) when the server is unreachable,
    /// so a developer without PostgreSQL can still run the suite; with
    /// `CI=true` it panics instead, so CI cannot silently skip.
    pub async fn create() -> Option<TempDatabase> {
        let admin_url =
            std::env::var("TOCSIN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let mut conn = match connect(&admin_url).await {
            Ok(conn) => conn,
            Err(reason) => return unreachable(&admin_url, &reason),
        };
        let name = format!(
            "tocsin_test_{}",
            random_bytes(8)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let _ = conn.close().await;
        Some(TempDatabase {
            admin_url,
            name,
            dropped: false,
        })
    }

    /// The URL of the temporary database (the admin URL with its database
    /// name replaced).
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now; `Drop` only retries if this failed.
    pub async fn drop_database(mut self) {
        match drop_database(&self.admin_url, &self.name).await {
            Ok(()) => self.dropped = true,
            Err(e) => eprintln!("dropping test database {}: {e}", self.name),
        }
    }
}

impl Drop for TempDatabase {
    /// `Drop` cannot await and may run inside (or while unwinding out of) a
    /// tokio runtime, where blocking on that runtime panics. A plain thread
    /// with its own small runtime does the work, and we wait for it so the
    /// database is gone before the test returns.
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let worker = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(drop_database(&admin_url, &name))
        });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test database {}: {e}", self.name),
            Err(_) => eprintln!("dropping test database {}: thread panicked", self.name),
        }
    }
}

async fn connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

async fn drop_database(admin_url: &str, name: &str) -> Result<(), String> {
    let mut conn = connect(admin_url).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(())
}

fn unreachable(admin_url: &str, reason: &str) -> Option<TempDatabase> {
    let message = format!(
        "PostgreSQL not reachable at {} ({reason}); start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
         or point TOCSIN_TEST_POSTGRES at a server",
        redact(admin_url)
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipping PostgreSQL test: {message}");
    None
}

/// `scheme://authority/<database>?query` with the database replaced.
fn with_database(url: &str, database: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let (base, query) = match url.find('?') {
        Some(q) => url.split_at(q),
        None => (url, ""),
    };
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{database}{query}", &base[..authority_end])
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[after_scheme..].find('@').map(|i| after_scheme + i) else {
        return url.to_owned();
    };
    match url[after_scheme..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..after_scheme + colon], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_and_hides_the_password() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t1"),
            "postgresql://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
