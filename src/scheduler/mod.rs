//! The scheduler: one loop in each `serve` process, every second on the
//! policy clock (movable in test installations), that runs
//! - the warning-system checks (`checks.rs`, `[[alerts.checks]]` and
//!   `POST /api/v1/checks`),
//! - the leadership digest (`digest.rs`, `[digest]`),
//! - reminders of planned works and the closing of expired notices
//!   (`reminders.rs`),
//! - the expiry of pending alerts nobody approved in time.
//!
//! Cron jobs share one rule (`run_due`): every run of the schedule since
//! the last look is either done now or, when it is too late, recorded as
//! missed and journaled; nothing is skipped silently. Runs are claimed in
//! `check_runs` first, so several `serve` processes do each run once.

mod checks;
mod digest;
mod reminders;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::domain::actor;
use crate::domain::journal::NewJournalEntry;
use crate::domain::schedule::Schedule;
use crate::store::{CheckRun, StoreError};

/// Pending alerts nobody approved before their `expires` are expired (and
/// journaled), so the approver sees that they will not be sent.
async fn expire_pending_alerts(state: &AppState, now: DateTime<Utc>) {
    let expired = state
        .store
        .expire_pending_alerts(now, &crate::api::alerts::send::expired_action)
        .await;
    match expired {
        Ok(alerts) => {
            for a in alerts {
                tracing::warn!(alert = %a.id, headline = %a.headline, "pending alert expired unapproved");
            }
        }
        Err(e) => tracing::error!(error = %e, "expiring pending alerts failed; will retry"),
    }
}

/// The digest's row name in `checks`/`check_runs` (check names cannot
/// start with '@').
pub const DIGEST: &str = "@digest";
/// Runs looked at per job and tick (a month of three-a-day checks).
const CATCH_UP: usize = 1_000;

pub fn spawn(state: AppState, period: Duration, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.cancelled() => return,
            }
            // A panic costs this tick only; the next second tries again.
            crate::supervise::catch("scheduler", tick(&state)).await;
        }
    });
}

async fn tick(state: &AppState) {
    let now = state.clock.now();
    let defined = state.store.defined_checks().await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "reading the checks defined over the API failed");
        Vec::new()
    });
    for check in state.config.alerts.checks.iter().chain(&defined) {
        if let Err(e) = checks::tick(state, check, now).await {
            tracing::error!(check = %check.name, error = %e, "scheduled check failed; will retry");
        }
    }
    if let Err(e) = digest::tick(state, now).await {
        tracing::error!(error = %e, "the daily digest failed; will retry");
    }
    if let Err(e) = reminders::tick(state, now).await {
        tracing::error!(error = %e, "reminders or notice expiry failed; will retry");
    }
    expire_pending_alerts(state, now).await;
}

/// One cron job's identity and lateness rule.
struct Job<'a> {
    name: &'a str,
    cron: &'a str,
    /// How late a run may still be done; later, it is recorded as missed.
    grace: TimeDelta,
    /// Journal action of a missed run, e.g. `check.missed`.
    missed_action: &'static str,
}

/// Does (`fire`) or records as missed every run of the job due up to
/// `now`. `fire` gets the claimed run to fill in (state, alert, detail).
async fn run_due<F, Fut>(
    state: &AppState,
    job: &Job<'_>,
    now: DateTime<Utc>,
    mut fire: F,
) -> Result<(), StoreError>
where
    F: FnMut(CheckRun) -> Fut,
    Fut: Future<Output = Result<CheckRun, StoreError>>,
{
    let schedule = Schedule::parse(job.cron, state.config.timezone())
        .expect("checked when the configuration was loaded");
    let since = state.store.check_since(job.name, job.cron, now).await?;
    let runs = schedule.runs_between(since, now, CATCH_UP);
    for &due in &runs {
        let mut run = CheckRun {
            name: job.name.to_owned(),
            due_at: due,
            state: "sent".to_owned(),
            alert: None,
            detail: None,
            recorded_at: now,
            overwrite: false,
        };
        if now - due > job.grace {
            run.state = "missed".to_owned();
            run.detail = Some("the service was not running (or was stuck) at that time".into());
            if state.store.record_check_run(&run).await? {
                missed(state, job, due).await?;
            }
        } else if state.store.record_check_run(&run).await? {
            // Claimed: this process does the run and records the outcome.
            let mut done = fire(run).await?;
            done.overwrite = true;
            state.store.record_check_run(&done).await?;
        }
    }
    let upto = if runs.len() == CATCH_UP {
        runs.last().copied().unwrap_or(now)
    } else {
        now
    };
    state.store.advance_check(job.name, upto).await
}

async fn missed(state: &AppState, job: &Job<'_>, due: DateTime<Utc>) -> Result<(), StoreError> {
    tracing::warn!(job = job.name, due = %due, "a scheduled run was missed");
    state
        .store
        .append_journal(&NewJournalEntry {
            actor: actor::SCHEDULER.to_owned(),
            action: job.missed_action.to_owned(),
            subject: format!("schedule/{}", job.name),
            detail: json!({"due_at": due}),
        })
        .await
        .map(|_| ())
}
