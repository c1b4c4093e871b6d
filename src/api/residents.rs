//! Residents: registration one by one or as an NDJSON bulk import.
//!
//! Residents' contacts are personal data, so every endpoint here is for
//! admins only; executors see residents only as counts and masked
//! addresses in delivery reports.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::GeoPoint;

use super::error::{ApiError, FieldError};
use super::extract::{ApiJson, Caller, IdPath, body_bytes};
use super::{AppState, preferences};
use crate::domain::{Category, ChannelOrder, Language, QuietPreference, ResidentId, ZoneId};
use crate::store::{Contact, NewResident, Resident};

/// Contacts per resident; a family sharing one registration is fine, a
/// mailing list is not.
const MAX_CONTACTS: usize = 20;
const MAX_ZONES: usize = 100;
/// Import errors reported at most; the rest are counted.
const MAX_REPORTED_ERRORS: usize = 100;

/// A resident as the API takes it; also what a public subscription keeps
/// (serialized) until its code is verified.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentIn {
    pub(super) language: String,
    pub(super) location: Option<LocationIn>,
    #[serde(default)]
    pub(super) zones: Vec<i64>,
    pub(super) categories: Option<Vec<Category>>,
    pub(super) contacts: Vec<ContactIn>,
    pub(super) timezone: Option<String>,
    pub(super) quiet_hours: Option<String>,
    pub(super) channels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LocationIn {
    pub(super) lat: f64,
    pub(super) lon: f64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContactIn {
    pub(super) channel: ChannelKind,
    pub(super) address: String,
}

impl ResidentIn {
    /// Checks everything that needs no database; zone existence is checked
    /// by the caller for a whole batch at once.
    pub(super) fn parse(self) -> Result<NewResident, FieldError> {
        let language =
            Language::parse(&self.language).map_err(|e| FieldError::new("language", e))?;
        let location = self
            .location
            .map(|l| GeoPoint::new(l.lat, l.lon))
            .transpose()
            .map_err(|e| FieldError::new("location", e))?;
        if self.zones.len() > MAX_ZONES {
            return Err(FieldError::new(
                "zones",
                format!("at most {MAX_ZONES} zones"),
            ));
        }
        if location.is_none() && self.zones.is_empty() {
            return Err(FieldError::new(
                "location",
                "give a location or at least one zone, or no notice can ever reach this resident",
            ));
        }
        let categories = preferences::categories(self.categories.as_deref())?;
        if self.contacts.is_empty() {
            return Err(FieldError::new(
                "contacts",
                "at least one contact is needed",
            ));
        }
        if self.contacts.len() > MAX_CONTACTS {
            return Err(FieldError::new(
                "contacts",
                format!("at most {MAX_CONTACTS} contacts"),
            ));
        }
        let mut contacts: Vec<Address> = Vec::with_capacity(self.contacts.len());
        for (i, c) in self.contacts.iter().enumerate() {
            let address = Address::parse(c.channel, &c.address)
                .map_err(|e| FieldError::new(format!("contacts[{i}].address"), e))?;
            if let Some(j) = contacts.iter().position(|a| *a == address) {
                return Err(FieldError::new(
                    format!("contacts[{i}]"),
                    format!("duplicates contacts[{j}]"),
                ));
            }
            contacts.push(address);
        }
        let mut zones: Vec<ZoneId> = self.zones.into_iter().map(ZoneId).collect();
        zones.sort();
        zones.dedup();
        Ok(NewResident {
            language,
            location,
            zones,
            categories,
            contacts,
            timezone: preferences::time_zone(self.timezone.as_deref())?,
            quiet_hours: preferences::quiet_hours(self.quiet_hours.as_deref())?,
            channel_order: preferences::channel_order(self.channels.as_deref())?,
        })
    }
}

/// For each resident (with its line number, 0 for a single resident) the
/// first zone it names that does not exist.
pub(super) async fn check_zones(
    state: &AppState,
    residents: &[(usize, &NewResident)],
) -> Result<Vec<FieldError>, ApiError> {
    let wanted: Vec<ZoneId> = residents
        .iter()
        .flat_map(|(_, r)| r.zones.iter().copied())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let existing = state.store.existing_zones(&wanted).await?;
    let mut errors = Vec::new();
    for (line, r) in residents {
        if let Some((i, z)) = r
            .zones
            .iter()
            .enumerate()
            .find(|(_, z)| !existing.contains(z))
        {
            errors.push(FieldError {
                line: (*line > 0).then_some(*line),
                field: format!("zones[{i}]"),
                message: format!("zone {z} does not exist"),
            });
        }
    }
    Ok(errors)
}

pub(super) async fn insert(
    state: &AppState,
    residents: Vec<NewResident>,
) -> Result<Vec<ResidentId>, ApiError> {
    let ids = state.store.insert_residents(&residents).await?;
    state.directory.insert_many(
        ids.iter()
            .zip(&residents)
            .filter_map(|(id, r)| r.location.map(|p| (*id, p))),
    );
    Ok(ids)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ResidentIn>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let resident = body.parse().map_err(ApiError::Invalid)?;
    if let Some(e) = check_zones(&state, &[(0, &resident)]).await?.pop() {
        return Err(ApiError::Invalid(e));
    }
    let ids = insert(&state, vec![resident]).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": ids[0] }))))
}

/// NDJSON: one resident object per line, blank lines ignored. All or
/// nothing: if any line is invalid, nothing is imported and the response
/// lists the bad lines.
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin()?;
    let limit = state.config.limits.max_import_bytes;
    let bytes = body_bytes(req, &state).await.map_err(|e| match e {
        ApiError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(limit),
        other => other,
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("body is not UTF-8: {e}")))?;
    let (residents, mut errors, bad_lines) = parse_lines(text);
    if residents.is_empty() && bad_lines == 0 {
        return Err(ApiError::invalid(
            "",
            "the import is empty: send one JSON object per line",
        ));
    }
    let numbered: Vec<(usize, &NewResident)> = residents.iter().map(|(l, r)| (*l, r)).collect();
    let zone_errors = check_zones(&state, &numbered).await?;
    let bad_lines = bad_lines + zone_errors.len();
    errors.extend(zone_errors);
    if bad_lines > 0 {
        errors.sort_by_key(|e| e.line);
        errors.truncate(MAX_REPORTED_ERRORS);
        return Err(ApiError::InvalidMany {
            message: format!("{bad_lines} line(s) are invalid; nothing was imported"),
            errors,
        });
    }
    let residents: Vec<NewResident> = residents.into_iter().map(|(_, r)| r).collect();
    let ids = insert(&state, residents).await?;
    tracing::info!(count = ids.len(), "residents imported");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "imported": ids.len(), "ids": ids })),
    ))
}

/// Parsed residents with their 1-based line numbers, reported errors, and
/// the number of bad lines.
pub fn parse_lines(text: &str) -> (Vec<(usize, NewResident)>, Vec<FieldError>, usize) {
    let mut residents = Vec::new();
    let mut errors = Vec::new();
    let mut bad = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match super::extract::parse_json::<ResidentIn>(line.as_bytes()) {
            Ok(r) => r.parse(),
            Err(ApiError::Invalid(e)) => Err(e),
            Err(other) => Err(FieldError::new("", other)),
        };
        match parsed {
            Ok(r) => residents.push((line_no, r)),
            Err(mut e) => {
                bad += 1;
                if errors.len() < MAX_REPORTED_ERRORS {
                    e.line = Some(line_no);
                    errors.push(e);
                }
            }
        }
    }
    (residents, errors, bad)
}

#[derive(Debug, Serialize)]
pub struct ResidentOut {
    id: ResidentId,
    language: Language,
    location: Option<Value>,
    zones: Vec<ZoneId>,
    categories: Vec<Category>,
    contacts: Vec<Contact>,
    timezone: Option<&'static str>,
    quiet_hours: QuietPreference,
    channels: Option<ChannelOrder>,
    created_at: DateTime<Utc>,
}

impl From<Resident> for ResidentOut {
    fn from(r: Resident) -> Self {
        Self {
            id: r.id,
            language: r.language,
            location: r
                .location
                .map(|p| json!({ "lat": p.lat(), "lon": p.lon() })),
            zones: r.zones,
            categories: r.categories.to_vec(),
            contacts: r.contacts,
            timezone: r.timezone.map(|tz| tz.name()),
            quiet_hours: r.quiet_hours,
            channels: r.channel_order,
            created_at: r.created_at,
        }
    }
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<ResidentOut>, ApiError> {
    caller.require_admin()?;
    let r = state
        .store
        .get_resident(ResidentId(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("resident {id} not found")))?;
    Ok(Json(r.into()))
}

/// Deletes the resident and their personal data; unsent messages to them
/// are stopped.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let id = ResidentId(id);
    match state.store.delete_resident(id).await? {
        Some(location) => {
            if let Some(p) = location {
                state.directory.remove(id, p);
            }
            tracing::info!(resident = %id, "resident deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::NotFound(format!("resident {id} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: &str) -> Result<NewResident, FieldError> {
        match super::super::extract::parse_json::<ResidentIn>(json.as_bytes()) {
            Ok(r) => r.parse(),
            Err(ApiError::Invalid(e)) => Err(e),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn parses_a_full_resident() {
        let r = line(
            r#"{"language":"uk","location":{"lat":50.74,"lon":25.32},"zones":[3,1,3],
            "categories":["water"],"contacts":[{"channel":"sms","address":"+380 50 123 4567"},
            {"channel":"email","address":"olena@example.com"}]}"#,
        )
        .unwrap();
        assert_eq!(r.zones, vec![ZoneId(1), ZoneId(3)]);
        assert_eq!(r.contacts[0].as_str(), "+380501234567");
        assert!(r.categories.contains(Category::Water) && !r.categories.contains(Category::Gas));
        assert_eq!(r.timezone, None);
        assert_eq!(r.quiet_hours, QuietPreference::Default);
        assert_eq!(r.channel_order, None);
    }

    #[test]
    fn parses_preferences() {
        let r = line(
            r#"{"language":"pl","zones":[1],"contacts":[{"channel":"sms","address":"+48 601 234 567"}],
            "timezone":"Europe/Warsaw","quiet_hours":"22:00-07:00","channels":["fcm","sms"]}"#,
        )
        .unwrap();
        assert_eq!(r.timezone, Some(chrono_tz::Europe::Warsaw));
        assert_eq!(r.quiet_hours.to_text().as_deref(), Some("22:00-07:00"));
        assert_eq!(
            r.channel_order.unwrap().kinds(),
            [ChannelKind::Fcm, ChannelKind::Sms]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"language":"uk","zones":[1],"contacts":[{"channel":"sms","address":"0501234567"}]}"#,
                "contacts[0].address",
            ),
            (
                r#"{"language":"uk","zones":[1],"contacts":[{"channel":"fax","address":"1"}]}"#,
                "contacts[0].channel",
            ),
            (
                r#"{"language":"uk","location":{"lat":91,"lon":0},"contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "location",
            ),
            (
                r#"{"language":"uk","contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "location",
            ),
            (r#"{"language":"uk","zones":[1],"contacts":[]}"#, "contacts"),
            (
                r#"{"language":"??","zones":[1],"contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "language",
            ),
            (
                r#"{"language":"uk","zones":[1],"contacts":[{"channel":"email","address":"a@b.cz"},{"channel":"email","address":"a@b.cz"}]}"#,
                "contacts[1]",
            ),
            (
                r#"{"language":"uk","zones":[1],"categories":[],"contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "categories",
            ),
            (
                r#"{"language":"uk","zones":[1],"timezone":"Mars/Olympus","contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "timezone",
            ),
            (
                r#"{"language":"uk","zones":[1],"quiet_hours":"late","contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "quiet_hours",
            ),
            (
                r#"{"language":"uk","zones":[1],"channels":["email","email"],"contacts":[{"channel":"email","address":"a@b.cz"}]}"#,
                "channels",
            ),
        ];
        for (json, field) in cases {
            let err = line(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err:?}");
        }
    }

    #[test]
    fn import_reports_lines_and_counts_bad_ones() {
        let good =
            r#"{"language":"en","zones":[1],"contacts":[{"channel":"email","address":"a@b.cz"}]}"#;
        let text = format!("{good}\n\n{{\"language\":\"en\"}}\nnot json\n{good}\n");
        let (ok, errors, bad) = parse_lines(&text);
        assert_eq!(ok.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(bad, 2);
        assert_eq!(
            errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![Some(3), Some(4)]
        );
    }
}
