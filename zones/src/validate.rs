//! Topological validity of polygons (the OGC Simple Features rules geo's `Validation`
//! checks), with messages that point at the offending ring and vertex.
//!
//! geo's `Validation` finds ring self-intersections by testing every pair of edges,
//! which takes about two seconds for one 20 000-vertex ring. Areas are re-validated
//! whenever they are loaded, so this module finds candidate edge pairs with an R-tree
//! instead and keeps geo's `Relate` (itself indexed) for ring-versus-ring and
//! part-versus-part questions, exactly as geo's `Validation` does. A unit test checks
//! both validators agree.

use geo::PreparedGeometry;
use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::relate::IntersectionMatrix;
use geo::{BoundingRect, Coord, Intersects, Line, LineString, MultiPolygon, Polygon, Relate};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::error::{RingRef, VertexRef, ZoneError};
use crate::geojson_io::rings;

/// Checks every OGC rule geo's `Validation` checks for a `MultiPolygon`.
pub(crate) fn validate(shape: &MultiPolygon<f64>) -> Result<(), ZoneError> {
    for (polygon, p) in shape.0.iter().enumerate() {
        for (ring, r) in rings(p).enumerate() {
            check_ring_is_simple(r, RingRef { polygon, ring })?;
        }
        check_holes(p, polygon)?;
    }
    check_parts_are_disjoint(shape)
}

fn check_ring_is_simple(ring: &LineString<f64>, at: RingRef) -> Result<(), ZoneError> {
    // Repeated consecutive positions are harmless; drop them (keeping each survivor's
    // input index for messages) so "adjacent edges" is well defined.
    let mut pts: Vec<(Coord<f64>, usize)> = Vec::with_capacity(ring.0.len());
    for (i, &c) in ring.0.iter().enumerate() {
        if pts.last().is_none_or(|&(last, _)| last != c) {
            pts.push((c, i));
        }
    }
    while pts.len() > 1 && pts[pts.len() - 1].0 == pts[0].0 {
        pts.pop();
    }
    let n = pts.len();
    if n < 3 {
        return Err(ZoneError::InvalidPolygon {
            reason: format!("{at} has fewer than 3 distinct positions"),
        });
    }
    let edge = |k: usize| Line::new(pts[k].0, pts[(k + 1) % n].0);

    // Adjacent edges share a vertex by construction; they are only wrong when the
    // ring turns back on itself there (a spike, or a ring with no area at all).
    for k in 0..n {
        let (u, v, w) = (pts[k].0, pts[(k + 1) % n].0, pts[(k + 2) % n].0);
        let reverses = (v.x - u.x) * (w.x - v.x) + (v.y - u.y) * (w.y - v.y) < 0.0;
        if RobustKernel::orient2d(u, v, w) == Orientation::Collinear && reverses {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "{} is a spike: the ring doubles back on itself there",
                    VertexRef::new(at, pts[(k + 1) % n].1)
                ),
            });
        }
    }

    // Any contact between non-adjacent edges is a crossing or a self-touch.
    let tree = RTree::bulk_load(
        (0..n)
            .map(|k| GeomWithData::new(rect(edge(k).bounding_rect()), k))
            .collect(),
    );
    for k in 0..n {
        let e = edge(k);
        let hit = tree
            .locate_in_envelope_intersecting(&envelope(e.bounding_rect()))
            .map(|g| g.data)
            .filter(|&l| l > k + 1 && !(k == 0 && l == n - 1))
            .filter(|&l| e.intersects(&edge(l)))
            .min();
        if let Some(l) = hit {
            return Err(ZoneError::SelfIntersection {
                at,
                first_edge: pts[k].1,
                second_edge: pts[l].1,
            });
        }
    }
    Ok(())
}

fn check_holes(p: &Polygon<f64>, polygon: usize) -> Result<(), ZoneError> {
    if p.interiors().is_empty() {
        return Ok(());
    }
    let shell = Polygon::new(p.exterior().clone(), vec![]);
    let prepared_shell = PreparedGeometry::from(&shell);
    let holes: Vec<Polygon<f64>> = p
        .interiors()
        .iter()
        .map(|r| Polygon::new(r.clone(), vec![]))
        .collect();
    let ring_name = |h: usize| RingRef {
        polygon,
        ring: h + 1,
    };
    for (h, hole) in holes.iter().enumerate() {
        let im = prepared_shell.relate(hole);
        if !im.is_contains() {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "{} is a hole that is not inside its exterior ring (ring 0)",
                    ring_name(h)
                ),
            });
        }
        if touch_on_a_line(&im) {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "{} is a hole that shares an edge with its exterior ring; they may touch only at points",
                    ring_name(h)
                ),
            });
        }
    }
    for (a, b) in candidate_pairs(&holes) {
        let im = holes[a].relate(&holes[b]);
        if overlap(&im) {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "holes {} and ring {} overlap",
                    ring_name(a),
                    ring_name(b).ring
                ),
            });
        }
        if touch_on_a_line(&im) {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "holes {} and ring {} share an edge; they may touch only at points",
                    ring_name(a),
                    ring_name(b).ring
                ),
            });
        }
    }
    Ok(())
}

fn check_parts_are_disjoint(shape: &MultiPolygon<f64>) -> Result<(), ZoneError> {
    for (a, b) in candidate_pairs(&shape.0) {
        let im = shape.0[a].relate(&shape.0[b]);
        if overlap(&im) {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "polygons {a} and {b} overlap; the parts of a MultiPolygon must be disjoint"
                ),
            });
        }
        if touch_on_a_line(&im) {
            return Err(ZoneError::InvalidPolygon {
                reason: format!(
                    "polygons {a} and {b} share an edge; MultiPolygon parts may touch only at points, so merge them into one polygon"
                ),
            });
        }
    }
    Ok(())
}

fn overlap(im: &IntersectionMatrix) -> bool {
    im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional
}

fn touch_on_a_line(im: &IntersectionMatrix) -> bool {
    im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
}

/// Index pairs `(a, b)`, `a < b`, of polygons whose bounding boxes meet, in order;
/// only those can overlap or touch, and an R-tree avoids testing all n² pairs.
fn candidate_pairs(polygons: &[Polygon<f64>]) -> Vec<(usize, usize)> {
    let boxes: Vec<Option<geo::Rect<f64>>> = polygons.iter().map(|p| p.bounding_rect()).collect();
    let tree = RTree::bulk_load(
        boxes
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| GeomWithData::new(rect(b), i)))
            .collect(),
    );
    let mut pairs = Vec::new();
    for (a, b) in boxes.iter().enumerate() {
        let Some(b) = b else { continue };
        let mut found: Vec<usize> = tree
            .locate_in_envelope_intersecting(&envelope(*b))
            .map(|g| g.data)
            .filter(|&other| other > a)
            .collect();
        found.sort_unstable();
        pairs.extend(found.into_iter().map(|other| (a, other)));
    }
    pairs
}

fn rect(r: geo::Rect<f64>) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

fn envelope(r: geo::Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Validation, polygon};

    fn mp(polys: Vec<Polygon<f64>>) -> MultiPolygon<f64> {
        MultiPolygon(polys)
    }

    #[test]
    fn bow_tie_names_the_crossing_edges() {
        let bow_tie = polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.), (x: 0., y: 0.)];
        let err = validate(&mp(vec![bow_tie])).unwrap_err();
        assert_eq!(
            err,
            ZoneError::SelfIntersection {
                at: RingRef {
                    polygon: 0,
                    ring: 0
                },
                first_edge: 0,
                second_edge: 2
            }
        );
    }

    #[test]
    fn spike_and_flat_rings_are_rejected() {
        let spike = polygon![(x: 0., y: 0.), (x: 2., y: 0.), (x: 2., y: 2.), (x: 3., y: 3.), (x: 2., y: 2.), (x: 0., y: 2.), (x: 0., y: 0.)];
        let err = validate(&mp(vec![spike])).unwrap_err().to_string();
        assert!(err.contains("spike"), "{err}");
        let flat = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 2., y: 0.), (x: 0., y: 0.)];
        assert!(validate(&mp(vec![flat])).is_err());
    }

    #[test]
    fn repeated_positions_are_tolerated() {
        let square = polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 1., y: 0.), (x: 1., y: 1.), (x: 0., y: 1.), (x: 0., y: 0.)];
        assert_eq!(validate(&mp(vec![square])), Ok(()));
    }

    /// Our validator must agree with geo's on valid and invalid shapes of every kind.
    #[test]
    fn agrees_with_geo_validation() {
        let square = |x: f64, y: f64, s: f64| polygon![(x: x, y: y), (x: x + s, y: y), (x: x + s, y: y + s), (x: x, y: y + s), (x: x, y: y)];
        let with_hole = |outer: Polygon<f64>, hole: Polygon<f64>| {
            Polygon::new(outer.exterior().clone(), vec![hole.exterior().clone()])
        };
        let cases: Vec<MultiPolygon<f64>> = vec![
            mp(vec![square(0., 0., 4.)]),
            mp(vec![with_hole(square(0., 0., 4.), square(1., 1., 1.))]),
            mp(vec![with_hole(square(0., 0., 4.), square(5., 5., 1.))]),
            mp(vec![with_hole(square(0., 0., 4.), square(0., 1., 1.))]),
            mp(vec![with_hole(square(0., 0., 4.), square(3., 3., 2.))]),
            mp(vec![square(0., 0., 1.), square(2., 0., 1.)]),
            mp(vec![square(0., 0., 1.), square(1., 1., 1.)]),
            mp(vec![square(0., 0., 1.), square(1., 0., 1.)]),
            mp(vec![square(0., 0., 2.), square(1., 1., 2.)]),
            mp(vec![
                polygon![(x: 0., y: 0.), (x: 2., y: 2.), (x: 2., y: 0.), (x: 0., y: 2.), (x: 0., y: 0.)],
            ]),
            mp(vec![Polygon::new(
                square(0., 0., 10.).exterior().clone(),
                vec![
                    square(1., 1., 2.).exterior().clone(),
                    square(2., 2., 2.).exterior().clone(),
                ],
            )]),
            mp(vec![Polygon::new(
                square(0., 0., 10.).exterior().clone(),
                vec![
                    square(1., 1., 2.).exterior().clone(),
                    square(3., 1., 2.).exterior().clone(),
                ],
            )]),
        ];
        for (i, case) in cases.iter().enumerate() {
            assert_eq!(
                validate(case).is_ok(),
                case.is_valid(),
                "case {i}: ours {:?}, geo {:?}",
                validate(case),
                case.validation_errors()
            );
        }
    }

    #[test]
    fn large_ring_validates_quickly() {
        let n = 20_000;
        let coords: Vec<Coord<f64>> = (0..=n)
            .map(|i| {
                let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
                Coord {
                    x: a.cos(),
                    y: a.sin(),
                }
            })
            .collect();
        let circle = Polygon::new(LineString(coords), vec![]);
        let start = std::time::Instant::now();
        assert_eq!(validate(&mp(vec![circle])), Ok(()));
        // Generous even for an unoptimised test build; the quadratic check takes far longer.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
