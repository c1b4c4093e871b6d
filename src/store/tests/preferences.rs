//! Residents' preferences and contact opt-outs on both backends: what the
//! PATCH writes is what the dispatcher's bulk read returns, and STOP /
//! START / unsubscribe change exactly the contacts they should.

use super::*;
use crate::domain::{ChannelOrder, QuietPreference};

both!(
    preferences_round_trip_and_patch_only_what_is_given,
    preferences_are_read_in_bulk,
    stop_and_start_touch_only_their_own_contacts,
);

fn with_prefs(mut r: NewResident) -> NewResident {
    r.timezone = Some(chrono_tz::Europe::Warsaw);
    r.quiet_hours = QuietPreference::Window("22:00-07:00".parse().unwrap());
    r.channel_order = Some(ChannelOrder::parse(&["fcm", "sms"]).unwrap());
    r
}

async fn preferences_round_trip_and_patch_only_what_is_given(s: &dyn Store) {
    let ids = s
        .insert_residents(&[with_prefs(numbered(1)), numbered(2)])
        .await
        .unwrap();
    let stored = s.get_resident(ids[0]).await.unwrap().unwrap();
    assert_eq!(stored.timezone, Some(chrono_tz::Europe::Warsaw));
    assert_eq!(stored.quiet_hours.to_text().as_deref(), Some("22:00-07:00"));
    assert_eq!(
        stored.channel_order.as_ref().unwrap().to_json(),
        r#"["fcm","sms"]"#
    );
    let plain = s.get_resident(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        (plain.timezone, plain.quiet_hours, plain.channel_order),
        (None, QuietPreference::Default, None)
    );

    // Only the quiet hours change; the rest stays.
    let patch = ResidentPatch {
        quiet_hours: Some(QuietPreference::Off),
        ..ResidentPatch::default()
    };
    let r = s.update_resident(ids[0], &patch).await.unwrap().unwrap();
    assert_eq!(r.quiet_hours, QuietPreference::Off);
    assert_eq!(r.timezone, Some(chrono_tz::Europe::Warsaw));
    assert!(r.channel_order.is_some());
    assert_eq!(r.language.as_str(), "uk");

    // Back to the defaults, with language and categories in the same update.
    let patch = ResidentPatch {
        language: Some(Language::parse("pl").unwrap()),
        categories: Some(CategorySet::from_categories(&[Category::Gas])),
        quiet_hours: Some(QuietPreference::Default),
        timezone: Some(None),
        channel_order: Some(None),
    };
    let r = s.update_resident(ids[0], &patch).await.unwrap().unwrap();
    assert_eq!(r.language.as_str(), "pl");
    assert_eq!(r.categories.to_vec(), vec![Category::Gas]);
    assert_eq!(
        (r.timezone, r.quiet_hours, r.channel_order),
        (None, QuietPreference::Default, None)
    );
    assert_eq!(r.contacts.len(), 1, "contacts are untouched");
    assert_eq!(r.location, plain.location, "the location is untouched");

    let empty = s
        .update_resident(ids[0], &ResidentPatch::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(empty.language.as_str(), "pl");
    let missing = s
        .update_resident(ResidentId(ids[1].0 + 100), &patch)
        .await
        .unwrap();
    assert!(missing.is_none());
}

async fn preferences_are_read_in_bulk(s: &dyn Store) {
    let residents: Vec<NewResident> = (0..50)
        .map(|i| {
            if i % 2 == 0 {
                with_prefs(numbered(i))
            } else {
                numbered(i)
            }
        })
        .collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let mut wanted = ids.clone();
    wanted.push(ResidentId(ids[49].0 + 1_000));
    let prefs = s.recipient_preferences(&wanted).await.unwrap();
    assert_eq!(prefs.len(), 50, "an unknown resident is absent");
    for (i, id) in ids.iter().enumerate() {
        let p = &prefs[id];
        if i % 2 == 0 {
            assert_eq!(p.timezone, Some(chrono_tz::Europe::Warsaw));
            assert_eq!(
                p.quiet_hours,
                QuietPreference::Window("22:00-07:00".parse().unwrap())
            );
            assert_eq!(
                p.channel_order.as_ref().unwrap().kinds(),
                [ChannelKind::Fcm, ChannelKind::Sms]
            );
        } else {
            assert_eq!(*p, RecipientPrefs::default());
        }
    }
    assert!(s.recipient_preferences(&[]).await.unwrap().is_empty());
}

fn contact_of(r: &Resident, channel: ChannelKind) -> &Contact {
    r.contacts.iter().find(|c| c.channel == channel).unwrap()
}

async fn stop_and_start_touch_only_their_own_contacts(s: &dyn Store) {
    let shared = "+380671234567";
    let a = resident(
        CategorySet::all(),
        &[
            (ChannelKind::Sms, shared),
            (ChannelKind::Email, "a@example.com"),
        ],
    );
    let b = resident(CategorySet::all(), &[(ChannelKind::Sms, shared)]);
    let c = resident(CategorySet::all(), &[(ChannelKind::Sms, "+380671234568")]);
    let ids = s.insert_residents(&[a, b, c]).await.unwrap();
    let number = Address::parse(ChannelKind::Sms, shared).unwrap();

    // One family number registered twice: STOP retires both, nobody else.
    assert_eq!(s.deactivate_address(&number, "STOP").await.unwrap(), 2);
    assert_eq!(s.deactivate_address(&number, "STOP").await.unwrap(), 0);
    let ra = s.get_resident(ids[0]).await.unwrap().unwrap();
    assert!(!contact_of(&ra, ChannelKind::Sms).active);
    assert_eq!(
        contact_of(&ra, ChannelKind::Sms)
            .deactivated_reason
            .as_deref(),
        Some("STOP")
    );
    assert!(contact_of(&ra, ChannelKind::Email).active);
    let rc = s.get_resident(ids[2]).await.unwrap().unwrap();
    assert!(contact_of(&rc, ChannelKind::Sms).active);

    // A number retired for another reason stays retired on START.
    let rb = s.get_resident(ids[1]).await.unwrap().unwrap();
    let b_sms = contact_of(&rb, ChannelKind::Sms).id;
    assert_eq!(s.reactivate_address(&number, "STOP").await.unwrap(), 2);
    assert!(s.deactivate_contact(b_sms, "bounced").await.unwrap());
    assert!(!s.deactivate_contact(b_sms, "bounced").await.unwrap());
    assert_eq!(s.deactivate_address(&number, "STOP").await.unwrap(), 1);
    assert_eq!(s.reactivate_address(&number, "STOP").await.unwrap(), 1);
    let rb = s.get_resident(ids[1]).await.unwrap().unwrap();
    assert_eq!(
        contact_of(&rb, ChannelKind::Sms)
            .deactivated_reason
            .as_deref(),
        Some("bounced")
    );
    let ra = s.get_resident(ids[0]).await.unwrap().unwrap();
    assert!(contact_of(&ra, ChannelKind::Sms).active);
    assert_eq!(contact_of(&ra, ChannelKind::Sms).deactivated_reason, None);
}
