//! `Region`: a validated, non-empty Polygon or MultiPolygon, the shape of a zone.

use std::sync::{Arc, OnceLock};

use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::{BoundingRect, Covers, MultiPolygon, Relate};
use serde_json::Value;

use crate::edge_index::{EdgeIndex, Position};
use crate::error::ZoneError;
use crate::point::{BBox, GeoPoint};
use crate::{Limits, geojson_io, validate};

/// A validated, non-empty Polygon or MultiPolygon in WGS84 (RFC 7946 GeoJSON, [lon, lat] order).
///
/// Cheap to clone: the shape and its lazily built point-test index are shared.
#[derive(Clone)]
pub struct Region {
    inner: Arc<Inner>,
}

struct Inner {
    shape: MultiPolygon<f64>,
    bbox: BBox,
    vertex_count: usize,
    /// Built on first use: most regions are parsed, stored and compared, and only
    /// those used for point tests pay for the index.
    index: OnceLock<EdgeIndex>,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("polygons", &self.inner.shape.0.len())
            .field("vertex_count", &self.inner.vertex_count)
            .field("bbox", &self.inner.bbox)
            .finish()
    }
}

impl Region {
    /// `geometry` is a GeoJSON geometry object ({"type":"Polygon"|"MultiPolygon","coordinates":...}).
    pub fn from_geojson(geometry: &Value, limits: &Limits) -> Result<Region, ZoneError> {
        let (shape, vertex_count) = geojson_io::parse_geometry(geometry, limits)?;
        validate::validate(&shape)?;
        Ok(Region::from_valid(shape, vertex_count))
    }

    /// Builds a region from a geo shape, applying the same checks as [`Region::from_geojson`]
    /// (rings are already closed by geo-types, so closure is not checked).
    /// Reads back geometry that [`Region::from_geojson`] accepted and the
    /// caller stored ([`Region::to_geojson`]): the shape is parsed and its
    /// positions checked, but neither the size limits (which may have been
    /// larger when it was accepted) nor the costly topology checks run
    /// again, so reading costs one pass over the positions.
    pub fn from_stored_geojson(geometry: &Value) -> Result<Region, ZoneError> {
        let (shape, vertex_count) = geojson_io::parse_geometry(geometry, &Limits::UNLIMITED)?;
        Ok(Region::from_valid(shape, vertex_count))
    }

    pub fn from_multi_polygon(
        shape: MultiPolygon<f64>,
        limits: &Limits,
    ) -> Result<Region, ZoneError> {
        let vertex_count = geojson_io::check_shape(&shape, limits)?;
        validate::validate(&shape)?;
        Ok(Region::from_valid(shape, vertex_count))
    }

    /// Wraps a shape already known to be valid and in range.
    pub(crate) fn from_valid(shape: MultiPolygon<f64>, vertex_count: usize) -> Region {
        let bbox = shape
            .bounding_rect()
            .map(BBox::from_rect)
            .expect("a valid region is non-empty");
        Region {
            inner: Arc::new(Inner {
                shape,
                bbox,
                vertex_count,
                index: OnceLock::new(),
            }),
        }
    }

    /// GeoJSON geometry object; must round-trip through from_geojson.
    ///
    /// One part is written as a Polygon, several as a MultiPolygon; altitudes given on
    /// input are not kept.
    pub fn to_geojson(&self) -> Value {
        geojson_io::to_geojson(&self.inner.shape)
    }

    /// Number of positions, counting each ring's closing position.
    pub fn vertex_count(&self) -> usize {
        self.inner.vertex_count
    }

    /// Whether `p` is inside; points on an edge or vertex count as inside, points in a
    /// hole (but not on its edge) do not.
    pub fn contains(&self, p: GeoPoint) -> bool {
        self.locate(p.coord()) != Position::Outside
    }

    fn locate(&self, c: geo::Coord<f64>) -> Position {
        if !self.inner.bbox.contains_coord(c) {
            return Position::Outside;
        }
        self.inner
            .index
            .get_or_init(|| EdgeIndex::new(&self.inner.shape))
            .locate(c)
    }

    /// Whether the regions share at least one point; touching counts.
    pub fn intersects(&self, other: &Region) -> bool {
        if !self.inner.bbox.intersects(&other.inner.bbox) {
            return false;
        }
        // Overlapping shapes usually have a vertex inside one another: a cheap yes.
        // Otherwise ask `Relate`, which indexes edges; geo's `Intersects` compares all
        // edge pairs, ~180 ms for a 20 000-vertex territory against a 1 000-vertex
        // zone in a hole of it, where `Relate` takes ~15 ms.
        self.contains_first_vertex_of(other)
            || other.contains_first_vertex_of(self)
            || self.inner.shape.relate(&other.inner.shape).is_intersects()
    }

    /// Whether the regions share some area, not merely a border: two districts with a
    /// common street do not overlap, a district and a block inside it do. (Unlike
    /// OGC's "overlaps", containment counts.)
    pub fn overlaps(&self, other: &Region) -> bool {
        if !self.inner.bbox.intersects(&other.inner.bbox) {
            return false;
        }
        // A vertex strictly inside the other shape has that shape's interior all
        // around it, and its own region's interior beside it: a cheap yes.
        let inside = Position::Inside;
        self.first_vertex_position_of(other).contains(&inside)
            || other.first_vertex_position_of(self).contains(&inside)
            || self
                .inner
                .shape
                .relate(&other.inner.shape)
                .get(CoordPos::Inside, CoordPos::Inside)
                == Dimensions::TwoDimensional
    }

    fn contains_first_vertex_of(&self, other: &Region) -> bool {
        self.first_vertex_position_of(other)
            .iter()
            .any(|&p| p != Position::Outside)
    }

    /// Where the first vertex of each of `other`'s parts lies relative to `self`.
    fn first_vertex_position_of(&self, other: &Region) -> Vec<Position> {
        other
            .inner
            .shape
            .0
            .iter()
            .filter_map(|p| p.exterior().0.first())
            .map(|&c| self.locate(c))
            .collect()
    }

    /// Whether every point of `other` lies in `self`; a shared boundary is fine.
    pub fn covers(&self, other: &Region) -> bool {
        self.inner.bbox.covers(&other.inner.bbox) && self.inner.shape.covers(&other.inner.shape)
    }

    pub fn bbox(&self) -> BBox {
        self.inner.bbox
    }

    pub fn as_multi_polygon(&self) -> &MultiPolygon<f64> {
        &self.inner.shape
    }
}
