//! Executor organisations (utilities, city services) and their tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_zones::Region;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Caller};
use crate::domain::OrgId;
use crate::domain::auth::{ApiToken, Territory};
use crate::domain::text::Text;
use crate::store::{NewOrganisation, Organisation};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationIn {
    name: String,
    /// GeoJSON Polygon/MultiPolygon; where this executor may publish.
    territory: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
pub struct OrganisationOut {
    id: OrgId,
    name: String,
    territory: Option<serde_json::Value>,
    /// Only when the stored territory does not read back: `territory` is
    /// then null, and the organisation may publish nowhere.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    territory_unreadable: bool,
    created_at: DateTime<Utc>,
    /// Only in the creation response: the token is not stored in clear.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl OrganisationOut {
    fn from(o: Organisation, token: Option<String>) -> Self {
        Self {
            id: o.id,
            name: o.name,
            territory: o.territory.region().map(Region::to_geojson),
            territory_unreadable: matches!(o.territory, Territory::Unreadable),
            created_at: o.created_at,
            token,
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<OrganisationIn>,
) -> Result<(StatusCode, Json<OrganisationOut>), ApiError> {
    caller.require_admin()?;
    let name = Text::parse(&body.name).map_err(|e| ApiError::invalid("name", e))?;
    let territory = body
        .territory
        .map(|t| Region::from_geojson(&t, &state.config.limits.zones()))
        .transpose()
        .map_err(|e| ApiError::invalid("territory", e))?;
    let token = ApiToken::generate();
    let org = state
        .store
        .create_organisation(&NewOrganisation { name, territory }, &token.hash())
        .await?;
    tracing::info!(organisation = %org.id, "organisation created");
    let detail =
        serde_json::json!({"name": org.name, "territory": org.territory.region().is_some()});
    let subject = format!("organisation/{}", org.id);
    super::journal::record(
        &state,
        "admin".to_owned(),
        "organisation.created",
        subject,
        detail,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(OrganisationOut::from(org, Some(token.expose().to_owned()))),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<OrganisationOut>>, ApiError> {
    caller.require_admin()?;
    let orgs = state.store.list_organisations().await?;
    Ok(Json(
        orgs.into_iter()
            .map(|o| OrganisationOut::from(o, None))
            .collect(),
    ))
}
