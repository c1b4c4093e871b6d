//! The JSON form of an alert for operators (`POST /api/v1/alerts`): the
//! same CAP fields in snake_case, or a pre-made template plus an area. It
//! becomes a `tocsin_cap::Alert` that is written out and parsed back, so
//! it passes exactly the validation a CAP document passes, and errors name
//! the CAP element.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use tocsin_cap::{
    Alert, Area, Category, Certainty, Circle, Geocode, Info, MsgType, Polygon, Reference, Scope,
    Severity, Status, Urgency,
};

use super::send::ZONE_GEOCODE;
use crate::api::error::ApiError;
use crate::config::{AlertTemplate, Config};
use crate::domain::auth::random_urlsafe;
use crate::store::AlertRecord;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertIn {
    /// Actual, Exercise, System, Test or Draft.
    pub status: String,
    #[serde(default = "alert_type")]
    pub msg_type: String,
    #[serde(default = "public")]
    pub scope: String,
    pub restriction: Option<String>,
    pub addresses: Option<String>,
    pub note: Option<String>,
    /// The id of the alert an Update or Cancel refers to.
    pub references: Option<i64>,
    /// A pre-made alert (`[alerts.templates.*]`, or `cancel`) instead of `infos`.
    pub template: Option<String>,
    #[serde(default)]
    pub infos: Vec<InfoIn>,
    /// With a template: the area of every language's info.
    #[serde(default)]
    pub areas: Vec<AreaIn>,
    /// With a template: when the alert stops being relevant.
    pub expires: Option<DateTime<FixedOffset>>,
    /// Exercise/Test: the test audience (else the configured one).
    pub audience: Option<String>,
    /// Exercise/Test: reach everyone in the area instead (journaled).
    #[serde(default)]
    pub widen: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoIn {
    #[serde(default = "english")]
    pub language: String,
    #[serde(default = "safety")]
    pub categories: Vec<String>,
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub effective: Option<DateTime<FixedOffset>>,
    pub expires: Option<DateTime<FixedOffset>>,
    pub sender_name: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    #[serde(default)]
    pub areas: Vec<AreaIn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaIn {
    pub area_desc: String,
    /// CAP rings: "lat,lon lat,lon … lat,lon" (first point repeated).
    #[serde(default)]
    pub polygons: Vec<String>,
    /// "lat,lon radius_km".
    #[serde(default)]
    pub circles: Vec<String>,
    /// Tocsin zone ids (CAP geocode `tocsin:zone`).
    #[serde(default)]
    pub zones: Vec<i64>,
}

fn alert_type() -> String {
    "Alert".to_owned()
}
fn public() -> String {
    "Public".to_owned()
}
fn english() -> String {
    "en-US".to_owned()
}
fn safety() -> Vec<String> {
    vec!["Safety".to_owned()]
}

/// A CAP word in any letter case ("actual" → Actual), or an error that
/// lists the valid ones.
fn word<T: Copy>(
    field: &str,
    raw: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, ApiError> {
    all.iter()
        .copied()
        .find(|v| name(*v).eq_ignore_ascii_case(raw.trim()))
        .ok_or_else(|| {
            let expected: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            ApiError::invalid(
                field,
                format!("\"{raw}\" is not one of {}", expected.join(", ")),
            )
        })
}

/// Builds the CAP alert the body describes. `original` is the alert an
/// Update or Cancel refers to (looked up by the caller from `references`).
pub fn to_cap(
    body: &AlertIn,
    config: &Config,
    original: Option<&AlertRecord>,
) -> Result<Alert, ApiError> {
    let status = word("status", &body.status, Status::ALL, Status::as_str)?;
    let msg_type = word("msg_type", &body.msg_type, MsgType::ALL, MsgType::as_str)?;
    let scope = word("scope", &body.scope, Scope::ALL, Scope::as_str)?;
    let references = match original {
        Some(o) => vec![Reference {
            sender: o.sender.clone(),
            identifier: o.identifier.clone(),
            sent: o.sent.fixed_offset(),
        }],
        None => vec![],
    };
    if msg_type == MsgType::Cancel && !body.areas.is_empty() {
        return Err(ApiError::invalid(
            "areas",
            "a Cancel goes to the audience of the alert it ends; leave out areas",
        ));
    }
    let infos = match &body.template {
        Some(name) => {
            let template = config.alerts.template(name).ok_or_else(|| {
                ApiError::invalid("template", format!("no template named \"{name}\""))
            })?;
            if !body.infos.is_empty() {
                return Err(ApiError::invalid(
                    "infos",
                    "give either a template or infos, not both",
                ));
            }
            fits_msg_type(name, &template, msg_type)?;
            let areas = match (body.areas.is_empty(), original) {
                // An Update or Cancel without areas repeats the original's,
                // as CAP consumers expect; its audience is the original's.
                (true, Some(o)) => original_areas(o)?,
                _ => to_areas("areas", &body.areas)?,
            };
            city_first(
                template_infos(&template, areas, body.expires)?,
                &config.city.language,
            )
        }
        None => body
            .infos
            .iter()
            .enumerate()
            .map(|(i, info)| to_info(i, info))
            .collect::<Result<_, _>>()?,
    };
    let now = Utc::now().with_timezone(&config.timezone()).fixed_offset();
    let alert = Alert {
        identifier: format!("tocsin-{}", random_urlsafe(12)),
        sender: config.alerts.sender.clone(),
        sent: now,
        status,
        msg_type,
        scope,
        restriction: body.restriction.clone(),
        addresses: body.addresses.clone(),
        note: body.note.clone(),
        references,
        infos,
    };
    // Through the wire format and back: the same checks as CAP in.
    tocsin_cap::parse(&tocsin_cap::write(&alert))
        .map_err(|e| ApiError::invalid(e.element, e.message))
}

fn to_info(i: usize, info: &InfoIn) -> Result<Info, ApiError> {
    let f = |name: &str| format!("infos[{i}].{name}");
    Ok(Info {
        language: info.language.clone(),
        categories: info
            .categories
            .iter()
            .map(|c| word(&f("categories"), c, Category::ALL, Category::as_str))
            .collect::<Result<_, _>>()?,
        event: info.event.clone(),
        urgency: word(&f("urgency"), &info.urgency, Urgency::ALL, Urgency::as_str)?,
        severity: word(
            &f("severity"),
            &info.severity,
            Severity::ALL,
            Severity::as_str,
        )?,
        certainty: word(
            &f("certainty"),
            &info.certainty,
            Certainty::ALL,
            Certainty::as_str,
        )?,
        effective: info.effective,
        expires: info.expires,
        sender_name: info.sender_name.clone(),
        headline: info.headline.clone(),
        description: info.description.clone(),
        instruction: info.instruction.clone(),
        areas: to_areas(&f("areas"), &info.areas)?,
    })
}

fn to_areas(field: &str, areas: &[AreaIn]) -> Result<Vec<Area>, ApiError> {
    areas
        .iter()
        .enumerate()
        .map(|(j, a)| {
            let at = |what: &str, k: usize| format!("{field}[{j}].{what}[{k}]");
            Ok(Area {
                area_desc: a.area_desc.clone(),
                polygons: a
                    .polygons
                    .iter()
                    .enumerate()
                    .map(|(k, p)| {
                        Polygon::parse(&at("polygons", k), p)
                            .map_err(|e| ApiError::invalid(e.element, e.message))
                    })
                    .collect::<Result<_, _>>()?,
                circles: a
                    .circles
                    .iter()
                    .enumerate()
                    .map(|(k, c)| {
                        Circle::parse(&at("circles", k), c)
                            .map_err(|e| ApiError::invalid(e.element, e.message))
                    })
                    .collect::<Result<_, _>>()?,
                geocodes: a
                    .zones
                    .iter()
                    .map(|z| Geocode {
                        value_name: ZONE_GEOCODE.to_owned(),
                        value: z.to_string(),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// An ending template (all-clear, correction) is sent only as a Cancel,
/// and a Cancel only with an ending template: an all-clear must never say
/// "take shelter", nor a new alert "the threat is over".
fn fits_msg_type(name: &str, t: &AlertTemplate, msg_type: MsgType) -> Result<(), ApiError> {
    match (t.ends_alert, msg_type == MsgType::Cancel) {
        (true, false) => Err(ApiError::invalid(
            "template",
            format!(
                "\"{name}\" ends an alert: send it for a sent alert with \
                 POST /api/v1/alerts/{{id}}/all-clear or /cancel (or msg_type Cancel with references)"
            ),
        )),
        (false, true) => Err(ApiError::invalid(
            "template",
            format!(
                "\"{name}\" is an alarm, not an all-clear: a Cancel takes a template with \
                 ends_alert = true (e.g. \"all_clear\", \"cancel\") or its own infos"
            ),
        )),
        _ => Ok(()),
    }
}

/// The city's language first, the others in the template's order.
fn city_first(mut infos: Vec<Info>, city: &str) -> Vec<Info> {
    use crate::domain::alert::primary;
    infos.sort_by_key(|i| !primary(&i.language).eq_ignore_ascii_case(primary(city)));
    infos
}

/// The areas of a stored (so already validated) alert.
fn original_areas(o: &AlertRecord) -> Result<Vec<Area>, ApiError> {
    let cap = tocsin_cap::parse(&o.cap).map_err(ApiError::internal)?;
    let mut areas: Vec<Area> = Vec::new();
    for a in cap.infos.into_iter().flat_map(|i| i.areas) {
        if !areas.contains(&a) {
            areas.push(a);
        }
    }
    Ok(areas)
}

/// One info per language of the template, each with these areas.
pub fn template_infos(
    t: &AlertTemplate,
    areas: Vec<Area>,
    expires: Option<DateTime<FixedOffset>>,
) -> Result<Vec<Info>, ApiError> {
    // Checked when the configuration was loaded (`AlertsConfig::validate`).
    let bad = |what: &str| ApiError::internal(format!("template {what} is not a CAP value"));
    let urgency = Urgency::parse(&t.urgency).ok_or_else(|| bad("urgency"))?;
    let severity = Severity::parse(&t.severity).ok_or_else(|| bad("severity"))?;
    let certainty = Certainty::parse(&t.certainty).ok_or_else(|| bad("certainty"))?;
    let category = Category::parse(&t.category).ok_or_else(|| bad("category"))?;
    Ok(t.text
        .iter()
        .map(|(language, text)| Info {
            language: language.clone(),
            categories: vec![category],
            event: text.event.clone().unwrap_or_else(|| t.event.clone()),
            urgency,
            severity,
            certainty,
            effective: None,
            expires,
            sender_name: None,
            headline: Some(text.headline.clone()),
            description: text.description.clone(),
            instruction: text.instruction.clone(),
            areas: areas.clone(),
        })
        .collect())
}
