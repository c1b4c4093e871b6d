//! `Area`: what a notice targets, a union of regions and circles, and its stored JSON form.

use serde_json::{Map, Value, json};

use crate::Limits;
use crate::circle::Circle;
use crate::error::{ZoneError, json_kind};
use crate::point::{BBox, GeoPoint};
use crate::region::Region;

/// The area a notice targets: a non-empty union of regions and circles.
#[derive(Debug, Clone)]
pub struct Area {
    regions: Vec<Region>,
    circles: Vec<Circle>,
    bbox: BBox,
}

impl Area {
    /// Fails with [`ZoneError::EmptyArea`] if both lists are empty.
    pub fn new(regions: Vec<Region>, circles: Vec<Circle>) -> Result<Area, ZoneError> {
        let bbox = regions
            .iter()
            .map(Region::bbox)
            .chain(circles.iter().map(Circle::bbox))
            .reduce(|a, b| a.union(&b))
            .ok_or(ZoneError::EmptyArea)?;
        Ok(Area {
            regions,
            circles,
            bbox,
        })
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    pub fn circles(&self) -> &[Circle] {
        &self.circles
    }

    /// Whether any region or circle contains `p` (region boundaries included).
    pub fn contains(&self, p: GeoPoint) -> bool {
        self.bbox.contains(p)
            && (self.regions.iter().any(|r| r.contains(p))
                || self.circles.iter().any(|c| c.contains(p)))
    }

    /// Whether any shape touches `r`; circles are judged by their covering polygon,
    /// so a circle passing within a few metres of `r` may count as touching.
    pub fn intersects_region(&self, r: &Region) -> bool {
        self.bbox.intersects(&r.bbox())
            && (self.regions.iter().any(|own| own.intersects(r))
                || self.circles.iter().any(|c| c.to_region().intersects(r)))
    }

    /// Whether any shape shares area with `r`, beyond a common border (see
    /// [`Region::overlaps`]). This is the question "does this notice concern that
    /// zone?": a notice for one district does not concern the district next door.
    /// Circles are judged by their covering polygon.
    pub fn overlaps_region(&self, r: &Region) -> bool {
        self.bbox.intersects(&r.bbox())
            && (self.regions.iter().any(|own| own.overlaps(r))
                || self.circles.iter().any(|c| c.to_region().overlaps(r)))
    }

    /// Whether every shape lies inside `territory` (circles via their covering polygon,
    /// so a circle grazing the territory's edge from inside is not within).
    pub fn is_within(&self, territory: &Region) -> bool {
        territory.bbox().covers(&self.bbox)
            && self.regions.iter().all(|r| territory.covers(r))
            && self
                .circles
                .iter()
                .all(|c| territory.covers(&c.to_region()))
    }

    /// The box around every shape (circles by their exact extent).
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// {"regions": [geojson geometry...], "circles": [{"lat":..,"lon":..,"radius_m":..}]} — stored in the database
    pub fn to_json(&self) -> Value {
        json!({
            "regions": self.regions.iter().map(Region::to_geojson).collect::<Vec<_>>(),
            "circles": self.circles.iter().map(|c| json!({
                "lat": c.center().lat(),
                "lon": c.center().lon(),
                "radius_m": c.radius_m(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads the [`Area::to_json`] form; either list may be omitted. Errors name the
    /// offending member, e.g. `regions[1]: ...` or `circles[0].radius_m: ...`.
    pub fn from_json(v: &Value, limits: &Limits) -> Result<Area, ZoneError> {
        read(v, limits, |g| Region::from_geojson(g, limits))
    }

    /// Reads back an area this crate built and the caller stored
    /// ([`Area::to_json`]) without applying limits or topology checks
    /// again (see [`Region::from_stored_geojson`]).
    pub fn from_stored_json(v: &Value) -> Result<Area, ZoneError> {
        read(v, &Limits::UNLIMITED, Region::from_stored_geojson)
    }
}

fn read(
    v: &Value,
    limits: &Limits,
    region: impl Fn(&Value) -> Result<Region, ZoneError>,
) -> Result<Area, ZoneError> {
    let obj = v.as_object().ok_or_else(|| ZoneError::WrongJsonType {
        expected: "an area object {\"regions\": [...], \"circles\": [...]}",
        found: json_kind(v),
    })?;
    let regions = list(obj, "regions")?
        .iter()
        .enumerate()
        .map(|(i, g)| region(g).map_err(|e| e.at(format!("regions[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    let circles = list(obj, "circles")?
        .iter()
        .enumerate()
        .map(|(i, c)| circle_from_json(c, limits).map_err(|e| e.at(format!("circles[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    Area::new(regions, circles)
}

fn list<'a>(obj: &'a Map<String, Value>, member: &str) -> Result<&'a [Value], ZoneError> {
    match obj.get(member) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ZoneError::WrongJsonType {
            expected: "an array",
            found: json_kind(other),
        }
        .at(member)),
    }
}

fn circle_from_json(v: &Value, limits: &Limits) -> Result<Circle, ZoneError> {
    let obj = v.as_object().ok_or_else(|| ZoneError::WrongJsonType {
        expected: "a circle object {\"lat\", \"lon\", \"radius_m\"}",
        found: json_kind(v),
    })?;
    let number = |member: &'static str| -> Result<f64, ZoneError> {
        match obj.get(member) {
            None => Err(ZoneError::MissingMember {
                member,
                expected: "a number",
            }),
            Some(n) => n.as_f64().ok_or_else(|| {
                ZoneError::WrongJsonType {
                    expected: "a number",
                    found: json_kind(n),
                }
                .at(member)
            }),
        }
    };
    let center = GeoPoint::new(number("lat")?, number("lon")?)?;
    Circle::new(center, number("radius_m")?, limits)
}
