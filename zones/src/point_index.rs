//! `PointIndex`: an R-tree over resident locations, answering "who is inside this area?".

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::area::Area;
use crate::point::{BBox, GeoPoint};

/// An indexed point: `[lon, lat]` plus its id.
type Entry<T> = GeomWithData<[f64; 2], T>;

/// Spatial index over resident points (rstar R-tree). T is an id such as i64.
pub struct PointIndex<T> {
    tree: RTree<Entry<T>>,
}

impl<T> std::fmt::Debug for PointIndex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointIndex")
            .field("len", &self.tree.size())
            .finish()
    }
}

impl<T: Copy + PartialEq + Send + Sync + 'static> Default for PointIndex<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + PartialEq + Send + Sync + 'static> PointIndex<T> {
    pub fn new() -> Self {
        PointIndex { tree: RTree::new() }
    }

    /// Builds a balanced tree in one go; much faster than repeated inserts.
    pub fn bulk_load(points: Vec<(GeoPoint, T)>) -> Self {
        let entries = points.into_iter().map(|(p, id)| entry(p, id)).collect();
        PointIndex {
            tree: RTree::bulk_load(entries),
        }
    }

    /// Adds a point; the same id may be present at several points.
    pub fn insert(&mut self, p: GeoPoint, id: T) {
        self.tree.insert(entry(p, id));
    }

    /// Removes one entry with exactly this point and id; false if there was none.
    pub fn remove(&mut self, p: GeoPoint, id: T) -> bool {
        self.tree.remove(&entry(p, id)).is_some()
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// Ids of all points inside the area: bbox candidates from the R-tree, then the exact test.
    ///
    /// Each entry is reported once even when shapes overlap; order is unspecified.
    pub fn query(&self, area: &Area) -> Vec<T> {
        // Shapes are queried one by one, as an area's shapes can be far apart and the
        // box around all of them would pull in everything between. A point already
        // reported by an earlier shape is skipped by re-testing those shapes, which
        // avoids needing `T: Hash` for de-duplication.
        let shapes: Vec<Shape<'_>> = area
            .regions()
            .iter()
            .map(|r| Shape {
                bbox: r.bbox(),
                test: Test::Region(r),
            })
            .chain(area.circles().iter().map(|c| Shape {
                bbox: c.bbox(),
                test: Test::Circle(c),
            }))
            .collect();
        let mut ids = Vec::new();
        for (i, shape) in shapes.iter().enumerate() {
            for e in self.tree.locate_in_envelope(&shape.bbox.envelope()) {
                let [lon, lat] = *e.geom();
                let p = GeoPoint::from_indexed(lat, lon);
                if shape.contains(p) && !shapes[..i].iter().any(|s| s.contains(p)) {
                    ids.push(e.data);
                }
            }
        }
        ids
    }
}

fn entry<T>(p: GeoPoint, id: T) -> Entry<T> {
    GeomWithData::new([p.lon(), p.lat()], id)
}

struct Shape<'a> {
    bbox: BBox,
    test: Test<'a>,
}

enum Test<'a> {
    Region(&'a crate::region::Region),
    Circle(&'a crate::circle::Circle),
}

impl Shape<'_> {
    fn contains(&self, p: GeoPoint) -> bool {
        self.bbox.contains(p)
            && match self.test {
                Test::Region(r) => r.contains(p),
                Test::Circle(c) => c.contains(p),
            }
    }
}
