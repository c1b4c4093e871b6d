//! Which lane an alert takes (`[alerts.lanes]`): a table from CAP
//! urgency × severity × certainty to the lane and whether quiet hours hold
//! the alert's messages. The first rule that matches an info decides it;
//! an alert with several infos takes the most pressing decision of any.
//!
//! The status plays no part: an Exercise or Test takes the lane of the
//! Actual alert it rehearses, so a drill tests the real path (it is
//! marked, and reaches only its test audience unless widened).

use serde::Deserialize;
use serde::de::{self, Deserializer};
use tocsin_cap::{Certainty, Severity, Urgency};

/// The two lanes an alert can take. `Urgent` goes ahead of all other
/// work and past quiet hours, daily caps and category opt-outs; `Normal`
/// is the lane of unplanned works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLane {
    Urgent,
    Normal,
}

/// Whether the resident's quiet hours hold the alert's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietHours {
    Respect,
    Bypass,
}

/// What the table decided for one alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneDecision {
    pub lane: AlertLane,
    /// True for every urgent alert, and for normal ones a rule lets past.
    pub bypass_quiet_hours: bool,
}

impl LaneDecision {
    pub fn urgent(self) -> bool {
        self.lane == AlertLane::Urgent
    }

    /// The more pressing of two decisions (several infos).
    fn max(self, other: Self) -> Self {
        Self {
            lane: if self.urgent() || other.urgent() {
                AlertLane::Urgent
            } else {
                AlertLane::Normal
            },
            bypass_quiet_hours: self.bypass_quiet_hours || other.bypass_quiet_hours,
        }
    }
}

/// A CAP enumeration a rule can list (by its CAP spelling).
pub trait CapWord: Copy + PartialEq + 'static {
    fn parse_word(s: &str) -> Option<Self>;
    fn expected_words() -> String;
}

macro_rules! cap_word {
    ($($t:ty),+) => {$(
        impl CapWord for $t {
            fn parse_word(s: &str) -> Option<Self> {
                Self::parse(s)
            }
            fn expected_words() -> String {
                Self::expected()
            }
        }
    )+};
}
cap_word!(Urgency, Severity, Certainty);

/// The values a rule matches; empty matches any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words<T>(Vec<T>);

impl<T: CapWord> Words<T> {
    pub fn of(values: &[T]) -> Self {
        Self(values.to_vec())
    }

    fn matches(&self, v: T) -> bool {
        self.0.is_empty() || self.0.contains(&v)
    }
}

impl<T> Default for Words<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: CapWord> Deserialize<'de> for Words<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        raw.iter()
            .map(|s| {
                T::parse_word(s).ok_or_else(|| {
                    de::Error::custom(format!("\"{s}\" is not one of {}", T::expected_words()))
                })
            })
            .collect::<Result<_, _>>()
            .map(Words)
    }
}

/// One row of the table (`[[alerts.lanes.rules]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneRule {
    #[serde(default)]
    pub urgency: Words<Urgency>,
    #[serde(default)]
    pub severity: Words<Severity>,
    #[serde(default)]
    pub certainty: Words<Certainty>,
    pub lane: AlertLane,
    /// Unset: bypassed in the urgent lane, respected in the normal one.
    pub quiet_hours: Option<QuietHours>,
}

impl LaneRule {
    fn matches(&self, u: Urgency, s: Severity, c: Certainty) -> bool {
        self.urgency.matches(u) && self.severity.matches(s) && self.certainty.matches(c)
    }

    fn decision(&self) -> LaneDecision {
        decision(self.lane, self.quiet_hours)
    }
}

fn decision(lane: AlertLane, quiet: Option<QuietHours>) -> LaneDecision {
    LaneDecision {
        lane,
        bypass_quiet_hours: match quiet {
            Some(q) => q == QuietHours::Bypass,
            None => lane == AlertLane::Urgent,
        },
    }
}

/// `[alerts.lanes]`: the rules in order, and the lane of an alert no rule
/// matches. Rules given in the configuration replace the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LanePolicy {
    pub rules: Vec<LaneRule>,
    pub otherwise: AlertLane,
    pub otherwise_quiet_hours: Option<QuietHours>,
}

impl Default for LanePolicy {
    /// Anything imminent or expected that is severe or extreme goes
    /// urgent; so does such a threat whose urgency the sender does not
    /// know (when unsure, alert). Everything else is unplanned work.
    fn default() -> Self {
        Self {
            rules: vec![LaneRule {
                urgency: Words::of(&[Urgency::Immediate, Urgency::Expected, Urgency::Unknown]),
                severity: Words::of(&[Severity::Extreme, Severity::Severe]),
                certainty: Words::default(),
                lane: AlertLane::Urgent,
                quiet_hours: None,
            }],
            otherwise: AlertLane::Normal,
            otherwise_quiet_hours: None,
        }
    }
}

impl LanePolicy {
    /// An urgent lane always passes quiet hours (the gate bypasses that
    /// lane as a whole), so a rule cannot ask for both.
    pub fn validate(&self) -> Result<(), String> {
        let contradicts =
            |lane, quiet| lane == AlertLane::Urgent && quiet == Some(QuietHours::Respect);
        for (i, r) in self.rules.iter().enumerate() {
            if contradicts(r.lane, r.quiet_hours) {
                return Err(format!(
                    "alerts.lanes.rules[{i}]: the urgent lane always passes quiet hours; \
                     use lane = \"normal\" to respect them"
                ));
            }
        }
        if contradicts(self.otherwise, self.otherwise_quiet_hours) {
            return Err(
                "alerts.lanes.otherwise_quiet_hours: the urgent lane always passes \
                        quiet hours"
                    .to_owned(),
            );
        }
        Ok(())
    }

    pub fn decide_info(&self, u: Urgency, s: Severity, c: Certainty) -> LaneDecision {
        self.rules
            .iter()
            .find(|r| r.matches(u, s, c))
            .map(LaneRule::decision)
            .unwrap_or_else(|| decision(self.otherwise, self.otherwise_quiet_hours))
    }

    /// The most pressing decision of the alert's infos.
    pub fn decide(&self, alert: &tocsin_cap::Alert) -> LaneDecision {
        alert
            .infos
            .iter()
            .map(|i| self.decide_info(i.urgency, i.severity, i.certainty))
            .reduce(LaneDecision::max)
            .unwrap_or_else(|| decision(self.otherwise, self.otherwise_quiet_hours))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlertLane::{Normal, Urgent};

    /// Every cell of the default table, written out: a change of the
    /// defaults must change this table too.
    #[test]
    fn every_default_cell() {
        use Severity as S;
        use Urgency as U;
        let expected: [(U, [AlertLane; 5]); 5] = [
            //              Extreme Severe Moderate Minor  Unknown
            (U::Immediate, [Urgent, Urgent, Normal, Normal, Normal]),
            (U::Expected, [Urgent, Urgent, Normal, Normal, Normal]),
            (U::Future, [Normal, Normal, Normal, Normal, Normal]),
            (U::Past, [Normal, Normal, Normal, Normal, Normal]),
            (U::Unknown, [Urgent, Urgent, Normal, Normal, Normal]),
        ];
        let severities = [S::Extreme, S::Severe, S::Moderate, S::Minor, S::Unknown];
        let policy = LanePolicy::default();
        for (u, lanes) in expected {
            for (s, lane) in severities.iter().zip(lanes) {
                for c in Certainty::ALL {
                    let d = policy.decide_info(u, *s, *c);
                    assert_eq!(d.lane, lane, "{u:?} × {s:?} × {c:?}");
                    assert_eq!(d.bypass_quiet_hours, lane == Urgent, "{u:?} × {s:?}");
                }
            }
        }
    }

    fn parse(toml: &str) -> Result<LanePolicy, String> {
        use figment::providers::Format;
        let p: LanePolicy = figment::Figment::new()
            .merge(figment::providers::Toml::string(toml))
            .extract()
            .map_err(|e| e.to_string())?;
        p.validate().map(|()| p)
    }

    #[test]
    fn a_configured_table_replaces_the_defaults_and_is_checked() {
        let p = parse(
            "[[rules]]\nurgency = [\"Immediate\"]\nseverity = [\"Moderate\"]\n\
             lane = \"normal\"\nquiet_hours = \"bypass\"\n",
        )
        .unwrap();
        let boil_water = p.decide_info(Urgency::Immediate, Severity::Moderate, Certainty::Likely);
        assert_eq!(
            (boil_water.lane, boil_water.bypass_quiet_hours),
            (Normal, true)
        );
        // The default urgent rule is gone with the replacement.
        let d = p.decide_info(Urgency::Immediate, Severity::Extreme, Certainty::Observed);
        assert_eq!((d.lane, d.bypass_quiet_hours), (Normal, false));

        let err =
            parse("[[rules]]\nseverity = [\"Catastrophic\"]\nlane = \"urgent\"\n").unwrap_err();
        assert!(
            err.contains("Catastrophic") && err.contains("Extreme"),
            "{err}"
        );
        let err = parse("[[rules]]\nlane = \"urgent\"\nquiet_hours = \"respect\"\n").unwrap_err();
        assert!(err.contains("rules[0]"), "{err}");
    }

    #[test]
    fn several_infos_take_the_most_pressing() {
        let p = LanePolicy::default();
        let a = p.decide_info(Urgency::Future, Severity::Minor, Certainty::Possible);
        let b = p.decide_info(Urgency::Immediate, Severity::Severe, Certainty::Observed);
        assert_eq!(a.max(b), b);
        assert_eq!(b.max(a), b);
    }
}
