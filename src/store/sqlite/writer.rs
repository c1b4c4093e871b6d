//! The one write connection, held directly instead of in a pool, and the
//! outcome log it folds.
//!
//! SQLite allows one writer at a time, so writes queue on a mutex here
//! rather than on SQLite's lock, and a transaction never fails with
//! SQLITE_BUSY halfway. A one-connection sqlx pool did the same, but it
//! pings a connection when handing it out and again, in a spawned task,
//! when it comes back: two extra round trips to SQLite's thread per
//! statement, about 6 % of the service's CPU during a fan-out.
//!
//! Whoever takes the connection first folds the outcomes logged so far
//! (see [`super::outcome_log`]), so every write and every read through
//! [`Writer::settle`] sees them. A timer folds them when nobody writes.
//!
//! The mutex is not re-entrant: a method holding the guard must drop it
//! before calling another store method that writes or reads through the
//! writer (the read-backs after a commit do), or it waits for itself.
//!
//! A transaction dropped unfinished (a cancelled request) queues its
//! rollback on the connection before the lock is released, and SQLite's
//! thread runs commands in order, so the next holder starts clean. A
//! fold cancelled that way is applied again by the next holder.

use sqlx::SqliteConnection;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

use super::outcome_log::OutcomeLog;
use crate::store::{Outcome, StoreResult};

/// How long a logged outcome waits at most for a fold when nothing else
/// takes the connection.
const FOLD_EVERY: Duration = Duration::from_millis(50);
/// Lines waiting to be folded at which appending waits for a fold: a
/// bound on memory should folds keep failing.
const MAX_PENDING: usize = 200_000;

#[derive(Debug, Clone)]
pub(super) struct Writer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    conn: Mutex<SqliteConnection>,
    log: Option<OutcomeLog>,
}

impl Writer {
    /// Wraps the connection; with a log, starts the timer that folds it.
    pub(super) fn new(conn: SqliteConnection, log: Option<OutcomeLog>) -> Self {
        let timed = log.is_some();
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            log,
        });
        if timed {
            tokio::spawn(fold_now_and_then(Arc::downgrade(&shared)));
        }
        Self { shared }
    }

    /// Waits for the connection (writers are served in arrival order) and
    /// folds the logged outcomes into it.
    pub(super) async fn lock(&self) -> StoreResult<MutexGuard<'_, SqliteConnection>> {
        let mut conn = self.shared.conn.lock().await;
        if let Some(log) = &self.shared.log
            && let Some(batch) = log.batch()
        {
            batch.apply(&mut conn).await?;
            log.folded(batch.last());
        }
        Ok(conn)
    }

    /// Returns once every outcome logged so far is in `deliveries`.
    pub(super) async fn settle(&self) -> StoreResult<()> {
        if self
            .shared
            .log
            .as_ref()
            .is_some_and(OutcomeLog::has_pending)
        {
            drop(self.lock().await?);
        }
        Ok(())
    }

    /// Logs the outcomes if this process owns the log; `false` if it does
    /// not and they must be written directly.
    pub(super) async fn log_outcomes(&self, outcomes: &[Outcome]) -> StoreResult<bool> {
        let Some(log) = &self.shared.log else {
            return Ok(false);
        };
        if log.append(outcomes)? >= MAX_PENDING {
            self.settle().await?;
        }
        Ok(true)
    }
}

async fn fold_now_and_then(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(FOLD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = (Writer { shared }).settle().await {
            tracing::error!(error = %e, "folding logged delivery outcomes failed; retrying");
        }
    }
}
