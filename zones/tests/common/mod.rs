//! Helpers shared by the integration tests.
#![allow(dead_code)]

use serde_json::{Value, json};
use tocsin_zones::{GeoPoint, Limits, Region};

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG), so failures reproduce.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

pub fn pt(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

/// A closed, counter-clockwise square ring of `[lon, lat]` positions.
pub fn square_ring(lon: f64, lat: f64, size: f64) -> Value {
    json!([
        [lon, lat],
        [lon + size, lat],
        [lon + size, lat + size],
        [lon, lat + size],
        [lon, lat]
    ])
}

pub fn polygon(rings: Vec<Value>) -> Value {
    json!({ "type": "Polygon", "coordinates": rings })
}

pub fn region(geometry: &Value) -> Region {
    Region::from_geojson(geometry, &Limits::default()).unwrap()
}

pub fn square(lon: f64, lat: f64, size: f64) -> Region {
    region(&polygon(vec![square_ring(lon, lat, size)]))
}
