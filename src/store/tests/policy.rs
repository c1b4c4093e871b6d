//! Store rules behind the delivery policy, on both backends: the shared
//! provider pace, expiry and yielded attempts, and later events of a
//! notice superseding its unsent messages.

use std::time::Duration;
use tocsin_channels::ChannelKind;

use super::{
    event_deliveries, lease, notice, numbered, outcome, pg_done, pg_store, sqlite_store, update,
};
use crate::domain::pace::Pace;
use crate::domain::text::Text;
use crate::domain::{DeliveryState, EventKind};
use crate::store::*;

both!(
    rate_slots_follow_the_pace_and_a_pause_holds_them,
    a_yielded_claim_does_not_count_as_an_attempt,
    an_update_supersedes_unsent_messages_of_earlier_events,
    expiry_and_expired_outcomes_are_recorded,
    one_outage_reaches_each_resident_once,
);

async fn rate_slots_follow_the_pace_and_a_pause_holds_them(s: &dyn Store) {
    let take =
        |channel| async move { s.take_rate_slot(channel, Pace::new(10.0, 3)).await.unwrap() };
    // 10/s with a burst of 3: three at once, then one per 100 ms.
    for _ in 0..3 {
        assert_eq!(take(ChannelKind::Sms).await, Duration::ZERO);
    }
    let wait = take(ChannelKind::Sms).await;
    // Asking again does not take the slot either (nothing was reserved).
    let again = take(ChannelKind::Sms).await;
    // Upper bounds leave room for a slow machine between the calls.
    assert!((50..=100).contains(&wait.as_millis()), "{wait:?}");
    assert!(
        again > Duration::ZERO && again <= wait,
        "{again:?} after {wait:?}"
    );
    tokio::time::sleep(again).await;
    assert_eq!(take(ChannelKind::Sms).await, Duration::ZERO);
    // Another channel has its own pace.
    assert_eq!(take(ChannelKind::Email).await, Duration::ZERO);
    // A pause holds every slot until it ends.
    s.pause_rate(
        ChannelKind::Email,
        Pace::new(10.0, 3),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    let held = take(ChannelKind::Email).await;
    assert!((1_700..=2_000).contains(&held.as_millis()), "{held:?}");
}

async fn a_yielded_claim_does_not_count_as_an_attempt(s: &dyn Store) {
    let ids = s.insert_residents(&[numbered(1)]).await.unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let ids = event_deliveries(s, &e).await;
    let first = s.claim(&ids, lease()).await.unwrap();
    assert_eq!(first[0].attempts, 1);
    s.record_outcomes(&[outcome(&first[0], OutcomeKind::Yielded)])
        .await
        .unwrap();
    let d = s.get_delivery(ids[0]).await.unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Queued);
    let second = s.claim(&ids, lease()).await.unwrap();
    assert_eq!(second[0].attempts, 1, "a yielded claim counted");
}

async fn an_update_supersedes_unsent_messages_of_earlier_events(s: &dyn Store) {
    let ids = s
        .insert_residents(&[numbered(1), numbered(2), numbered(3)])
        .await
        .unwrap();
    let (n, published) = s.create_notice(&notice(), &ids).await.unwrap();
    let first = event_deliveries(s, &published).await;
    // One sent, one in a worker's hands, one still waiting in the queue.
    let sent = s.claim(&first[..1], lease()).await.unwrap();
    s.record_outcomes(&[outcome(&sent[0], OutcomeKind::Sent { provider_id: None })])
        .await
        .unwrap();
    s.claim(&first[1..2], lease()).await.unwrap();
    s.mark_queued(&first[2..]).await.unwrap();

    let (_, updated) = s
        .add_event(n.id, &update(EventKind::Updated))
        .await
        .unwrap();
    let states = |ids: Vec<DeliveryId>| async move {
        let mut out = Vec::new();
        for id in ids {
            let d = s.get_delivery(id).await.unwrap().unwrap();
            out.push((d.state, d.error));
        }
        out
    };
    let after = states(first.clone()).await;
    assert_eq!(after[0].0, DeliveryState::Sent);
    assert_eq!(
        after[1].0,
        DeliveryState::Sending,
        "in flight is not recalled"
    );
    assert_eq!(after[2].0, DeliveryState::Suppressed);
    assert!(after[2].1.as_deref().unwrap().contains("superseded"));
    // The update itself reaches everyone, and closing stops it in turn.
    let second = event_deliveries(s, &updated).await;
    assert_eq!(second.len(), 3);
    s.add_event(n.id, &update(EventKind::Closed)).await.unwrap();
    for (state, error) in states(second).await {
        assert_eq!(state, DeliveryState::Suppressed);
        assert!(error.unwrap().contains("closed"));
    }
}

async fn expiry_and_expired_outcomes_are_recorded(s: &dyn Store) {
    let ids = s.insert_residents(&[numbered(1)]).await.unwrap();
    let ends = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut new = notice();
    new.expires_at = Some(ends);
    let (n, e) = s.create_notice(&new, &ids).await.unwrap();
    let stored = s.get_notice(n.id).await.unwrap().unwrap();
    assert_eq!(
        stored.expires_at.map(|t| t.timestamp_millis()),
        Some(ends.timestamp_millis())
    );
    let ids = event_deliveries(s, &e).await;
    let claimed = s.claim(&ids, lease()).await.unwrap();
    let reason = "the notice ended".to_owned();
    s.record_outcomes(&[outcome(&claimed[0], OutcomeKind::Expired { reason })])
        .await
        .unwrap();
    let d = s.get_delivery(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.error.as_deref()),
        (DeliveryState::Expired, Some("the notice ended"))
    );
}

async fn one_outage_reaches_each_resident_once(s: &dyn Store) {
    let ids = s
        .insert_residents(&[numbered(1), numbered(2), numbered(3)])
        .await
        .unwrap();
    let about = |key: &str| {
        let mut n = notice();
        n.outage = Some(Text::parse(key).unwrap());
        n
    };
    // The first notice reaches resident 1; resident 2's message still waits.
    let (_, first) = s.create_notice(&about("main-12"), &ids[..2]).await.unwrap();
    let first_ids = event_deliveries(s, &first).await;
    let sent = s.claim(&first_ids[..1], lease()).await.unwrap();
    s.record_outcomes(&[outcome(&sent[0], OutcomeKind::Sent { provider_id: None })])
        .await
        .unwrap();

    // A wider notice about the same outage: 1 is not messaged again, 2 gets
    // the new message instead of the old one, 3 is new.
    let (n2, second) = s.create_notice(&about("main-12"), &ids).await.unwrap();
    assert_eq!((n2.recipients, second.deliveries), (3, 2));
    let replaced = s.get_delivery(first_ids[1]).await.unwrap().unwrap();
    assert_eq!(replaced.state, DeliveryState::Suppressed);
    assert!(replaced.error.unwrap().contains("same outage"));
    // Its updates still reach all three.
    let (_, update) = s
        .add_event(n2.id, &update(EventKind::Updated))
        .await
        .unwrap();
    assert_eq!(update.deliveries, 3);

    // Another outage is another story.
    let (_, other) = s.create_notice(&about("main-13"), &ids).await.unwrap();
    assert_eq!(other.deliveries, 3);
}
