//! The one error type of this crate, plus the small location types its messages use.
//!
//! Messages are written for the operator who uploaded the geometry: they say what is
//! wrong, what was expected, and where (`polygon 0, ring 1, point 7`), so the bad
//! vertex can be found in a GIS tool without guessing.

use std::fmt;

/// Which coordinate axis a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Latitude,
    Longitude,
}

impl Axis {
    /// The inclusive valid range of the axis, in degrees.
    pub fn range(self) -> (f64, f64) {
        match self {
            Axis::Latitude => (-90.0, 90.0),
            Axis::Longitude => (-180.0, 180.0),
        }
    }
}

impl fmt::Display for Axis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Axis::Latitude => "latitude",
            Axis::Longitude => "longitude",
        })
    }
}

/// A ring of a (multi)polygon. Ring 0 is the exterior ring, rings 1.. are holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingRef {
    pub polygon: usize,
    pub ring: usize,
}

impl fmt::Display for RingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "polygon {}, ring {}", self.polygon, self.ring)
    }
}

/// One position of a ring, counted from 0 in the order of the GeoJSON input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VertexRef {
    pub polygon: usize,
    pub ring: usize,
    pub point: usize,
}

impl VertexRef {
    pub(crate) fn new(ring: RingRef, point: usize) -> Self {
        VertexRef {
            polygon: ring.polygon,
            ring: ring.ring,
            point,
        }
    }
}

impl fmt::Display for VertexRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "polygon {}, ring {}, point {}",
            self.polygon, self.ring, self.point
        )
    }
}

/// Everything that can be wrong with a zone, circle or area.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ZoneError {
    /// A JSON value had the wrong JSON type, e.g. an array where an object belongs.
    #[error("expected {expected}, found {found}")]
    WrongJsonType {
        expected: &'static str,
        found: &'static str,
    },
    /// A required object member is absent.
    #[error("missing \"{member}\" member; expected {expected}")]
    MissingMember {
        member: &'static str,
        expected: &'static str,
    },
    /// A `"type"` member names something this crate does not accept.
    #[error("type {found} is not accepted; expected {accepted}")]
    UnsupportedType {
        found: String,
        accepted: &'static str,
    },
    /// Coordinates nested wrongly, a non-number, or a position with fewer than 2 numbers.
    #[error("malformed coordinates at {at}: {detail}")]
    MalformedCoordinates { at: String, detail: String },
    /// NaN or infinity; JSON cannot carry these, but Rust callers can.
    #[error("{axis} {value} is not a finite number{}", at_suffix(.at))]
    NonFiniteCoordinate {
        axis: Axis,
        value: f64,
        at: Option<VertexRef>,
    },
    /// A latitude outside [-90, 90] or a longitude outside [-180, 180].
    #[error("{axis} {value} is outside [{}, {}]{}", .axis.range().0, .axis.range().1, at_suffix(.at))]
    CoordinateOutOfRange {
        axis: Axis,
        value: f64,
        at: Option<VertexRef>,
    },
    /// First and last positions of a ring differ; GeoJSON requires the first position repeated at the end.
    #[error(
        "{at} is not closed: the first position {first:?} differs from the last {last:?}; GeoJSON rings must end with their first position"
    )]
    RingNotClosed {
        at: RingRef,
        first: [f64; 2],
        last: [f64; 2],
    },
    /// A closed ring needs at least 4 positions (a triangle plus the closing repeat).
    #[error("{at} has {found} positions; a closed ring needs at least 4")]
    RingTooShort { at: RingRef, found: usize },
    /// Refused before any expensive work, so hostile bodies are cheap to reject.
    #[error("geometry has {found} vertices; the maximum is {max}")]
    TooManyVertices { found: usize, max: usize },
    /// Two edges of one ring cross or touch (a bow-tie, a figure eight, a self-touching vertex).
    #[error(
        "{at} intersects itself: the edge from point {first_edge} meets the edge from point {second_edge}; rings must not cross or touch themselves"
    )]
    SelfIntersection {
        at: RingRef,
        first_edge: usize,
        second_edge: usize,
    },
    /// Any other OGC validity rule: spikes, holes outside their shell, overlapping parts.
    #[error("invalid polygon: {reason}")]
    InvalidPolygon { reason: String },
    /// A geometry with no polygons, or a polygon with no rings.
    #[error("empty geometry: {detail}")]
    EmptyGeometry { detail: String },
    /// A circle whose radius or position is not acceptable.
    #[error("invalid circle: {reason}")]
    InvalidCircle { reason: String },
    /// An area must target something.
    #[error("an area needs at least one region or circle")]
    EmptyArea,
    /// A zone feature without a usable `properties.name`.
    #[error("invalid zone name: {reason}")]
    InvalidName { reason: String },
    /// A FeatureCollection with no features describes no zones.
    #[error("the FeatureCollection has no features")]
    EmptyFeatureCollection,
    /// An error inside a larger document, e.g. `regions[1]` of an area.
    #[error("{path}: {error}")]
    At { path: String, error: Box<ZoneError> },
}

impl ZoneError {
    /// Wraps `self` with the path of the member it was found in.
    pub(crate) fn at(self, path: impl Into<String>) -> ZoneError {
        ZoneError::At {
            path: path.into(),
            error: Box::new(self),
        }
    }
}

fn at_suffix(at: &Option<VertexRef>) -> String {
    match at {
        Some(v) => format!(" at {v}"),
        None => String::new(),
    }
}

/// Describes a JSON value's type for "found ..." messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_message_names_axis_range_and_vertex() {
        let e = ZoneError::CoordinateOutOfRange {
            axis: Axis::Longitude,
            value: 190.0,
            at: Some(VertexRef {
                polygon: 0,
                ring: 0,
                point: 3,
            }),
        };
        assert_eq!(
            e.to_string(),
            "longitude 190 is outside [-180, 180] at polygon 0, ring 0, point 3"
        );
        let e = ZoneError::CoordinateOutOfRange {
            axis: Axis::Latitude,
            value: -91.5,
            at: None,
        };
        assert_eq!(e.to_string(), "latitude -91.5 is outside [-90, 90]");
    }

    #[test]
    fn nested_error_prefixes_path() {
        let e = ZoneError::EmptyArea.at("regions[1]");
        assert_eq!(
            e.to_string(),
            "regions[1]: an area needs at least one region or circle"
        );
    }
}
