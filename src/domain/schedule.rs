//! Schedules for warning-system checks: "fire at these local times in this
//! IANA time zone", written as a cron expression.
//!
//! An expression has 5 fields (`minute hour day-of-month month day-of-week`)
//! or 6 with leading seconds (`0 0 8,14,20 * * *`). The scheduler owns the
//! clock: it passes `now` in, and nothing here reads the system clock.
//!
//! # Daylight saving time
//!
//! A warning check must never be skipped silently, so every local time the
//! expression names becomes a run, identified by its UTC instant:
//!
//! * A local time inside a spring-forward gap (it never shows on the clock)
//!   fires at the first instant after the gap. Several gap times on one day
//!   land on that same instant and fire there once.
//! * A local time that a fall-back shows twice fires once, at its first
//!   occurrence, when the hour field names particular hours (`0 30 3 * * *`).
//!   When the hour field matches every hour (`0 */15 * * * *`,
//!   `0 0 * * * *`) it fires at both occurrences: such a schedule promises a
//!   run every so many real minutes, and the repeated hour is real time.
//!   The gap rule still applies to them: `0 30 * * * *` fires at 04:00 and
//!   04:30 after a 03:00→04:00 jump, one run more rather than one fewer.
//!
//! croner (which parses and matches the expression here) skips gap times of
//! any schedule whose seconds, minutes or hours field is not a single value,
//! e.g. `0 15,30,45 3 * * *` does not fire at all on the spring-forward day.
//! So its search runs on the naive wall clock only, and the mapping of wall
//! clock times to instants is done here.

use std::fmt;

use chrono::{DateTime, MappedLocalTime, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};

/// Why an expression or a time zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "{expr:?}: expected 5 fields (minute hour day-of-month month day-of-week) \
         or 6 (with leading seconds), found {found}"
    )]
    FieldCount { expr: String, found: usize },
    #[error("{expr:?}: {field} {value} is out of range ({min}-{max})")]
    OutOfRange {
        expr: String,
        field: &'static str,
        value: u64,
        min: u32,
        max: u32,
    },
    #[error("{expr:?}: {field} field {token:?} is invalid: {reason}")]
    InvalidField {
        expr: String,
        field: &'static str,
        token: String,
        reason: String,
    },
    #[error("{expr:?} is not a valid cron expression: {reason}")]
    Invalid { expr: String, reason: String },
    #[error("{expr:?} never fires: no date matches it")]
    NeverFires { expr: String },
    #[error("{name:?} is not an IANA time zone")]
    UnknownTimeZone { name: String },
}

/// Parses an IANA time zone name such as `Europe/Kyiv`.
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.trim()
        .parse()
        .map_err(|_| ScheduleError::UnknownTimeZone {
            name: name.to_string(),
        })
}

/// A parsed cron expression bound to a time zone.
#[derive(Clone)]
pub struct Schedule {
    expr: String,
    tz: Tz,
    cron: Cron,
    /// Whether the hour field matches all 24 hours, which makes a repeated
    /// local time fire twice (see the module doc).
    every_hour: bool,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("expr", &self.expr)
            .field("tz", &self.tz)
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr && self.tz == other.tz
    }
}

impl Eq for Schedule {}

/// Name and allowed numeric range of each field of a 6-field expression.
const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// How far past a wall clock time a spring-forward gap may reach. Real gaps
/// are an hour or two; Samoa skipped a whole day in 2011.
const MAX_GAP: TimeDelta = TimeDelta::days(2);

impl Schedule {
    /// Parses a 5- or 6-field cron expression for the time zone `tz`.
    pub fn parse(expr: &str, tz: Tz) -> Result<Self, ScheduleError> {
        let expr = expr.trim();
        let fields = six_fields(expr)?;
        for (index, token) in fields.iter().enumerate() {
            check_field(expr, index, token)?;
        }
        let cron = parser().parse(expr).map_err(|e| invalid(expr, &e))?;
        // Without a year field a matching date recurs within 28 years, so a
        // search that finds none means the expression names no real date.
        let epoch = NaiveDateTime::default();
        if cron.find_next_occurrence(&epoch, true).is_err() {
            return Err(ScheduleError::NeverFires { expr: expr.into() });
        }
        let every_hour = (0..24).all(|h| cron.pattern.hour_match(h).unwrap_or(false));
        Ok(Self {
            expr: expr.to_string(),
            tz,
            cron,
            every_hour,
        })
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expr
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cursor = self.search_start(after);
        let mut inclusive = true;
        let mut best: Option<DateTime<Utc>> = None;
        loop {
            let Ok(local) = self.cron.find_next_occurrence(&cursor, inclusive) else {
                return best;
            };
            let (first, second) = self.instants(local)?;
            // The first instant of a wall clock time never decreases as the
            // wall clock advances, so nothing later can beat `best`.
            if best.is_some_and(|b| first >= b) {
                return best;
            }
            for run in std::iter::once(first).chain(second) {
                if run > after && best.is_none_or(|b| run < b) {
                    best = Some(run);
                }
            }
            cursor = local;
            inclusive = false;
        }
    }

    /// Every run in `(after, up_to]`, oldest first, at most `limit` of them.
    pub fn runs_between(
        &self,
        after: DateTime<Utc>,
        up_to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut runs = Vec::new();
        let mut cursor = after;
        while runs.len() < limit {
            match self.next_after(cursor) {
                Some(run) if run <= up_to => {
                    runs.push(run);
                    cursor = run;
                }
                _ => break,
            }
        }
        runs
    }

    /// The wall clock time to start searching from. If `after` is inside a
    /// repeated hour, wall clock times from the start of that hour can still
    /// have a later (second) occurrence, so the search starts that far back.
    fn search_start(&self, after: DateTime<Utc>) -> NaiveDateTime {
        let local = after.with_timezone(&self.tz).naive_local();
        let start = match self.tz.from_local_datetime(&local) {
            MappedLocalTime::Ambiguous(first, second) => local - (second - first),
            _ => local,
        };
        // Runs fall on whole seconds; earlier candidates are filtered anyway.
        start.with_nanosecond(0).unwrap_or(start)
    }

    /// The instants at which the wall clock time `local` fires: its first
    /// instant, and for every-hour schedules the second pass of a repeat.
    fn instants(&self, local: NaiveDateTime) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        match self.tz.from_local_datetime(&local) {
            MappedLocalTime::Single(t) => Some((t.to_utc(), None)),
            MappedLocalTime::Ambiguous(first, second) => {
                Some((first.to_utc(), self.every_hour.then(|| second.to_utc())))
            }
            MappedLocalTime::None => Some((self.gap_end(local)?, None)),
        }
    }

    /// The first instant after the spring-forward gap that hides `local`.
    fn gap_end(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let exists = |t: NaiveDateTime| self.tz.from_local_datetime(&t).earliest();
        // Widen until a wall clock time exists, then bisect to the second.
        let mut missing = local;
        let mut step = TimeDelta::minutes(1);
        let mut present = loop {
            if step > MAX_GAP {
                return None;
            }
            let probe = local + step;
            if exists(probe).is_some() {
                break probe;
            }
            missing = probe;
            step = step * 2;
        };
        while present - missing > TimeDelta::seconds(1) {
            let middle = missing + (present - missing) / 2;
            if exists(middle).is_some() {
                present = middle;
            } else {
                missing = middle;
            }
        }
        exists(present).map(|t| t.to_utc())
    }
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Splits `expr` into 6 fields, adding `0` seconds to a 5-field expression.
fn six_fields(expr: &str) -> Result<Vec<&str>, ScheduleError> {
    let mut fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        5 => fields.insert(0, "0"),
        6 => {}
        found => {
            return Err(ScheduleError::FieldCount {
                expr: expr.into(),
                found,
            });
        }
    }
    Ok(fields)
}

/// Checks one field on its own, so the error can name it.
fn check_field(expr: &str, index: usize, token: &str) -> Result<(), ScheduleError> {
    let (field, min, max) = FIELDS[index];
    for value in plain_numbers(token) {
        if value < u64::from(min) || value > u64::from(max) {
            return Err(ScheduleError::OutOfRange {
                expr: expr.into(),
                field,
                value,
                min,
                max,
            });
        }
    }
    let mut probe = ["*"; 6];
    probe[index] = token;
    match parser().parse(&probe.join(" ")) {
        Ok(_) => Ok(()),
        Err(e) => Err(ScheduleError::InvalidField {
            expr: expr.into(),
            field,
            token: token.into(),
            reason: reason(&e),
        }),
    }
}

/// The plain numbers a field names as values or range ends (not steps, and
/// not `5#2`-style modifiers, which croner checks itself).
fn plain_numbers(token: &str) -> impl Iterator<Item = u64> + '_ {
    token
        .trim_start_matches('+')
        .split(',')
        .filter_map(|item| item.split('/').next())
        .flat_map(|range| range.split('-'))
        .filter_map(|n| n.parse().ok())
}

fn invalid(expr: &str, error: &CronError) -> ScheduleError {
    ScheduleError::Invalid {
        expr: expr.into(),
        reason: reason(error),
    }
}

/// croner's message without its generic prefix.
fn reason(error: &CronError) -> String {
    match error {
        CronError::InvalidPattern(m)
        | CronError::IllegalCharacters(m)
        | CronError::ComponentError(m) => m.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::Europe::{Kyiv, Warsaw};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn schedule(expr: &str, tz: Tz) -> Schedule {
        Schedule::parse(expr, tz).unwrap()
    }

    /// The runs within one local calendar day.
    fn local_day(s: &Schedule, y: i32, m: u32, d: u32) -> Vec<DateTime<Utc>> {
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let start = |date: NaiveDate| {
            s.timezone()
                .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .to_utc()
        };
        let (from, to) = (start(day), start(day.succ_opt().unwrap()));
        s.runs_between(
            from - TimeDelta::seconds(1),
            to - TimeDelta::seconds(1),
            1000,
        )
    }

    fn hhmm(runs: &[DateTime<Utc>]) -> Vec<String> {
        runs.iter()
            .map(|t| t.format("%d %H:%M").to_string())
            .collect()
    }

    #[test]
    fn three_times_daily_on_an_ordinary_day() {
        let s = schedule("0 0 8,14,20 * * *", Kyiv);
        assert_eq!(
            hhmm(&local_day(&s, 2026, 6, 10)),
            ["10 05:00", "10 11:00", "10 17:00"]
        );
        assert_eq!(
            hhmm(&local_day(&s, 2026, 1, 10)),
            ["10 06:00", "10 12:00", "10 18:00"]
        );
        assert_eq!(
            s.next_after(utc(2026, 6, 10, 5, 0)),
            Some(utc(2026, 6, 10, 11, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 6, 10, 17, 0)),
            Some(utc(2026, 6, 11, 5, 0))
        );
    }

    #[test]
    fn three_times_daily_on_both_dst_days() {
        let s = schedule("0 0 8,14,20 * * *", Kyiv);
        assert_eq!(
            hhmm(&local_day(&s, 2026, 3, 29)),
            ["29 05:00", "29 11:00", "29 17:00"]
        );
        assert_eq!(
            hhmm(&local_day(&s, 2026, 10, 25)),
            ["25 06:00", "25 12:00", "25 18:00"]
        );
        assert_eq!(
            s.next_after(utc(2026, 3, 28, 18, 0)),
            Some(utc(2026, 3, 29, 5, 0))
        );
        assert_eq!(
            s.next_after(utc(2026, 10, 24, 17, 0)),
            Some(utc(2026, 10, 25, 6, 0))
        );
    }

    #[test]
    fn gap_time_fires_at_end_of_gap() {
        let s = schedule("0 30 3 * * *", Kyiv);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 28)), ["28 01:30"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 29)), ["29 01:00"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 30)), ["30 00:30"]);
    }

    #[test]
    fn repeated_time_fires_once_at_first_occurrence() {
        let s = schedule("0 30 3 * * *", Kyiv);
        assert_eq!(hhmm(&local_day(&s, 2026, 10, 24)), ["24 00:30"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 10, 25)), ["25 00:30"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 10, 26)), ["26 01:30"]);
        // From inside the second pass, the next run is the next day's.
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 1, 10)),
            Some(utc(2026, 10, 26, 1, 30))
        );
    }

    #[test]
    fn several_gap_times_fire_once() {
        let s = schedule("0 15,30,45 3 * * *", Kyiv);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 29)), ["29 01:00"]);
        assert_eq!(
            hhmm(&local_day(&s, 2026, 3, 30)),
            ["30 00:15", "30 00:30", "30 00:45"]
        );
    }

    #[test]
    fn explicit_hour_with_minute_steps_fires_in_first_pass_only() {
        let s = schedule("0 */15 3 * * *", Kyiv);
        assert_eq!(
            hhmm(&local_day(&s, 2026, 10, 25)),
            ["25 00:00", "25 00:15", "25 00:30", "25 00:45"]
        );
    }

    #[test]
    fn warsaw_spring_gap() {
        let s = schedule("0 30 2 * * *", Warsaw);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 28)), ["28 01:30"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 29)), ["29 01:00"]);
        assert_eq!(hhmm(&local_day(&s, 2026, 3, 30)), ["30 00:30"]);
    }

    fn assert_hourly(runs: &[DateTime<Utc>], count: usize) {
        assert_eq!(runs.len(), count, "{:?}", hhmm(runs));
        for pair in runs.windows(2) {
            assert_eq!(pair[1] - pair[0], TimeDelta::hours(1), "{:?}", hhmm(runs));
        }
    }

    #[test]
    fn hourly_fires_25_times_on_autumn_day_and_23_on_spring_day() {
        let s = schedule("0 0 * * * *", Kyiv);
        let autumn = local_day(&s, 2026, 10, 25);
        assert_hourly(&autumn, 25);
        assert_eq!(autumn[0], utc(2026, 10, 24, 21, 0));
        let spring = local_day(&s, 2026, 3, 29);
        assert_hourly(&spring, 23);
        assert_eq!(spring[0], utc(2026, 3, 28, 22, 0));
    }

    #[test]
    fn quarter_hourly_runs_through_both_passes_of_repeated_hour() {
        let s = schedule("0 */15 * * * *", Kyiv);
        let runs = s.runs_between(utc(2026, 10, 24, 23, 50), utc(2026, 10, 25, 2, 10), 100);
        assert_eq!(runs.len(), 9);
        for pair in runs.windows(2) {
            assert_eq!(
                pair[1] - pair[0],
                TimeDelta::minutes(15),
                "{:?}",
                hhmm(&runs)
            );
        }
        // Starting inside the first pass, the second pass is still ahead.
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 0, 50)),
            Some(utc(2026, 10, 25, 1, 0))
        );
    }

    #[test]
    fn every_hour_at_half_past_fires_at_end_of_gap_too() {
        let s = schedule("0 30 * * * *", Kyiv);
        let runs = s.runs_between(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0), 10);
        assert_eq!(hhmm(&runs), ["29 00:30", "29 01:00", "29 01:30"]);
        assert_eq!(local_day(&s, 2026, 3, 29).len(), 24);
    }

    #[test]
    fn every_minute_through_the_gap_has_no_duplicates() {
        let s = schedule("* * * * *", Kyiv);
        let runs = s.runs_between(utc(2026, 3, 29, 0, 58), utc(2026, 3, 29, 1, 2), 100);
        assert_eq!(
            hhmm(&runs),
            ["29 00:59", "29 01:00", "29 01:01", "29 01:02"]
        );
    }

    #[test]
    fn outage_of_three_days() {
        let s = schedule("0 0 8,14,20 * * *", Kyiv);
        let after = utc(2026, 6, 10, 5, 0); // exactly a run: excluded
        let up_to = utc(2026, 6, 13, 5, 0); // exactly a run: included
        let runs = s.runs_between(after, up_to, 100);
        assert_eq!(runs.len(), 9);
        assert_eq!(runs[0], utc(2026, 6, 10, 11, 0));
        assert_eq!(runs[8], up_to);
        assert!(runs.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(s.runs_between(after, up_to, 4), runs[..4]);
        assert!(s.runs_between(after, up_to, 0).is_empty());
        assert!(s.runs_between(after, after, 10).is_empty());
    }

    #[test]
    fn next_after_excludes_its_argument_and_handles_subseconds() {
        let s = schedule("0 0 8,14,20 * * *", Kyiv);
        let run = utc(2026, 6, 10, 11, 0);
        assert_eq!(s.next_after(run - TimeDelta::milliseconds(1)), Some(run));
        assert_eq!(s.next_after(run), Some(utc(2026, 6, 10, 17, 0)));
    }

    #[test]
    fn five_field_weekday_expression() {
        let s = schedule("30 8 * * 1-5", Kyiv);
        // 2026-06-12 is a Friday: next is Monday 08:30 local = 05:30 UTC.
        assert_eq!(
            s.next_after(utc(2026, 6, 12, 6, 0)),
            Some(utc(2026, 6, 15, 5, 30))
        );
        assert_eq!(
            s.next_after(utc(2026, 6, 15, 5, 30)),
            Some(utc(2026, 6, 16, 5, 30))
        );
        assert_eq!(s.expression(), "30 8 * * 1-5");
        assert_eq!(s.timezone(), Kyiv);
    }

    fn error(expr: &str) -> String {
        Schedule::parse(expr, Kyiv).unwrap_err().to_string()
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert_eq!(
            error("0 0 25 * * *"),
            r#""0 0 25 * * *": hour 25 is out of range (0-23)"#
        );
        assert_eq!(
            error("61 * * * *"),
            r#""61 * * * *": minute 61 is out of range (0-59)"#
        );
        assert_eq!(
            error("0 0 1 13 *"),
            r#""0 0 1 13 *": month 13 is out of range (1-12)"#
        );
        assert!(
            error("* * * *").contains("expected 5 fields"),
            "{}",
            error("* * * *")
        );
        assert!(error("1 2 3 4 5 6 7").contains("found 7"));
        assert!(error("").contains("found 0"));
        let garbage = error("foo * * * *");
        assert!(
            garbage.starts_with(r#""foo * * * *": minute field "foo" is invalid"#),
            "{garbage}"
        );
        assert!(error("*/0 * * * *").contains("minute field \"*/0\""));
        assert!(error("0 0 30 2 *").contains("never fires"));
    }

    #[test]
    fn time_zone_names() {
        assert_eq!(parse_timezone("Europe/Kyiv"), Ok(Kyiv));
        assert_eq!(
            parse_timezone("Mars/Olympus").unwrap_err().to_string(),
            r#""Mars/Olympus" is not an IANA time zone"#
        );
    }

    #[test]
    fn equality_is_by_expression_and_zone() {
        assert_eq!(schedule("0 0 * * * *", Kyiv), schedule("0 0 * * * *", Kyiv));
        assert_ne!(
            schedule("0 0 * * * *", Kyiv),
            schedule("0 0 * * * *", Warsaw)
        );
    }
}
