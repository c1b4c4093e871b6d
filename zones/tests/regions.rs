//! Region parsing, validation errors, point tests and relations.

mod common;

use common::{Lcg, polygon, pt, region, square, square_ring};
use serde_json::{Value, json};
use tocsin_zones::{Axis, BBox, Limits, Region, RingRef, VertexRef, ZoneError};

fn parse(v: &Value) -> Result<Region, ZoneError> {
    Region::from_geojson(v, &Limits::default())
}

/// Square (0..10)² with a hole (4..6)², coordinates as [lon, lat].
fn square_with_hole() -> Region {
    region(&polygon(vec![
        square_ring(0.0, 0.0, 10.0),
        square_ring(4.0, 4.0, 2.0),
    ]))
}

#[test]
fn edges_and_vertices_are_inside_holes_are_outside() {
    let r = square_with_hole();
    assert!(r.contains(pt(1.0, 1.0)), "interior");
    assert!(r.contains(pt(0.0, 5.0)), "on the south edge");
    assert!(r.contains(pt(5.0, 10.0)), "on the east edge");
    assert!(r.contains(pt(0.0, 0.0)), "on a vertex");
    assert!(r.contains(pt(10.0, 10.0)), "on the opposite vertex");
    assert!(!r.contains(pt(5.0, 5.0)), "in the hole");
    assert!(r.contains(pt(4.0, 5.0)), "on the hole's edge");
    assert!(r.contains(pt(6.0, 6.0)), "on the hole's vertex");
    assert!(!r.contains(pt(-0.000001, 5.0)), "just outside");
    assert!(!r.contains(pt(5.0, 10.000001)), "just outside east");
}

#[test]
fn multipolygon_parts_are_each_inside() {
    let r = region(&json!({
        "type": "MultiPolygon",
        "coordinates": [[square_ring(0.0, 0.0, 1.0)], [square_ring(5.0, 5.0, 1.0)]],
    }));
    assert!(r.contains(pt(0.5, 0.5)));
    assert!(r.contains(pt(5.5, 5.5)));
    assert!(!r.contains(pt(3.0, 3.0)));
    assert_eq!(r.as_multi_polygon().0.len(), 2);
    assert_eq!(r.vertex_count(), 10);
    assert_eq!(
        r.bbox(),
        BBox {
            min_lat: 0.0,
            min_lon: 0.0,
            max_lat: 6.0,
            max_lon: 6.0
        }
    );
}

#[test]
fn contains_agrees_with_geo_on_random_points() {
    use geo::Intersects;
    let r = square_with_hole();
    let mut rng = Lcg::new(3);
    for _ in 0..2_000 {
        // Round to a coarse grid so many points land exactly on edges.
        let (lat, lon) = (
            (rng.range(-1.0, 11.0) * 4.0).round() / 4.0,
            rng.range(-1.0, 11.0),
        );
        let expected = r.as_multi_polygon().intersects(&geo::Point::new(lon, lat));
        assert_eq!(r.contains(pt(lat, lon)), expected, "({lat}, {lon})");
    }
}

#[test]
fn intersects_and_covers() {
    let big = square(0.0, 0.0, 10.0);
    let inner = square(2.0, 2.0, 2.0);
    let touching = square(10.0, 0.0, 1.0);
    let corner = square(10.0, 10.0, 1.0);
    let far = square(20.0, 20.0, 1.0);
    let straddling = square(9.0, 9.0, 2.0);
    let flush = square(0.0, 0.0, 5.0);

    assert!(big.intersects(&inner) && inner.intersects(&big));
    assert!(big.intersects(&touching), "a shared edge counts");
    assert!(big.intersects(&corner), "a shared corner counts");
    assert!(!big.intersects(&far));

    assert!(big.covers(&inner));
    assert!(big.covers(&flush), "a shared boundary is fine");
    assert!(big.covers(&big));
    assert!(!big.covers(&straddling));
    assert!(!big.covers(&touching));
    assert!(!inner.covers(&big));

    let holed = square_with_hole();
    assert!(!holed.covers(&square(4.5, 4.5, 1.0)), "inside the hole");
    assert!(!holed.intersects(&square(4.5, 4.5, 1.0)), "inside the hole");
    assert!(
        holed.intersects(&square(4.5, 4.5, 1.5)),
        "touching the hole's edge"
    );
    assert!(holed.covers(&square(1.0, 1.0, 1.0)));
}

#[test]
fn geojson_round_trips() {
    for g in [
        polygon(vec![
            square_ring(0.0, 0.0, 10.0),
            square_ring(4.0, 4.0, 2.0),
        ]),
        json!({
            "type": "MultiPolygon",
            "coordinates": [[square_ring(0.0, 0.0, 1.0)], [square_ring(5.0, 5.0, 1.0)]],
        }),
    ] {
        let r = region(&g);
        assert_eq!(r.to_geojson(), g);
        let again = region(&r.to_geojson());
        assert_eq!(again.as_multi_polygon(), r.as_multi_polygon());
    }
    // Altitudes and extra members are accepted and dropped.
    let with_altitude = json!({
        "type": "Polygon",
        "bbox": [0, 0, 1, 1],
        "coordinates": [[[0, 0, 5], [1, 0, 5], [1, 1, 5], [0, 0, 5]]],
    });
    assert_eq!(
        region(&with_altitude).to_geojson(),
        json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]})
    );
}

#[test]
fn from_multi_polygon_applies_the_same_checks() {
    let ok = square(0.0, 0.0, 1.0).as_multi_polygon().clone();
    assert!(Region::from_multi_polygon(ok, &Limits::default()).is_ok());
    let shape =
        |coords: Vec<(f64, f64)>| geo::MultiPolygon(vec![geo::Polygon::new(coords.into(), vec![])]);
    let bow_tie = shape(vec![(0., 0.), (2., 2.), (2., 0.), (0., 2.)]);
    assert!(matches!(
        Region::from_multi_polygon(bow_tie, &Limits::default()),
        Err(ZoneError::SelfIntersection { .. })
    ));
    let out_of_range = shape(vec![(170., 0.), (181., 0.), (175., 5.)]);
    assert!(matches!(
        Region::from_multi_polygon(out_of_range, &Limits::default()),
        Err(ZoneError::CoordinateOutOfRange {
            axis: Axis::Longitude,
            ..
        })
    ));
}

fn ring00() -> RingRef {
    RingRef {
        polygon: 0,
        ring: 0,
    }
}

#[test]
fn unclosed_ring_is_reported_not_silently_closed() {
    let g = polygon(vec![json!([[0, 0], [1, 0], [1, 1], [0, 1]])]);
    let err = parse(&g).unwrap_err();
    assert_eq!(
        err,
        ZoneError::RingNotClosed {
            at: ring00(),
            first: [0.0, 0.0],
            last: [0.0, 1.0]
        }
    );
    assert!(
        err.to_string()
            .starts_with("polygon 0, ring 0 is not closed"),
        "{err}"
    );
}

#[test]
fn short_ring_is_rejected() {
    let g = polygon(vec![json!([[0, 0], [1, 0], [0, 0]])]);
    assert_eq!(
        parse(&g).unwrap_err(),
        ZoneError::RingTooShort {
            at: ring00(),
            found: 3
        }
    );
}

#[test]
fn bow_tie_is_a_self_intersection() {
    let g = polygon(vec![json!([[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]])]);
    let err = parse(&g).unwrap_err();
    assert!(matches!(err, ZoneError::SelfIntersection { at, .. } if at == ring00()));
    assert!(err.to_string().contains("intersects itself"), "{err}");
}

#[test]
fn hole_outside_shell_and_overlapping_parts_are_invalid() {
    let g = polygon(vec![square_ring(0.0, 0.0, 1.0), square_ring(5.0, 5.0, 1.0)]);
    let err = parse(&g).unwrap_err().to_string();
    assert!(
        err.contains("polygon 0, ring 1") && err.contains("not inside"),
        "{err}"
    );

    let g = json!({
        "type": "MultiPolygon",
        "coordinates": [[square_ring(0.0, 0.0, 2.0)], [square_ring(1.0, 1.0, 2.0)]],
    });
    let err = parse(&g).unwrap_err().to_string();
    assert!(err.contains("polygons 0 and 1 overlap"), "{err}");
}

#[test]
fn coordinates_out_of_range_name_axis_and_vertex() {
    let g = polygon(vec![json!([[0, 0], [1, 0], [1, 95], [0, 0]])]);
    assert_eq!(
        parse(&g).unwrap_err(),
        ZoneError::CoordinateOutOfRange {
            axis: Axis::Latitude,
            value: 95.0,
            at: Some(VertexRef {
                polygon: 0,
                ring: 0,
                point: 2
            })
        }
    );
    let g = polygon(vec![json!([[0, 0], [1, 0], [1, 1], [190, 1], [0, 0]])]);
    assert_eq!(
        parse(&g).unwrap_err().to_string(),
        "longitude 190 is outside [-180, 180] at polygon 0, ring 0, point 3"
    );
}

#[test]
fn json_cannot_carry_nan_but_huge_numbers_are_out_of_range() {
    assert!(serde_json::from_str::<Value>("[NaN]").is_err());
    assert!(serde_json::from_str::<Value>("[1e400]").is_err());
    assert!(json!(f64::NAN).is_null());
    let g = polygon(vec![json!([[0, 0], [1e300, 0], [1, 1], [0, 0]])]);
    assert!(matches!(
        parse(&g),
        Err(ZoneError::CoordinateOutOfRange { axis: Axis::Longitude, value, .. }) if value == 1e300
    ));
}

#[test]
fn too_many_vertices_is_refused_before_parsing() {
    let limits = Limits {
        max_vertices: 10,
        ..Limits::default()
    };
    let g = json!({
        "type": "MultiPolygon",
        "coordinates": [[square_ring(0.0, 0.0, 1.0)], [square_ring(5.0, 5.0, 1.0)], [square_ring(9.0, 9.0, 1.0)]],
    });
    assert_eq!(
        Region::from_geojson(&g, &limits).unwrap_err(),
        ZoneError::TooManyVertices { found: 15, max: 10 }
    );
    // A hostile body full of garbage is still refused by the count alone.
    let garbage: Vec<Value> = (0..300_000).map(|_| json!(["x", "y"])).collect();
    let g = polygon(vec![Value::Array(garbage)]);
    assert_eq!(
        parse(&g).unwrap_err(),
        ZoneError::TooManyVertices {
            found: 300_000,
            max: 20_000
        }
    );
}

#[test]
fn wrong_types_and_shapes_are_explained() {
    let err = parse(&json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "type \"LineString\" is not accepted; expected \"Polygon\" or \"MultiPolygon\""
    );
    assert!(matches!(
        parse(&json!([1, 2])),
        Err(ZoneError::WrongJsonType {
            found: "an array",
            ..
        })
    ));
    assert!(matches!(
        parse(&json!({"coordinates": []})),
        Err(ZoneError::MissingMember { member: "type", .. })
    ));
    assert!(matches!(
        parse(&json!({"type": "Polygon"})),
        Err(ZoneError::MissingMember {
            member: "coordinates",
            ..
        })
    ));
    assert!(matches!(
        parse(&json!({"type": "MultiPolygon", "coordinates": []})),
        Err(ZoneError::EmptyGeometry { .. })
    ));
    assert!(matches!(
        parse(&json!({"type": "Polygon", "coordinates": []})),
        Err(ZoneError::EmptyGeometry { .. })
    ));
}

#[test]
fn malformed_coordinates_say_where() {
    let cases = [
        (
            json!([[[0, 0], [1, 0], ["1", 1], [0, 0]]]),
            "malformed coordinates at polygon 0, ring 0, point 2: element 0 of a position must be a number, found a string",
        ),
        (
            json!([[[0, 0], [1], [1, 1], [0, 0]]]),
            "malformed coordinates at polygon 0, ring 0, point 1: a position needs at least 2 numbers [longitude, latitude], found 1",
        ),
        (
            json!([[0, 0], [1, 0], [1, 1], [0, 0]]),
            "malformed coordinates at polygon 0, ring 0, point 0: a position must be an array [longitude, latitude], found a number; are the coordinates nested one level too shallow for the geometry type?",
        ),
        (
            json!([square_ring(0.0, 0.0, 1.0), 7]),
            "malformed coordinates at polygon 0, ring 1: expected an array of positions, found a number",
        ),
        (
            json!("nope"),
            "malformed coordinates at the top level: expected an array of rings, found a string",
        ),
    ];
    for (coordinates, message) in cases {
        let g = json!({"type": "Polygon", "coordinates": coordinates});
        assert_eq!(parse(&g).unwrap_err().to_string(), message);
    }
}

#[test]
fn shared_types_are_thread_safe() {
    fn check<T: Send + Sync>() {}
    check::<Region>();
    check::<tocsin_zones::Area>();
    check::<tocsin_zones::Circle>();
    check::<tocsin_zones::PointIndex<i64>>();
    check::<ZoneError>();
}

#[test]
fn overlaps_needs_shared_area_not_just_a_border() {
    let district = square(0.0, 0.0, 1.0);
    let neighbour = square(1.0, 0.0, 1.0);
    let corner = square(1.0, 1.0, 1.0);
    let block = square(0.25, 0.25, 0.5);
    let straddling = square(0.5, 0.5, 1.0);
    assert!(district.intersects(&neighbour) && !district.overlaps(&neighbour));
    assert!(district.intersects(&corner) && !district.overlaps(&corner));
    assert!(district.overlaps(&block) && block.overlaps(&district));
    assert!(district.overlaps(&straddling));
    assert!(district.overlaps(&district));
    assert!(!district.overlaps(&square(5.0, 5.0, 1.0)));
    // Vertices all on the other's boundary, yet the shapes overlap.
    let diamond = region(&polygon(vec![json!([
        [0.5, 0.0],
        [1.0, 0.5],
        [0.5, 1.0],
        [0.0, 0.5],
        [0.5, 0.0]
    ])]));
    assert!(district.overlaps(&diamond) && diamond.overlaps(&district));
    // A shape filling a hole touches the holed region all round but shares no area.
    let holed = square_with_hole();
    let plug = square(4.0, 4.0, 2.0);
    assert!(holed.intersects(&plug) && !holed.overlaps(&plug));
}

/// A closed ring of `n` vertices on a circle (plus the closing repeat).
fn round_ring(n: usize) -> Value {
    let positions: Vec<Value> = (0..=n)
        .map(|i| {
            let a = std::f64::consts::TAU * (i % n) as f64 / n as f64;
            json!([25.3 + 0.05 * a.cos(), 50.75 + 0.03 * a.sin()])
        })
        .collect();
    polygon(vec![Value::Array(positions)])
}

#[test]
fn stored_geometry_is_read_back_without_the_request_limits() {
    let raised = Limits {
        max_vertices: 40_000,
        ..Limits::default()
    };
    let big = Region::from_geojson(&round_ring(36_000), &raised).unwrap();
    let stored = big.to_geojson();
    assert!(matches!(
        parse(&stored),
        Err(ZoneError::TooManyVertices { max: 20_000, .. })
    ));
    let read = Region::from_stored_geojson(&stored).unwrap();
    assert_eq!(read.vertex_count(), 36_001);
    assert!(read.contains(pt(50.75, 25.3)));
    // Still a shape: garbage is refused, not trusted.
    for garbage in [
        json!("x"),
        json!({"type": "Polygon", "coordinates": [[[0, 0]]]}),
    ] {
        assert!(Region::from_stored_geojson(&garbage).is_err(), "{garbage}");
    }
}
