//! PostgreSQL's own floor for tracking a delivery: what its server spends,
//! at the least, on a row as wide as Tocsin's `deliveries` row that is
//! inserted once, claimed once and given its outcome once, with none of
//! Tocsin's extra indexes, reads or state changes, in large batches over
//! one connection. Set beside the cluster's PostgreSQL CPU per delivery
//! from `fanout` (the `cpu` table), it says how much of that cost the
//! schema and the statements add, and how far a leaner design could go.
//!
//! The statements are sent from this process one by one (one commit
//! each), as a service would send them, so the per-statement protocol and
//! commit costs are inside the figures.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use tocsin::store::postgres::TempDatabase;

use crate::cpu::{Mark, Spent, process_seconds};

#[derive(Debug, Clone, Copy)]
pub struct FloorPlan {
    pub rows: usize,
    pub claim_batch: usize,
    pub outcome_batch: usize,
}

/// One step of the life of the rows, measured over all of them.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub statements: usize,
    /// CPU of the connection's own server process.
    pub backend_s: f64,
    /// All of PostgreSQL's processes (the backend, WAL writer,
    /// checkpointer, autovacuum).
    pub spent: Spent,
}

#[derive(Debug, Clone)]
pub struct FloorRun {
    pub steps: Vec<Step>,
    /// Updates that PostgreSQL made in place (HOT), of all updates.
    pub hot_updates: (i64, i64),
}

/// The table: Tocsin's `deliveries` columns that a sent message fills,
/// with the two indexes any design needs (the id, and one message per
/// contact per event) and Tocsin's fill factor.
const TABLE: &str = "CREATE TABLE d (
    id BIGINT PRIMARY KEY, notice_id BIGINT NOT NULL, event_id BIGINT NOT NULL,
    resident_id BIGINT, contact_id BIGINT, channel TEXT NOT NULL, address TEXT NOT NULL,
    language TEXT NOT NULL, lane SMALLINT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, provider_id TEXT, error TEXT,
    created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, sent_at BIGINT,
    UNIQUE (event_id, contact_id)
) WITH (fillfactor = 60)";

/// A device token as long as an FCM registration token (~160 bytes).
const INSERT: &str = "INSERT INTO d (id, notice_id, event_id, resident_id, contact_id, channel,
        address, language, lane, state, created_at, updated_at)
    SELECT g, 1, 1, g, g, 'fcm', repeat(md5(g::text), 5), 'uk', 2, 'queued', 0, 0
    FROM generate_series(1, $1) g";
const CLAIM: &str = "UPDATE d SET state = 'sending', attempts = attempts + 1, updated_at = 1
    WHERE id > $1 AND id <= $2 AND state IN ('pending', 'queued', 'sending')";
const OUTCOME: &str = "UPDATE d SET state = 'sent', provider_id = 'projects/p/messages/' || id,
        sent_at = 2, updated_at = 2
    WHERE id > $1 AND id <= $2 AND state = 'sending'";

pub async fn run(plan: FloorPlan) -> anyhow::Result<FloorRun> {
    let db = TempDatabase::create()
        .await
        .context("the floor needs PostgreSQL on 127.0.0.1:5432 (or TOCSIN_TEST_POSTGRES)")?;
    let result = measure(&db.url(), plan).await;
    db.drop_database().await;
    result
}

async fn measure(url: &str, plan: FloorPlan) -> anyhow::Result<FloorRun> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute(TABLE).await?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await?;
    let backend = backend as u32;
    let rows = plan.rows as i64;
    let mut steps = Vec::new();

    let (mark, cpu) = (Mark::now(&[]), backend_seconds(backend));
    sqlx::query(INSERT).bind(rows).execute(&mut conn).await?;
    steps.push(step("insert, one statement", 1, backend, cpu, &mark, rows));

    for (name, sql, size) in [
        ("claim", CLAIM, plan.claim_batch),
        ("outcome", OUTCOME, plan.outcome_batch),
    ] {
        let size = size.max(1) as i64;
        let (mark, cpu) = (Mark::now(&[]), backend_seconds(backend));
        let mut statements = 0;
        let mut low = 0;
        while low < rows {
            let done = sqlx::query(sql)
                .bind(low)
                .bind(low + size)
                .execute(&mut conn)
                .await?;
            anyhow::ensure!(done.rows_affected() > 0, "{name} found no rows after {low}");
            low += size;
            statements += 1;
        }
        let name = format!("{name}, batches of {size}");
        steps.push(step(&name, statements, backend, cpu, &mark, rows));
    }
    // A backend hands its table counters to the shared statistics only
    // now and then; ask for it at the end of the next transaction.
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut conn)
        .await?;
    let hot_updates: (i64, i64) = sqlx::query_as(
        "SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'd'",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(FloorRun { steps, hot_updates })
}

fn step(name: &str, statements: usize, backend: u32, was: f64, mark: &Mark, rows: i64) -> Step {
    Step {
        name: name.to_owned(),
        statements,
        backend_s: backend_seconds(backend) - was,
        spent: mark.spent(&[], rows as u64),
    }
}

fn backend_seconds(pid: u32) -> f64 {
    process_seconds(&pid.to_string())
}

impl FloorRun {
    /// PostgreSQL's CPU per row over every step, µs.
    pub fn postgres_per_row_us(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| s.spent.per_unit_us(s.spent.used.postgres))
            .sum()
    }

    /// Wall time per row over every step, µs.
    pub fn wall_per_row_us(&self) -> f64 {
        self.steps
            .iter()
            .map(|s| s.spent.per_unit_us(s.spent.wall_s))
            .sum()
    }
}
