//! `Circle`: "everyone within N metres of this point", tested with great-circle distance.
//!
//! Membership uses the haversine distance on geo's mean Earth radius. The polygon
//! approximation (for intersection and territory checks, never for membership) uses
//! haversine destination points on the same sphere, so both views agree on where the
//! circle's edge is. The approximation is circumscribed: it covers the circle, which
//! errs towards "touches the zone" and "pokes outside the territory" — the safe side
//! for both questions.

use std::f64::consts::PI;

use geo::{Destination, Distance, Haversine, LineString, MultiPolygon, Point, Polygon};

use crate::Limits;
use crate::error::ZoneError;
use crate::point::{BBox, GeoPoint};
use crate::region::Region;

/// Sides of the polygon approximation.
const SIDES: usize = 64;

/// Extra outward scale on top of the circumscribing factor 1/cos(π/SIDES). Straight
/// edges in longitude/latitude are not great-circle arcs, and the map from sphere to
/// degrees stretches east-west more towards the poles. Measured, the shortfall is at
/// most 0.07 % (200 km at latitude 85°); 0.2 % covers it with room to spare and costs
/// at most 400 m at the largest radius. The tests check the cover.
const OUTWARD_MARGIN: f64 = 1.002;

/// Pads the exact bounding box so rounding can never drop a point at exactly the
/// radius (1e-9° is about 0.1 mm).
const BBOX_PAD_DEG: f64 = 1e-9;

/// A circle of radius in metres around a point, tested exactly with great-circle (haversine) distance.
#[derive(Debug, Clone)]
pub struct Circle {
    center: GeoPoint,
    radius_m: f64,
    bbox: BBox,
    region: Region,
}

impl Circle {
    /// The radius must be finite, > 0 and <= `limits.max_circle_radius_m`. Circles whose
    /// polygon approximation would reach a pole or cross the antimeridian are refused:
    /// GeoJSON zones cannot express those either.
    pub fn new(center: GeoPoint, radius_m: f64, limits: &Limits) -> Result<Circle, ZoneError> {
        let invalid = |reason: String| Err(ZoneError::InvalidCircle { reason });
        if !radius_m.is_finite() || radius_m <= 0.0 {
            return invalid(format!(
                "radius {radius_m} m must be a finite number greater than 0"
            ));
        }
        if radius_m > limits.max_circle_radius_m {
            return invalid(format!(
                "radius {radius_m} m exceeds the maximum of {} m",
                limits.max_circle_radius_m
            ));
        }
        let outer_m = radius_m / (PI / SIDES as f64).cos() * OUTWARD_MARGIN;
        let Some(outer) = cap_bbox(center, outer_m) else {
            return invalid(format!(
                "a circle of {radius_m} m around ({}, {}) reaches a pole, which is not supported",
                center.lat(),
                center.lon()
            ));
        };
        // A small gap keeps rounding in the destination formula from wrapping a vertex
        // to the far side of the antimeridian.
        if outer.min_lon <= -180.0 + 1e-6 || outer.max_lon >= 180.0 - 1e-6 {
            return invalid(format!(
                "a circle of {radius_m} m around ({}, {}) crosses the antimeridian (longitude ±180), which is not supported",
                center.lat(),
                center.lon()
            ));
        }
        let bbox = cap_bbox(center, radius_m).expect("the inner cap is smaller than the outer");
        let region = approximation(center, outer_m);
        Ok(Circle {
            center,
            radius_m,
            bbox,
            region,
        })
    }

    pub fn center(&self) -> GeoPoint {
        self.center
    }

    pub fn radius_m(&self) -> f64 {
        self.radius_m
    }

    /// Whether the great-circle distance from the centre to `p` is at most the radius.
    pub fn contains(&self, p: GeoPoint) -> bool {
        distance_m(self.center, p) <= self.radius_m
    }

    /// Polygon approximation built from geodesic destination points (64 sides), circumscribed so it covers the circle; used for intersection / territory checks only.
    pub fn to_region(&self) -> Region {
        self.region.clone()
    }

    /// The exact bounding box of the circle (not of its polygon approximation).
    pub fn bbox(&self) -> BBox {
        self.bbox
    }
}

/// Great-circle distance in metres on geo's mean Earth radius.
pub(crate) fn distance_m(a: GeoPoint, b: GeoPoint) -> f64 {
    Haversine.distance(point(a), point(b))
}

fn point(p: GeoPoint) -> Point<f64> {
    Point::new(p.lon(), p.lat())
}

/// Bounding box of the spherical cap of `radius_m` around `center`, or `None` if the
/// cap reaches a pole (its longitude extent would then be unbounded).
fn cap_bbox(center: GeoPoint, radius_m: f64) -> Option<BBox> {
    let angle = radius_m / Haversine.radius();
    let dlat = angle.to_degrees();
    if center.lat().abs() + dlat >= 90.0 - BBOX_PAD_DEG {
        return None;
    }
    // Widest longitude offset of a cap: where a meridian is tangent to it.
    let dlon = (angle.sin() / center.lat().to_radians().cos())
        .min(1.0)
        .asin()
        .to_degrees();
    Some(BBox {
        min_lat: center.lat() - dlat - BBOX_PAD_DEG,
        max_lat: center.lat() + dlat + BBOX_PAD_DEG,
        min_lon: (center.lon() - dlon - BBOX_PAD_DEG).max(-180.0),
        max_lon: (center.lon() + dlon + BBOX_PAD_DEG).min(180.0),
    })
}

/// The polygon through `SIDES` points at `vertex_m` from the centre, counter-clockwise.
fn approximation(center: GeoPoint, vertex_m: f64) -> Region {
    let mut coords: Vec<geo::Coord<f64>> = (0..SIDES)
        .map(|k| {
            // Bearings run clockwise from north; walking them backwards gives the
            // counter-clockwise exterior ring RFC 7946 asks for.
            let bearing = 360.0 - k as f64 * 360.0 / SIDES as f64;
            Haversine
                .destination(point(center), bearing % 360.0, vertex_m)
                .0
        })
        .collect();
    coords.push(coords[0]);
    let vertices = coords.len();
    Region::from_valid(
        MultiPolygon(vec![Polygon::new(LineString(coords), vec![])]),
        vertices,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint::new(lat, lon).unwrap()
    }

    #[test]
    fn radius_is_checked() {
        let l = Limits::default();
        let c = pt(48.85, 2.35);
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY, 200_000.1] {
            assert!(
                matches!(
                    Circle::new(c, bad, &l),
                    Err(ZoneError::InvalidCircle { .. })
                ),
                "{bad}"
            );
        }
        assert!(Circle::new(c, 200_000.0, &l).is_ok());
    }

    #[test]
    fn poles_and_antimeridian_are_refused() {
        let l = Limits::default();
        let err = Circle::new(pt(89.5, 0.0), 100_000.0, &l).unwrap_err();
        assert!(err.to_string().contains("pole"), "{err}");
        let err = Circle::new(pt(-17.8, 179.9), 50_000.0, &l).unwrap_err();
        assert!(err.to_string().contains("antimeridian"), "{err}");
        assert!(Circle::new(pt(-17.8, 178.0), 50_000.0, &l).is_ok());
    }

    #[test]
    fn membership_uses_great_circle_distance() {
        // Paris centre; 0.009° of latitude is 1000.75 m on geo's mean radius
        // (6 371 008.8 m × 0.009 × π / 180), so a 1 km circle excludes it and a
        // 1001 m circle includes it.
        let center = pt(48.8566, 2.3522);
        let north = pt(48.8566 + 0.009, 2.3522);
        let l = Limits::default();
        assert!(!Circle::new(center, 1000.0, &l).unwrap().contains(north));
        assert!(Circle::new(center, 1001.0, &l).unwrap().contains(north));
        // East-west, 1 km spans more degrees of longitude than of latitude.
        let east = pt(48.8566, 2.3522 + 0.0136);
        assert!(Circle::new(center, 1000.0, &l).unwrap().contains(east));
        assert!(
            !Circle::new(center, 1000.0, &l)
                .unwrap()
                .contains(pt(48.8566, 2.3522 + 0.0137))
        );
        assert!(Circle::new(center, 1.0, &l).unwrap().contains(center));
    }

    #[test]
    fn bbox_contains_points_at_the_radius() {
        let l = Limits::default();
        for (lat, r) in [(0.0, 1_000.0), (48.0, 200_000.0), (-70.0, 50_000.0)] {
            let c = Circle::new(pt(lat, 10.0), r, &l).unwrap();
            for k in 0..720 {
                let p = Haversine.destination(point(c.center()), k as f64 / 2.0, r);
                assert!(c.bbox().contains(pt(p.y(), p.x())), "lat {lat} r {r} k {k}");
            }
        }
    }

    #[test]
    fn approximation_covers_the_circle() {
        let l = Limits::default();
        for lat in [0.0, 45.0, -60.0, 75.0, 85.0] {
            for r in [30.0, 1_000.0, 50_000.0, 200_000.0] {
                let c = Circle::new(pt(lat, 20.0), r, &l).unwrap();
                let region = c.to_region();
                assert_eq!(region.vertex_count(), SIDES + 1);
                assert!(crate::validate::validate(region.as_multi_polygon()).is_ok());
                for k in 0..3600 {
                    let p = Haversine.destination(point(c.center()), k as f64 / 10.0, r);
                    assert!(
                        region.contains(pt(p.y(), p.x())),
                        "lat {lat} r {r} bearing {}",
                        k as f64 / 10.0
                    );
                }
            }
        }
    }
}
