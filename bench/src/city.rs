//! A synthetic city, the same for the same seed on every machine: N
//! residents clustered like a real city's housing (dense blocks around
//! many centres, a thin spread between them) over about 30 × 30 km around
//! Lutsk, and a grid of district zones.
//!
//! The generator is ChaCha8 seeded from `seed`, so a run can be repeated
//! and two implementations (Tocsin, PostGIS) see exactly the same points.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tocsin_zones::{GeoPoint, Limits, Region};

/// The centre of the city (Lutsk).
pub const CENTRE: (f64, f64) = (50.747, 25.325);
/// Half the side of the square the city covers.
pub const HALF_KM: f64 = 15.0;
const KM_PER_DEG_LAT: f64 = 111.32;

#[derive(Debug)]
pub struct City {
    pub residents: Vec<GeoPoint>,
    /// District zones (a 6 × 6 grid: 36 polygons).
    pub districts: Vec<Region>,
}

/// Kilometres east and north of the centre → (lat, lon).
pub fn to_lat_lon(east_km: f64, north_km: f64) -> (f64, f64) {
    let lat = CENTRE.0 + north_km / KM_PER_DEG_LAT;
    let lon = CENTRE.1 + east_km / (KM_PER_DEG_LAT * CENTRE.0.to_radians().cos());
    (lat, lon)
}

/// A standard normal variate (Box–Muller), so no other crate decides the
/// sequence.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

struct Cluster {
    east: f64,
    north: f64,
    sigma_km: f64,
}

pub fn generate(residents: usize, seed: u64, progress: impl Fn(u64)) -> City {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Housing estates: denser near the centre, a few far out.
    let clusters: Vec<Cluster> = (0..40)
        .map(|_| Cluster {
            east: (normal(&mut rng) * 5.0).clamp(-HALF_KM, HALF_KM),
            north: (normal(&mut rng) * 5.0).clamp(-HALF_KM, HALF_KM),
            sigma_km: 0.4 + rng.random::<f64>() * 1.6,
        })
        .collect();
    let mut points = Vec::with_capacity(residents);
    for i in 0..residents {
        let (east, north) = if rng.random::<f64>() < 0.85 {
            let c = &clusters[rng.random_range(0..clusters.len())];
            (
                c.east + normal(&mut rng) * c.sigma_km,
                c.north + normal(&mut rng) * c.sigma_km,
            )
        } else {
            (
                (rng.random::<f64>() * 2.0 - 1.0) * HALF_KM,
                (rng.random::<f64>() * 2.0 - 1.0) * HALF_KM,
            )
        };
        // Just inside the edge: a point on a district's border may or may
        // not count as inside it, which would make the totals fuzzy.
        let edge = HALF_KM * 0.999;
        let (lat, lon) = to_lat_lon(east.clamp(-edge, edge), north.clamp(-edge, edge));
        points.push(GeoPoint::new(lat, lon).expect("inside the city, so valid"));
        if i % 50_000 == 0 {
            progress(i as u64);
        }
    }
    City {
        residents: points,
        districts: districts(),
    }
}

/// A 6 × 6 grid of rectangles over the city.
fn districts() -> Vec<Region> {
    let step = 2.0 * HALF_KM / 6.0;
    let mut out = Vec::new();
    for row in 0..6 {
        for col in 0..6 {
            let (w, s) = (-HALF_KM + col as f64 * step, -HALF_KM + row as f64 * step);
            let ring: Vec<[f64; 2]> = [
                (w, s),
                (w + step, s),
                (w + step, s + step),
                (w, s + step),
                (w, s),
            ]
            .iter()
            .map(|(e, n)| {
                let (lat, lon) = to_lat_lon(*e, *n);
                [lon, lat]
            })
            .collect();
            let geometry = serde_json::json!({"type": "Polygon", "coordinates": [ring]});
            out.push(
                Region::from_geojson(&geometry, &Limits::default()).expect("a valid rectangle"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_city() {
        let a = generate(1_000, 7, |_| {});
        let b = generate(1_000, 7, |_| {});
        let c = generate(1_000, 8, |_| {});
        assert_eq!(a.residents, b.residents);
        assert_ne!(a.residents, c.residents);
        assert_eq!(a.districts.len(), 36);
        let every_point_in_a_district = a
            .residents
            .iter()
            .all(|p| a.districts.iter().any(|d| d.contains(*p)));
        assert!(every_point_in_a_district);
    }
}
