//! The simulated providers' outbox, on `serve` and on `worker`.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use tocsin_channels::ChannelKind;

use super::error::ApiError;
use super::extract::{Caller, Services};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    channel: Option<String>,
    notice: Option<i64>,
    limit: Option<usize>,
}

/// What the simulated providers "sent" (newest last). Contains addresses
/// and message text, so it is for admins. In the cluster mode each worker
/// process keeps its own outbox and serves it on its own port.
pub async fn outbox<S: Services>(
    State(state): State<S>,
    caller: Caller,
    Query(q): Query<OutboxQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let channel = q
        .channel
        .map(|c| c.parse::<ChannelKind>())
        .transpose()
        .map_err(|e| ApiError::invalid("channel", e))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let messages = state.channels().outbox().entries(channel, q.notice, limit);
    Ok(Json(json!({
        "simulated": true,
        "simulated_channels": state.channels().simulated(),
        "messages": messages,
    })))
}
