//! Store rules that the HTTP tests cannot pin down precisely: claiming is
//! idempotent, outcomes respect the state machine, and fan-out writes one
//! delivery per active contact of residents who want the category.

use chrono::Utc;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::{Area, Circle, GeoPoint, Limits};

use super::SqliteStore;
use crate::domain::text::Text;
use crate::domain::{Category, CategorySet, DeliveryState, Language, NoticeKind, ResidentId};
use crate::store::*;

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite3"))
        .await
        .unwrap();
    (dir, store)
}

fn resident(categories: CategorySet, contacts: &[(ChannelKind, &str)]) -> NewResident {
    NewResident {
        language: Language::parse("uk").unwrap(),
        location: Some(GeoPoint::new(50.74, 25.32).unwrap()),
        zones: vec![],
        categories,
        contacts: contacts
            .iter()
            .map(|(k, a)| Address::parse(*k, a).unwrap())
            .collect(),
    }
}

fn notice() -> NewNotice {
    let centre = GeoPoint::new(50.74, 25.32).unwrap();
    NewNotice {
        organisation: None,
        kind: NoticeKind::Planned,
        category: Category::Water,
        title: Text::parse("Ремонт").unwrap(),
        cause: None,
        starts_at: Utc::now(),
        expected_end: None,
        area: Area::new(
            vec![],
            vec![Circle::new(centre, 500.0, &Limits::default()).unwrap()],
        )
        .unwrap(),
        zones: vec![],
    }
}

fn outcome(d: &ClaimedDelivery, kind: OutcomeKind) -> Outcome {
    Outcome {
        delivery: d.id,
        contact: d.contact_id,
        at: Utc::now(),
        kind,
    }
}

#[tokio::test]
async fn fan_out_respects_categories_and_claims_are_idempotent() {
    let (_dir, s) = store().await;
    let ids = s
        .insert_residents(&[
            resident(
                CategorySet::all(),
                &[
                    (ChannelKind::Sms, "+380501234567"),
                    (ChannelKind::Email, "a@example.com"),
                ],
            ),
            resident(
                CategorySet::from_categories(&[Category::Power]),
                &[(ChannelKind::Sms, "+380501234568")],
            ),
        ])
        .await
        .unwrap();
    let candidates: Vec<ResidentId> = ids.clone();
    let (n, e) = s.create_notice(&notice(), &candidates).await.unwrap();
    assert_eq!((n.recipients, e.deliveries), (1, 2));

    let queued = s
        .deliveries_to_queue(ToQueue::Event(e.id), crate::domain::DeliveryId(0), 100)
        .await
        .unwrap();
    let ids: Vec<_> = queued.iter().map(|q| q.id).collect();
    let claimed = s.claim(&ids).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed
            .iter()
            .all(|c| c.attempts == 1 && c.language.as_str() == "uk")
    );

    s.record_outcomes(&[
        outcome(
            &claimed[0],
            OutcomeKind::Sent {
                provider_id: Some("SM1".into()),
            },
        ),
        outcome(
            &claimed[1],
            OutcomeKind::Retry {
                reason: "503".into(),
            },
        ),
    ])
    .await
    .unwrap();
    // A re-delivered job claims only what is still unfinished.
    let again = s.claim(&ids).await.unwrap();
    assert_eq!(
        again.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![claimed[1].id]
    );
    assert_eq!(again[0].attempts, 2);
    let d = s.get_delivery(claimed[1].id).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.error.as_deref()),
        (DeliveryState::Sending, Some("503"))
    );
}

#[tokio::test]
async fn a_receipt_that_overtakes_the_record_is_not_undone() {
    let (_dir, s) = store().await;
    let ids = s
        .insert_residents(&[resident(
            CategorySet::all(),
            &[(ChannelKind::Sms, "+380501234567")],
        )])
        .await
        .unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let queued = s
        .deliveries_to_queue(ToQueue::Event(e.id), crate::domain::DeliveryId(0), 10)
        .await
        .unwrap();
    let claimed = s.claim(&[queued[0].id]).await.unwrap().remove(0);

    // The delivery receipt arrives before the worker records the answer.
    let r = s
        .report(claimed.id, DeliveryState::Delivered, None, false)
        .await
        .unwrap();
    assert_eq!(r, ReportResult::Applied);
    s.record_outcomes(&[outcome(
        &claimed,
        OutcomeKind::Sent {
            provider_id: Some("SM9".into()),
        },
    )])
    .await
    .unwrap();
    let d = s.get_delivery(claimed.id).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(
        d.provider_id.as_deref(),
        Some("SM9"),
        "the provider id is still kept"
    );
    assert!(d.sent_at.is_some() && d.delivered_at.is_some());

    let r = s
        .report(claimed.id, DeliveryState::Sent, None, false)
        .await
        .unwrap();
    assert_eq!(
        r,
        ReportResult::Ignored {
            current: DeliveryState::Delivered
        }
    );
    let r = s
        .report(
            crate::domain::DeliveryId(999),
            DeliveryState::Sent,
            None,
            false,
        )
        .await
        .unwrap();
    assert_eq!(r, ReportResult::NotFound);
}

#[tokio::test]
async fn an_invalid_address_retires_the_contact_for_later_notices() {
    let (_dir, s) = store().await;
    let ids = s
        .insert_residents(&[resident(
            CategorySet::all(),
            &[
                (ChannelKind::Sms, "+380501234567"),
                (ChannelKind::Email, "a@example.com"),
            ],
        )])
        .await
        .unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let queued = s
        .deliveries_to_queue(ToQueue::Event(e.id), crate::domain::DeliveryId(0), 10)
        .await
        .unwrap();
    let claimed = s
        .claim(&queued.iter().map(|q| q.id).collect::<Vec<_>>())
        .await
        .unwrap();
    let sms = claimed
        .iter()
        .find(|c| c.channel == ChannelKind::Sms)
        .unwrap();
    s.record_outcomes(&[outcome(
        sms,
        OutcomeKind::InvalidAddress {
            reason: "21211".into(),
        },
    )])
    .await
    .unwrap();
    let r = s.get_resident(ids[0]).await.unwrap().unwrap();
    let contact = r
        .contacts
        .iter()
        .find(|c| c.channel == ChannelKind::Sms)
        .unwrap();
    assert!(!contact.active);
    assert_eq!(contact.deactivated_reason.as_deref(), Some("21211"));
    let (_, second) = s.create_notice(&notice(), &ids).await.unwrap();
    assert_eq!(second.deliveries, 1);
}
