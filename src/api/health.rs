//! Liveness, readiness and metrics, for `serve` and for `worker`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::app::Core;
use crate::config::MetricsConfig;
use crate::domain::auth::Territory;
use crate::domain::{OrgId, ZoneId};
use crate::queue::Queue;
use crate::store::Store;

/// The process is up and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Whether the database and the queue answer; 503 when either is gone, so
/// a load balancer or Kubernetes stops sending traffic. `degraded` (stored
/// rows that do not read back) keeps 200: the rest of the service works,
/// and taking it out of the load balancer would stop that too.
async fn readiness(
    store: &dyn Store,
    queue: &dyn Queue,
    degraded: bool,
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
    let summary = match (ok, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let mut body = json!({
        "status": summary,
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "queue": if queue { "ok" } else { "unreachable" },
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (status, Json(body))
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let unreadable = unreadable_rows(state.store.as_ref()).await;
    let degraded = unreadable
        .as_ref()
        .is_some_and(|(zones, orgs)| !zones.is_empty() || !orgs.is_empty());
    let mut extra = json!({
        "residents_indexed": state.directory.len(),
        "simulated_channels": state.channels.simulated(),
    });
    if let Some((zones, orgs)) = unreadable {
        extra["unreadable_zones"] = json!(zones);
        extra["unreadable_territories"] = json!(orgs);
    }
    readiness(
        state.store.as_ref(),
        state.dispatcher.queue().as_ref(),
        degraded,
        extra,
    )
    .await
}

/// Zones and organisation territories whose stored rows do not read back
/// (they are skipped, or fail closed); `None` when the store does not
/// answer, which `readiness` reports on its own.
async fn unreadable_rows(store: &dyn Store) -> Option<(Vec<ZoneId>, Vec<OrgId>)> {
    let zones = store.list_zones().await.ok()?;
    let orgs = store.list_organisations().await.ok()?;
    Some((
        zones.unreadable.iter().map(|z| z.id).collect(),
        orgs.iter()
            .filter(|o| matches!(o.territory, Territory::Unreadable))
            .map(|o| o.id)
            .collect(),
    ))
}

pub async fn core_readyz(State(core): State<Core>) -> (StatusCode, Json<Value>) {
    let extra = json!({ "simulated_channels": core.channels.simulated() });
    readiness(
        core.store.as_ref(),
        core.dispatcher.queue().as_ref(),
        false,
        extra,
    )
    .await
}

fn exposition(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Prometheus text format. No personal data is in it, but it tells an
/// outsider how busy the city's alerting is and what it pays for; with
/// `[metrics] token` only a scraper that sends it may read it.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !scraper_allowed(&state.config.metrics, &headers) {
        return ApiError::Unauthorized.into_response();
    }
    exposition(
        state
            .metrics
            .render(state.dispatcher.queue().as_ref())
            .await,
    )
}

pub async fn core_metrics(State(core): State<Core>, headers: HeaderMap) -> Response {
    if !scraper_allowed(&core.config.metrics, &headers) {
        return ApiError::Unauthorized.into_response();
    }
    exposition(core.metrics.render(core.dispatcher.queue().as_ref()).await)
}

/// Whether the request carries the configured metrics token, compared in
/// constant time (digests of equal length); true when none is set.
fn scraper_allowed(config: &MetricsConfig, headers: &HeaderMap) -> bool {
    use sha2::{Digest, Sha256};
    let Some(token) = &config.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (Sha256::digest(given), Sha256::digest(token.expose()));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
