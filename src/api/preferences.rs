//! Residents' delivery preferences: the fields that registration, the
//! NDJSON import and `PATCH /api/v1/residents/{id}` share (time zone,
//! quiet hours, channel order), and the PATCH itself.
//!
//! A PATCH tells three things apart for each field: absent (unchanged),
//! `null` (back to the city's default) and a value. serde folds `null`
//! into an absent `Option`, hence the `present` helper below.

use axum::Json;
use axum::extract::State;
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use super::AppState;
use super::error::{ApiError, FieldError};
use super::extract::{ApiJson, Caller, IdPath};
use super::residents::ResidentOut;
use crate::domain::resident::parse_time_zone;
use crate::domain::{Category, CategorySet, ChannelOrder, Language, QuietPreference, ResidentId};
use crate::store::ResidentPatch;

/// For `Option<Option<T>>` fields with `#[serde(default)]`: a field that
/// is present becomes `Some(..)`, so `null` is `Some(None)`, not `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

pub(super) fn time_zone(raw: Option<&str>) -> Result<Option<Tz>, FieldError> {
    raw.map(parse_time_zone)
        .transpose()
        .map_err(|e| FieldError::new("timezone", e))
}

pub(super) fn quiet_hours(raw: Option<&str>) -> Result<QuietPreference, FieldError> {
    QuietPreference::parse(raw).map_err(|e| FieldError::new("quiet_hours", e))
}

pub(super) fn channel_order(raw: Option<&[String]>) -> Result<Option<ChannelOrder>, FieldError> {
    raw.map(ChannelOrder::parse)
        .transpose()
        .map_err(|e| FieldError::new("channels", e))
}

pub(super) fn categories(raw: Option<&[Category]>) -> Result<CategorySet, FieldError> {
    match raw {
        None => Ok(CategorySet::all()),
        Some([]) => Err(FieldError::new(
            "categories",
            "choose at least one category, or leave it out for all",
        )),
        Some(c) => Ok(CategorySet::from_categories(c)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchIn {
    #[serde(default, deserialize_with = "present")]
    language: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    categories: Option<Option<Vec<Category>>>,
    #[serde(default, deserialize_with = "present")]
    quiet_hours: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    timezone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    channels: Option<Option<Vec<String>>>,
}

impl PatchIn {
    pub(super) fn parse(self) -> Result<ResidentPatch, FieldError> {
        let language = match self.language {
            None => None,
            Some(None) => {
                return Err(FieldError::new(
                    "language",
                    "a resident always has a language; give one such as \"uk\"",
                ));
            }
            Some(Some(l)) => Some(Language::parse(&l).map_err(|e| FieldError::new("language", e))?),
        };
        Ok(ResidentPatch {
            language,
            categories: self
                .categories
                .map(|c| categories(c.as_deref()))
                .transpose()?,
            quiet_hours: self
                .quiet_hours
                .map(|q| quiet_hours(q.as_deref()))
                .transpose()?,
            timezone: self.timezone.map(|t| time_zone(t.as_deref())).transpose()?,
            channel_order: self
                .channels
                .map(|c| channel_order(c.as_deref()))
                .transpose()?,
        })
    }
}

/// Partial update of language, categories and delivery preferences.
/// The location and contacts are not patchable here.
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiJson(body): ApiJson<PatchIn>,
) -> Result<Json<ResidentOut>, ApiError> {
    caller.require_admin()?;
    let patch = body.parse().map_err(ApiError::Invalid)?;
    let resident = state
        .store
        .update_resident(ResidentId(id), &patch)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("resident {id} not found")))?;
    tracing::info!(resident = %resident.id, "resident preferences updated");
    Ok(Json(resident.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ResidentPatch, FieldError> {
        match super::super::extract::parse_json::<PatchIn>(json.as_bytes()) {
            Ok(p) => p.parse(),
            Err(ApiError::Invalid(e)) => Err(e),
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn absent_null_and_value_are_told_apart() {
        let p = parse("{}").unwrap();
        assert!(p.timezone.is_none() && p.quiet_hours.is_none() && p.channel_order.is_none());
        let p = parse(r#"{"timezone":null,"quiet_hours":null,"channels":null}"#).unwrap();
        assert_eq!(p.timezone, Some(None));
        assert_eq!(p.quiet_hours, Some(QuietPreference::Default));
        assert_eq!(p.channel_order, Some(None));
        let p = parse(r#"{"timezone":"Europe/Warsaw","quiet_hours":"off","channels":["sms"]}"#)
            .unwrap();
        assert_eq!(p.timezone, Some(Some(chrono_tz::Europe::Warsaw)));
        assert_eq!(p.quiet_hours, Some(QuietPreference::Off));
        assert_eq!(
            p.channel_order.unwrap().unwrap().kinds(),
            [tocsin_channels::ChannelKind::Sms]
        );
        assert_eq!(
            parse(r#"{"categories":null}"#).unwrap().categories,
            Some(CategorySet::all())
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (r#"{"timezone":"Europe/Kiev2"}"#, "timezone"),
            (r#"{"quiet_hours":"22-7"}"#, "quiet_hours"),
            (r#"{"channels":[]}"#, "channels"),
            (r#"{"channels":["sms","sms"]}"#, "channels"),
            (r#"{"channels":["pigeon"]}"#, "channels"),
            (r#"{"language":null}"#, "language"),
            (r#"{"language":"ukrainian"}"#, "language"),
            (r#"{"categories":[]}"#, "categories"),
            (r#"{"categories":["snow"]}"#, "categories[0]"),
        ];
        for (json, field) in cases {
            let err = parse(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err:?}");
        }
        // The location is not patchable: an unknown field like any other.
        let err = parse(r#"{"location":{"lat":1,"lon":2}}"#).unwrap_err();
        assert_eq!(err.field, "location");
        assert!(err.message.contains("unknown field"), "{err:?}");
    }
}
