//! Quiet hours: a daily window, in a resident's own time zone, during which
//! routine messages wait. Parsed from "HH:MM-HH:MM"; a window may wrap past
//! midnight ("22:00-07:00").

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    start: NaiveTime,
    end: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quiet hours must look like \"22:00-07:00\" (start-end, 24-hour, start ≠ end): {0}")]
pub struct QuietHoursError(String);

impl FromStr for QuietHours {
    type Err = QuietHoursError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || QuietHoursError(format!("got \"{s}\""));
        let (a, b) = s.trim().split_once('-').ok_or_else(err)?;
        let parse = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| err());
        let (start, end) = (parse(a)?, parse(b)?);
        if start == end {
            return Err(err());
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl Serialize for QuietHours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for QuietHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A resident's own choice about quiet hours. Stored and sent as JSON
/// `null` (the city default, `policy.quiet_hours`), `"off"` (never hold
/// messages back) or a window such as `"22:00-07:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuietPreference {
    #[default]
    Default,
    Off,
    Window(QuietHours),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quiet hours must be a window such as \"22:00-07:00\" (start-end, 24-hour, start ≠ end), \
     \"off\" for none, or null for the city's default; got \"{0}\""
)]
pub struct QuietPreferenceError(String);

impl QuietPreference {
    /// `None` is the city default.
    pub fn parse(raw: Option<&str>) -> Result<Self, QuietPreferenceError> {
        match raw.map(str::trim) {
            None => Ok(Self::Default),
            Some(s) if s.eq_ignore_ascii_case("off") => Ok(Self::Off),
            Some(s) => s
                .parse()
                .map(Self::Window)
                .map_err(|_| QuietPreferenceError(s.chars().take(40).collect())),
        }
    }

    /// The stored (and JSON) text; `None` for the default.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Self::Default => None,
            Self::Off => Some("off".to_owned()),
            Self::Window(q) => Some(q.to_string()),
        }
    }

    /// The window that applies given the city's default, if any.
    pub fn effective(&self, city: Option<QuietHours>) -> Option<QuietHours> {
        match self {
            Self::Default => city,
            Self::Off => None,
            Self::Window(q) => Some(*q),
        }
    }
}

impl Serialize for QuietPreference {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_text() {
            None => s.serialize_none(),
            Some(text) => s.serialize_str(&text),
        }
    }
}

impl<'de> Deserialize<'de> for QuietPreference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        Self::parse(raw.as_deref()).map_err(serde::de::Error::custom)
    }
}

impl QuietHours {
    fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the window that holds `now` ends, or `None` when `now` is
    /// outside quiet hours. Computed in `tz`, so a window stays "22:00 to
    /// 07:00 local" across daylight-saving changes.
    pub fn ends_after(&self, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        if !self.contains(local.time()) {
            return None;
        }
        let mut day = local.date_naive();
        if local.time() >= self.end {
            day = day.succ_opt()?;
        }
        let end = day.and_time(self.end);
        // A local time skipped by a DST jump does not exist: take the first
        // instant after the gap instead.
        let resolved = tz.from_local_datetime(&end).earliest().or_else(|| {
            tz.from_local_datetime(&(end + Duration::hours(1)))
                .earliest()
        })?;
        Some(resolved.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        let q: QuietHours = "22:00-07:00".parse().unwrap();
        assert_eq!(q.to_string(), "22:00-07:00");
        for bad in [
            "",
            "22:00",
            "25:00-07:00",
            "22:00-22:00",
            "7-8",
            "22:00–07:00",
        ] {
            assert!(bad.parse::<QuietHours>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn preference_round_trips_through_json() {
        let cases = [
            ("null", QuietPreference::Default),
            ("\"off\"", QuietPreference::Off),
            (
                "\"22:00-07:00\"",
                QuietPreference::Window("22:00-07:00".parse().unwrap()),
            ),
        ];
        for (json, pref) in cases {
            let parsed: QuietPreference = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, pref);
            assert_eq!(serde_json::to_string(&pref).unwrap(), json);
        }
        assert_eq!(
            QuietPreference::parse(Some("OFF")),
            Ok(QuietPreference::Off)
        );
        let err = QuietPreference::parse(Some("22-7"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"off\"") && err.contains("\"22-7\""), "{err}");
        assert!(serde_json::from_str::<QuietPreference>("\"always\"").is_err());
    }

    #[test]
    fn preference_picks_the_window_that_applies() {
        let city: QuietHours = "23:00-06:00".parse().unwrap();
        let own: QuietHours = "21:00-08:00".parse().unwrap();
        assert_eq!(QuietPreference::Default.effective(Some(city)), Some(city));
        assert_eq!(QuietPreference::Default.effective(None), None);
        assert_eq!(QuietPreference::Off.effective(Some(city)), None);
        assert_eq!(
            QuietPreference::Window(own).effective(Some(city)),
            Some(own)
        );
    }

    #[test]
    fn window_across_midnight_ends_next_morning_local_time() {
        let q: QuietHours = "22:00-07:00".parse().unwrap();
        let kyiv = chrono_tz::Europe::Kyiv;
        // 01:30 in Kyiv (UTC+2 in November) → ends 07:00 Kyiv = 05:00 UTC.
        assert_eq!(
            q.ends_after(at("2026-11-22T23:30:00Z"), kyiv),
            Some(at("2026-11-23T05:00:00Z"))
        );
        // 23:00 Kyiv → ends the next day.
        assert_eq!(
            q.ends_after(at("2026-11-23T21:00:00Z"), kyiv),
            Some(at("2026-11-24T05:00:00Z"))
        );
        // Noon is not quiet.
        assert_eq!(q.ends_after(at("2026-11-23T10:00:00Z"), kyiv), None);
        // The end itself is no longer quiet.
        assert_eq!(q.ends_after(at("2026-11-23T05:00:00Z"), kyiv), None);
    }

    #[test]
    fn window_within_a_day() {
        let q: QuietHours = "13:00-15:00".parse().unwrap();
        let utc = chrono_tz::UTC;
        assert_eq!(
            q.ends_after(at("2026-11-23T14:00:00Z"), utc),
            Some(at("2026-11-23T15:00:00Z"))
        );
        assert_eq!(q.ends_after(at("2026-11-23T16:00:00Z"), utc), None);
    }

    #[test]
    fn end_in_a_dst_gap_moves_past_it() {
        // Europe/Warsaw skips 02:00-03:00 on 2026-03-29.
        let q: QuietHours = "01:00-02:30".parse().unwrap();
        let end = q
            .ends_after(at("2026-03-29T00:30:00Z"), chrono_tz::Europe::Warsaw)
            .unwrap();
        assert_eq!(end, at("2026-03-29T01:30:00Z"));
    }
}
