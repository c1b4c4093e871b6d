//! Scheduled warning-system checks (`[[alerts.checks]]`): at each run of a
//! check's cron schedule (city time, DST-safe, see `domain/schedule.rs`)
//! a Test alert goes to the test audience on every channel; its result is
//! the alert's drill report. A run that passed while the service was down
//! (or stuck) is recorded as missed, never silently skipped and never
//! fired late as if on time.

use chrono::{DateTime, Duration as TimeDelta, Utc};

use super::{Job, run_due};
use crate::api::AppState;
use crate::api::alerts::json::{AlertIn, AreaIn, to_cap};
use crate::api::alerts::send::{Options, submit};
use crate::config::CHECK;
use crate::domain::check::CheckSpec;
use crate::store::{CheckRun, Operator, StoreError};

/// A check more than this late is missed: a siren test at 08:20 instead
/// of 08:00 would mislead whoever reads the journal.
const GRACE: TimeDelta = TimeDelta::seconds(60);

pub(super) async fn tick(
    state: &AppState,
    check: &CheckSpec,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let job = Job {
        name: &check.name,
        cron: &check.cron,
        grace: GRACE,
        missed_action: "check.missed",
    };
    run_due(state, &job, now, |run| fire(state, check, run)).await
}

/// Sends the check's Test alert to its audience.
async fn fire(
    state: &AppState,
    check: &CheckSpec,
    mut run: CheckRun,
) -> Result<CheckRun, StoreError> {
    let template = check.template.clone().unwrap_or_else(|| CHECK.to_owned());
    let body = AlertIn {
        status: "Test".to_owned(),
        msg_type: "Alert".to_owned(),
        scope: "Public".to_owned(),
        restriction: None,
        addresses: None,
        note: Some(format!(
            "Scheduled check \"{}\" due {}",
            check.name, run.due_at
        )),
        references: None,
        template: Some(template.clone()),
        infos: vec![],
        areas: vec![AreaIn {
            area_desc: check.name.clone(),
            polygons: vec![],
            circles: vec![check.circle.clone()],
            zones: vec![],
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
        Ok(cap) => submit(state, &Operator::scheduler(), cap, opts).await,
        Err(e) => Err(e),
    };
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
    Ok(run)
}
