//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do its job: the database and the queue answer.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.ping().await;
    let queue = state.dispatcher.queue().ready().await;
    let ok = store.is_ok() && queue;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "queue": if queue { "ok" } else { "unreachable" },
        "residents_indexed": state.directory.len(),
        "simulated_channels": state.channels.simulated(),
    });
    (status, Json(body))
}
