//! Reading and writing GeoJSON Polygon / MultiPolygon geometry objects (RFC 7946).
//!
//! Parsing works on `serde_json::Value` directly rather than through a typed GeoJSON
//! model so that every complaint can name the exact polygon, ring and point, and so
//! the vertex limit is enforced by a cheap count before anything is allocated.
//! Checks run from cheapest to dearest: JSON shape, vertex count, per-position
//! ranges, ring closure. Topology is checked afterwards, in `validate`.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::{Value, json};

use crate::Limits;
use crate::error::{Axis, RingRef, VertexRef, ZoneError, json_kind};
use crate::point::check_coordinate;

const ACCEPTED: &str = "\"Polygon\" or \"MultiPolygon\"";

/// Which of the two accepted geometry types a body declares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Polygon,
    MultiPolygon,
}

/// Parses a GeoJSON geometry object into a `MultiPolygon`, checking everything except
/// topology. Returns the shape and its vertex count (positions, closing ones included).
pub(crate) fn parse_geometry(
    geometry: &Value,
    limits: &Limits,
) -> Result<(MultiPolygon<f64>, usize), ZoneError> {
    let obj = geometry
        .as_object()
        .ok_or_else(|| ZoneError::WrongJsonType {
            expected: "a GeoJSON geometry object",
            found: json_kind(geometry),
        })?;
    let kind = match obj.get("type") {
        None => {
            return Err(ZoneError::MissingMember {
                member: "type",
                expected: ACCEPTED,
            });
        }
        Some(Value::String(s)) if s == "Polygon" => Kind::Polygon,
        Some(Value::String(s)) if s == "MultiPolygon" => Kind::MultiPolygon,
        Some(Value::String(s)) => {
            return Err(ZoneError::UnsupportedType {
                found: format!("{s:?}"),
                accepted: ACCEPTED,
            });
        }
        Some(other) => {
            return Err(ZoneError::UnsupportedType {
                found: json_kind(other).to_string(),
                accepted: ACCEPTED,
            });
        }
    };
    let coordinates = obj.get("coordinates").ok_or(ZoneError::MissingMember {
        member: "coordinates",
        expected: match kind {
            Kind::Polygon => "an array of rings",
            Kind::MultiPolygon => "an array of polygons",
        },
    })?;

    // Counting first means a hostile multi-million-vertex body costs one pass over
    // arrays, not millions of allocations and a quadratic validity check.
    let depth = match kind {
        Kind::Polygon => 2,
        Kind::MultiPolygon => 3,
    };
    let found = count_positions(coordinates, depth);
    if found > limits.max_vertices {
        return Err(ZoneError::TooManyVertices {
            found,
            max: limits.max_vertices,
        });
    }

    let polygons = match kind {
        Kind::Polygon => vec![parse_polygon(coordinates, 0, "the top level")?],
        Kind::MultiPolygon => {
            let items = as_array(coordinates, "the top level", "an array of polygons")?;
            if items.is_empty() {
                return Err(ZoneError::EmptyGeometry {
                    detail: "the MultiPolygon has no polygons".into(),
                });
            }
            items
                .iter()
                .enumerate()
                .map(|(i, p)| parse_polygon(p, i, &format!("polygon {i}")))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok((MultiPolygon(polygons), found))
}

/// Number of positions `depth` array levels down, ignoring anything malformed (the
/// real parse reports that).
fn count_positions(v: &Value, depth: usize) -> usize {
    match v {
        Value::Array(items) if depth == 1 => items.len(),
        Value::Array(items) => items.iter().map(|i| count_positions(i, depth - 1)).sum(),
        _ => 0,
    }
}

fn as_array<'a>(v: &'a Value, at: &str, expected: &str) -> Result<&'a Vec<Value>, ZoneError> {
    v.as_array().ok_or_else(|| ZoneError::MalformedCoordinates {
        at: at.to_string(),
        detail: format!("expected {expected}, found {}", json_kind(v)),
    })
}

fn parse_polygon(v: &Value, polygon: usize, at: &str) -> Result<Polygon<f64>, ZoneError> {
    let rings = as_array(v, at, "an array of rings")?;
    if rings.is_empty() {
        return Err(ZoneError::EmptyGeometry {
            detail: format!("polygon {polygon} has no rings"),
        });
    }
    let mut parsed = rings
        .iter()
        .enumerate()
        .map(|(ring, r)| parse_ring(r, RingRef { polygon, ring }))
        .collect::<Result<Vec<_>, _>>()?;
    let exterior = parsed.remove(0);
    Ok(Polygon::new(exterior, parsed))
}

fn parse_ring(v: &Value, at: RingRef) -> Result<LineString<f64>, ZoneError> {
    let positions = as_array(v, &at.to_string(), "an array of positions")?;
    // Positions first: coordinates nested one level too shallow show up here as
    // numbers where positions belong, which says more than "too few positions".
    let coords = positions
        .iter()
        .enumerate()
        .map(|(point, p)| parse_position(p, VertexRef::new(at, point)))
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 4 {
        return Err(ZoneError::RingTooShort {
            at,
            found: coords.len(),
        });
    }
    // geo-types would silently close an open ring, hiding a truncated upload; GeoJSON
    // says rings are closed, so an open one is reported before conversion.
    let (first, last) = (coords[0], coords[coords.len() - 1]);
    if first != last {
        return Err(ZoneError::RingNotClosed {
            at,
            first: [first.x, first.y],
            last: [last.x, last.y],
        });
    }
    Ok(LineString(coords))
}

fn parse_position(v: &Value, at: VertexRef) -> Result<Coord<f64>, ZoneError> {
    let malformed = |detail: String| ZoneError::MalformedCoordinates {
        at: at.to_string(),
        detail,
    };
    let numbers = v.as_array().ok_or_else(|| {
        let hint = if v.is_number() {
            "; are the coordinates nested one level too shallow for the geometry type?"
        } else {
            ""
        };
        malformed(format!(
            "a position must be an array [longitude, latitude], found {}{hint}",
            json_kind(v)
        ))
    })?;
    if numbers.len() < 2 {
        return Err(malformed(format!(
            "a position needs at least 2 numbers [longitude, latitude], found {}",
            numbers.len()
        )));
    }
    // RFC 7946 allows an altitude (and tolerates more); it must still be a number,
    // but it plays no part in 2-D zone tests and is dropped.
    let mut values = [0.0; 2];
    for (i, n) in numbers.iter().enumerate() {
        let x = n.as_f64().ok_or_else(|| {
            malformed(format!(
                "element {i} of a position must be a number, found {}",
                json_kind(n)
            ))
        })?;
        if i < 2 {
            values[i] = x;
        }
    }
    let [lon, lat] = values;
    check_coordinate(Axis::Longitude, lon, Some(at))?;
    check_coordinate(Axis::Latitude, lat, Some(at))?;
    Ok(Coord { x: lon, y: lat })
}

/// Checks a shape built in Rust against the same rules as parsed GeoJSON, short of
/// ring closure (geo-types closes rings itself). Returns its vertex count.
pub(crate) fn check_shape(shape: &MultiPolygon<f64>, limits: &Limits) -> Result<usize, ZoneError> {
    let found: usize = shape.0.iter().flat_map(rings).map(|r| r.0.len()).sum();
    if found > limits.max_vertices {
        return Err(ZoneError::TooManyVertices {
            found,
            max: limits.max_vertices,
        });
    }
    if shape.0.is_empty() {
        return Err(ZoneError::EmptyGeometry {
            detail: "the MultiPolygon has no polygons".into(),
        });
    }
    for (polygon, p) in shape.0.iter().enumerate() {
        for (ring, r) in rings(p).enumerate() {
            let at = RingRef { polygon, ring };
            if r.0.len() < 4 {
                return Err(ZoneError::RingTooShort {
                    at,
                    found: r.0.len(),
                });
            }
            for (point, c) in r.0.iter().enumerate() {
                let v = Some(VertexRef::new(at, point));
                check_coordinate(Axis::Longitude, c.x, v)?;
                check_coordinate(Axis::Latitude, c.y, v)?;
            }
        }
    }
    Ok(found)
}

/// The exterior ring followed by the holes: the "ring 0, ring 1, ..." order of messages.
pub(crate) fn rings(p: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(p.exterior()).chain(p.interiors())
}

/// Writes a GeoJSON geometry object; a single part is written as a Polygon.
pub(crate) fn to_geojson(shape: &MultiPolygon<f64>) -> Value {
    let polygon = |p: &Polygon<f64>| -> Value {
        rings(p)
            .map(|r| r.0.iter().map(|c| json!([c.x, c.y])).collect::<Value>())
            .collect()
    };
    match shape.0.as_slice() {
        [single] => json!({ "type": "Polygon", "coordinates": polygon(single) }),
        parts => json!({
            "type": "MultiPolygon",
            "coordinates": parts.iter().map(polygon).collect::<Value>(),
        }),
    }
}
