//! CAP 1.2 documents written from the specification: valid alerts,
//! updates, cancels, several languages, polygon and circle areas; and bad
//! ones, each refused with the element named.

use tocsin_cap::{Category, MsgType, Scope, Severity, Status, Urgency, parse, write};

const AIR_RAID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>UA-LUTSK-2026-0042</identifier>
  <sender>cp@lutsk.example</sender>
  <sent>2026-11-24T03:12:00+02:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>uk-UA</language>
    <category>Safety</category>
    <category>Security</category>
    <event>Повітряна тривога</event>
    <responseType>Shelter</responseType>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <effective>2026-11-24T03:12:00+02:00</effective>
    <expires>2026-11-24T05:12:00+02:00</expires>
    <senderName>Управління з питань цивільного захисту</senderName>
    <headline>Повітряна тривога в Луцьку</headline>
    <description>Загроза ракетного удару &amp; атаки БпЛА.</description>
    <instruction>Негайно пройдіть до найближчого укриття.</instruction>
    <area>
      <areaDesc>Луцьк, центр</areaDesc>
      <polygon>50.73,25.30 50.73,25.35 50.76,25.35 50.76,25.30 50.73,25.30</polygon>
      <circle>50.747,25.325 2.5</circle>
      <geocode><valueName>KOATUU</valueName><value>0710100000</value></geocode>
    </area>
  </info>
  <info>
    <language>en-US</language>
    <category>Safety</category>
    <event>Air raid</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>Air raid alert in Lutsk</headline>
    <instruction>Go to the nearest shelter now.</instruction>
    <area>
      <areaDesc>Lutsk, centre</areaDesc>
      <circle>50.747,25.325 2.5</circle>
    </area>
  </info>
</alert>"#;

#[test]
fn a_multilingual_alert_is_read_field_by_field() {
    let a = parse(AIR_RAID).unwrap();
    assert_eq!(a.identifier, "UA-LUTSK-2026-0042");
    assert_eq!(
        (a.status, a.msg_type, a.scope),
        (Status::Actual, MsgType::Alert, Scope::Public)
    );
    assert_eq!(a.sent.to_rfc3339(), "2026-11-24T03:12:00+02:00");
    assert_eq!(a.infos.len(), 2);
    let uk = &a.infos[0];
    assert_eq!(uk.language, "uk-UA");
    assert_eq!(uk.categories, [Category::Safety, Category::Security]);
    assert_eq!(
        (uk.urgency, uk.severity),
        (Urgency::Immediate, Severity::Extreme)
    );
    assert_eq!(
        uk.description.as_deref(),
        Some("Загроза ракетного удару & атаки БпЛА.")
    );
    let area = &uk.areas[0];
    assert_eq!(area.polygons[0].points().len(), 5);
    assert_eq!(area.polygons[0].points()[0], (50.73, 25.30));
    assert_eq!(
        (
            area.geocodes[0].value_name.as_str(),
            area.geocodes[0].value.as_str()
        ),
        ("KOATUU", "0710100000")
    );
    assert_eq!(
        (area.circles[0].lat, area.circles[0].radius_km),
        (50.747, 2.5)
    );
    assert_eq!(a.infos[1].language, "en-US");
}

#[test]
fn writing_and_reading_back_keeps_every_field() {
    let a = parse(AIR_RAID).unwrap();
    let xml = write(&a);
    assert!(xml.contains("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"));
    assert!(xml.contains("&amp; атаки"), "{xml}");
    assert_eq!(parse(&xml).unwrap(), a);
}

#[test]
fn utc_is_written_as_minus_zero_and_read_back() {
    let doc = AIR_RAID.replace(
        "2026-11-24T03:12:00+02:00</sent>",
        "2026-11-24T01:12:00-00:00</sent>",
    );
    let a = parse(&doc).unwrap();
    let xml = write(&a);
    assert!(
        xml.contains("<sent>2026-11-24T01:12:00-00:00</sent>"),
        "{xml}"
    );
    assert_eq!(parse(&xml).unwrap().sent, a.sent);
}

fn minimal(msg_type: &str, extra: &str) -> String {
    format!(
        r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>UA-LUTSK-2026-0043</identifier><sender>cp@lutsk.example</sender>
  <sent>2026-11-24T03:40:00+02:00</sent><status>Exercise</status>
  <msgType>{msg_type}</msgType><scope>Public</scope>{extra}
</alert>"#
    )
}

#[test]
fn updates_and_cancels_name_the_alert_they_refer_to() {
    let refs =
        "<references>cp@lutsk.example,UA-LUTSK-2026-0042,2026-11-24T03:12:00+02:00</references>";
    for kind in ["Update", "Cancel"] {
        let a = parse(&minimal(kind, refs)).unwrap();
        assert_eq!(a.status, Status::Exercise);
        assert_eq!(a.references[0].identifier, "UA-LUTSK-2026-0042");
        assert_eq!(parse(&write(&a)).unwrap(), a);
        let err = parse(&minimal(kind, "")).unwrap_err();
        assert_eq!(err.element, "alert/references", "{err}");
    }
    // Two references, whitespace separated.
    let two = "<references>a@x,ID-1,2026-11-24T03:12:00+02:00 a@x,ID-2,2026-11-24T03:20:00+02:00</references>";
    assert_eq!(parse(&minimal("Cancel", two)).unwrap().references.len(), 2);
}

#[test]
fn restricted_and_private_scopes_need_their_element() {
    let doc = minimal("Alert", "").replace("<scope>Public</scope>", "<scope>Restricted</scope>");
    assert_eq!(parse(&doc).unwrap_err().element, "alert/restriction");
    let doc = minimal("Alert", "").replace("<scope>Public</scope>", "<scope>Private</scope>");
    assert_eq!(parse(&doc).unwrap_err().element, "alert/addresses");
    let doc = minimal("Alert", "<restriction>civil protection staff</restriction>")
        .replace("<scope>Public</scope>", "<scope>Restricted</scope>");
    assert_eq!(
        parse(&doc).unwrap().restriction.as_deref(),
        Some("civil protection staff")
    );
}

/// Each bad document, the element its error must name, and a word its
/// message must contain.
#[test]
fn bad_documents_are_refused_naming_the_element() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            AIR_RAID.replace("<status>Actual</status>", "<status>Real</status>"),
            "alert/status",
            "Actual, Exercise",
        ),
        (
            AIR_RAID.replace("<msgType>Alert</msgType>", ""),
            "alert/msgType",
            "required",
        ),
        (
            AIR_RAID.replace("<value>0710100000</value>", ""),
            "alert/info[1]/area[1]/geocode[1]/value",
            "required",
        ),
        (
            AIR_RAID.replace(
                "<identifier>UA-LUTSK-2026-0042</identifier>",
                "<identifier>UA LUTSK</identifier>",
            ),
            "alert/identifier",
            "spaces",
        ),
        (
            AIR_RAID.replace(
                "2026-11-24T03:12:00+02:00</sent>",
                "2026-11-24 03:12</sent>",
            ),
            "alert/sent",
            "time zone",
        ),
        (
            AIR_RAID.replacen("<urgency>Immediate</urgency>", "<urgency>Soon</urgency>", 1),
            "alert/info[1]/urgency",
            "Immediate",
        ),
        (
            AIR_RAID.replacen("<severity>Extreme</severity>", "", 1),
            "alert/info[1]/severity",
            "required",
        ),
        (
            AIR_RAID.replacen(
                "<category>Security</category>",
                "<category>War</category>",
                1,
            ),
            "alert/info[1]/category[2]",
            "CBRNE",
        ),
        (
            AIR_RAID.replacen("<event>Повітряна тривога</event>", "<event> </event>", 1),
            "alert/info[1]/event",
            "empty",
        ),
        (
            AIR_RAID.replace(
                "<expires>2026-11-24T05:12:00+02:00</expires>",
                "<expires>2026-11-24T02:00:00+02:00</expires>",
            ),
            "alert/info[1]/expires",
            "after effective",
        ),
        (
            AIR_RAID.replace(" 50.73,25.30</polygon>", " 50.74,25.30</polygon>"),
            "alert/info[1]/area[1]/polygon[1]",
            "not closed",
        ),
        (
            AIR_RAID.replace(
                "50.73,25.30 50.73,25.35 50.76,25.35 50.76,25.30 50.73,25.30",
                "50.73,25.30 50.73,25.35 50.73,25.30",
            ),
            "alert/info[1]/area[1]/polygon[1]",
            "at least 4",
        ),
        (
            AIR_RAID.replace("50.73,25.30 50.73,25.35", "95.0,25.30 50.73,25.35"),
            "alert/info[1]/area[1]/polygon[1]",
            "±90",
        ),
        (
            AIR_RAID.replacen(
                "<circle>50.747,25.325 2.5</circle>",
                "<circle>50.747,25.325</circle>",
                1,
            ),
            "alert/info[1]/area[1]/circle[1]",
            "radius_km",
        ),
        (
            AIR_RAID.replacen(
                "<circle>50.747,25.325 2.5</circle>",
                "<circle>50.747,25.325 -1</circle>",
                1,
            ),
            "alert/info[1]/area[1]/circle[1]",
            "zero or more",
        ),
        (
            AIR_RAID.replacen("<areaDesc>Луцьк, центр</areaDesc>", "", 1),
            "alert/info[1]/area[1]/areaDesc",
            "required",
        ),
        (
            AIR_RAID.replace(
                "<scope>Public</scope>",
                "<scope>Public</scope><scope>Public</scope>",
            ),
            "alert/scope",
            "more than once",
        ),
        (
            AIR_RAID.replace(
                "urn:oasis:names:tc:emergency:cap:1.2",
                "urn:oasis:names:tc:emergency:cap:1.1",
            ),
            "alert",
            "namespace",
        ),
    ];
    for (doc, element, word) in cases {
        let err = parse(&doc).expect_err(element);
        assert_eq!(err.element, element, "{err}");
        assert!(err.message.contains(word), "{err}");
    }
}

#[test]
fn hostile_xml_is_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"#;
    assert_eq!(parse(laughs).unwrap_err().element, "document");
    assert_eq!(parse("<alert").unwrap_err().element, "document");
    assert_eq!(
        parse("<feed xmlns=\"http://www.w3.org/2005/Atom\"/>")
            .unwrap_err()
            .element,
        "feed"
    );
}

/// Ten thousand nested unknown elements inside `<info>` once overflowed
/// the parser's stack and aborted the service; now the document is
/// refused, naming the limit, before the parser runs.
#[test]
fn deeply_nested_elements_are_refused_naming_the_limit() {
    for levels in [10_000, 100_000] {
        let doc = minimal(
            "Alert",
            &format!(
                "<info>{}{}</info>",
                "<x>".repeat(levels),
                "</x>".repeat(levels)
            ),
        );
        let err = parse(&doc).unwrap_err();
        assert_eq!(err.element, "document", "{err}");
        assert!(
            err.message
                .contains(&format!("the limit is {}", tocsin_cap::MAX_DEPTH)),
            "{err}"
        );
    }
    // Depth to spare: unknown extension elements a few levels deep pass.
    let doc = minimal(
        "Alert",
        "<info><category>Safety</category><event>e</event><urgency>Immediate</urgency>\
         <severity>Extreme</severity><certainty>Observed</certainty>\
         <parameter><valueName>a</valueName><value><b><c><d/></c></b></value></parameter>\
         </info>",
    );
    assert!(parse(&doc).is_ok(), "{:?}", parse(&doc));
}
