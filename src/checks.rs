//! Scheduled warning-system checks (`[[alerts.checks]]`): at each run of a
//! check's cron schedule (city time, DST-safe, see `domain/schedule.rs`)
//! a Test alert goes to the test audience on every channel; its result is
//! the alert's drill report. A run that passed while the service was down
//! (or stuck) is recorded as missed, never silently skipped and never
//! fired late as if on time.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::api::alerts::json::{AlertIn, AreaIn, to_cap};
use crate::api::alerts::send::{Options, submit};
use crate::clock::Clock;
use crate::config::{CHECK, CheckConfig};
use crate::domain::journal::NewJournalEntry;
use crate::domain::schedule::Schedule;
use crate::store::{CheckRun, Operator};

/// How late a run may still fire; later, it counts as missed.
const GRACE: TimeDelta = TimeDelta::seconds(60);
/// Runs looked at per check and tick (a month of three-a-day checks).
const CATCH_UP: usize = 1_000;

/// Who the journal names for scheduled alerts (token 0 is never a row).
fn scheduler() -> Operator {
    Operator {
        token: 0,
        name: "scheduler".to_owned(),
    }
}

pub fn spawn(state: AppState, clock: Arc<dyn Clock>, period: Duration, stop: CancellationToken) {
    if state.config.alerts.checks.is_empty() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.cancelled() => return,
            }
            let now = clock.now();
            for check in &state.config.alerts.checks {
                if let Err(e) = tick(&state, check, now).await {
                    tracing::error!(check = %check.name, error = %e, "scheduled check failed; will retry");
                }
            }
        }
    });
}

/// Fires or records every run of one check up to `now`.
async fn tick(
    state: &AppState,
    check: &CheckConfig,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let schedule = Schedule::parse(&check.cron, state.config.timezone())
        .expect("checked when the configuration was loaded");
    let since = state
        .store
        .check_since(&check.name, &check.cron, now)
        .await?;
    let runs = schedule.runs_between(since, now, CATCH_UP);
    for &due in &runs {
        if now - due > GRACE {
            missed(state, check, due, now).await?;
        } else {
            fire(state, check, due, now).await?;
        }
    }
    let upto = if runs.len() == CATCH_UP {
        runs.last().copied().unwrap_or(now)
    } else {
        now
    };
    state.store.advance_check(&check.name, upto).await
}

async fn missed(
    state: &AppState,
    check: &CheckConfig,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let run = CheckRun {
        name: check.name.clone(),
        due_at: due,
        state: "missed".to_owned(),
        alert: None,
        detail: Some("the service was not running (or was stuck) at the scheduled time".into()),
        recorded_at: now,
        overwrite: false,
    };
    if state.store.record_check_run(&run).await? {
        tracing::warn!(check = %check.name, due = %due, "scheduled check was missed");
        state
            .store
            .append_journal(&NewJournalEntry {
                actor: "scheduler".to_owned(),
                action: "check.missed".to_owned(),
                subject: format!("check/{}", check.name),
                detail: json!({"due_at": due}),
            })
            .await?;
    }
    Ok(())
}

async fn fire(
    state: &AppState,
    check: &CheckConfig,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), crate::store::StoreError> {
    let mut run = CheckRun {
        name: check.name.clone(),
        due_at: due,
        state: "sent".to_owned(),
        alert: None,
        detail: None,
        recorded_at: now,
        overwrite: false,
    };
    // Claimed first: with several `serve` processes only one fires it.
    if !state.store.record_check_run(&run).await? {
        return Ok(());
    }
    let template = check.template.clone().unwrap_or_else(|| CHECK.to_owned());
    let body = AlertIn {
        status: "Test".to_owned(),
        msg_type: "Alert".to_owned(),
        scope: "Public".to_owned(),
        restriction: None,
        addresses: None,
        note: Some(format!("Scheduled check \"{}\" due {due}", check.name)),
        references: None,
        template: Some(template.clone()),
        infos: vec![],
        areas: vec![AreaIn {
            area_desc: check.name.clone(),
            polygons: vec![],
            circles: vec![check.circle.clone()],
        }],
        expires: None,
        audience: check.audience.clone(),
        widen: false,
    };
    let opts = Options {
        audience: check.audience.clone(),
        widen: false,
        template: Some(template),
    };
    let sent = match to_cap(&body, &state.config, None) {
        Ok(cap) => submit(state, &scheduler(), cap, opts).await,
        Err(e) => Err(e),
    };
    run.overwrite = true;
    match sent {
        Ok((_, alert)) => {
            tracing::info!(check = %check.name, alert = %alert.id, "scheduled check sent");
            run.alert = Some(alert.id);
        }
        Err(e) => {
            tracing::error!(check = %check.name, error = %e, "scheduled check could not be sent");
            run.state = "failed".to_owned();
            run.detail = Some(e.to_string());
        }
    }
    state.store.record_check_run(&run).await?;
    Ok(())
}
