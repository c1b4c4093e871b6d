//! Liveness, readiness and metrics, for `serve` and for `worker`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::app::Core;
use crate::queue::Queue;
use crate::store::Store;

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Whether the database and the queue answer; 503 when either is gone, so
/// a load balancer or Kubernetes stops sending traffic.
async fn readiness(
    store: &dyn Store,
    queue: &dyn Queue,
    extra: Value,
) -> (StatusCode, Json<Value>) {
    let store = store.ping().await;
    let queue = queue.ready().await;
    let ok = store.is_ok() && queue;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "queue": if queue { "ok" } else { "unreachable" },
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (status, Json(body))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let extra = json!({
        "residents_indexed": state.directory.len(),
        "simulated_channels": state.channels.simulated(),
    });
    readiness(
        state.store.as_ref(),
        state.dispatcher.queue().as_ref(),
        extra,
    )
    .await
}

pub async fn core_readyz(State(core): State<Core>) -> (StatusCode, Json<Value>) {
    let extra = json!({ "simulated_channels": core.channels.simulated() });
    readiness(core.store.as_ref(), core.dispatcher.queue().as_ref(), extra).await
}

fn exposition(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Prometheus text format. No personal data is in it, so like most
/// exporters it needs no token; restrict it at the network level.
pub async fn metrics(State(state): State<AppState>) -> Response {
    exposition(
        state
            .metrics
            .render(state.dispatcher.queue().as_ref())
            .await,
    )
}

pub async fn core_metrics(State(core): State<Core>) -> Response {
    exposition(core.metrics.render(core.dispatcher.queue().as_ref()).await)
}
