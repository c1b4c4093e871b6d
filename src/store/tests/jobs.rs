//! The scheduler's store side on both backends: reminders fall due once,
//! expired notices close, the digest counts, alerts and check runs are
//! written and claimed once.

use chrono::{Duration, Utc};
use tocsin_channels::ChannelKind;

use super::{notice, numbered, pg_done, pg_store, sqlite_store, update};
use crate::domain::{DeliveryState, EventKind, NoticeKind, NoticeStatus};
use crate::store::{CheckRun, ReminderKind, Store};

both!(
    reminders_fall_due_once_and_expired_notices_close,
    check_runs_are_claimed_once
);

async fn reminders_fall_due_once_and_expired_notices_close(s: &dyn Store) {
    let ids = s.insert_residents(&[numbered(1)]).await.unwrap();
    let now = Utc::now();
    let mut n = notice();
    n.starts_at = now + Duration::days(3);
    n.expires_at = Some(now + Duration::days(4));
    let (planned, _) = s.create_notice(&n, &ids).await.unwrap();

    assert!(s.due_reminders(now, 10).await.unwrap().is_empty());
    let day_before = n.starts_at - Duration::hours(23);
    let due = s.due_reminders(day_before, 10).await.unwrap();
    assert_eq!(due, vec![(planned.id, ReminderKind::DayBefore)]);
    let event = update(EventKind::Reminder);
    let sent = s
        .add_reminder(planned.id, ReminderKind::DayBefore, &event, day_before)
        .await
        .unwrap()
        .expect("the first claim sends");
    assert_eq!((sent.1.kind, sent.1.deliveries), (EventKind::Reminder, 1));
    let again = s.add_reminder(planned.id, ReminderKind::DayBefore, &event, day_before);
    assert!(again.await.unwrap().is_none(), "a reminder goes once");
    assert!(s.due_reminders(day_before, 10).await.unwrap().is_empty());
    let at_start = n.starts_at + Duration::minutes(1);
    let due = s.due_reminders(at_start, 10).await.unwrap();
    assert_eq!(due, vec![(planned.id, ReminderKind::AtStart)]);

    assert!(s.expire_notices(now).await.unwrap().is_empty());
    let closed = s.expire_notices(now + Duration::days(5)).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].status, NoticeStatus::Closed);
    assert!(s.due_reminders(at_start, 10).await.unwrap().is_empty());

    let d = s.digest(now - Duration::hours(1), now).await.unwrap();
    assert_eq!(d.notices.get(&NoticeKind::Planned), Some(&1));
    let sms = &d.deliveries[&ChannelKind::Sms];
    assert_eq!(
        sms.values().sum::<i64>(),
        2,
        "published + reminder: {sms:?}"
    );
    assert!(sms.contains_key(&DeliveryState::Pending), "{sms:?}");
}

async fn check_runs_are_claimed_once(s: &dyn Store) {
    let now = Utc::now();
    let since = s.check_since("sirens", "0 0 8 * * *", now).await.unwrap();
    assert_eq!(since.timestamp_millis(), now.timestamp_millis());
    s.advance_check("sirens", now + Duration::hours(1))
        .await
        .unwrap();
    s.advance_check("sirens", now).await.unwrap();
    let later = s.check_since("sirens", "0 0 8 * * *", now).await.unwrap();
    assert_eq!(
        later.timestamp_millis(),
        (now + Duration::hours(1)).timestamp_millis()
    );
    let changed = s.check_since("sirens", "0 0 9 * * *", now).await.unwrap();
    assert_eq!(
        changed.timestamp_millis(),
        now.timestamp_millis(),
        "a new expression starts now"
    );

    let mut run = CheckRun {
        name: "sirens".into(),
        due_at: now,
        state: "sent".into(),
        alert: None,
        detail: None,
        recorded_at: now,
        overwrite: false,
    };
    assert!(s.record_check_run(&run).await.unwrap());
    assert!(!s.record_check_run(&run).await.unwrap(), "claimed once");
    run.state = "failed".into();
    run.overwrite = true;
    assert!(s.record_check_run(&run).await.unwrap());
    let runs = s.check_runs("sirens", 10).await.unwrap();
    assert_eq!((runs.len(), runs[0].state.as_str()), (1, "failed"));
}
