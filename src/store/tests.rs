//! Store rules that the HTTP tests cannot pin down precisely, run against
//! both backends with one body each: every test takes `&dyn Store`, and
//! `both!` makes a `sqlite` (temporary file) and a `postgres` (temporary
//! database) test of it. The PostgreSQL variants print a reason and pass
//! when no server is reachable, unless `CI=true` (see `TempDatabase`).
//! `postgres.rs` holds what only PostgreSQL has: racing processes, and the
//! comparison of both backends on one script; `postgres_layout.rs`,
//! the table layout that keeps fan-outs and sends cheap.

mod postgres;
mod postgres_layout;

use chrono::Utc;
use futures::future::join_all;
use std::collections::BTreeMap;
use tocsin_channels::{Address, ChannelKind};
use tocsin_zones::{Area, Circle, GeoPoint, Limits};

use crate::domain::auth::TokenHash;
use crate::domain::journal::JournalKey;
use crate::domain::text::Text;
use crate::domain::{
    Category, CategorySet, DeliveryId, DeliveryState, EventKind, Language, NoticeKind, ResidentId,
};
use crate::store::postgres::{PgStore, TempDatabase};
use crate::store::sqlite::SqliteStore;
use crate::store::*;

/// The journal key of the test stores.
pub(super) fn test_journal_key() -> JournalKey {
    JournalKey::from_bytes(&[42; 32]).unwrap()
}

pub(super) async fn sqlite_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("t.sqlite3"))
        .await
        .unwrap()
        .with_journal_key(test_journal_key());
    (dir, store)
}

/// A migrated PostgreSQL store in a fresh database, or None (skipped).
pub(super) async fn pg_store() -> Option<(TempDatabase, PgStore)> {
    let db = TempDatabase::create().await?;
    let store = PgStore::connect(&db.url(), 4, true)
        .await
        .unwrap()
        .with_journal_key(test_journal_key());
    Some((db, store))
}

pub(super) async fn pg_done(db: TempDatabase, store: PgStore) {
    store.pool().close().await;
    db.drop_database().await;
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (_dir, store) = super::sqlite_store().await;
                super::$name(&store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some((db, store)) = super::pg_store().await else { return };
                super::$name(&store).await;
                super::pg_done(db, store).await;
            }
        }
    )*};
}

// After `both!`, which it uses.
mod jobs;
mod journal;
mod people;
mod policy;
mod preferences;

both!(
    fan_out_respects_categories_and_claims_are_idempotent,
    a_receipt_that_overtakes_the_record_is_not_undone,
    an_invalid_address_retires_the_contact_for_later_notices,
    concurrent_events_get_distinct_seqs,
    concurrent_claims_hand_out_a_queued_delivery_once,
    a_lease_holds_until_it_runs_out,
    bulk_import_returns_ids_in_input_order,
    a_duplicate_organisation_name_is_a_conflict,
    deleting_a_resident_blanks_their_history,
    secrets_are_created_once,
    audience_counts_are_what_the_fan_out_writes,
);

pub(super) fn resident(categories: CategorySet, contacts: &[(ChannelKind, &str)]) -> NewResident {
    NewResident {
        language: Language::parse("uk").unwrap(),
        location: Some(GeoPoint::new(50.74, 25.32).unwrap()),
        zones: vec![],
        categories,
        contacts: contacts
            .iter()
            .map(|(k, a)| Address::parse(*k, a).unwrap())
            .collect(),
        timezone: None,
        quiet_hours: crate::domain::QuietPreference::Default,
        channel_order: None,
    }
}

/// Resident `i` with an SMS number derived from `i`.
pub(super) fn numbered(i: usize) -> NewResident {
    resident(
        CategorySet::all(),
        &[(ChannelKind::Sms, &format!("+38050{i:07}"))],
    )
}

pub(super) fn notice() -> NewNotice {
    let centre = GeoPoint::new(50.74, 25.32).unwrap();
    NewNotice {
        organisation: None,
        kind: NoticeKind::Planned,
        category: Category::Water,
        title: Text::parse("Ремонт").unwrap(),
        cause: None,
        starts_at: Utc::now(),
        expected_end: None,
        expires_at: None,
        cascade: Default::default(),
        outage: None,
        area: Area::new(
            vec![],
            vec![Circle::new(centre, 500.0, &Limits::default()).unwrap()],
        )
        .unwrap(),
        zones: vec![],
        alert: None,
        ignore_opt_outs: false,
    }
}

/// A fresh claim's lease, long enough to outlast any test.
pub(crate) fn lease() -> Lease {
    Lease::new(std::time::Duration::from_secs(600))
}

pub(super) fn outcome(d: &ClaimedDelivery, kind: OutcomeKind) -> Outcome {
    Outcome {
        delivery: d.id,
        contact: d.contact_id,
        at: Utc::now(),
        kind,
    }
}

pub(super) fn update(kind: EventKind) -> NewEvent {
    NewEvent {
        kind,
        message: Some(Text::parse("Ще дві години").unwrap()),
        expected_end: None,
        cascade: Default::default(),
    }
}

/// Every delivery id of one event, through the paged queue query.
pub(super) async fn event_deliveries(s: &dyn Store, e: &NoticeEvent) -> Vec<DeliveryId> {
    let mut ids = Vec::new();
    loop {
        let after = ids.last().copied().unwrap_or(DeliveryId(0));
        let page = s
            .deliveries_to_queue(ToQueue::Event(e.id), after, 100)
            .await
            .unwrap();
        if page.is_empty() {
            return ids;
        }
        ids.extend(page.iter().map(|q| q.id));
    }
}

async fn fan_out_respects_categories_and_claims_are_idempotent(s: &dyn Store) {
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
    let (n, e) = s.create_notice(&notice(), &ids).await.unwrap();
    assert_eq!((n.recipients, e.deliveries), (1, 2));

    let ids = event_deliveries(s, &e).await;
    let claimed = s.claim(&ids, lease()).await.unwrap();
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
    let again = s.claim(&ids, lease()).await.unwrap();
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
    // While its claim holds it, a `sending` delivery is nobody else's.
    assert!(s.claim(&ids, lease()).await.unwrap().is_empty());
    // After a crash (the embedded start forgets every lease) a re-delivered
    // job takes it.
    s.forget_leases().await.unwrap();
    let recovered = s.claim(&ids, lease()).await.unwrap();
    assert_eq!(
        recovered
            .iter()
            .map(|c| (c.id, c.attempts))
            .collect::<Vec<_>>(),
        vec![(claimed[1].id, 3)]
    );
}

async fn a_receipt_that_overtakes_the_record_is_not_undone(s: &dyn Store) {
    let ids = s
        .insert_residents(&[resident(
            CategorySet::all(),
            &[(ChannelKind::Sms, "+380501234567")],
        )])
        .await
        .unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let queued = event_deliveries(s, &e).await;
    let claimed = s.claim(&[queued[0]], lease()).await.unwrap().remove(0);

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
        .report(DeliveryId(999), DeliveryState::Sent, None, false)
        .await
        .unwrap();
    assert_eq!(r, ReportResult::NotFound);
}

async fn an_invalid_address_retires_the_contact_for_later_notices(s: &dyn Store) {
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
    let claimed = s
        .claim(&event_deliveries(s, &e).await, lease())
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

/// Updates racing on one notice are numbered one after another, each
/// reaches the whole audience, and of two racing closes exactly one wins.
async fn concurrent_events_get_distinct_seqs(s: &dyn Store) {
    let residents: Vec<NewResident> = (0..50).map(numbered).collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let (n, _) = s.create_notice(&notice(), &ids).await.unwrap();

    let updated = update(EventKind::Updated);
    let updates = join_all((0..8).map(|_| s.add_event(n.id, &updated))).await;
    let mut seqs: Vec<i64> = updates
        .into_iter()
        .map(|r| {
            let (_, e) = r.unwrap();
            assert_eq!(e.deliveries, 50);
            e.seq
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());

    let closed = update(EventKind::Closed);
    let closes = join_all((0..2).map(|_| s.add_event(n.id, &closed))).await;
    let won = closes.iter().filter(|r| r.is_ok()).count();
    let refused = closes
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!((won, refused), (1, 1), "{closes:?}");
    let events = s.notice_events(n.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (0..=9).collect::<Vec<_>>()
    );
    let summary = s.delivery_summary(n.id).await.unwrap();
    assert_eq!(summary.total, 50 * 10);
}

/// Two claims of the same queued deliveries at once: each delivery goes to
/// exactly one of them, whichever way the two interleave.
async fn concurrent_claims_hand_out_a_queued_delivery_once(s: &dyn Store) {
    let residents: Vec<NewResident> = (0..300).map(numbered).collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let deliveries = event_deliveries(s, &e).await;
    s.mark_queued(&deliveries).await.unwrap();
    let mut reversed = deliveries.clone();
    reversed.reverse();

    let (a, b) = futures::join!(s.claim(&deliveries, lease()), s.claim(&reversed, lease()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut attempts: BTreeMap<DeliveryId, Vec<i64>> = BTreeMap::new();
    for c in a.iter().chain(&b) {
        attempts.entry(c.id).or_default().push(c.attempts);
    }
    assert_eq!(attempts.len(), deliveries.len(), "every delivery claimed");
    for (id, mut got) in attempts {
        got.sort_unstable();
        assert_eq!(got, [1], "delivery {id}: attempts {got:?}");
    }
}

/// A claim holds its deliveries while its lease is renewed; once the lease
/// runs out they go back to `pending` for another worker, and a lease
/// ended with every outcome recorded leaves nothing behind.
async fn a_lease_holds_until_it_runs_out(s: &dyn Store) {
    use std::time::Duration;
    let residents: Vec<NewResident> = (0..3).map(numbered).collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let deliveries = event_deliveries(s, &e).await;
    let short = Lease::new(Duration::from_millis(300));
    let claimed = s.claim(&deliveries, short).await.unwrap();
    assert_eq!(claimed.len(), 3);
    s.record_outcomes(&[outcome(
        &claimed[0],
        OutcomeKind::Sent { provider_id: None },
    )])
    .await
    .unwrap();
    // Renewed past its first term: still held, nothing expires.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.renew_lease(short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.expire_leases().await.unwrap(), 0);
    let other = lease();
    assert!(s.claim(&deliveries, other).await.unwrap().is_empty());
    s.end_lease(other).await.unwrap();
    // Run out: the two unsent ones are pending again, the sent one stays.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(s.expire_leases().await.unwrap(), 2);
    assert!(!s.renew_lease(short).await.unwrap(), "a gone lease renewed");
    let states = |id| async move { s.get_delivery(id).await.unwrap().unwrap().state };
    assert_eq!(states(claimed[0].id).await, DeliveryState::Sent);
    assert_eq!(states(claimed[1].id).await, DeliveryState::Pending);
    let next = Lease::new(Duration::from_secs(600));
    let again = s.claim(&deliveries, next).await.unwrap();
    assert_eq!(again.len(), 2);
    let sent: Vec<Outcome> = again
        .iter()
        .map(|c| outcome(c, OutcomeKind::Sent { provider_id: None }))
        .collect();
    s.record_outcomes(&sent).await.unwrap();
    s.end_lease(next).await.unwrap();
    assert_eq!(s.expire_leases().await.unwrap(), 0);
    assert_eq!(s.forget_leases().await.unwrap(), 0, "an ended lease stayed");
}

async fn bulk_import_returns_ids_in_input_order(s: &dyn Store) {
    const N: usize = 20_000;
    let residents: Vec<NewResident> = (0..N)
        .map(|i| {
            let mut r = numbered(i);
            if i % 3 == 0 {
                r.contacts.push(
                    Address::parse(ChannelKind::Email, &format!("r{i}@example.com")).unwrap(),
                );
            }
            if i % 7 == 0 {
                r.location = None;
            }
            r
        })
        .collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    assert_eq!(ids.len(), N);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids");
    let mut last_contact = 0;
    for i in [0, 1, 2, 3, 7, 9_999, N - 2, N - 1] {
        let r = s.get_resident(ids[i]).await.unwrap().unwrap();
        assert_eq!(r.contacts[0].address, format!("+38050{i:07}"));
        assert_eq!(r.contacts.len(), if i % 3 == 0 { 2 } else { 1 });
        assert_eq!(r.location.is_none(), i % 7 == 0);
        assert!(
            r.contacts[0].id.0 > last_contact,
            "contact ids follow input"
        );
        last_contact = r.contacts.last().unwrap().id.0;
    }
    let located = s.resident_locations().await.unwrap();
    assert_eq!(located.len(), (0..N).filter(|i| i % 7 != 0).count());
    assert_eq!(s.insert_residents(&[]).await.unwrap(), vec![]);
}

async fn a_duplicate_organisation_name_is_a_conflict(s: &dyn Store) {
    let org = NewOrganisation {
        name: Text::parse("Водоканал").unwrap(),
        territory: None,
    };
    let first = s
        .create_organisation(&org, &TokenHash::of("t-1"))
        .await
        .unwrap();
    let again = s.create_organisation(&org, &TokenHash::of("t-2")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let racing = NewOrganisation {
        name: Text::parse("Енергозбут").unwrap(),
        territory: None,
    };
    let tokens: Vec<TokenHash> = (0..4)
        .map(|i| TokenHash::of(&format!("race-{i}")))
        .collect();
    let results = join_all(tokens.iter().map(|t| s.create_organisation(&racing, t))).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(m)) if m.contains("Енергозбут")))
        .count();
    assert_eq!((won, conflicts), (1, 3), "{results:?}");
    let names: Vec<String> = s
        .list_organisations()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["Водоканал", "Енергозбут"]);
    let principal = s.principal(&TokenHash::of("t-1")).await.unwrap().unwrap();
    assert_eq!(principal.organisation, Some(first.id));
}

async fn deleting_a_resident_blanks_their_history(s: &dyn Store) {
    let ids = s
        .insert_residents(&[
            resident(
                CategorySet::all(),
                &[
                    (ChannelKind::Sms, "+380501234567"),
                    (ChannelKind::Email, "gone@example.com"),
                ],
            ),
            resident(CategorySet::all(), &[(ChannelKind::Sms, "+380501234568")]),
        ])
        .await
        .unwrap();
    let (n, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let deliveries = event_deliveries(s, &e).await;
    // The first resident's SMS went out; their email is still pending.
    let sent = s.claim(&deliveries[..1], lease()).await.unwrap();
    s.record_outcomes(&[outcome(&sent[0], OutcomeKind::Sent { provider_id: None })])
        .await
        .unwrap();

    let location = s.delete_resident(ids[0]).await.unwrap();
    assert_eq!(location, Some(Some(GeoPoint::new(50.74, 25.32).unwrap())));
    assert!(s.get_resident(ids[0]).await.unwrap().is_none());
    assert_eq!(s.delete_resident(ids[0]).await.unwrap(), None);

    let history = s
        .list_deliveries(
            n.id,
            &DeliveryFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let gone: Vec<_> = history.iter().filter(|d| d.resident_id.is_none()).collect();
    assert_eq!(gone.len(), 2);
    assert!(
        gone.iter()
            .all(|d| d.address.is_empty() && d.contact_id.is_none())
    );
    let states: Vec<_> = gone.iter().map(|d| (d.state, d.error.as_deref())).collect();
    assert_eq!(
        states,
        [
            (DeliveryState::Sent, None),
            (DeliveryState::Suppressed, Some("recipient deleted"))
        ]
    );
    let kept = history
        .iter()
        .find(|d| d.resident_id == Some(ids[1]))
        .unwrap();
    assert_eq!(
        (kept.address.as_str(), kept.state),
        ("+380501234568", DeliveryState::Pending)
    );
    // Later events reach only the remaining audience.
    let (n, closed) = s.add_event(n.id, &update(EventKind::Closed)).await.unwrap();
    assert_eq!((closed.deliveries, n.recipients), (1, 2));
    let candidates: Vec<ResidentId> = ids.clone();
    let (again, _) = s.create_notice(&notice(), &candidates).await.unwrap();
    assert_eq!(again.recipients, 1);
}

async fn secrets_are_created_once(s: &dyn Store) {
    let both = join_all((0..4).map(|_| s.secret("ack-key"))).await;
    let first = both[0].as_ref().unwrap();
    assert_eq!(first.len(), 32);
    assert!(both.iter().all(|v| v.as_ref().unwrap() == first));
    assert_ne!(&s.secret("other").await.unwrap(), first);
    assert_eq!(&s.secret("ack-key").await.unwrap(), first);
}

/// The preview's counts match what `create_notice` then writes: the same
/// category filter, only active contacts, unknown and repeated candidate
/// ids ignored; grouped by channel and resident language.
async fn audience_counts_are_what_the_fan_out_writes(s: &dyn Store) {
    use ChannelKind::{Email, Sms, Voice};
    let all = CategorySet::all();
    let mut english = resident(all, &[(Sms, "+380501000002"), (Email, "b@example.com")]);
    english.language = Language::parse("en").unwrap();
    let power_only = CategorySet::from_categories(&[Category::Power]);
    let residents = [
        resident(all, &[(Sms, "+380501000001"), (Voice, "+380671000001")]),
        english,
        resident(power_only, &[(Sms, "+380501000003")]),
        resident(all, &[]),
        resident(all, &[(Sms, "+380501000004")]),
    ];
    let ids = s.insert_residents(&residents).await.unwrap();
    // Retire the last resident's only contact, as a provider would.
    let (_, e) = s.create_notice(&notice(), &ids[4..]).await.unwrap();
    let claimed = s
        .claim(&event_deliveries(s, &e).await, lease())
        .await
        .unwrap();
    let invalid = OutcomeKind::InvalidAddress {
        reason: "21211".into(),
    };
    s.record_outcomes(&[outcome(&claimed[0], invalid)])
        .await
        .unwrap();

    let mut candidates = ids.clone();
    candidates.extend([ids[0], ResidentId(999_999)]);
    let counts = s.count_audience(Category::Water, &candidates).await;
    let counts = counts.unwrap();
    let mut got: Vec<(ChannelKind, &str, i64)> = counts
        .contacts
        .iter()
        .map(|c| (c.channel, c.language.as_str(), c.contacts))
        .collect();
    got.sort();
    assert_eq!(counts.residents, 4, "{counts:?}");
    let want = [
        (Sms, "en", 1),
        (Sms, "uk", 1),
        (Email, "en", 1),
        (Voice, "uk", 1),
    ];
    assert_eq!(got, want);
    let power = s.count_audience(Category::Power, &candidates).await;
    let power = power.unwrap();
    assert_eq!((power.residents, power.contacts.len()), (5, 4), "{power:?}");
    let none = s.count_audience(Category::Water, &[]).await.unwrap();
    assert_eq!(none, AudienceCounts::default());

    let (n, e) = s.create_notice(&notice(), &candidates).await.unwrap();
    assert_eq!((n.recipients, e.deliveries), (4, 4));
    let by_channel = s.delivery_summary(n.id).await.unwrap().by_channel;
    let written: BTreeMap<ChannelKind, i64> = by_channel
        .iter()
        .map(|(k, states)| (*k, states.values().sum::<i64>()))
        .collect();
    let mut counted = BTreeMap::new();
    for c in &counts.contacts {
        *counted.entry(c.channel).or_insert(0) += c.contacts;
    }
    assert_eq!(written, counted);
}
