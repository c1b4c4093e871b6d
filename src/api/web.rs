//! The pages served from the binary: the resident page (`/`,
//! `web/public/`) and the operator console (`/console`, `web/console/`),
//! with their scripts and the vendored map library under `/assets/`, so
//! `tocsin serve` needs no other server and no CDN.
//!
//! Every answer carries a Content-Security-Policy that allows scripts,
//! styles and requests to this origin only: even if some text slipped
//! into the page as markup, it could not run or send data elsewhere.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::AppState;

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const PNG: &str = "image/png";
const SVG: &str = "image/svg+xml";

/// Path under `/assets/`, content type, bytes. Leaflet and
/// Leaflet.draw are vendored unchanged (`web/vendor/README.md`).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "console.js",
        JS,
        include_bytes!("../../web/console/console.js"),
    ),
    (
        "accounts.js",
        JS,
        include_bytes!("../../web/console/accounts.js"),
    ),
    (
        "alerts.js",
        JS,
        include_bytes!("../../web/console/alerts.js"),
    ),
    (
        "draw-text.js",
        JS,
        include_bytes!("../../web/console/draw-text.js"),
    ),
    (
        "console.css",
        CSS,
        include_bytes!("../../web/console/console.css"),
    ),
    (
        "resident.js",
        JS,
        include_bytes!("../../web/public/resident.js"),
    ),
    (
        "resident.css",
        CSS,
        include_bytes!("../../web/public/resident.css"),
    ),
    (
        "vendor/leaflet/leaflet.js",
        JS,
        include_bytes!("../../web/vendor/leaflet/leaflet.js"),
    ),
    (
        "vendor/leaflet/leaflet.css",
        CSS,
        include_bytes!("../../web/vendor/leaflet/leaflet.css"),
    ),
    (
        "vendor/leaflet/images/layers.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet/images/layers.png"),
    ),
    (
        "vendor/leaflet/images/layers-2x.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "vendor/leaflet/images/marker-icon-2x.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "vendor/leaflet/images/marker-shadow.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet/images/marker-shadow.png"),
    ),
    (
        "vendor/leaflet-draw/leaflet.draw.js",
        JS,
        include_bytes!("../../web/vendor/leaflet-draw/leaflet.draw.js"),
    ),
    (
        "vendor/leaflet-draw/leaflet.draw.css",
        CSS,
        include_bytes!("../../web/vendor/leaflet-draw/leaflet.draw.css"),
    ),
    (
        "vendor/leaflet-draw/images/spritesheet.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet-draw/images/spritesheet.png"),
    ),
    (
        "vendor/leaflet-draw/images/spritesheet-2x.png",
        PNG,
        include_bytes!("../../web/vendor/leaflet-draw/images/spritesheet-2x.png"),
    ),
    (
        "vendor/leaflet-draw/images/spritesheet.svg",
        SVG,
        include_bytes!("../../web/vendor/leaflet-draw/images/spritesheet.svg"),
    ),
];

const CONSOLE: &[u8] = include_bytes!("../../web/console/index.html");
const RESIDENT: &[u8] = include_bytes!("../../web/public/index.html");

/// Scripts, styles and requests from this origin only; images also from
/// the configured tile server.
fn policy(state: &AppState) -> String {
    let tiles = state.config.city.tile_origin().unwrap_or_default();
    format!(
        "default-src 'self'; img-src 'self' data: {tiles}; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn page(state: &AppState, content_type: &str, body: &'static [u8]) -> Response {
    let policy = policy(state);
    let headers: [(HeaderName, &str); 6] = [
        (CONTENT_TYPE, content_type),
        // Small files that change with each release: always revalidate.
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, &policy),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "same-origin"),
    ];
    (headers, body).into_response()
}

/// `GET /console`: the single page; the script draws the rest.
pub async fn console(State(state): State<AppState>) -> Response {
    page(&state, "text/html; charset=utf-8", CONSOLE)
}

/// `GET /`: the resident page.
pub async fn resident(State(state): State<AppState>) -> Response {
    page(&state, "text/html; charset=utf-8", RESIDENT)
}

/// `GET /config.json`: what the scripts need from the configuration
/// (map tiles; none means outlines only).
pub async fn config(State(state): State<AppState>) -> Json<Value> {
    let city = &state.config.city;
    Json(json!({"tile_url": city.tile_url, "tile_attribution": city.tile_attribution}))
}

/// `GET /console/` and other spellings: one canonical address.
pub async fn to_index() -> Redirect {
    Redirect::permanent("/console")
}

/// `GET /assets/{*path}`: only the files listed above, so no
/// path can reach anything else.
pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => page(&state, content_type, body),
        None => (StatusCode::NOT_FOUND, "no such console file").into_response(),
    }
}
