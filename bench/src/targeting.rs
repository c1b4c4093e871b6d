//! Targeting: which residents lie inside an alert's polygon. The polygons
//! are star-shaped around the centre with 10, 100 or 1 000 vertices and
//! sized so that they take about 5 %, 30 % and 80 % of the residents; the
//! same polygons go to Tocsin's index and to PostGIS.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tocsin_zones::{Area, GeoPoint, Limits, PointIndex, Region};

use crate::city::{CENTRE, to_lat_lon};

/// One targeting case: the ring as (lat, lon) and the area built from it.
#[derive(Debug)]
pub struct Case {
    pub vertices: usize,
    pub share: f64,
    pub ring: Vec<(f64, f64)>,
    pub area: Area,
}

/// Kilometres from the centre of a point.
fn distance_km(p: GeoPoint) -> f64 {
    let north = (p.lat() - CENTRE.0) * 111.32;
    let east = (p.lon() - CENTRE.1) * 111.32 * CENTRE.0.to_radians().cos();
    (north * north + east * east).sqrt()
}

/// The radius of the circle around the centre holding `share` of the
/// residents: a star polygon of that mean radius holds about as many.
fn radius_for(residents: &[GeoPoint], share: f64) -> f64 {
    let mut d: Vec<f64> = residents.iter().map(|p| distance_km(*p)).collect();
    d.sort_by(f64::total_cmp);
    let i = ((d.len() as f64 * share) as usize).min(d.len().saturating_sub(1));
    d.get(i).copied().unwrap_or(1.0)
}

/// A closed star ring: each vertex at the radius ± 8 %, so edges are not
/// all alike (a regular polygon would flatter any index).
pub fn star(radius_km: f64, vertices: usize, seed: u64) -> Vec<(f64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ring: Vec<(f64, f64)> = (0..vertices)
        .map(|i| {
            let angle = std::f64::consts::TAU * i as f64 / vertices as f64;
            let r = radius_km * (0.92 + 0.16 * rng.random::<f64>());
            to_lat_lon(r * angle.cos(), r * angle.sin())
        })
        .collect();
    ring.push(ring[0]);
    ring
}

pub fn cases(residents: &[GeoPoint], seed: u64) -> Vec<Case> {
    let mut out = Vec::new();
    for (vertices, share) in [(10, 0.05), (100, 0.30), (1_000, 0.80)] {
        let ring = star(
            radius_for(residents, share),
            vertices,
            seed ^ vertices as u64,
        );
        let coords: Vec<[f64; 2]> = ring.iter().map(|(lat, lon)| [*lon, *lat]).collect();
        let geometry = serde_json::json!({"type": "Polygon", "coordinates": [coords]});
        let region = Region::from_geojson(&geometry, &Limits::default())
            .expect("a star ring is a valid polygon");
        let area = Area::new(vec![region], vec![]).expect("one region");
        out.push(Case {
            vertices,
            share,
            ring,
            area,
        });
    }
    out
}

pub fn index(residents: &[GeoPoint]) -> PointIndex<u32> {
    PointIndex::bulk_load(
        residents
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect(),
    )
}

/// The ring as WKT (lon lat), for PostGIS.
pub fn wkt(ring: &[(f64, f64)]) -> String {
    let pts: Vec<String> = ring
        .iter()
        .map(|(lat, lon)| format!("{lon} {lat}"))
        .collect();
    format!("POLYGON(({}))", pts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city;

    #[test]
    fn cases_take_about_their_share_and_the_index_agrees_with_a_scan() {
        let c = city::generate(20_000, 3, |_| {});
        let idx = index(&c.residents);
        for case in cases(&c.residents, 3) {
            let found = idx.query(&case.area).len();
            let scanned = c
                .residents
                .iter()
                .filter(|p| case.area.contains(**p))
                .count();
            assert_eq!(found, scanned, "{} vertices", case.vertices);
            let share = found as f64 / c.residents.len() as f64;
            assert!(
                (share - case.share).abs() < 0.05,
                "{share} for {}",
                case.share
            );
            assert_eq!(case.ring.len(), case.vertices + 1);
        }
        assert!(wkt(&[(1.0, 2.0), (3.0, 4.0)]).starts_with("POLYGON((2 1, 4 3"));
    }
}
