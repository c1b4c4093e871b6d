//! Scheduled warning-system checks over the API: `GET /api/v1/checks`
//! (each check, its next run and recent runs, a sent run with its Test
//! alert's result per channel), `POST /api/v1/checks` and
//! `DELETE /api/v1/checks/{name}` for checks not in `tocsin.toml`. Both
//! changes are journaled.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::alerts::report::summarise;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use super::journal::{actor, record};
use crate::config::CHECK;
use crate::domain::auth::{Principal, Role};
use crate::domain::check::CheckSpec;

const RUNS: u32 = 20;

fn may_manage(p: &Principal) -> Result<(), ApiError> {
    match p.role {
        Role::Admin | Role::CivilProtection => Ok(()),
        Role::Executor => Err(ApiError::Forbidden(
            "checks are for civil-protection operators and admins".to_owned(),
        )),
    }
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    may_manage(&caller.0)?;
    let defined = state.store.defined_checks().await?;
    let configured = state.config.alerts.checks.iter().map(|c| (c, "config"));
    let mut out = Vec::new();
    for (check, source) in configured.chain(defined.iter().map(|c| (c, "api"))) {
        out.push(describe(&state, check, source).await?);
    }
    Ok(Json(json!({ "checks": out })))
}

async fn describe(state: &AppState, check: &CheckSpec, source: &str) -> Result<Value, ApiError> {
    let tz = state.config.timezone();
    let schedule = check
        .validate(tz)
        .map_err(|e| ApiError::internal(e.message))?;
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
    Ok(json!({
        "name": check.name,
        "cron": check.cron,
        "timezone": tz.name(),
        "audience": check.audience.as_ref().or(state.config.alerts.test_audience.as_ref()),
        "source": source,
        "next_run": schedule.next_after(state.clock.now()),
        "runs": runs,
    }))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<CheckSpec>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    may_manage(&caller.0)?;
    spec.validate(state.config.timezone())
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let template = spec.template.as_deref().unwrap_or(CHECK);
    if state.config.alerts.template(template).is_none() {
        return Err(ApiError::invalid(
            "template",
            format!("no template named \"{template}\""),
        ));
    }
    let audience = spec
        .audience
        .as_ref()
        .or(state.config.alerts.test_audience.as_ref())
        .ok_or_else(|| {
            ApiError::invalid("audience", "a check goes to a test audience: name one")
        })?;
    if state.store.audience_members(audience).await?.is_none() {
        return Err(ApiError::invalid(
            "audience",
            format!("no audience named \"{audience}\""),
        ));
    }
    if state
        .config
        .alerts
        .checks
        .iter()
        .any(|c| c.name == spec.name)
    {
        return Err(ApiError::Conflict(format!(
            "a check named \"{}\" is defined in tocsin.toml",
            spec.name
        )));
    }
    let who = actor(&caller.0);
    state.store.define_check(&spec, &who).await?;
    record(
        &state,
        who,
        "check.created",
        format!("check/{}", spec.name),
        json!(spec),
    )
    .await;
    let described = describe(&state, &spec, "api").await?;
    Ok((StatusCode::CREATED, Json(described)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    may_manage(&caller.0)?;
    if state.config.alerts.checks.iter().any(|c| c.name == name) {
        return Err(ApiError::Conflict(format!(
            "the check \"{name}\" is defined in tocsin.toml; remove it there"
        )));
    }
    if !state.store.undefine_check(&name).await? {
        return Err(ApiError::NotFound(format!("no check named \"{name}\"")));
    }
    record(
        &state,
        actor(&caller.0),
        "check.deleted",
        format!("check/{name}"),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
