use super::*;
use crate::config::ChannelRate;
use crate::store::ContactCount;
use tocsin_channels::SmsEncoding;

fn lang(tag: &str) -> Language {
    Language::parse(tag).unwrap()
}

fn count(channel: ChannelKind, language: &str, contacts: i64) -> ContactCount {
    ContactCount {
        channel,
        language: lang(language),
        contacts,
    }
}

fn rate(per_second: Option<f64>, price: Option<f64>) -> ChannelRate {
    ChannelRate {
        per_second,
        price,
        ..ChannelRate::default()
    }
}

fn sms(language: &str, recipients: u64, segments: u32) -> SmsSize {
    SmsSize {
        language: lang(language),
        recipients,
        info: SmsInfo {
            encoding: SmsEncoding::Ucs2,
            segments,
            units: 100,
        },
    }
}

fn load(messages: u64, units: u64) -> Load {
    Load { messages, units }
}

#[test]
fn calls_are_billed_per_started_minute() {
    let minutes: Vec<u64> = [0, 1, 150, 151, 300, 301]
        .into_iter()
        .map(billed_minutes)
        .collect();
    assert_eq!(minutes, vec![1, 1, 1, 2, 2, 3]);
    assert_eq!(CallSize::new(lang("uk"), 7, 160).minutes_per_call, 2);
}

#[test]
fn loads_bill_segments_minutes_and_messages() {
    let counts = AudienceCounts {
        residents: 1200,
        contacts: vec![
            count(ChannelKind::Sms, "uk", 500),
            count(ChannelKind::Sms, "en", 300),
            count(ChannelKind::Email, "en", 700),
            count(ChannelKind::Email, "uk", 5),
            count(ChannelKind::Fcm, "uk", 400),
            count(ChannelKind::Voice, "uk", 50),
            count(ChannelKind::Apns, "uk", 0),
        ],
    };
    let got = loads(
        &counts,
        &[sms("uk", 500, 2), sms("en", 300, 1)],
        &[CallSize::new(lang("uk"), 50, 160)],
    );
    let want = BTreeMap::from([
        (ChannelKind::Sms, load(800, 1300)),
        (ChannelKind::Email, load(705, 705)),
        (ChannelKind::Fcm, load(400, 400)),
        (ChannelKind::Voice, load(50, 100)),
    ]);
    assert_eq!(got, want);
}

#[test]
fn amounts_are_exact_cents_and_unpriced_channels_are_named() {
    let rates = RatesConfig {
        sms: rate(None, Some(0.5)),
        email: rate(None, Some(0.1)),
        voice: rate(None, Some(0.035)),
        ..RatesConfig::default()
    };
    let loads = BTreeMap::from([
        (ChannelKind::Sms, load(800, 1300)),
        (ChannelKind::Email, load(3, 3)),
        (ChannelKind::Fcm, load(400, 400)),
        (ChannelKind::Voice, load(3, 3)),
    ]);
    let c = cost(&loads, &rates, "UAH");
    assert_eq!(c.by_channel[&ChannelKind::Sms].amount, Cents(65_000));
    assert_eq!(c.by_channel[&ChannelKind::Email].amount, Cents(30));
    assert_eq!(
        c.by_channel[&ChannelKind::Voice].amount,
        Cents(11),
        "0.105 rounds up"
    );
    assert_eq!(c.total, Cents(65_041));
    assert_eq!(c.unpriced, vec![ChannelKind::Fcm]);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["currency"], "UAH");
    assert_eq!(json["total"].to_string(), "650.41");
    assert_eq!(json["by_channel"]["email"]["amount"].to_string(), "0.3");
    assert_eq!(json["by_channel"]["sms"]["unit"], "segment");
    assert_eq!(json["by_channel"]["voice"]["unit"], "minute");
    assert_eq!(json["by_channel"]["sms"]["unit_price"], 0.5);
    assert!(json["by_channel"].get("fcm").is_none());
}

#[test]
fn a_free_channel_costs_zero_and_is_not_unpriced() {
    let rates = RatesConfig {
        fcm: rate(None, Some(0.0)),
        ..RatesConfig::default()
    };
    let c = cost(
        &BTreeMap::from([(ChannelKind::Fcm, load(10, 10))]),
        &rates,
        "EUR",
    );
    assert_eq!(c.by_channel[&ChannelKind::Fcm].amount, Cents(0));
    assert!(c.unpriced.is_empty());
}

#[test]
fn time_is_the_slowest_limited_channel() {
    let rates = RatesConfig {
        sms: rate(Some(30.0), None),
        email: rate(Some(100.0), None),
        voice: rate(Some(0.5), None),
        ..RatesConfig::default()
    };
    let loads = BTreeMap::from([
        (ChannelKind::Sms, load(800, 1300)),
        (ChannelKind::Email, load(700, 700)),
        (ChannelKind::Fcm, load(400, 400)),
    ]);
    let d = duration(&loads, &rates);
    assert_eq!(d.by_channel[&ChannelKind::Sms], 26.7);
    assert_eq!(d.by_channel[&ChannelKind::Email], 7.0);
    assert_eq!(d.total, 26.7);
    assert_eq!(d.unlimited, vec![ChannelKind::Fcm]);
    assert!(
        !d.by_channel.contains_key(&ChannelKind::Voice),
        "no calls, no time"
    );

    let slow = BTreeMap::from([(ChannelKind::Voice, load(50, 100))]);
    assert_eq!(duration(&slow, &rates).total, 100.0);
    assert_eq!(duration(&BTreeMap::new(), &rates).total, 0.0);
}
