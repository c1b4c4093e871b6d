//! A prepared point-in-multipolygon test for running millions of points against one shape.
//!
//! Edges are bucketed into horizontal latitude bands; a point is tested only against
//! the edges of its band, by ray crossing parity with robust orientation predicates.
//! Points on an edge or vertex are reported as on the boundary, which callers treat as
//! inside (a resident on a border street is warned).
//!
//! Parity over all rings at once is correct for any valid multipolygon: rings do not
//! cross, so the crossing count changes by one each time a ray enters or leaves a
//! ring, whatever the ring's orientation or nesting.
//!
//! geo offers `PreparedGeometry` (built on `Rc`, so not `Send`, and tuned for
//! geometry-versus-geometry relations) and `IntervalTreeMultiPolygon` (boundary counts
//! as outside and winding numbers depend on ring orientation); neither fits.

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{Coord, MultiPolygon};

use crate::geojson_io::rings;

/// Where a point lies relative to a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    Inside,
    OnBoundary,
    Outside,
}

#[derive(Clone, Copy)]
struct Edge {
    a: Coord<f64>,
    b: Coord<f64>,
}

/// Band bucketing of a multipolygon's edges. Edges spanning several bands are copied
/// into each, keeping every band's edges contiguous in memory.
pub(crate) struct EdgeIndex {
    min_y: f64,
    max_y: f64,
    band_scale: f64,
    bands: usize,
    /// `edges[offsets[b]..offsets[b + 1]]` are the edges of band `b`.
    offsets: Vec<usize>,
    edges: Vec<Edge>,
}

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("bands", &self.bands)
            .field("entries", &self.edges.len())
            .finish()
    }
}

/// Copies of edges allowed per edge before bands are made coarser; bounds memory for
/// shapes with many long north-south edges.
const MAX_COPIES_PER_EDGE: usize = 8;

impl EdgeIndex {
    pub(crate) fn new(shape: &MultiPolygon<f64>) -> EdgeIndex {
        let edges: Vec<Edge> = shape
            .0
            .iter()
            .flat_map(rings)
            .flat_map(|r| r.lines())
            .map(|l| Edge {
                a: l.start,
                b: l.end,
            })
            .collect();
        let (min_y, max_y) = edges
            .iter()
            .flat_map(|e| [e.a.y, e.b.y])
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
                (lo.min(y), hi.max(y))
            });
        let mut index = EdgeIndex {
            min_y,
            max_y,
            band_scale: 0.0,
            bands: 1,
            offsets: Vec::new(),
            edges: Vec::new(),
        };
        let height = max_y - min_y;
        // About one band per edge keeps bands short for typical boundaries.
        let mut bands = edges.len().max(1);
        loop {
            index.set_bands(bands, height);
            let copies: usize = edges
                .iter()
                .map(|e| index.span(e).end() - index.span(e).start() + 1)
                .sum();
            if bands == 1 || copies <= MAX_COPIES_PER_EDGE * edges.len() {
                break;
            }
            bands /= 2;
        }
        index.fill(&edges);
        index
    }

    fn set_bands(&mut self, bands: usize, height: f64) {
        let usable = height.is_finite() && height > 0.0;
        self.bands = if usable { bands } else { 1 };
        self.band_scale = if usable {
            self.bands as f64 / height
        } else {
            0.0
        };
    }

    /// The band of latitude `y`. Monotonic in `y`, which is what makes an edge's bands
    /// (computed from its end latitudes) include the band of every point on it.
    fn band(&self, y: f64) -> usize {
        let b = ((y - self.min_y) * self.band_scale).floor();
        if b <= 0.0 {
            0
        } else {
            (b as usize).min(self.bands - 1)
        }
    }

    fn span(&self, e: &Edge) -> std::ops::RangeInclusive<usize> {
        let (lo, hi) = if e.a.y <= e.b.y {
            (e.a.y, e.b.y)
        } else {
            (e.b.y, e.a.y)
        };
        self.band(lo)..=self.band(hi)
    }

    fn fill(&mut self, edges: &[Edge]) {
        let mut counts = vec![0usize; self.bands + 1];
        for e in edges {
            for b in self.span(e) {
                counts[b + 1] += 1;
            }
        }
        for b in 0..self.bands {
            counts[b + 1] += counts[b];
        }
        let mut next = counts.clone();
        let placeholder = Edge {
            a: Coord::zero(),
            b: Coord::zero(),
        };
        self.edges = vec![placeholder; counts[self.bands]];
        for e in edges {
            for b in self.span(e) {
                self.edges[next[b]] = *e;
                next[b] += 1;
            }
        }
        self.offsets = counts;
    }

    /// Locates `p`; exact, thanks to robust orientation predicates.
    pub(crate) fn locate(&self, p: Coord<f64>) -> Position {
        if !(self.min_y..=self.max_y).contains(&p.y) {
            return Position::Outside;
        }
        let b = self.band(p.y);
        let mut inside = false;
        for e in &self.edges[self.offsets[b]..self.offsets[b + 1]] {
            let (lo, hi) = if e.a.y <= e.b.y {
                (e.a, e.b)
            } else {
                (e.b, e.a)
            };
            if p.y < lo.y || p.y > hi.y || (lo.x < p.x && hi.x < p.x) {
                continue;
            }
            match RobustKernel::orient2d(lo, hi, p) {
                Orientation::Collinear => {
                    if lo.x.min(hi.x) <= p.x && p.x <= lo.x.max(hi.x) {
                        return Position::OnBoundary;
                    }
                }
                // `p` is left of the upward edge, so the edge crosses the ray running
                // east from `p`. Half-open in y so a ray through a vertex counts once.
                Orientation::CounterClockwise => {
                    if p.y < hi.y {
                        inside = !inside;
                    }
                }
                Orientation::Clockwise => {}
            }
        }
        if inside {
            Position::Inside
        } else {
            Position::Outside
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Lcg;
    use geo::{CoordinatePosition, LineString, Polygon, coordinate_position::CoordPos};

    fn expected(shape: &MultiPolygon<f64>, c: Coord<f64>) -> Position {
        match shape.coordinate_position(&c) {
            CoordPos::Inside => Position::Inside,
            CoordPos::OnBoundary => Position::OnBoundary,
            CoordPos::Outside => Position::Outside,
        }
    }

    /// A star-shaped ring with `n` vertices: concave, with many edges per band.
    fn star(cx: f64, cy: f64, n: usize, rng: &mut Lcg) -> LineString<f64> {
        let mut coords: Vec<Coord<f64>> = (0..n)
            .map(|i| {
                let a = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = 0.5 + 0.5 * rng.next_f64();
                Coord {
                    x: cx + r * a.cos(),
                    y: cy + r * a.sin(),
                }
            })
            .collect();
        coords.push(coords[0]);
        LineString(coords)
    }

    #[test]
    fn matches_geo_on_random_points_vertices_and_edges() {
        let mut rng = Lcg::new(7);
        let hole = {
            let mut h: Vec<Coord<f64>> = star(0.0, 0.0, 40, &mut rng).0;
            h.iter_mut().for_each(|c| {
                c.x *= 0.3;
                c.y *= 0.3;
            });
            LineString(h)
        };
        let shape = MultiPolygon(vec![
            Polygon::new(star(0.0, 0.0, 1000, &mut rng), vec![hole]),
            Polygon::new(star(3.0, 0.5, 300, &mut rng), vec![]),
        ]);
        let index = EdgeIndex::new(&shape);
        let mut points: Vec<Coord<f64>> = (0..20_000)
            .map(|_| Coord {
                x: -1.2 + 5.4 * rng.next_f64(),
                y: -1.2 + 2.9 * rng.next_f64(),
            })
            .collect();
        // Vertices, edge midpoints and points sharing a vertex's latitude stress the
        // boundary and half-open crossing rules.
        for l in shape.0.iter().flat_map(rings).flat_map(|r| r.lines()) {
            points.push(l.start);
            points.push(Coord {
                x: (l.start.x + l.end.x) / 2.0,
                y: (l.start.y + l.end.y) / 2.0,
            });
            points.push(Coord {
                x: l.start.x - 0.01,
                y: l.start.y,
            });
        }
        for p in points {
            assert_eq!(index.locate(p), expected(&shape, p), "at {p:?}");
        }
    }

    #[test]
    fn long_north_south_edges_stay_correct_with_coarse_bands() {
        let mut rng = Lcg::new(11);
        // A comb: every tooth edge spans the full height, forcing band coarsening.
        let mut coords = vec![Coord { x: 0.0, y: 0.0 }];
        for i in 0..200 {
            let x = i as f64;
            coords.push(Coord { x, y: 10.0 });
            coords.push(Coord {
                x: x + 0.5,
                y: 10.0,
            });
            coords.push(Coord { x: x + 0.5, y: 1.0 });
            coords.push(Coord { x: x + 1.0, y: 1.0 });
        }
        coords.push(Coord { x: 200.0, y: 0.0 });
        coords.push(Coord { x: 0.0, y: 0.0 });
        let shape = MultiPolygon(vec![Polygon::new(LineString(coords), vec![])]);
        let index = EdgeIndex::new(&shape);
        assert!(index.edges.len() <= MAX_COPIES_PER_EDGE * 802);
        for _ in 0..5_000 {
            let p = Coord {
                x: -1.0 + 202.0 * rng.next_f64(),
                y: -1.0 + 12.0 * rng.next_f64(),
            };
            assert_eq!(index.locate(p), expected(&shape, p), "at {p:?}");
        }
    }
}
