//! Validated WGS84 points and axis-aligned bounding boxes in degrees.

use serde::{Deserialize, Serialize};

use crate::error::{Axis, VertexRef, ZoneError};

/// A WGS84 position in degrees. Always finite and within range: the only ways to get
/// one are [`GeoPoint::new`] and deserializing `{"lat": .., "lon": ..}`, which calls it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LatLon")]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

impl GeoPoint {
    /// Latitude first, as people say it; GeoJSON order ([lon, lat]) is handled by the parsers.
    pub fn new(lat: f64, lon: f64) -> Result<GeoPoint, ZoneError> {
        check_coordinate(Axis::Latitude, lat, None)?;
        check_coordinate(Axis::Longitude, lon, None)?;
        Ok(GeoPoint { lat, lon })
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Rebuilds a point read back from an index that only ever stores valid points.
    pub(crate) fn from_indexed(lat: f64, lon: f64) -> GeoPoint {
        debug_assert!(GeoPoint::new(lat, lon).is_ok());
        GeoPoint { lat, lon }
    }

    /// The point in geo's planar convention: x = longitude, y = latitude.
    pub(crate) fn coord(&self) -> geo::Coord<f64> {
        geo::Coord {
            x: self.lon,
            y: self.lat,
        }
    }
}

/// The unchecked wire form of a [`GeoPoint`].
#[derive(Deserialize)]
struct LatLon {
    lat: f64,
    lon: f64,
}

impl TryFrom<LatLon> for GeoPoint {
    type Error = ZoneError;

    fn try_from(v: LatLon) -> Result<GeoPoint, ZoneError> {
        GeoPoint::new(v.lat, v.lon)
    }
}

/// Checks one coordinate value; shared by points and polygon vertices so both report alike.
pub(crate) fn check_coordinate(
    axis: Axis,
    value: f64,
    at: Option<VertexRef>,
) -> Result<(), ZoneError> {
    if !value.is_finite() {
        return Err(ZoneError::NonFiniteCoordinate { axis, value, at });
    }
    let (min, max) = axis.range();
    if !(min..=max).contains(&value) {
        return Err(ZoneError::CoordinateOutOfRange { axis, value, at });
    }
    Ok(())
}

/// An axis-aligned bounding box in degrees, edges inclusive.
///
/// Boxes never wrap the antimeridian: every shape in this crate lies within
/// [-180, 180] longitude, so `min_lon <= max_lon` always holds for boxes produced here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

impl BBox {
    /// Whether `p` lies inside or on the edge of the box.
    pub fn contains(&self, p: GeoPoint) -> bool {
        self.contains_coord(p.coord())
    }

    /// Whether the two boxes share at least one point.
    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_lat <= other.max_lat
            && other.min_lat <= self.max_lat
            && self.min_lon <= other.max_lon
            && other.min_lon <= self.max_lon
    }

    /// Whether `other` lies entirely inside this box.
    pub fn covers(&self, other: &BBox) -> bool {
        self.min_lat <= other.min_lat
            && other.max_lat <= self.max_lat
            && self.min_lon <= other.min_lon
            && other.max_lon <= self.max_lon
    }

    /// The smallest box containing both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox {
            min_lat: self.min_lat.min(other.min_lat),
            min_lon: self.min_lon.min(other.min_lon),
            max_lat: self.max_lat.max(other.max_lat),
            max_lon: self.max_lon.max(other.max_lon),
        }
    }

    pub(crate) fn contains_coord(&self, c: geo::Coord<f64>) -> bool {
        self.min_lon <= c.x && c.x <= self.max_lon && self.min_lat <= c.y && c.y <= self.max_lat
    }

    pub(crate) fn from_rect(r: geo::Rect<f64>) -> BBox {
        BBox {
            min_lat: r.min().y,
            min_lon: r.min().x,
            max_lat: r.max().y,
            max_lon: r.max().x,
        }
    }

    /// The box as an R-tree envelope over `[lon, lat]` points.
    pub(crate) fn envelope(&self) -> rstar::AABB<[f64; 2]> {
        rstar::AABB::from_corners([self.min_lon, self.min_lat], [self.max_lon, self.max_lat])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geopoint_accepts_extremes_and_rejects_out_of_range() {
        assert!(GeoPoint::new(90.0, 180.0).is_ok());
        assert!(GeoPoint::new(-90.0, -180.0).is_ok());
        let p = GeoPoint::new(48.85, 2.35).unwrap();
        assert_eq!((p.lat(), p.lon()), (48.85, 2.35));
        assert!(matches!(
            GeoPoint::new(90.5, 0.0),
            Err(ZoneError::CoordinateOutOfRange {
                axis: Axis::Latitude,
                ..
            })
        ));
        assert!(matches!(
            GeoPoint::new(0.0, -180.01),
            Err(ZoneError::CoordinateOutOfRange {
                axis: Axis::Longitude,
                ..
            })
        ));
        assert!(matches!(
            GeoPoint::new(f64::NAN, 0.0),
            Err(ZoneError::NonFiniteCoordinate { .. })
        ));
        assert!(matches!(
            GeoPoint::new(0.0, f64::INFINITY),
            Err(ZoneError::NonFiniteCoordinate { .. })
        ));
    }

    #[test]
    fn geopoint_serde_validates() {
        let p: GeoPoint =
            serde_json::from_value(serde_json::json!({"lat": 1.5, "lon": 2.5})).unwrap();
        assert_eq!(p, GeoPoint::new(1.5, 2.5).unwrap());
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::json!({"lat": 1.5, "lon": 2.5})
        );
        let bad = serde_json::from_value::<GeoPoint>(serde_json::json!({"lat": 95.0, "lon": 0.0}));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("latitude 95 is outside")
        );
    }

    #[test]
    fn bbox_relations_are_edge_inclusive() {
        let a = BBox {
            min_lat: 0.0,
            min_lon: 0.0,
            max_lat: 1.0,
            max_lon: 1.0,
        };
        let b = BBox {
            min_lat: 1.0,
            min_lon: 1.0,
            max_lat: 2.0,
            max_lon: 2.0,
        };
        assert!(a.intersects(&b));
        assert!(a.contains(GeoPoint::new(1.0, 1.0).unwrap()));
        assert!(!a.covers(&b));
        assert!(a.union(&b).covers(&a) && a.union(&b).covers(&b));
    }
}
