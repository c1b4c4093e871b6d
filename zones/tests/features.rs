//! Importing named zones from GeoJSON Features and FeatureCollections.

mod common;

use common::{polygon, pt, square_ring};
use serde_json::{Value, json};
use tocsin_zones::{FeatureError, Limits, ZoneError, ZoneFeature, parse_zone_features};

fn feature(name: Value, geometry: Value) -> Value {
    json!({"type": "Feature", "properties": {"name": name, "code": "D1"}, "geometry": geometry})
}

fn parse(body: &Value) -> Result<Vec<ZoneFeature>, FeatureError> {
    parse_zone_features(body, &Limits::default())
}

#[test]
fn collection_parses_names_regions_and_properties() {
    let body = json!({
        "type": "FeatureCollection",
        "features": [
            feature(json!("  Old Town "), polygon(vec![square_ring(0.0, 0.0, 1.0)])),
            feature(json!("Harbour"), json!({
                "type": "MultiPolygon",
                "coordinates": [[square_ring(5.0, 5.0, 1.0)], [square_ring(7.0, 7.0, 1.0)]],
            })),
        ],
    });
    let zones = parse(&body).unwrap();
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].name, "Old Town");
    assert_eq!(zones[0].properties["code"], json!("D1"));
    assert_eq!(zones[0].properties["name"], json!("  Old Town "));
    assert!(zones[0].region.contains(pt(0.5, 0.5)));
    assert!(zones[1].region.contains(pt(7.5, 7.5)));
}

#[test]
fn single_feature_is_accepted() {
    let zones = parse(&feature(
        json!("Centre"),
        polygon(vec![square_ring(0.0, 0.0, 1.0)]),
    ))
    .unwrap();
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].name, "Centre");
}

#[test]
fn geometry_error_carries_the_feature_path() {
    let body = json!({
        "type": "FeatureCollection",
        "features": [
            feature(json!("Ok"), polygon(vec![square_ring(0.0, 0.0, 1.0)])),
            feature(json!("Bad"), polygon(vec![json!([[0, 0], [1, 0], [1, 1], [0, 1]])])),
        ],
    });
    let err = parse(&body).unwrap_err();
    assert_eq!(err.path, "features[1].geometry");
    assert!(matches!(err.error, ZoneError::RingNotClosed { .. }));
    assert!(
        err.to_string()
            .starts_with("features[1].geometry: polygon 0, ring 0 is not closed")
    );

    let body = json!({"type": "FeatureCollection", "features": [
        feature(json!("Line"), json!({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})),
    ]});
    assert_eq!(parse(&body).unwrap_err().path, "features[0].geometry");
    let body = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "No geometry"}, "geometry": null},
    ]});
    let err = parse(&body).unwrap_err();
    assert_eq!(err.path, "features[0].geometry");
    assert!(err.to_string().ends_with("found null"), "{err}");
}

#[test]
fn names_are_required_trimmed_and_bounded() {
    let square = || polygon(vec![square_ring(0.0, 0.0, 1.0)]);
    let err =
        parse(&json!({"type": "Feature", "properties": {}, "geometry": square()})).unwrap_err();
    assert_eq!(err.path, "properties.name");
    assert!(matches!(err.error, ZoneError::InvalidName { .. }));
    let err = parse(&json!({"type": "Feature", "geometry": square()})).unwrap_err();
    assert_eq!(err.path, "properties.name");

    let in_collection = |name: Value| {
        parse(&json!({"type": "FeatureCollection", "features": [feature(name, square())]}))
    };
    for bad in [json!(""), json!("   "), json!(42), json!("x".repeat(201))] {
        let err = in_collection(bad.clone()).unwrap_err();
        assert_eq!(err.path, "features[0].properties.name", "{bad}");
    }
    assert!(
        in_collection(json!("é".repeat(200))).is_ok(),
        "200 characters, not bytes"
    );
}

#[test]
fn top_level_problems_have_an_empty_path() {
    for (body, expected) in [
        (
            json!({"type": "FeatureCollection", "features": []}),
            ZoneError::EmptyFeatureCollection,
        ),
        (
            json!({"type": "Polygon", "coordinates": []}),
            ZoneError::UnsupportedType {
                found: "\"Polygon\"".into(),
                accepted: "\"Feature\" or \"FeatureCollection\"",
            },
        ),
        (
            json!("text"),
            ZoneError::WrongJsonType {
                expected: "a GeoJSON Feature or FeatureCollection object",
                found: "a string",
            },
        ),
    ] {
        let err = parse(&body).unwrap_err();
        assert_eq!((err.path.as_str(), err.error), ("", expected));
    }
    let err = parse(&json!({"type": "FeatureCollection", "features": [7]})).unwrap_err();
    assert_eq!(err.path, "features[0]");
}
