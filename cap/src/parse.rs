//! CAP 1.2 XML → [`Alert`], checking what the specification requires:
//! mandatory elements, enumerations, times with a time zone, references
//! for updates and cancels, restriction/addresses for non-public scopes,
//! closed polygons of at least four points and well-formed circles.

use chrono::{DateTime, FixedOffset};
use roxmltree::{Document, Node};

use crate::NAMESPACE;
use crate::model::*;

/// Parses and validates one CAP 1.2 document. A document nesting
/// elements deeper than [`crate::MAX_DEPTH`] is refused before parsing.
pub fn parse(xml: &str) -> Result<Alert, CapError> {
    crate::nesting::check(xml)?;
    let doc = Document::parse(xml).map_err(|e| CapError::new("document", e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "alert" {
        return Err(CapError::new(
            root.tag_name().name(),
            "the root element must be <alert>",
        ));
    }
    if root.tag_name().namespace() != Some(NAMESPACE) {
        return Err(CapError::new(
            "alert",
            format!("must be in the CAP 1.2 namespace {NAMESPACE}"),
        ));
    }
    alert(&El::new(root, "alert".into()))
}

/// An element with its path, for errors.
struct El<'a, 'i> {
    node: Node<'a, 'i>,
    path: String,
}

impl<'a, 'i> El<'a, 'i> {
    fn new(node: Node<'a, 'i>, path: String) -> Self {
        Self { node, path }
    }

    fn children(&self, name: &str) -> Vec<El<'a, 'i>> {
        self.node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == name)
            .enumerate()
            .map(|(i, c)| El::new(c, format!("{}/{name}[{}]", self.path, i + 1)))
            .collect()
    }

    fn err(&self, name: &str, message: impl Into<String>) -> CapError {
        CapError::new(format!("{}/{name}", self.path), message)
    }

    /// The text of the single child `name`, trimmed; `None` when absent.
    fn opt(&self, name: &str) -> Result<Option<String>, CapError> {
        let found = self.children(name);
        if found.len() > 1 {
            return Err(self.err(name, "appears more than once"));
        }
        Ok(found.first().map(|c| text(&c.node)))
    }

    fn req(&self, name: &str) -> Result<String, CapError> {
        match self.opt(name)? {
            Some(t) if !t.is_empty() => Ok(t),
            Some(_) => Err(self.err(name, "must not be empty")),
            None => Err(self.err(name, "is required")),
        }
    }

    fn req_enum<T>(
        &self,
        name: &str,
        parse: fn(&str) -> Option<T>,
        expected: String,
    ) -> Result<T, CapError> {
        let t = self.req(name)?;
        parse(&t).ok_or_else(|| self.err(name, format!("\"{t}\" is not one of {expected}")))
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<FixedOffset>>, CapError> {
        self.opt(name)?
            .map(|t| {
                DateTime::parse_from_rfc3339(&t).map_err(|_| {
                    self.err(
                        name,
                        format!("\"{t}\" is not a date-time with a time zone like 2026-11-24T08:00:00+02:00"),
                    )
                })
            })
            .transpose()
    }
}

fn text(node: &Node<'_, '_>) -> String {
    node.text().unwrap_or_default().trim().to_owned()
}

/// CAP forbids spaces, commas and the XML-reserved `<` and `&` in
/// identifiers and senders (they are joined with those in references).
fn plain_id(el: &El<'_, '_>, name: &str) -> Result<String, CapError> {
    let v = el.req(name)?;
    if v.chars()
        .any(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&'))
    {
        return Err(el.err(name, "must not contain spaces, commas, < or &"));
    }
    Ok(v)
}

fn alert(el: &El<'_, '_>) -> Result<Alert, CapError> {
    let msg_type = el.req_enum("msgType", MsgType::parse, MsgType::expected())?;
    let scope = el.req_enum("scope", Scope::parse, Scope::expected())?;
    let restriction = el.opt("restriction")?.filter(|s| !s.is_empty());
    let addresses = el.opt("addresses")?.filter(|s| !s.is_empty());
    if scope == Scope::Restricted && restriction.is_none() {
        return Err(el.err("restriction", "is required when scope is Restricted"));
    }
    if scope == Scope::Private && addresses.is_none() {
        return Err(el.err("addresses", "is required when scope is Private"));
    }
    let references = match el.opt("references")? {
        Some(r) => parse_references(el, &r)?,
        None => Vec::new(),
    };
    if matches!(msg_type, MsgType::Update | MsgType::Cancel | MsgType::Ack) && references.is_empty()
    {
        return Err(el.err(
            "references",
            format!(
                "is required for msgType {}: it names the alert this one refers to",
                msg_type.as_str()
            ),
        ));
    }
    let infos = el
        .children("info")
        .iter()
        .map(info)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Alert {
        identifier: plain_id(el, "identifier")?,
        sender: plain_id(el, "sender")?,
        sent: el
            .time("sent")?
            .ok_or_else(|| el.err("sent", "is required"))?,
        status: el.req_enum("status", Status::parse, Status::expected())?,
        msg_type,
        scope,
        restriction,
        addresses,
        note: el.opt("note")?.filter(|s| !s.is_empty()),
        references,
        infos,
    })
}

/// "sender,identifier,sent" triples separated by whitespace.
fn parse_references(el: &El<'_, '_>, raw: &str) -> Result<Vec<Reference>, CapError> {
    raw.split_whitespace()
        .map(|triple| {
            let parts: Vec<&str> = triple.split(',').collect();
            let [sender, identifier, sent] = parts[..] else {
                return Err(el.err(
                    "references",
                    format!("\"{triple}\" is not sender,identifier,sent"),
                ));
            };
            let sent = DateTime::parse_from_rfc3339(sent).map_err(|_| {
                el.err(
                    "references",
                    format!("\"{sent}\" in \"{triple}\" is not a date-time"),
                )
            })?;
            Ok(Reference {
                sender: sender.to_owned(),
                identifier: identifier.to_owned(),
                sent,
            })
        })
        .collect()
}

fn info(el: &El<'_, '_>) -> Result<Info, CapError> {
    let categories = el
        .children("category")
        .iter()
        .map(|c| {
            let t = text(&c.node);
            Category::parse(&t).ok_or_else(|| {
                CapError::new(
                    c.path.clone(),
                    format!("\"{t}\" is not one of {}", Category::expected()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if categories.is_empty() {
        return Err(el.err("category", "at least one is required"));
    }
    let effective = el.time("effective")?;
    let expires = el.time("expires")?;
    if let (Some(from), Some(until)) = (effective, expires)
        && until <= from
    {
        return Err(el.err("expires", "must be after effective"));
    }
    Ok(Info {
        language: el
            .opt("language")?
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "en-US".into()),
        categories,
        event: el.req("event")?,
        urgency: el.req_enum("urgency", Urgency::parse, Urgency::expected())?,
        severity: el.req_enum("severity", Severity::parse, Severity::expected())?,
        certainty: el.req_enum("certainty", Certainty::parse, Certainty::expected())?,
        effective,
        expires,
        sender_name: el.opt("senderName")?.filter(|s| !s.is_empty()),
        headline: el.opt("headline")?.filter(|s| !s.is_empty()),
        description: el.opt("description")?.filter(|s| !s.is_empty()),
        instruction: el.opt("instruction")?.filter(|s| !s.is_empty()),
        areas: el
            .children("area")
            .iter()
            .map(area)
            .collect::<Result<_, _>>()?,
    })
}

fn area(el: &El<'_, '_>) -> Result<Area, CapError> {
    Ok(Area {
        area_desc: el.req("areaDesc")?,
        polygons: el
            .children("polygon")
            .iter()
            .map(|p| polygon(&p.path, &text(&p.node)))
            .collect::<Result<_, _>>()?,
        circles: el
            .children("circle")
            .iter()
            .map(|c| circle(&c.path, &text(&c.node)))
            .collect::<Result<_, _>>()?,
        geocodes: el
            .children("geocode")
            .iter()
            .map(|g| {
                Ok(Geocode {
                    value_name: g.req("valueName")?,
                    value: g.req("value")?,
                })
            })
            .collect::<Result<_, CapError>>()?,
    })
}

fn point(path: &str, pair: &str) -> Result<(f64, f64), CapError> {
    let bad = || CapError::new(path, format!("\"{pair}\" is not a lat,lon pair"));
    let (lat, lon) = pair.split_once(',').ok_or_else(bad)?;
    let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
    let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(CapError::new(
            path,
            format!("\"{pair}\": latitude must be within ±90 and longitude within ±180"),
        ));
    }
    Ok((lat, lon))
}

pub(crate) fn polygon(path: &str, raw: &str) -> Result<Polygon, CapError> {
    let points = raw
        .split_whitespace()
        .map(|p| point(path, p))
        .collect::<Result<Vec<_>, _>>()?;
    if points.len() < 4 {
        return Err(CapError::new(
            path,
            format!(
                "a polygon needs at least 4 points (the first repeated last), got {}",
                points.len()
            ),
        ));
    }
    if points.first() != points.last() {
        return Err(CapError::new(
            path,
            "the polygon is not closed: the last point must repeat the first",
        ));
    }
    Ok(Polygon(points))
}

pub(crate) fn circle(path: &str, raw: &str) -> Result<Circle, CapError> {
    let bad = || CapError::new(path, format!("\"{raw}\" is not \"lat,lon radius_km\""));
    let mut parts = raw.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (lat, lon) = point(path, centre)?;
    let radius_km: f64 = radius.parse().map_err(|_| bad())?;
    if !(radius_km.is_finite() && radius_km >= 0.0) {
        return Err(CapError::new(
            path,
            "the radius must be zero or more kilometres",
        ));
    }
    Ok(Circle {
        lat,
        lon,
        radius_km,
    })
}
