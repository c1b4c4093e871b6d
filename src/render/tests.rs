use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::{Category, EventId, EventKind, NoticeId, NoticeKind, NoticeStatus};

pub(super) fn notice(kind: NoticeKind, cause: Option<&str>, end: bool) -> Notice {
    let start = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    Notice {
        id: NoticeId(7),
        organisation: None,
        kind,
        category: Category::Water,
        title: "Ремонт водогону на вул. Лесі Українки".to_owned(),
        cause: cause.map(str::to_owned),
        starts_at: start,
        expected_end: end.then(|| start + chrono::Duration::hours(8)),
        status: NoticeStatus::Active,
        area: json!({}),
        zones: vec![],
        recipients: 1,
        created_at: start,
        updated_at: start,
        closed_at: None,
        expires_at: None,
        outage: None,
        alert: None,
    }
}

pub(super) fn event(kind: EventKind, message: Option<&str>) -> NoticeEvent {
    NoticeEvent {
        id: EventId(1),
        notice_id: NoticeId(7),
        seq: 0,
        kind,
        message: message.map(str::to_owned),
        expected_end: None,
        deliveries: 1,
        created_at: Utc::now(),
        alert: None,
    }
}

const UNSUBSCRIBE: &str = "https://alerts.example/unsubscribe/1.y";

fn render(r: &Renderer, lang: &str, channel: ChannelKind, n: &Notice, e: &NoticeEvent) -> Content {
    render_with(r, lang, channel, n, e, Some(UNSUBSCRIBE))
}

fn render_with(
    r: &Renderer,
    lang: &str,
    channel: ChannelKind,
    n: &Notice,
    e: &NoticeEvent,
    unsubscribe_url: Option<&str>,
) -> Content {
    let language = Language::parse(lang).unwrap();
    let input = MessageInput {
        notice: n,
        event: e,
        language: &language,
        ack_url: Some("https://alerts.example/ack/1.x"),
        gather_url: Some("https://alerts.example/g/1"),
        unsubscribe_url,
    };
    r.render(channel, &input)
        .unwrap_or_else(|err| panic!("{lang} {channel}: {err}"))
}

fn texts(c: &Content) -> Vec<&str> {
    match c {
        Content::Push { title, body, .. } => vec![title, body],
        Content::Sms { body } => vec![body],
        Content::Email { subject, body } => vec![subject, body],
        Content::Voice { speech, prompt, .. } => vec![speech, prompt],
    }
}

#[test]
fn every_language_kind_event_and_channel_renders() {
    let r = Renderer::new(chrono_tz::Europe::Kyiv);
    for lang in ["uk", "pl", "en", "de"] {
        for kind in NoticeKind::ALL {
            for ev in EventKind::ALL {
                for (cause, message, end) in [
                    (None, None, false),
                    (Some("пошкодження"), Some("бригада на місці"), true),
                ] {
                    let n = notice(kind, cause, end);
                    let e = event(ev, message);
                    for channel in ChannelKind::ALL {
                        let content = render(&r, lang, channel, &n, &e);
                        for t in texts(&content) {
                            assert!(!t.is_empty(), "{lang} {kind:?} {ev:?} {channel}: empty");
                            assert!(
                                !t.contains("none") && !t.contains("None"),
                                "{lang} {channel}: {t}"
                            );
                            assert!(
                                !t.contains("{{") && !t.contains(".."),
                                "{lang} {channel}: {t}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn ukrainian_sms_reads_naturally_in_city_time() {
    let r = Renderer::new(chrono_tz::Europe::Kyiv);
    let n = notice(NoticeKind::Planned, Some("Планова заміна засувки"), true);
    let Content::Sms { body } = render(
        &r,
        "uk",
        ChannelKind::Sms,
        &n,
        &event(EventKind::Published, None),
    ) else {
        panic!()
    };
    assert_eq!(
        body,
        "Планові роботи (водопостачання): Ремонт водогону на вул. Лесі Українки. \
         Причина: Планова заміна засувки. З 23.11.2026 10:00 до 23.11.2026 18:00."
    );
}

#[test]
fn emergency_override_and_english_fallback() {
    let r = Renderer::new(chrono_tz::UTC);
    let n = notice(NoticeKind::Emergency, None, false);
    let e = event(EventKind::Published, None);
    let Content::Sms { body } = render(&r, "uk", ChannelKind::Sms, &n, &e) else {
        panic!()
    };
    assert!(body.starts_with("АВАРІЯ, водопостачання:"), "{body}");
    let Content::Sms { body } = render(&r, "de", ChannelKind::Sms, &n, &e) else {
        panic!()
    };
    assert!(body.starts_with("EMERGENCY, water supply:"), "{body}");
    let update = event(EventKind::Updated, Some("Repair extended to 18:00"));
    let Content::Sms { body } = render(&r, "en", ChannelKind::Sms, &n, &update) else {
        panic!()
    };
    assert_eq!(
        body,
        "Update: Ремонт водогону на вул. Лесі Українки. Repair extended to 18:00."
    );
}

#[test]
fn lookup_prefers_language_and_kind_specific_templates() {
    let mut r = Renderer::new(chrono_tz::UTC);
    r.add_template(
        "de/sms.j2",
        "{% block body %}Wasser: {{ notice.title }}{% endblock %}",
    );
    r.add_template(
        "de/planned.sms.j2",
        "{% block body %}Geplant: {{ notice.title }}{% endblock %}",
    );
    let e = event(EventKind::Published, None);
    let planned = render(
        &r,
        "de",
        ChannelKind::Sms,
        &notice(NoticeKind::Planned, None, false),
        &e,
    );
    let unplanned = render(
        &r,
        "de",
        ChannelKind::Sms,
        &notice(NoticeKind::Unplanned, None, false),
        &e,
    );
    assert_eq!(
        texts(&planned)[0],
        "Geplant: Ремонт водогону на вул. Лесі Українки"
    );
    assert_eq!(
        texts(&unplanned)[0],
        "Wasser: Ремонт водогону на вул. Лесі Українки"
    );
}

#[test]
fn hostile_titles_are_text_not_template_code_and_subjects_stay_one_line() {
    let r = Renderer::new(chrono_tz::UTC);
    let mut n = notice(NoticeKind::Planned, None, false);
    n.title = "{{ 7*7 }} {% raw %}\nBcc: victim@example.com".to_owned();
    let Content::Email { subject, body } = render(
        &r,
        "en",
        ChannelKind::Email,
        &n,
        &event(EventKind::Published, None),
    ) else {
        panic!()
    };
    assert!(
        subject.contains("{{ 7*7 }}") && !subject.contains('\n'),
        "{subject}"
    );
    assert!(!body.contains("49"));
    assert!(body.contains("https://alerts.example/ack/1.x"));
}

#[test]
fn email_footer_carries_the_unsubscribe_link_in_the_residents_language() {
    let r = Renderer::new(chrono_tz::UTC);
    let n = notice(NoticeKind::Planned, None, false);
    let e = event(EventKind::Published, None);
    for (lang, words) in [
        ("uk", "Не отримувати більше листів: "),
        ("pl", "Aby nie otrzymywać więcej e-maili: "),
        ("en", "To stop these emails: "),
    ] {
        let Content::Email { body, .. } = render(&r, lang, ChannelKind::Email, &n, &e) else {
            panic!()
        };
        assert!(
            body.ends_with(&format!("{words}{UNSUBSCRIBE}")),
            "{lang}: {body}"
        );
        let Content::Email { body, .. } = render_with(&r, lang, ChannelKind::Email, &n, &e, None)
        else {
            panic!()
        };
        assert!(
            !body.contains("unsubscribe") && !body.contains(words.trim()),
            "{lang}: {body}"
        );
        assert!(body.ends_with('.'), "{lang}: {body}");
    }
}

#[test]
fn voice_uses_the_residents_locale_and_asks_for_a_keypress() {
    let r = Renderer::new(chrono_tz::UTC);
    let n = notice(NoticeKind::Emergency, None, false);
    let Content::Voice {
        language,
        prompt,
        gather_url,
        ..
    } = render(
        &r,
        "pl",
        ChannelKind::Voice,
        &n,
        &event(EventKind::Published, None),
    )
    else {
        panic!()
    };
    assert_eq!(language, "pl-PL");
    assert!(prompt.contains('1'));
    assert_eq!(gather_url.as_deref(), Some("https://alerts.example/g/1"));
}

#[test]
fn sentence_filter() {
    assert_eq!(sentence("Pipe burst".into()), "Pipe burst.");
    assert_eq!(sentence("Pipe burst!  ".into()), "Pipe burst!");
    assert_eq!(sentence(String::new()), "");
}

#[test]
fn sms_sizes_are_reported_per_language() {
    let r = Renderer::new(chrono_tz::UTC);
    let mut n = notice(NoticeKind::Planned, None, true);
    n.title = "Water main repair".to_owned();
    let sizes = r.sms_sizes(&n, &event(EventKind::Published, None)).unwrap();
    assert_eq!(
        sizes.keys().copied().collect::<Vec<_>>(),
        vec!["en", "pl", "uk"]
    );
    assert_eq!(sizes["en"].encoding, tocsin_channels::SmsEncoding::Gsm7);
    assert_eq!(sizes["uk"].encoding, tocsin_channels::SmsEncoding::Ucs2);
    assert_eq!(sizes["uk"].segments, 2, "{:?}", sizes["uk"]);
}

const EXERCISE: &str = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>drill-1</identifier><sender>cp@city.example</sender>
  <sent>2026-11-23T08:00:00+02:00</sent><status>Exercise</status>
  <msgType>Alert</msgType><scope>Public</scope>
  <info><language>uk-UA</language><category>Safety</category><event>Повітряна тривога</event>
    <urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>
    <headline>Тривога в Луцьку</headline><instruction>Пройдіть до укриття</instruction></info>
  <info><language>pl</language><category>Safety</category><event>Alarm lotniczy</event>
    <urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty>
    <headline>Alarm w Łucku</headline></info>
</alert>"#;

#[test]
fn an_exercise_is_marked_on_every_channel_in_every_language() {
    let cap = tocsin_cap::parse(EXERCISE).unwrap();
    let mut n = notice(NoticeKind::Unplanned, None, false);
    n.alert = Some(alert_content(&cap));
    let e = event(EventKind::Published, None);
    let r = Renderer::default();
    let channels = [
        ChannelKind::Fcm,
        ChannelKind::Apns,
        ChannelKind::Sms,
        ChannelKind::Email,
        ChannelKind::Voice,
    ];
    // "de" has no template and no info: English templates, Ukrainian text
    // (the first info), and still the marker.
    for (lang, word, text) in [
        ("uk", "НАВЧАННЯ", "Тривога в Луцьку"),
        ("pl", "ĆWICZENIA", "Alarm w Łucku"),
        ("en", "EXERCISE", "Тривога в Луцьку"),
        ("de", "EXERCISE", "Тривога в Луцьку"),
    ] {
        let language = Language::parse(lang).unwrap();
        for channel in channels {
            let input = MessageInput {
                notice: &n,
                event: &e,
                language: &language,
                ack_url: None,
                gather_url: None,
                unsubscribe_url: None,
            };
            let texts = match r.render(channel, &input).unwrap() {
                Content::Push { title, body, .. } => vec![title, body],
                Content::Sms { body } => vec![body],
                Content::Email { subject, body } => vec![subject, body],
                Content::Voice { speech, .. } => vec![speech],
            };
            for t in &texts {
                let start = t.trim_start_matches('[');
                assert!(start.starts_with(word), "{lang} {channel:?}: {t}");
            }
            assert!(
                texts.iter().any(|t| t.contains(text)),
                "{lang} {channel:?}: {texts:?}"
            );
        }
    }
}

fn alert_content(cap: &tocsin_cap::Alert) -> crate::domain::alert::AlertContent {
    let lane = crate::domain::alert::LanePolicy::default().decide(cap);
    crate::domain::alert::AlertContent::from_cap(cap, lane)
}

/// An all-clear's event carries its own text: rendered with the alarm's
/// notice, it must say the all-clear on every channel and never repeat
/// the alarm.
#[test]
fn an_event_of_an_alert_says_its_own_text() {
    let alarm = tocsin_cap::parse(&EXERCISE.replace("Exercise", "Actual")).unwrap();
    let all_clear = tocsin_cap::parse(
        &EXERCISE
            .replace("Exercise", "Actual")
            .replace(
                "<msgType>Alert</msgType>",
                "<msgType>Cancel</msgType>\
                <references>cp@city.example,drill-1,2026-11-23T08:00:00+02:00</references>",
            )
            .replace("Тривога в Луцьку", "Відбій тривоги")
            .replace("Пройдіть до укриття", "Можна виходити з укриття"),
    )
    .unwrap();
    let mut n = notice(NoticeKind::Emergency, None, false);
    n.alert = Some(alert_content(&alarm));
    let mut e = event(EventKind::Closed, None);
    e.alert = Some(alert_content(&all_clear));
    let uk = Language::parse("uk").unwrap();
    let r = Renderer::default();
    for channel in [
        ChannelKind::Fcm,
        ChannelKind::Sms,
        ChannelKind::Email,
        ChannelKind::Voice,
    ] {
        let input = MessageInput {
            notice: &n,
            event: &e,
            language: &uk,
            ack_url: None,
            gather_url: None,
            unsubscribe_url: None,
        };
        let text = format!("{:?}", r.render(channel, &input).unwrap());
        assert!(text.contains("Відбій тривоги"), "{channel:?}: {text}");
        assert!(!text.contains("Тривога в Луцьку"), "{channel:?}: {text}");
        assert!(
            !text.contains("укриття") || text.contains("виходити"),
            "{channel:?}: {text}"
        );
    }
}
