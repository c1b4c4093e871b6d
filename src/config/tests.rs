//! Loading, defaults and validation of the configuration.

use super::*;

fn parse(toml: &str) -> Result<Config, String> {
    Figment::new()
        .merge(Toml::string(toml))
        .extract::<Config>()
        .map_err(|e| e.to_string())
}

#[test]
fn empty_file_gives_defaults_and_simulated_channels() {
    let c = parse("").unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert!(c.channels.sms.is_none());
    assert_eq!(c.public_base(), "http://127.0.0.1:8080");
}

#[test]
fn map_tiles_are_an_http_template_whose_origin_the_console_allows() {
    let c = parse("[city]\ntile_url = \"https://tiles.example:8443/osm/{z}/{x}/{y}.png\"").unwrap();
    assert!(c.validate().is_ok());
    assert_eq!(
        c.city.tile_origin().as_deref(),
        Some("https://tiles.example:8443")
    );
    for bad in [
        "ftp://tiles.example/{z}/{x}/{y}.png",
        "https://tiles.example/{z}/{x}.png",
        "https://tiles.example/{z}/{x}/{y}.png; script-src *",
    ] {
        let c = parse(&format!("[city]\ntile_url = \"{bad}\"")).unwrap();
        assert!(c.validate().is_err(), "{bad}");
    }
    assert_eq!(parse("").unwrap().city.tile_origin(), None);
}

#[test]
fn provider_sections_parse() {
    let c = parse(
        r#"
        [channels.sms]
        provider = "twilio"
        base_url = "http://127.0.0.1:9999"
        account_sid = "AC123"
        auth_token = "secret"
        from = "+380501234567"

        [channels.email]
        provider = "simulated"
        "#,
    )
    .unwrap();
    match &c.channels.sms {
        Some(SmsSection::Twilio(t)) => assert_eq!(t.account_sid, "AC123"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.channels.email, Some(EmailSection::Simulated)));
    assert!(!format!("{c:?}").contains("secret"));
    assert_eq!(
        c.channels
            .twilio_auth_token(ChannelKind::Sms)
            .unwrap()
            .expose(),
        "secret"
    );
}

#[test]
fn unknown_keys_and_providers_are_refused() {
    let err = parse("[channels.sms]\nprovider = \"carrier-pigeon\"").unwrap_err();
    assert!(err.contains("carrier-pigeon"), "{err}");
    let err = parse("lisen = \"127.0.0.1:1\"").unwrap_err();
    assert!(err.contains("lisen"), "{err}");
    let err = parse(
        "[channels.sms]\nprovider = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+1\"\ntypo = 1",
    )
    .unwrap_err();
    assert!(err.contains("typo"), "{err}");
}

#[test]
fn policy_sections_parse_and_bad_ones_name_the_key() {
    let c = parse(
        r#"
[rates.sms]
per_second = 30
price = 0.55
[policy]
quiet_hours = "22:00-07:00"
daily_cap = 3
[policy.fallback]
emergency = [
  { channels = ["fcm", "apns"] },
  { channels = ["sms"], after_secs = 120, unless = "delivered" },
]
"#,
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.rates.sms.burst(), 1, "an even pace unless told");
    assert_eq!(
        c.policy
            .cascade(crate::domain::NoticeKind::Emergency)
            .steps()
            .len(),
        2
    );
    for (bad, key) in [
        ("[rates.sms]\nper_second = 0\n", "rates.sms.per_second"),
        ("[policy]\ncurrency = \"hryvnia\"\n", "policy.currency"),
        (
            "[policy.fallback]\nplanned = [{ channels = [\"sms\"], after_secs = 60 }]\n",
            "policy.fallback.planned",
        ),
    ] {
        let err = parse(bad).unwrap().validate().unwrap_err().to_string();
        assert!(err.contains(key), "{err}");
    }
    assert!(parse("[policy]\nquiet_hours = \"late\"\n").is_err());
}

#[test]
fn the_shipped_examples_parse() {
    for file in ["deploy/tocsin.toml", "deploy/providers.example.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let config = parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        config.validate().unwrap();
    }
    let providers = parse(include_str!("../../deploy/providers.example.toml")).unwrap();
    assert!(matches!(providers.channels.fcm, Some(FcmSection::Fcm(_))));
    assert!(matches!(
        providers.channels.voice,
        Some(VoiceSection::Twilio(_))
    ));
}

#[test]
fn environment_values_stay_text_unless_the_field_is_a_number() {
    let vars = [
        ("TOCSIN_CHANNELS__SMS__PROVIDER", "twilio"),
        ("TOCSIN_CHANNELS__SMS__ACCOUNT_SID", "AC1"),
        ("TOCSIN_CHANNELS__SMS__AUTH_TOKEN", "0012345"),
        ("TOCSIN_CHANNELS__SMS__FROM", "+380501234567"),
        ("TOCSIN_DISPATCH__CONCURRENCY", "7"),
        ("TOCSIN_CONFIG", "/etc/tocsin.toml"),
        ("TOCSIN_API_PORT", "tcp://10.0.0.1:8080"),
        ("TOCSIN_API_SERVICE_HOST", "10.0.0.1"),
        ("TOCSIN_TEST_POSTGRES", "postgres://x"),
        ("TOCSIN_CHANNELS__EMAIL__PROVIDER", "smtp"),
        ("TOCSIN_CHANNELS__EMAIL__HOST", "mail.example"),
        ("TOCSIN_CHANNELS__EMAIL__FROM", "a@example.com"),
        ("TOCSIN_CHANNELS__EMAIL__PORT", "2525"),
        ("HOME", "/root"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let c: Config = Figment::new()
        .merge(env_overrides(vars.into_iter()))
        .extract_lossy()
        .unwrap();
    assert_eq!(c.dispatch.concurrency, 7);
    match &c.channels.email {
        Some(EmailSection::Smtp(e)) => assert_eq!(e.port, Some(2525)),
        other => panic!("{other:?}"),
    }
    match &c.channels.sms {
        Some(SmsSection::Twilio(t)) => {
            assert_eq!(t.auth_token.expose(), "0012345");
            assert_eq!(t.from, "+380501234567");
        }
        other => panic!("{other:?}"),
    }
    let typo = [("TOCSIN_LISEN".to_owned(), "x".to_owned())];
    let err = Figment::new()
        .merge(env_overrides(typo.into_iter()))
        .extract_lossy::<Config>()
        .unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");
}

#[test]
fn runtime_threads_leave_sqlite_a_core_unless_set() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let embedded = parse("").unwrap();
    assert_eq!(embedded.runtime_threads(), cpus.saturating_sub(1).max(1));
    let cluster = parse("database = \"postgres://db/tocsin\"").unwrap();
    assert_eq!(cluster.runtime_threads(), cpus);
    let set = parse("threads = 3").unwrap();
    assert_eq!(set.runtime_threads(), 3);
    for bad in ["threads = 0", "threads = 100000"] {
        let err = parse(bad).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("must be 1 to 1024"), "{err}");
    }
}

#[test]
fn bad_time_zone_is_named() {
    let c = parse("[city]\ntimezone = \"Mars/Olympus\"").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("Mars/Olympus"), "{err}");
}
