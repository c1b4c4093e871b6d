//! Zones: named polygons (city districts) from GeoJSON.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tocsin_zones::parse_zone_features;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller, IdPath};
use crate::domain::ZoneId;
use crate::store::{NewZone, Zone};

/// A Feature creates one zone (`{"id": …}`), a FeatureCollection many
/// (`{"ids": […]}`), all or nothing.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let features = parse_zone_features(&body, &state.config.limits.zones())
        .map_err(|e| ApiError::invalid(e.path.clone(), &e.error))?;
    let zones: Vec<NewZone> = features
        .into_iter()
        .map(|f| NewZone {
            name: f.name,
            region: f.region,
            properties: f.properties,
        })
        .collect();
    let ids = state.store.insert_zones(&zones).await?;
    tracing::info!(count = ids.len(), "zones created");
    let body = if body.get("type").and_then(Value::as_str) == Some("FeatureCollection") {
        json!({ "ids": ids })
    } else {
        json!({ "id": ids[0] })
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Serialize)]
pub struct ZoneSummary {
    id: ZoneId,
    name: String,
    vertices: usize,
    /// [min_lon, min_lat, max_lon, max_lat], as in GeoJSON.
    bbox: [f64; 4],
    created_at: DateTime<Utc>,
}

pub async fn list(State(state): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let zones: Vec<ZoneSummary> = state
        .store
        .list_zones()
        .await?
        .zones
        .into_iter()
        .map(|z| {
            let b = z.region.bbox();
            ZoneSummary {
                id: z.id,
                vertices: z.region.vertex_count(),
                bbox: [b.min_lon, b.min_lat, b.max_lon, b.max_lat],
                name: z.name,
                created_at: z.created_at,
            }
        })
        .collect();
    Ok(Json(json!({ "zones": zones })))
}

fn feature(z: Zone) -> Value {
    let mut properties = z.properties;
    properties.insert("name".to_owned(), Value::String(z.name));
    json!({
        "type": "Feature",
        "id": z.id,
        "properties": properties,
        "geometry": z.region.to_geojson(),
        "created_at": z.created_at,
    })
}

pub async fn get(
    State(state): State<AppState>,
    _caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Value>, ApiError> {
    let zone = state
        .store
        .get_zone(ZoneId(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("zone {id} not found")))?;
    Ok(Json(feature(zone)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    if state.store.delete_zone(ZoneId(id)).await? {
        tracing::info!(zone = id, "zone deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("zone {id} not found")))
    }
}
