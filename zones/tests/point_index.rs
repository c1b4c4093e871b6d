//! The resident point index against brute force.

mod common;

use common::{Lcg, polygon, pt, region, square, square_ring};
use tocsin_zones::{Area, Circle, GeoPoint, Limits, PointIndex};

fn random_points(rng: &mut Lcg, n: usize) -> Vec<(GeoPoint, i64)> {
    (0..n as i64)
        .map(|id| (pt(rng.range(44.9, 46.1), rng.range(4.9, 7.1)), id))
        .collect()
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

/// A holed square, a second square overlapping it, and two overlapping circles.
fn test_area() -> Area {
    let holed = region(&polygon(vec![
        square_ring(5.0, 45.0, 1.0),
        square_ring(5.25, 45.25, 0.5),
    ]));
    let l = Limits::default();
    Area::new(
        vec![holed, square(5.8, 45.8, 0.5)],
        vec![
            Circle::new(pt(45.5, 6.5), 20_000.0, &l).unwrap(),
            Circle::new(pt(45.6, 6.6), 15_000.0, &l).unwrap(),
        ],
    )
    .unwrap()
}

#[test]
fn query_matches_brute_force_without_duplicates() {
    let mut rng = Lcg::new(42);
    let mut points = random_points(&mut rng, 5_000);
    // Points on edges and vertices of the regions must be found too.
    points.push((pt(45.0, 5.5), 100_000));
    points.push((pt(45.25, 5.25), 100_001));
    points.push((pt(45.5, 5.5), 100_002));
    let area = test_area();
    let expected = sorted(
        points
            .iter()
            .filter(|(p, _)| area.contains(*p))
            .map(|&(_, id)| id)
            .collect(),
    );
    assert!(expected.len() > 500, "the area should hold many points");
    assert!(expected.contains(&100_000) && expected.contains(&100_001));
    assert!(!expected.contains(&100_002), "in the hole");

    let bulk = PointIndex::bulk_load(points.clone());
    assert_eq!(sorted(bulk.query(&area)), expected);

    let mut incremental = PointIndex::new();
    for &(p, id) in &points {
        incremental.insert(p, id);
    }
    assert_eq!(incremental.len(), points.len());
    assert_eq!(sorted(incremental.query(&area)), expected);
}

#[test]
fn insert_remove_and_query() {
    let mut index: PointIndex<i64> = PointIndex::default();
    assert!(index.is_empty());
    let area = Area::new(vec![square(0.0, 0.0, 1.0)], vec![]).unwrap();
    index.insert(pt(0.5, 0.5), 1);
    index.insert(pt(0.5, 0.5), 2);
    index.insert(pt(5.0, 5.0), 3);
    assert_eq!(index.len(), 3);
    assert_eq!(sorted(index.query(&area)), vec![1, 2]);

    assert!(index.remove(pt(0.5, 0.5), 1));
    assert!(!index.remove(pt(0.5, 0.5), 1), "already gone");
    assert!(!index.remove(pt(0.6, 0.5), 2), "wrong location");
    assert_eq!(index.query(&area), vec![2]);
    assert!(index.remove(pt(0.5, 0.5), 2));
    assert!(index.query(&area).is_empty());
    assert_eq!(index.len(), 1);
}

#[test]
fn random_removals_stay_consistent() {
    let mut rng = Lcg::new(9);
    let points = random_points(&mut rng, 3_000);
    let mut index = PointIndex::bulk_load(points.clone());
    let kept: Vec<(GeoPoint, i64)> = points
        .iter()
        .copied()
        .filter(|&(p, id)| id % 3 != 0 || !index.remove(p, id))
        .collect();
    assert_eq!(index.len(), kept.len());
    let area = test_area();
    let expected = sorted(
        kept.iter()
            .filter(|(p, _)| area.contains(*p))
            .map(|&(_, id)| id)
            .collect(),
    );
    assert_eq!(sorted(index.query(&area)), expected);
}

/// `cargo test -p tocsin-zones --release --test point_index -- --ignored --nocapture`
#[test]
#[ignore = "timing; run in release"]
fn one_million_points_against_a_thousand_vertex_polygon() {
    let mut rng = Lcg::new(1);
    let points = random_points(&mut rng, 1_000_000);
    let n = 1_000;
    let ring: Vec<serde_json::Value> = (0..=n)
        .map(|i| {
            let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
            let r = 0.45 + 0.1 * (7.0 * a).sin();
            serde_json::json!([6.0 + 1.8 * r * a.cos(), 45.5 + r * a.sin()])
        })
        .collect();
    let area = Area::new(
        vec![region(&polygon(vec![serde_json::Value::Array(ring)]))],
        vec![],
    )
    .unwrap();
    let index = PointIndex::bulk_load(points.clone());
    let start = std::time::Instant::now();
    let found = index.query(&area).len();
    let elapsed = start.elapsed();
    println!("{found} of 1M points in {elapsed:?}");
    let expected = points.iter().filter(|(p, _)| area.contains(*p)).count();
    assert_eq!(found, expected);
}
