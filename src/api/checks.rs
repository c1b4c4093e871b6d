//! `GET /api/v1/checks`: each scheduled warning-system check with its next
//! run and its recent runs; a sent run carries its Test alert's result per
//! channel (sent, delivered, failed, time to first and last delivery).

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::alerts::report::summarise;
use super::error::ApiError;
use super::extract::Caller;
use crate::domain::auth::Role;
use crate::domain::schedule::Schedule;

const RUNS: u32 = 20;

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    if caller.0.role == Role::Executor {
        return Err(ApiError::Forbidden(
            "checks are for civil-protection operators and admins".to_owned(),
        ));
    }
    let tz = state.config.timezone();
    let mut out = Vec::new();
    for check in &state.config.alerts.checks {
        let schedule = Schedule::parse(&check.cron, tz).map_err(ApiError::internal)?;
        let mut runs = Vec::new();
        for run in state.store.check_runs(&check.name, RUNS).await? {
            let mut v = json!(run);
            if let Some(alert) = run.alert
                && let Some(a) = state.store.get_alert(alert).await?
                && let Some(event) = a.event_id
            {
                v["channels"] = json!(summarise(&state.store.event_timings(event).await?));
            }
            runs.push(v);
        }
        out.push(json!({
            "name": check.name,
            "cron": check.cron,
            "timezone": tz.name(),
            "next_run": schedule.next_after(Utc::now()),
            "runs": runs,
        }));
    }
    Ok(Json(json!({ "checks": out })))
}
