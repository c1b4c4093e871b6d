//! `PUT /api/v1/testing/clock`: moves the policy clock of a test
//! installation (`[testing] adjustable_clock = true`; the route does not
//! exist otherwise). Admin only, and logged, because a moved clock
//! releases held messages early.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use crate::clock::Clock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockIn {
    now: DateTime<FixedOffset>,
}

pub async fn set_clock(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClockIn>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let Some(clock) = &state.test_clock else {
        return Err(ApiError::NotFound("route not found".into()));
    };
    let now = body.now.with_timezone(&Utc);
    clock.set(now);
    tracing::warn!(%now, "policy clock moved");
    let detail = json!({ "now": now });
    super::journal::record(
        &state,
        "admin".to_owned(),
        "clock.moved",
        "clock".to_owned(),
        detail,
    )
    .await;
    Ok(Json(json!({ "now": clock.now() })))
}
