//! [`Alert`] → CAP 1.2 XML. Times are written with a numeric offset and
//! UTC as `-00:00`, as the specification requires (no `Z`).

use chrono::{DateTime, FixedOffset};
use std::fmt::Write as _;

use crate::NAMESPACE;
use crate::model::*;

pub fn write(a: &Alert) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<alert xmlns=\"{NAMESPACE}\">");
    element(&mut x, 1, "identifier", &a.identifier);
    element(&mut x, 1, "sender", &a.sender);
    element(&mut x, 1, "sent", &time(&a.sent));
    element(&mut x, 1, "status", a.status.as_str());
    element(&mut x, 1, "msgType", a.msg_type.as_str());
    element(&mut x, 1, "scope", a.scope.as_str());
    optional(&mut x, 1, "restriction", a.restriction.as_deref());
    optional(&mut x, 1, "addresses", a.addresses.as_deref());
    optional(&mut x, 1, "note", a.note.as_deref());
    if !a.references.is_empty() {
        let refs: Vec<String> = a
            .references
            .iter()
            .map(|r| format!("{},{},{}", r.sender, r.identifier, time(&r.sent)))
            .collect();
        element(&mut x, 1, "references", &refs.join(" "));
    }
    for info in &a.infos {
        write_info(&mut x, info);
    }
    x.push_str("</alert>\n");
    x
}

fn write_info(x: &mut String, i: &Info) {
    x.push_str("  <info>\n");
    element(x, 2, "language", &i.language);
    for c in &i.categories {
        element(x, 2, "category", c.as_str());
    }
    element(x, 2, "event", &i.event);
    element(x, 2, "urgency", i.urgency.as_str());
    element(x, 2, "severity", i.severity.as_str());
    element(x, 2, "certainty", i.certainty.as_str());
    optional(x, 2, "effective", i.effective.as_ref().map(time).as_deref());
    optional(x, 2, "expires", i.expires.as_ref().map(time).as_deref());
    optional(x, 2, "senderName", i.sender_name.as_deref());
    optional(x, 2, "headline", i.headline.as_deref());
    optional(x, 2, "description", i.description.as_deref());
    optional(x, 2, "instruction", i.instruction.as_deref());
    for a in &i.areas {
        x.push_str("    <area>\n");
        element(x, 3, "areaDesc", &a.area_desc);
        for p in &a.polygons {
            let pts: Vec<String> = p
                .points()
                .iter()
                .map(|(la, lo)| format!("{la},{lo}"))
                .collect();
            element(x, 3, "polygon", &pts.join(" "));
        }
        for c in &a.circles {
            element(
                x,
                3,
                "circle",
                &format!("{},{} {}", c.lat, c.lon, c.radius_km),
            );
        }
        for g in &a.geocodes {
            x.push_str("      <geocode>\n");
            element(x, 4, "valueName", &g.value_name);
            element(x, 4, "value", &g.value);
            x.push_str("      </geocode>\n");
        }
        x.push_str("    </area>\n");
    }
    x.push_str("  </info>\n");
}

fn time(t: &DateTime<FixedOffset>) -> String {
    let s = t.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
    match s.strip_suffix("+00:00") {
        Some(head) => format!("{head}-00:00"),
        None => s,
    }
}

fn element(x: &mut String, depth: usize, name: &str, value: &str) {
    let _ = writeln!(
        x,
        "{}<{name}>{}</{name}>",
        "  ".repeat(depth),
        escape(value)
    );
}

fn optional(x: &mut String, depth: usize, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        element(x, depth, name, v);
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
