//! Circles inside areas, area union semantics, territory checks and the stored JSON form.

mod common;

use common::{polygon, pt, region, square, square_ring};
use serde_json::json;
use tocsin_zones::{Area, Circle, Limits, ZoneError};

fn circle(lat: f64, lon: f64, radius_m: f64) -> Circle {
    Circle::new(pt(lat, lon), radius_m, &Limits::default()).unwrap()
}

#[test]
fn circle_edge_at_about_one_kilometre() {
    // 0.009° of latitude is 1000.75 m on the mean Earth radius used for distances.
    let c = circle(48.8566, 2.3522, 1000.0);
    assert!(
        c.contains(pt(48.8566 + 0.0089, 2.3522)),
        "about 990 m north"
    );
    assert!(
        !c.contains(pt(48.8566 + 0.009, 2.3522)),
        "about 1000.75 m north"
    );
    assert!(circle(48.8566, 2.3522, 1000.8).contains(pt(48.8566 + 0.009, 2.3522)));
    assert_eq!((c.radius_m(), c.center()), (1000.0, pt(48.8566, 2.3522)));
    // The circle's box spans its extent: 1 km is ~0.009° north-south.
    let b = c.bbox();
    assert!((b.max_lat - b.min_lat - 0.018).abs() < 0.0002, "{b:?}");
}

#[test]
fn circle_region_covers_the_circle_and_is_reasonably_tight() {
    let c = circle(48.8566, 2.3522, 1000.0);
    let r = c.to_region();
    assert!(r.contains(c.center()));
    assert!(
        r.contains(pt(48.8566 + 0.009, 2.3522)),
        "1000.75 m north: within the margin"
    );
    assert!(
        !r.contains(pt(48.8566 + 0.0092, 2.3522)),
        "1023 m north: beyond it"
    );
    let again = tocsin_zones::Region::from_geojson(&r.to_geojson(), &Limits::default()).unwrap();
    assert_eq!(again.as_multi_polygon(), r.as_multi_polygon());
}

#[test]
fn area_is_a_union() {
    let area = Area::new(
        vec![square(0.0, 0.0, 1.0)],
        vec![circle(10.0, 10.0, 1000.0), circle(10.0, 10.005, 1000.0)],
    )
    .unwrap();
    assert!(area.contains(pt(0.5, 0.5)), "in the region");
    assert!(area.contains(pt(10.0, 10.0)), "in the first circle");
    assert!(area.contains(pt(10.0, 10.013)), "only in the second circle");
    assert!(!area.contains(pt(5.0, 5.0)), "between the shapes");
    assert!(!area.contains(pt(10.0, 9.98)));
    let b = area.bbox();
    assert_eq!((b.min_lat, b.min_lon), (0.0, 0.0));
    assert!(b.max_lat > 10.0 && b.max_lon > 10.005);
    assert_eq!(area.regions().len(), 1);
    assert_eq!(area.circles().len(), 2);
}

#[test]
fn empty_area_is_refused() {
    assert_eq!(Area::new(vec![], vec![]).unwrap_err(), ZoneError::EmptyArea);
    assert_eq!(
        Area::from_json(&json!({}), &Limits::default()).unwrap_err(),
        ZoneError::EmptyArea
    );
}

#[test]
fn circle_poking_outside_the_territory_is_not_within() {
    // Territory: lon 2.0..2.5, lat 48.7..49.0. At latitude 48.85, 0.005° of longitude
    // is about 366 m, so a circle centred there reaches the west edge at 366 m.
    let territory = region(&polygon(vec![json!([
        [2.0, 48.7],
        [2.5, 48.7],
        [2.5, 49.0],
        [2.0, 49.0],
        [2.0, 48.7]
    ])]));
    let inside = Area::new(vec![], vec![circle(48.85, 2.005, 300.0)]).unwrap();
    let poking = Area::new(vec![], vec![circle(48.85, 2.005, 500.0)]).unwrap();
    assert!(inside.is_within(&territory));
    assert!(!poking.is_within(&territory));

    let flush = Area::new(
        vec![region(&polygon(vec![json!([
            [2.0, 48.7],
            [2.1, 48.7],
            [2.1, 48.8],
            [2.0, 48.8],
            [2.0, 48.7]
        ])]))],
        vec![],
    )
    .unwrap();
    assert!(
        flush.is_within(&territory),
        "sharing the territory's edge is fine"
    );
    let mixed = Area::new(vec![square(2.1, 48.8, 0.1)], vec![circle(0.0, 0.0, 10.0)]).unwrap();
    assert!(!mixed.is_within(&territory), "every shape must be within");
}

#[test]
fn intersects_region_counts_touching_and_circles() {
    let zone = square(0.0, 0.0, 1.0);
    let touching = Area::new(vec![square(1.0, 0.0, 1.0)], vec![]).unwrap();
    let apart = Area::new(vec![square(2.0, 0.0, 1.0)], vec![]).unwrap();
    assert!(touching.intersects_region(&zone));
    assert!(!apart.intersects_region(&zone));
    // 0.01° of longitude at the equator is about 1112 m.
    let near = Area::new(vec![], vec![circle(0.5, 1.01, 1500.0)]).unwrap();
    let short = Area::new(vec![], vec![circle(0.5, 1.01, 800.0)]).unwrap();
    assert!(near.intersects_region(&zone));
    assert!(!short.intersects_region(&zone));
}

#[test]
fn area_json_round_trips() {
    let area = Area::new(
        vec![
            region(&polygon(vec![
                square_ring(0.0, 0.0, 10.0),
                square_ring(4.0, 4.0, 2.0),
            ])),
            square(20.0, 20.0, 1.0),
        ],
        vec![circle(48.8566, 2.3522, 1234.5)],
    )
    .unwrap();
    let stored = area.to_json();
    assert_eq!(
        stored["circles"],
        json!([{"lat": 48.8566, "lon": 2.3522, "radius_m": 1234.5}])
    );
    assert_eq!(stored["regions"].as_array().unwrap().len(), 2);
    let loaded = Area::from_json(&stored, &Limits::default()).unwrap();
    assert_eq!(loaded.to_json(), stored);
    assert_eq!(loaded.bbox(), area.bbox());
    let only_circles = json!({"circles": [{"lat": 1.0, "lon": 2.0, "radius_m": 3.0}]});
    assert!(Area::from_json(&only_circles, &Limits::default()).is_ok());
}

#[test]
fn area_json_errors_name_the_member() {
    let limits = Limits::default();
    let message = |v: serde_json::Value| Area::from_json(&v, &limits).unwrap_err().to_string();
    assert_eq!(
        message(
            json!({"regions": [polygon(vec![square_ring(0.0, 0.0, 1.0)]), {"type": "Point", "coordinates": [0, 0]}]})
        ),
        "regions[1]: type \"Point\" is not accepted; expected \"Polygon\" or \"MultiPolygon\""
    );
    assert_eq!(
        message(json!({"circles": [{"lat": 1.0, "lon": 2.0, "radius_m": 0}]})),
        "circles[0]: invalid circle: radius 0 m must be a finite number greater than 0"
    );
    assert_eq!(
        message(json!({"circles": [{"lat": 1.0, "lon": 2.0, "radius_m": "5"}]})),
        "circles[0]: radius_m: expected a number, found a string"
    );
    assert_eq!(
        message(json!({"circles": [{"lon": 2.0, "radius_m": 5}]})),
        "circles[0]: missing \"lat\" member; expected a number"
    );
    assert_eq!(
        message(json!({"circles": [{"lat": 91.0, "lon": 2.0, "radius_m": 5}]})),
        "circles[0]: latitude 91 is outside [-90, 90]"
    );
    assert_eq!(
        message(json!({"regions": {}})),
        "regions: expected an array, found an object"
    );
    assert_eq!(
        message(json!([])),
        "expected an area object {\"regions\": [...], \"circles\": [...]}, found an array"
    );
    assert_eq!(
        message(json!({"circles": [{"lat": 1.0, "lon": 2.0, "radius_m": 250000}]})),
        "circles[0]: invalid circle: radius 250000 m exceeds the maximum of 200000 m"
    );
}

#[test]
fn overlaps_region_ignores_neighbours_sharing_a_border() {
    let zone = square(0.0, 0.0, 1.0);
    let next_door = Area::new(vec![square(1.0, 0.0, 1.0)], vec![]).unwrap();
    let same = Area::new(vec![square(0.0, 0.0, 1.0)], vec![]).unwrap();
    assert!(next_door.intersects_region(&zone) && !next_door.overlaps_region(&zone));
    assert!(same.overlaps_region(&zone));
    let reaching_in = Area::new(vec![], vec![circle(0.5, 1.01, 1500.0)]).unwrap();
    let short = Area::new(vec![], vec![circle(0.5, 1.01, 800.0)]).unwrap();
    assert!(reaching_in.overlaps_region(&zone));
    assert!(!short.overlaps_region(&zone));
}

#[test]
fn a_stored_area_is_read_back_without_the_request_limits() {
    let limits = Limits {
        max_circle_radius_m: 50_000.0,
        ..Limits::default()
    };
    let circle = Circle::new(pt(50.75, 25.3), 40_000.0, &limits).unwrap();
    let stored = Area::new(vec![], vec![circle]).unwrap().to_json();
    let tighter = Limits {
        max_circle_radius_m: 10_000.0,
        ..Limits::default()
    };
    assert!(Area::from_json(&stored, &tighter).is_err());
    let read = Area::from_stored_json(&stored).unwrap();
    assert_eq!(read.circles()[0].radius_m(), 40_000.0);
    assert!(Area::from_stored_json(&json!({"regions": [1]})).is_err());
}
