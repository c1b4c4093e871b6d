//! Importing zones from GeoJSON Features, as exported by GIS tools.

use serde_json::{Map, Value};

use crate::Limits;
use crate::error::{ZoneError, json_kind};
use crate::region::Region;

/// Longest accepted zone name, in characters.
pub const MAX_ZONE_NAME_CHARS: usize = 200;

/// One zone parsed from a GeoJSON Feature.
#[derive(Debug, Clone)]
pub struct ZoneFeature {
    /// `properties.name`, trimmed.
    pub name: String,
    pub region: Region,
    /// All of the feature's properties as given, `name` included.
    pub properties: Map<String, Value>,
}

/// An error with the JSON path of the member it is about.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct FeatureError {
    /// E.g. `features[2].geometry`, `properties.name`, `features[0].properties.name`,
    /// or "" for the top level.
    pub path: String,
    pub error: ZoneError,
}

/// Accepts a GeoJSON Feature or FeatureCollection whose geometries are Polygon/MultiPolygon and whose
/// `properties.name` is a non-empty string (trimmed, <= 200 chars). An empty FeatureCollection is an error.
pub fn parse_zone_features(
    body: &Value,
    limits: &Limits,
) -> Result<Vec<ZoneFeature>, FeatureError> {
    let top = |error: ZoneError| FeatureError {
        path: String::new(),
        error,
    };
    let obj = body.as_object().ok_or_else(|| {
        top(ZoneError::WrongJsonType {
            expected: "a GeoJSON Feature or FeatureCollection object",
            found: json_kind(body),
        })
    })?;
    const ACCEPTED: &str = "\"Feature\" or \"FeatureCollection\"";
    match obj.get("type") {
        Some(Value::String(t)) if t == "Feature" => Ok(vec![parse_feature(body, "", limits)?]),
        Some(Value::String(t)) if t == "FeatureCollection" => {
            let features = match obj.get("features") {
                Some(Value::Array(items)) => items,
                Some(other) => {
                    return Err(FeatureError {
                        path: "features".into(),
                        error: ZoneError::WrongJsonType {
                            expected: "an array of Features",
                            found: json_kind(other),
                        },
                    });
                }
                None => {
                    return Err(top(ZoneError::MissingMember {
                        member: "features",
                        expected: "an array of Features",
                    }));
                }
            };
            if features.is_empty() {
                return Err(top(ZoneError::EmptyFeatureCollection));
            }
            features
                .iter()
                .enumerate()
                .map(|(i, f)| parse_feature(f, &format!("features[{i}]."), limits))
                .collect()
        }
        Some(Value::String(t)) => Err(top(ZoneError::UnsupportedType {
            found: format!("{t:?}"),
            accepted: ACCEPTED,
        })),
        Some(other) => Err(top(ZoneError::UnsupportedType {
            found: json_kind(other).to_string(),
            accepted: ACCEPTED,
        })),
        None => Err(top(ZoneError::MissingMember {
            member: "type",
            expected: ACCEPTED,
        })),
    }
}

/// `prefix` is "" for a lone Feature or "features[i]." inside a collection.
fn parse_feature(v: &Value, prefix: &str, limits: &Limits) -> Result<ZoneFeature, FeatureError> {
    let err = |member: &str, error: ZoneError| FeatureError {
        path: format!("{prefix}{member}"),
        error,
    };
    let whole = prefix.strip_suffix('.').unwrap_or_default();
    let obj = v.as_object().ok_or_else(|| FeatureError {
        path: whole.to_string(),
        error: ZoneError::WrongJsonType {
            expected: "a GeoJSON Feature object",
            found: json_kind(v),
        },
    })?;
    match obj.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        other => {
            return Err(FeatureError {
                path: whole.to_string(),
                error: ZoneError::UnsupportedType {
                    found: match other {
                        Some(Value::String(t)) => format!("{t:?}"),
                        Some(v) => json_kind(v).to_string(),
                        None => "(missing)".to_string(),
                    },
                    accepted: "\"Feature\"",
                },
            });
        }
    }
    let properties = match obj.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(err(
                "properties",
                ZoneError::WrongJsonType {
                    expected: "an object",
                    found: json_kind(other),
                },
            ));
        }
    };
    let name = zone_name(properties.get("name")).map_err(|e| err("properties.name", e))?;
    let geometry = obj.get("geometry").unwrap_or(&Value::Null);
    let region = Region::from_geojson(geometry, limits).map_err(|e| err("geometry", e))?;
    Ok(ZoneFeature {
        name,
        region,
        properties,
    })
}

fn zone_name(v: Option<&Value>) -> Result<String, ZoneError> {
    let invalid = |reason: String| ZoneError::InvalidName { reason };
    let raw = match v {
        None | Some(Value::Null) => {
            return Err(invalid(
                "it is missing; every zone needs a non-empty string name".into(),
            ));
        }
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(invalid(format!(
                "expected a non-empty string, found {}",
                json_kind(other)
            )));
        }
    };
    let name = raw.trim();
    if name.is_empty() {
        return Err(invalid("it is empty or only whitespace".into()));
    }
    let chars = name.chars().count();
    if chars > MAX_ZONE_NAME_CHARS {
        return Err(invalid(format!(
            "it has {chars} characters; the maximum is {MAX_ZONE_NAME_CHARS}"
        )));
    }
    Ok(name.to_string())
}
