//! Address parsing and masking through the public API.

use tocsin_channels::{Address, AddressError, ChannelKind, EmailAddress, PhoneNumber};

#[test]
fn phone_numbers_normalize_to_e164() {
    for (raw, e164) in [
        ("+380501234567", "+380501234567"),
        ("+380 (50) 123-45-67", "+380501234567"),
        ("  +48 512.345.678 ", "+48512345678"),
        ("+1 (201) 555-0123", "+12015550123"),
        ("+15005550001", "+15005550001"),
    ] {
        assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), e164, "{raw}");
    }
}

#[test]
fn every_stored_number_parses_again() {
    // "+430 1117": Austria's trunk 0 is dropped, leaving 6 digits, which
    // the length rule refuses; before, it was stored and then unparsable.
    assert!(matches!(
        PhoneNumber::parse("+430 ( 1117"),
        Err(AddressError::PhoneLength { digits: 6 })
    ));
    for raw in [
        "+380 (50) 123-45-67",
        "+43 0 664 1234567",
        "+48 512.345.678",
    ] {
        let p = PhoneNumber::parse(raw).unwrap();
        assert_eq!(PhoneNumber::parse(p.as_str()).unwrap(), p, "{raw}");
    }
}

#[test]
fn phone_numbers_without_country_code_are_rejected_with_a_hint() {
    let err = PhoneNumber::parse("0501234567").unwrap_err();
    assert_eq!(
        err.to_string(),
        "phone number must start with '+' and country code (E.164), got \"0501234567\""
    );
}

#[test]
fn invalid_phone_numbers_are_rejected() {
    assert_eq!(
        PhoneNumber::parse("+380 12 345 678")
            .unwrap_err()
            .to_string(),
        "not a valid phone number for country code +380"
    );
    assert!(matches!(
        PhoneNumber::parse("+48 123"),
        Err(AddressError::PhoneLength { digits: 5 })
    ));
    assert!(matches!(
        PhoneNumber::parse("+1 555 555 5555"),
        Err(AddressError::PhoneInvalid { country_code: 1 })
    ));
    assert!(matches!(
        PhoneNumber::parse("+380 50 123 45 67 ext 9"),
        Err(AddressError::PhoneBadCharacter { found: 'e' })
    ));
    assert!(matches!(
        PhoneNumber::parse("  "),
        Err(AddressError::Empty { .. })
    ));
}

#[test]
fn emails_are_validated_and_lowercased() {
    let email = EmailAddress::parse("  Olena.K@Lviv.Example.COM ").unwrap();
    assert_eq!(email.as_str(), "olena.k@lviv.example.com");
    for variant in [
        "victim@example.com",
        "Victim@example.com",
        "VICTIM@EXAMPLE.COM",
        "ViCtim@example.com",
    ] {
        assert_eq!(
            EmailAddress::parse(variant).unwrap().as_str(),
            "victim@example.com"
        );
    }
    assert_eq!(
        EmailAddress::parse("olena.example.com")
            .unwrap_err()
            .to_string(),
        "email address has no '@'"
    );
    assert!(matches!(
        EmailAddress::parse("a b@example.com"),
        Err(AddressError::EmailInvalid { .. })
    ));
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(EmailAddress::parse(&long), Err(AddressError::EmailTooLong));
}

#[test]
fn tokens_are_checked() {
    assert!(Address::parse(ChannelKind::Fcm, "abc:DEF_ghi-1.2").is_ok());
    assert!(matches!(
        Address::parse(ChannelKind::Fcm, "abc def"),
        Err(AddressError::FcmTokenCharacter { found: ' ' })
    ));
    assert!(matches!(
        Address::parse(ChannelKind::Fcm, &"a".repeat(4097)),
        Err(AddressError::FcmTokenLength { len: 4097 })
    ));
    let apns = Address::parse(ChannelKind::Apns, &"AB".repeat(32)).unwrap();
    assert_eq!(apns.as_str(), "ab".repeat(32));
    assert!(matches!(
        Address::parse(ChannelKind::Apns, &"a".repeat(65)),
        Err(AddressError::ApnsTokenLength { len: 65 })
    ));
    assert!(matches!(
        Address::parse(ChannelKind::Apns, &"g".repeat(64)),
        Err(AddressError::ApnsTokenNotHex { found: 'g' })
    ));
}

#[test]
fn address_kind_follows_the_channel() {
    let sms = Address::parse(ChannelKind::Sms, "+380501234567").unwrap();
    let voice = Address::parse(ChannelKind::Voice, "+380501234567").unwrap();
    assert_eq!(sms.kind(), ChannelKind::Sms);
    assert_eq!(voice.kind(), ChannelKind::Voice);
    assert_ne!(sms, voice);
}

#[test]
fn masked_forms_hide_the_middle() {
    let masked = |kind, raw: &str| Address::parse(kind, raw).unwrap().masked();
    assert_eq!(masked(ChannelKind::Sms, "+380501234567"), "+38050*****67");
    assert_eq!(
        masked(ChannelKind::Email, "olena@example.com"),
        "o***@example.com"
    );
    let token = format!("a1b2{}e9f0", "0".repeat(56));
    assert_eq!(masked(ChannelKind::Apns, &token), "a1b2…e9f0");
}

#[test]
fn debug_output_is_masked() {
    let sms = Address::parse(ChannelKind::Sms, "+380501234567").unwrap();
    let debug = format!("{sms:?}");
    assert!(!debug.contains("501234567"), "{debug}");
    let fcm = Address::parse(ChannelKind::Fcm, "secret-device-token-123456").unwrap();
    assert!(!format!("{fcm:?}").contains("device-token"));
}

#[test]
fn fixed_lines_are_refused_for_sms_and_accepted_for_voice() {
    for landline in ["+380332724512", "+48 22 123 45 67"] {
        let err = Address::parse(ChannelKind::Sms, landline).unwrap_err();
        assert!(
            matches!(err, AddressError::PhoneFixedLine { .. }),
            "{landline}: {err}"
        );
        assert!(err.to_string().contains("cannot receive SMS"), "{err}");
        assert!(
            Address::parse(ChannelKind::Voice, landline).is_ok(),
            "{landline}"
        );
    }
    // Mobiles, and numbers whose plan cannot tell (the US), stay accepted.
    for mobile in ["+380501234567", "+48 601 234 567", "+1 201 555 0123"] {
        assert!(Address::parse(ChannelKind::Sms, mobile).is_ok(), "{mobile}");
    }
}
