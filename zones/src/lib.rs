//! Geographic zones for Tocsin: which residents does an alert reach?
//!
//! This crate parses and validates the shapes operators upload (GeoJSON Polygon and
//! MultiPolygon geometries, or whole Feature/FeatureCollection files of named zones),
//! models the area a notice targets (a union of [`Region`]s and metre-radius
//! [`Circle`]s), and finds the residents inside an area with a spatial
//! [`PointIndex`]. It has no HTTP or database code; callers store [`Area::to_json`]
//! and [`Region::to_geojson`] as they please.
//!
//! # Conventions
//!
//! - Coordinates are WGS84 degrees. GeoJSON positions are `[longitude, latitude]`
//!   (RFC 7946), while [`GeoPoint::new`] takes `(lat, lon)` as people say it.
//! - Region tests are planar in longitude/latitude, as GeoJSON edges are straight
//!   lines in those coordinates. Circle membership is exact great-circle distance.
//! - A point on a region's edge or vertex is inside (a resident on a district's
//!   border street is warned); a point in a hole is outside unless it is on the
//!   hole's edge.
//! - Shapes never cross the antimeridian or contain a pole: split GeoJSON there, as
//!   RFC 7946 asks. Circles that would do so are refused.
//! - Everything is validated on construction, with errors that name the polygon,
//!   ring and point at fault; size limits ([`Limits`]) are checked before any costly
//!   work.

mod area;
mod circle;
mod edge_index;
mod error;
mod features;
mod geojson_io;
mod point;
mod point_index;
mod region;
mod validate;

#[cfg(test)]
mod test_support;

pub use area::Area;
pub use circle::Circle;
pub use error::{Axis, RingRef, VertexRef, ZoneError};
pub use features::{FeatureError, MAX_ZONE_NAME_CHARS, ZoneFeature, parse_zone_features};
pub use point::{BBox, GeoPoint};
pub use point_index::PointIndex;
pub use region::Region;

/// Size limits applied when parsing shapes, so hostile input is refused cheaply.
///
/// Deserializes from configuration with missing fields taking their defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Most positions a geometry may have in total, closing positions included.
    pub max_vertices: usize,
    /// Largest circle radius, in metres.
    pub max_circle_radius_m: f64,
}

impl Limits {
    /// No limits, for reading back what was checked against some before.
    pub(crate) const UNLIMITED: Limits = Limits {
        max_vertices: usize::MAX,
        max_circle_radius_m: f64::INFINITY,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_vertices: 20_000,
            max_circle_radius_m: 200_000.0,
        }
    }
}
