//! HTTP API (axum). Handlers parse input into domain types, check who may
//! do what, and call the planner, store and dispatcher; no SQL here.

pub(crate) mod alerts;
mod checks;
pub mod counts;
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
mod subscribe;
mod testing;
mod web;
mod webhooks;
mod zones;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::{get, post};
use std::sync::Arc;
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
        .route("/accounts", post(session::create_account))
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
        .route("/alerts/{id}/report", get(alerts::report))
        .route("/checks", get(checks::list).post(checks::create))
        .route("/checks/{name}", axum::routing::delete(checks::delete));
    // Absent (404) unless the installation is configured for tests.
    let api = if state.test_clock.is_some() {
        api.route("/testing/clock", axum::routing::put(testing::set_clock))
    } else {
        api
    };

    Router::new()
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
        .fallback(|| async { ApiError::NotFound("no such endpoint".to_owned()) })
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(span_for))
        .with_state(state)
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
