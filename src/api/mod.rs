//! HTTP API (axum). Handlers parse input into domain types, check who may
//! do what, and call the planner, store and dispatcher; no SQL here.

pub(crate) mod alerts;
mod checks;
pub mod counts;
mod enrolment;
mod error;
mod extract;
mod feeds;
pub mod health;
mod journal;
mod live;
mod notices;
mod optout;
mod organisations;
pub mod outbox;
mod preferences;
mod preview;
mod public;
mod residents;
mod session;
pub mod streams;
mod subscribe;
mod testing;
mod web;
mod webhooks;
mod zones;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::clock::{AdjustableClock, Clock};
use crate::config::Config;
use crate::directory::Directory;
use crate::dispatch::Dispatcher;
use crate::links::Links;
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::providers::ChannelSet;
use crate::render::Renderer;
use crate::store::Store;
pub use error::{ApiError, FieldError};
/// The JSON body parser and its nesting limit, for the fuzzer.
#[doc(hidden)]
pub use extract::{MAX_JSON_DEPTH, parse_json};
/// The NDJSON import's line parser, for the fuzzer (`crate::fuzzing`).
#[doc(hidden)]
pub use residents::parse_lines as parse_import_lines;

/// Everything a handler may use. Cheap to clone (all `Arc`s).
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub directory: Arc<Directory>,
    pub planner: Arc<Planner>,
    pub dispatcher: Arc<Dispatcher>,
    pub channels: Arc<ChannelSet>,
    pub links: Arc<Links>,
    pub renderer: Arc<Renderer>,
    pub metrics: Arc<Metrics>,
    /// Delivery counts shared by the console's live streams.
    pub counts: Arc<counts::SharedCounts>,
    /// The live streams open now, capped (`[limits] live_streams`).
    pub streams: Arc<streams::StreamSlots>,
    pub test_clock: Option<Arc<AdjustableClock>>,
    /// The policy clock (the test clock when there is one): schedules and
    /// the scheduler run on it.
    pub clock: Arc<dyn Clock>,
}

pub fn router(state: AppState) -> Router {
    let limits = &state.config.limits;
    let bulk = DefaultBodyLimit::max(limits.max_import_bytes);
    let api = Router::new()
        .route(
            "/organisations",
            post(organisations::create).get(organisations::list),
        )
        .route("/zones", post(zones::create).layer(bulk).get(zones::list))
        .route("/zones/{id}", get(zones::get).delete(zones::delete))
        .route("/residents", post(residents::create))
        .route("/residents/import", post(residents::import).layer(bulk))
        .route(
            "/residents/{id}",
            get(residents::get)
                .patch(preferences::patch)
                .delete(residents::delete),
        )
        .route("/notices", post(notices::create).get(notices::list))
        // A static segment: the router prefers it to `/notices/{id}`.
        .route("/notices/preview", post(preview::preview))
        .route("/notices/{id}", get(notices::get))
        .route("/notices/{id}/update", post(notices::update))
        .route("/notices/{id}/close", post(notices::close))
        .route("/notices/{id}/deliveries", get(notices::deliveries))
        .route("/notices/{id}/deliveries/summary", get(notices::summary))
        .route("/notices/{id}/progress", get(live::progress))
        .route("/notices/live", get(live::list))
        .route("/simulated/outbox", get(outbox::outbox::<AppState>))
        .route("/journal", get(journal::page))
        .route("/journal/head", get(journal::head))
        .route("/operators", post(alerts::create_operator))
        .route(
            "/accounts",
            post(session::create_account).get(enrolment::list),
        )
        .route("/accounts/{id}/enrolment", post(enrolment::reissue))
        // Public: the link's token is the only credential.
        .route("/enrolment", post(enrolment::enrol))
        .route("/public/notices", get(public::notices))
        .route("/public/zones", get(public::zones))
        .route("/public/subscriptions", post(subscribe::subscribe))
        .route("/public/subscriptions/{id}/verify", post(subscribe::verify))
        .route(
            "/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route(
            "/audiences",
            post(alerts::create_audience).get(alerts::list_audiences),
        )
        .route("/alerts", post(alerts::create).get(alerts::list))
        .route("/alerts/cap", post(alerts::create_cap))
        // `{id}` or `{id}.cap`: one segment, the handler reads the suffix.
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/approve", post(alerts::approve))
        .route("/alerts/{id}/cancel", post(alerts::cancel))
        .route("/alerts/{id}/all-clear", post(alerts::all_clear))
        .route("/alerts/{id}/update", post(alerts::update))
        .route("/alerts/{id}/report", get(alerts::report))
        .route("/checks", get(checks::list).post(checks::create))
        .route("/checks/{name}", axum::routing::delete(checks::delete));
    // Absent (404) unless the installation is configured for tests.
    let api = if state.test_clock.is_some() {
        api.route("/testing/clock", axum::routing::put(testing::set_clock))
    } else {
        api
    };

    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/feeds/alerts.atom", get(feeds::alerts_atom))
        .route("/feeds/alerts/{id}", get(feeds::alert_cap))
        .route("/feeds/zones/{id}", get(public::zone_calendar))
        .route("/ack/{token}", get(webhooks::ack_page).post(webhooks::ack))
        .route(
            "/unsubscribe/{token}",
            get(optout::unsubscribe_page).post(optout::unsubscribe),
        )
        .route("/webhooks/twilio/sms/inbound", post(optout::sms_inbound))
        .route("/webhooks/twilio/sms/{id}", post(webhooks::sms_status))
        .route("/webhooks/twilio/voice/{id}", post(webhooks::voice_status))
        .route(
            "/webhooks/twilio/voice/{id}/gather",
            post(webhooks::voice_gather),
        )
        .route(
            "/subscription/{token}",
            get(subscribe::manage_page).post(subscribe::manage_delete),
        )
        .route(
            "/subscription/{token}/preferences",
            post(subscribe::manage_update),
        )
        .route("/", get(web::resident))
        .route("/console", get(web::console))
        .route("/console/", get(web::to_index))
        .route("/config.json", get(web::config))
        .route("/assets/{*path}", get(web::asset))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::NotFound("no such endpoint".to_owned()) });
    let max_body_bytes = limits.max_body_bytes;
    with_safety_layers(routes.with_state(state), max_body_bytes)
}

/// What every route of the service gets: the body limit, a panic turned
/// into that request's 500 (the JSON error, the panic logged) instead of
/// a dropped connection, and the request span. Tests put their own routes
/// behind the same layers.
pub fn with_safety_layers(routes: Router, max_body_bytes: usize) -> Router {
    routes
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http().make_span_with(span_for))
}

fn panic_response(panic: Box<dyn std::any::Any + Send>) -> axum::response::Response {
    let message = crate::supervise::panic_message(panic.as_ref());
    ApiError::Internal(format!("the handler panicked: {message}")).into_response()
}

/// Logs the route pattern, never the concrete path: acknowledgement links
/// carry capability tokens that must not end up in logs.
fn span_for(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |p| p.as_str());
    tracing::info_span!("http", method = %req.method(), route = %route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn call(app: &Router, path: &str) -> (axum::http::StatusCode, serde_json::Value) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    async fn boom() -> &'static str {
        panic!("kaboom")
    }

    #[tokio::test]
    async fn a_panicking_handler_costs_its_request_a_json_500() {
        let routes = Router::new().route("/boom", get(boom)).route(
            "/fine",
            get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        );
        let app = with_safety_layers(routes, 1024);
        let (status, body) = call(&app, "/boom").await;
        assert_eq!(status, 500);
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "internal", "message": "internal error"}})
        );
        let (status, body) = call(&app, "/fine").await;
        assert_eq!((status.as_u16(), body["ok"].as_bool()), (200, Some(true)));
    }
}
