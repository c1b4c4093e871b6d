//! The daily digest for the city's leadership (`[digest]`), by email
//! through the configured email provider: notices published and messages
//! sent, delivered and failed in the last 24 hours, the works that are
//! past their expected end and still open, and the journal's newest entry:
//! a copy outside the machine that `tocsin journal verify --head` checks
//! the journal against, so deleting the newest rows is found.

use chrono::{DateTime, Duration as TimeDelta, Utc};
use chrono_tz::Tz;
use std::fmt::Write;
use tocsin_channels::{Address, ChannelKind, Content, OutboundMessage};

use super::{DIGEST, Job, run_due};
use crate::api::AppState;
use crate::domain::journal::JournalEntry;
use crate::domain::{DeliveryState, NoticeKind};
use crate::store::{CheckRun, Digest, StoreError};

/// A digest up to two hours late is still worth reading that morning.
const GRACE: TimeDelta = TimeDelta::hours(2);

pub(super) async fn tick(state: &AppState, now: DateTime<Utc>) -> Result<(), StoreError> {
    let config = &state.config.digest;
    if config.to.is_empty() {
        return Ok(());
    }
    let job = Job {
        name: DIGEST,
        cron: &config.cron,
        grace: GRACE,
        missed_action: "digest.missed",
    };
    run_due(state, &job, now, |run| send(state, run, now)).await
}

async fn send(
    state: &AppState,
    mut run: CheckRun,
    now: DateTime<Utc>,
) -> Result<CheckRun, StoreError> {
    let digest = state.store.digest(now - TimeDelta::hours(24), now).await?;
    let head = state.store.journal_head().await?;
    let labels = Labels::of(&state.config.digest.language);
    let (subject, body) = compose(&digest, head.as_ref(), &labels, state.config.timezone());
    let channel = state.channels.get(ChannelKind::Email);
    let mut failed = Vec::new();
    for to in state.config.digest.recipients() {
        let msg = OutboundMessage {
            delivery_id: 0,
            notice_id: 0,
            idempotency_key: format!("digest-{}-{}", run.due_at.timestamp(), to.as_str()),
            address: Address::Email(to.clone()),
            content: Content::Email {
                subject: subject.clone(),
                body: body.clone(),
            },
            urgent: false,
            expires_at: None,
            collapse_id: None,
            status_callback: None,
            unsubscribe_url: None,
        };
        if let Err(e) = channel.send(&msg).await {
            tracing::error!(error = %e, "the digest could not be sent to one recipient");
            failed.push(format!("{}: {e}", to.as_str()));
        }
    }
    if failed.is_empty() {
        run.detail = Some(format!("sent to {}", state.config.digest.to.len()));
    } else {
        run.state = "failed".to_owned();
        run.detail = Some(failed.join("; "));
    }
    Ok(run)
}

struct Labels {
    subject: &'static str,
    notices: &'static str,
    kinds: [&'static str; 3],
    messages: &'static str,
    sent: &'static str,
    delivered: &'static str,
    failed: &'static str,
    overdue: &'static str,
    none_overdue: &'static str,
    expected_end: &'static str,
    head: &'static str,
    empty_journal: &'static str,
}

impl Labels {
    fn of(language: &str) -> Self {
        match language {
            "uk" => Self {
                subject: "Щоденний звіт",
                notices: "Нові повідомлення за добу",
                kinds: ["планові", "позапланові", "аварійні"],
                messages: "Повідомлення мешканцям",
                sent: "надіслано",
                delivered: "доставлено",
                failed: "не доставлено",
                overdue: "Прострочені роботи (не закриті після орієнтовного завершення)",
                none_overdue: "Прострочених робіт немає.",
                expected_end: "мали завершитися",
                head: "Останній запис журналу (для tocsin journal verify --head)",
                empty_journal: "журнал порожній",
            },
            "pl" => Self {
                subject: "Raport dzienny",
                notices: "Nowe komunikaty z ostatniej doby",
                kinds: ["planowe", "nieplanowe", "awaryjne"],
                messages: "Wiadomości do mieszkańców",
                sent: "wysłane",
                delivered: "doręczone",
                failed: "niedoręczone",
                overdue: "Prace po terminie (niezamknięte po przewidywanym końcu)",
                none_overdue: "Brak prac po terminie.",
                expected_end: "miały się zakończyć",
                head: "Ostatni wpis dziennika (dla tocsin journal verify --head)",
                empty_journal: "dziennik jest pusty",
            },
            _ => Self {
                subject: "Daily digest",
                notices: "Notices published in the last 24 hours",
                kinds: ["planned", "unplanned", "emergency"],
                messages: "Messages to residents",
                sent: "sent",
                delivered: "delivered",
                failed: "failed",
                overdue: "Overdue works (still open after their expected end)",
                none_overdue: "No overdue works.",
                expected_end: "expected end",
                head: "Newest journal entry (for tocsin journal verify --head)",
                empty_journal: "the journal is empty",
            },
        }
    }
}

/// The digest as plain text (pure, for the tests).
fn compose(d: &Digest, head: Option<&JournalEntry>, l: &Labels, tz: Tz) -> (String, String) {
    let day = d.until.with_timezone(&tz).format("%d.%m.%Y");
    let subject = format!("{}, {day}", l.subject);
    let mut body = String::new();
    let count = |k: NoticeKind| d.notices.get(&k).copied().unwrap_or(0);
    let total: i64 = d.notices.values().sum();
    let _ = writeln!(body, "{}: {total}", l.notices);
    for (k, label) in NoticeKind::ALL.into_iter().zip(l.kinds) {
        let _ = writeln!(body, "  {label}: {}", count(k));
    }
    use DeliveryState::*;
    let sent = d.deliveries_in(&[Sent, Delivered, Acknowledged]);
    let delivered = d.deliveries_in(&[Delivered, Acknowledged]);
    let failed = d.deliveries_in(&[Failed, Expired]);
    let _ = writeln!(
        body,
        "\n{}: {} {sent}, {} {delivered}, {} {failed}",
        l.messages, l.sent, l.delivered, l.failed
    );
    for (channel, by) in &d.deliveries {
        let n = |s: &[DeliveryState]| {
            by.iter()
                .filter(|(k, _)| s.contains(k))
                .map(|(_, n)| n)
                .sum::<i64>()
        };
        let _ = writeln!(
            body,
            "  {channel}: {} {}, {} {}",
            l.sent,
            n(&[Sent, Delivered, Acknowledged]),
            l.failed,
            n(&[Failed, Expired])
        );
    }
    let _ = writeln!(body);
    if d.overdue.is_empty() {
        let _ = writeln!(body, "{}", l.none_overdue);
    } else {
        let _ = writeln!(body, "{}: {}", l.overdue, d.overdue.len());
        for n in &d.overdue {
            let end = n
                .expected_end
                .map(|e| e.with_timezone(&tz).format("%d.%m %H:%M").to_string())
                .unwrap_or_default();
            let _ = writeln!(body, "  #{} {} ({} {end})", n.id, n.title, l.expected_end);
        }
    }
    let _ = writeln!(body);
    match head {
        Some(e) => writeln!(body, "{}: #{} {}", l.head, e.id, e.hash),
        None => writeln!(body, "{}: {}", l.head, l.empty_journal),
    }
    .expect("writing to a String");
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_digest_counts_notices_messages_and_overdue_works() {
        let now: DateTime<Utc> = "2026-11-24T05:30:00Z".parse().unwrap();
        let d = Digest {
            since: now - TimeDelta::hours(24),
            until: now,
            notices: BTreeMap::from([(NoticeKind::Planned, 3), (NoticeKind::Emergency, 1)]),
            deliveries: BTreeMap::from([(
                ChannelKind::Sms,
                BTreeMap::from([(DeliveryState::Delivered, 90), (DeliveryState::Failed, 4)]),
            )]),
            overdue: vec![],
        };
        let head = crate::domain::journal::NewJournalEntry {
            actor: "admin".into(),
            action: "test".into(),
            subject: "x".into(),
            detail: serde_json::json!({}),
        }
        .chained(
            Some((41, "ab".repeat(32))),
            now,
            &crate::domain::journal::JournalKey::from_bytes(&[1; 32]).unwrap(),
        );
        let (subject, body) = compose(&d, Some(&head), &Labels::of("en"), chrono_tz::Europe::Kyiv);
        assert_eq!(subject, "Daily digest, 24.11.2026");
        assert!(
            body.contains("Notices published in the last 24 hours: 4"),
            "{body}"
        );
        assert!(
            body.contains("planned: 3") && body.contains("emergency: 1"),
            "{body}"
        );
        assert!(body.contains("sent 90, delivered 90, failed 4"), "{body}");
        assert!(body.contains("No overdue works."), "{body}");
        let line = format!(
            "Newest journal entry (for tocsin journal verify --head): #42 {}",
            head.hash
        );
        assert!(body.contains(&line), "{body}");
        let (subject, body) = compose(&d, None, &Labels::of("uk"), chrono_tz::Europe::Kyiv);
        assert!(body.contains("журнал порожній"), "{body}");
        assert!(subject.starts_with("Щоденний звіт"));
    }
}
