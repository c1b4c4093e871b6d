//! The bodies of the fuzz targets (`fuzz/`), here so that the inputs the
//! fuzzers found are replayed by `cargo test` on the stable toolchain
//! (`tests/fuzz_regressions.rs`). Each takes arbitrary bytes, must never
//! panic, and checks a property where one exists (parse → write → parse is
//! the identity; a parsed address stays parsed when parsed again; a body
//! is refused for its nesting exactly when it nests too deeply).

use chrono::{TimeZone, Utc};
use std::sync::OnceLock;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::{Limits, Region, parse_zone_features};

use crate::domain::alert::{AlertContent, LanePolicy};
use crate::domain::{Category, EventId, EventKind, Language, NoticeId, NoticeKind, NoticeStatus};
use crate::render::{MessageInput, Renderer};
use crate::store::{Notice, NoticeEvent};

/// CAP 1.2: parsing never panics; what parses, written and parsed
/// again, is the same alert.
pub fn cap(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(alert) = tocsin_cap::parse(text) {
        let again = tocsin_cap::parse(&tocsin_cap::write(&alert));
        assert_eq!(
            again.as_ref(),
            Ok(&alert),
            "CAP round trip changed the alert"
        );
    }
}

/// GeoJSON zones and geometries: validation never panics, and a region
/// that parses is written back to GeoJSON that parses again.
pub fn geojson(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let limits = Limits {
        max_vertices: 2_000,
        ..Limits::default()
    };
    let _ = parse_zone_features(&value, &limits);
    if let Ok(region) = Region::from_geojson(&value, &limits) {
        let written = region.to_geojson();
        assert!(
            Region::from_geojson(&written, &limits).is_ok(),
            "a region's own GeoJSON was refused: {written}"
        );
    }
}

/// Contact addresses of every channel: a normalized address is a fixed
/// point of parsing.
pub fn addresses(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in ChannelKind::ALL {
        if let Ok(address) = Address::parse(kind, text) {
            let again = Address::parse(kind, address.as_str()).unwrap_or_else(|e| {
                panic!("{kind:?} {:?} no longer parses: {e}", address.as_str())
            });
            assert_eq!(again.as_str(), address.as_str());
            let _ = address.masked();
        }
    }
}

/// A template with hostile notice and alert text (template syntax,
/// control characters, huge strings): rendering never panics. The first
/// byte picks the event, language, channel and whether it is an alert,
/// so each run is one rendering (a sanitized build renders slowly).
pub fn render(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\u{0}');
    let title = parts.next().unwrap_or_default().to_owned();
    let cause = parts.next().map(str::to_owned);
    let message = parts.next().map(str::to_owned);
    let pick = usize::from(pick);
    let kind = EventKind::ALL[pick % EventKind::ALL.len()];
    let lang = ["uk", "pl", "en", "de"][(pick / 4) % 4];
    let channel = ChannelKind::ALL[(pick / 16) % ChannelKind::ALL.len()];
    let start = Utc
        .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .unwrap_or_default();
    let notice = Notice {
        id: NoticeId(1),
        organisation: None,
        kind: NoticeKind::Planned,
        category: Category::Water,
        title: title.clone(),
        cause,
        starts_at: start,
        expected_end: Some(start),
        status: NoticeStatus::Active,
        area: serde_json::json!({}),
        zones: vec![],
        recipients: 1,
        created_at: start,
        updated_at: start,
        closed_at: None,
        expires_at: None,
        outage: None,
        alert: (pick >= 128)
            .then(|| hostile_alert(&title, message.as_deref()))
            .flatten(),
    };
    let event = NoticeEvent {
        id: EventId(1),
        notice_id: notice.id,
        seq: 0,
        kind,
        message,
        expected_end: None,
        deliveries: 1,
        created_at: start,
        alert: None,
    };
    let language = Language::parse(lang).expect("a valid tag");
    let input = MessageInput {
        notice: &notice,
        event: &event,
        language: &language,
        ack_url: Some("https://example.invalid/ack/x"),
        gather_url: None,
        unsubscribe_url: None,
    };
    // Built once: loading the templates costs more than rendering.
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    let _ = RENDERER
        .get_or_init(Renderer::default)
        .render(channel, &input);
}

/// An Exercise alert whose headline and instruction are the hostile text.
fn hostile_alert(headline: &str, instruction: Option<&str>) -> Option<AlertContent> {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    let xml = format!(
        "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><identifier>f</identifier>\
         <sender>s</sender><sent>2026-11-23T08:00:00+02:00</sent><status>Exercise</status>\
         <msgType>Alert</msgType><scope>Public</scope><info><category>Safety</category>\
         <event>e</event><urgency>Immediate</urgency><severity>Extreme</severity>\
         <certainty>Observed</certainty><headline>{}</headline><instruction>{}</instruction>\
         </info></alert>",
        escape(headline),
        escape(instruction.unwrap_or("i"))
    );
    tocsin_cap::parse(&xml)
        .ok()
        .map(|a| AlertContent::from_cap(&a, LanePolicy::default().decide(&a)))
}

/// The NDJSON resident import: any text gives residents or line errors.
pub fn ndjson(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (residents, errors, bad) = crate::api::parse_import_lines(&text);
    assert!(errors.len() <= bad, "more errors reported than bad lines");
    assert!(residents.len() + bad <= text.lines().count());
}

/// Deep nesting through every parser of outside input: JSON bodies (and
/// the zone GeoJSON read from them), the NDJSON import and CAP XML. The
/// first three bytes give the number of levels (up to 150 000), the rest
/// a pattern of openers, cycled: plain ones, and ones that hide brackets
/// in strings, `/>` in attribute values or markup in comments. No parser
/// may overflow its stack, and each refuses the document for its nesting
/// exactly when it nests deeper than its limit.
pub fn nesting(data: &[u8]) {
    let Some((&[a, b, c], pattern)) = data.split_first_chunk::<3>() else {
        return;
    };
    let levels = (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)).min(150_000);
    let pattern = if pattern.is_empty() {
        &[0][..]
    } else {
        pattern
    };
    let picks = (0..levels).map(|i| pattern[i % pattern.len()]);
    nested_json(picks.clone());
    nested_cap(picks);
}

/// Opens `levels` arrays and objects as `picks` says; returns the text and
/// how deep it nests.
fn nested_json(picks: impl Iterator<Item = u8>) {
    const OPEN: [(&str, &str, usize); 4] = [
        ("[", "]", 0),
        ("{\"k\":", "}", 0),
        ("[\"]\\\"{[\",", "]", 0),
        ("[0,{\"x\":[]},", "]", 2),
    ];
    let (mut text, mut closers, mut deepest) = (String::new(), Vec::new(), 0);
    for (depth, pick) in picks.enumerate() {
        let (open, close, inside) = OPEN[usize::from(pick) % OPEN.len()];
        text.push_str(open);
        closers.push(close);
        deepest = deepest.max(depth + 1 + inside);
    }
    text.push('1');
    text.extend(closers.into_iter().rev());
    let too_deep = |e: &crate::api::ApiError| e.to_string().contains("levels deep");
    match crate::api::parse_json::<serde_json::Value>(text.as_bytes()) {
        Ok(value) => {
            assert!(
                deepest <= crate::api::MAX_JSON_DEPTH,
                "{deepest} levels accepted"
            );
            let _ = parse_zone_features(&value, &Limits::default());
        }
        Err(e) => assert!(
            too_deep(&e) && deepest > crate::api::MAX_JSON_DEPTH,
            "{deepest} levels: {e}"
        ),
    }
    let (_, errors, _) = crate::api::parse_import_lines(&text);
    let refused = errors
        .first()
        .is_some_and(|e| e.message.contains("levels deep"));
    assert_eq!(
        refused,
        deepest > crate::api::MAX_JSON_DEPTH,
        "NDJSON, {deepest} levels"
    );
}

/// The same for elements inside the `<info>` of a CAP alert (itself two
/// levels deep).
fn nested_cap(picks: impl Iterator<Item = u8>) {
    const OPEN: [(&str, &str, usize); 4] = [
        ("<a>", "</a>", 0),
        ("<b v=\"/>\" w='/>'>", "</b>", 0),
        ("<c><!--<d>--><![CDATA[<e>]]><?p <f>?><g/>", "</c>", 0),
        ("<h><i/><j>t</j>", "</h>", 1),
    ];
    let (mut inner, mut closers, mut deepest) = (String::new(), Vec::new(), 2);
    for (depth, pick) in picks.enumerate() {
        let (open, close, inside) = OPEN[usize::from(pick) % OPEN.len()];
        inner.push_str(open);
        closers.push(close);
        deepest = deepest.max(depth + 3 + inside);
    }
    inner.extend(closers.into_iter().rev());
    let xml = format!(
        "<alert xmlns=\"{}\"><identifier>f</identifier><sender>s</sender>\
         <sent>2026-11-23T08:00:00+02:00</sent><status>Exercise</status>\
         <msgType>Alert</msgType><scope>Public</scope><info>{inner}</info></alert>",
        tocsin_cap::NAMESPACE
    );
    let refused = tocsin_cap::parse(&xml)
        .err()
        .is_some_and(|e| e.element == "document" && e.message.contains("levels deep"));
    assert_eq!(
        refused,
        deepest > tocsin_cap::MAX_DEPTH,
        "CAP, {deepest} levels"
    );
}
