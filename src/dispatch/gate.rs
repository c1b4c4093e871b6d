//! What happens to a message when it is about to be queued: sent now, held
//! through the resident's quiet hours (state `suppressed` until they end),
//! or dropped by the daily cap of informational notices. Emergency notices
//! (the urgent lane) pass untouched; email never wakes anyone, so quiet
//! hours do not hold it.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use tocsin_channels::ChannelKind;

use crate::domain::quiet::QuietHours;
use crate::domain::{EventId, Lane};
use crate::store::{QueuedDelivery, RecipientPrefs};

#[derive(Debug, Clone)]
pub struct Gate {
    pub city_tz: Tz,
    /// The city's default quiet hours.
    pub quiet: Option<QuietHours>,
    /// Planned notices per resident per day.
    pub cap: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send,
    Hold {
        until: DateTime<Utc>,
        reason: String,
    },
    Drop {
        reason: String,
    },
}

impl Gate {
    /// Whether the cap or quiet hours can matter for this lane at all.
    pub fn applies(&self, lane: Lane) -> bool {
        lane != Lane::Urgent
    }

    /// `today`: the planned-notice events that already reached the
    /// resident today (from the store; may include this delivery's own).
    pub fn judge(
        &self,
        d: &QueuedDelivery,
        prefs: Option<&RecipientPrefs>,
        today: &[EventId],
        now: DateTime<Utc>,
    ) -> Verdict {
        if !self.applies(d.lane) {
            return Verdict::Send;
        }
        if let Some(cap) = self.cap
            && d.lane == Lane::Routine
        {
            let others = today.iter().filter(|e| **e != d.event).count();
            if others >= cap as usize {
                return Verdict::Drop {
                    reason: format!("daily cap of {cap} informational notices reached"),
                };
            }
        }
        if d.channel == ChannelKind::Email {
            return Verdict::Send;
        }
        let window = match prefs {
            Some(p) => p.quiet_hours.effective(self.quiet),
            None => self.quiet,
        };
        let tz = prefs.and_then(|p| p.timezone).unwrap_or(self.city_tz);
        match window.and_then(|w| w.ends_after(now, tz)) {
            Some(until) => Verdict::Hold {
                until,
                reason: format!(
                    "quiet hours until {}",
                    until.with_timezone(&tz).format("%H:%M %Z")
                ),
            },
            None => Verdict::Send,
        }
    }

    /// Midnight of the city's current day: where a daily cap starts.
    pub fn day_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.city_tz).date_naive();
        self.city_tz
            .from_local_datetime(&local.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(now - chrono::Duration::days(1), |t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::quiet::QuietPreference;
    use crate::domain::{DeliveryId, ResidentId};

    fn gate() -> Gate {
        Gate {
            city_tz: chrono_tz::Europe::Kyiv,
            quiet: Some("22:00-07:00".parse().unwrap()),
            cap: Some(2),
        }
    }

    fn delivery(lane: Lane, channel: ChannelKind) -> QueuedDelivery {
        QueuedDelivery {
            id: DeliveryId(1),
            channel,
            lane,
            resident: Some(ResidentId(1)),
            event: EventId(9),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// 01:30 in Kyiv.
    const NIGHT: &str = "2026-11-23T23:30:00Z";

    #[test]
    fn routine_sms_at_night_waits_until_morning() {
        let v = gate().judge(
            &delivery(Lane::Routine, ChannelKind::Sms),
            None,
            &[],
            at(NIGHT),
        );
        let Verdict::Hold { until, reason } = v else {
            panic!("{v:?}")
        };
        assert_eq!(until, at("2026-11-24T05:00:00Z"));
        assert_eq!(reason, "quiet hours until 07:00 EET");
    }

    #[test]
    fn emergencies_and_email_are_never_held() {
        let g = gate();
        let urgent = g.judge(
            &delivery(Lane::Urgent, ChannelKind::Voice),
            None,
            &[],
            at(NIGHT),
        );
        assert_eq!(urgent, Verdict::Send);
        let email = g.judge(
            &delivery(Lane::Normal, ChannelKind::Email),
            None,
            &[],
            at(NIGHT),
        );
        assert_eq!(email, Verdict::Send);
        let noon = g.judge(
            &delivery(Lane::Normal, ChannelKind::Sms),
            None,
            &[],
            at("2026-11-23T10:00:00Z"),
        );
        assert_eq!(noon, Verdict::Send);
    }

    #[test]
    fn residents_choose_their_own_hours_and_zone() {
        let g = gate();
        let d = delivery(Lane::Routine, ChannelKind::Fcm);
        let off = RecipientPrefs {
            timezone: None,
            quiet_hours: QuietPreference::Off,
            channel_order: None,
        };
        assert_eq!(g.judge(&d, Some(&off), &[], at(NIGHT)), Verdict::Send);
        // 23:30 UTC is 18:30 in New York: not quiet there.
        let abroad = RecipientPrefs {
            timezone: Some(chrono_tz::America::New_York),
            quiet_hours: QuietPreference::Default,
            channel_order: None,
        };
        assert_eq!(g.judge(&d, Some(&abroad), &[], at(NIGHT)), Verdict::Send);
    }

    #[test]
    fn the_daily_cap_counts_other_planned_notices_only() {
        let g = gate();
        let noon = at("2026-11-23T10:00:00Z");
        let d = delivery(Lane::Routine, ChannelKind::Sms);
        // Its own event does not count against it.
        assert_eq!(
            g.judge(&d, None, &[EventId(9), EventId(3)], noon),
            Verdict::Send
        );
        assert!(matches!(
            g.judge(&d, None, &[EventId(2), EventId(3)], noon),
            Verdict::Drop { .. }
        ));
        // Unplanned notices are not capped.
        let unplanned = delivery(Lane::Normal, ChannelKind::Sms);
        assert_eq!(
            g.judge(&unplanned, None, &[EventId(2), EventId(3)], noon),
            Verdict::Send
        );
    }

    #[test]
    fn the_day_starts_at_local_midnight() {
        assert_eq!(gate().day_start(at(NIGHT)), at("2026-11-23T22:00:00Z"));
    }
}
