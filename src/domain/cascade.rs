//! Channel fallback cascades: per notice kind, which channels go first and
//! which follow later only if the earlier ones did not reach the resident
//! (e.g. push now → SMS after 2 min unless delivered → voice after 5 min
//! unless acknowledged). Channels a cascade does not name go at once.
//!
//! A resident without a contact in the first steps starts at their first
//! step that has one: nobody waits 2 minutes for an SMS because they have
//! no phone app.

use serde::Deserialize;
use std::time::Duration;
use tocsin_channels::ChannelKind;

/// What an earlier step must have reached for a later one to be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reached {
    /// Delivered or acknowledged on an earlier channel.
    Delivered,
    /// Acknowledged on an earlier channel.
    Acknowledged,
}

impl Reached {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Acknowledged => "acknowledged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delivered" => Some(Self::Delivered),
            "acknowledged" => Some(Self::Acknowledged),
            _ => None,
        }
    }
}

/// One step as written in `tocsin.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub channels: Vec<ChannelKind>,
    /// Seconds after the first message of the cascade.
    #[serde(default)]
    pub after_secs: u64,
    /// Required for every step but the first.
    pub unless: Option<Reached>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub channels: Vec<ChannelKind>,
    pub after: Duration,
    /// `None` only for the first step.
    pub unless: Option<Reached>,
}

/// A validated cascade: the first step at 0 s, later steps strictly later,
/// each with a condition, no channel in two steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cascade {
    steps: Vec<Step>,
}

impl Cascade {
    pub fn parse(steps: &[StepConfig]) -> Result<Self, String> {
        let mut seen = Vec::new();
        let mut out: Vec<Step> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            if s.channels.is_empty() {
                return Err(format!("step {} names no channel", i + 1));
            }
            for c in &s.channels {
                if seen.contains(c) {
                    return Err(format!("channel {c} appears in two steps"));
                }
                seen.push(*c);
            }
            let after = Duration::from_secs(s.after_secs);
            match (i, s.unless) {
                (0, _) if s.after_secs != 0 => {
                    return Err("the first step goes at once (after_secs = 0)".into());
                }
                (0, Some(_)) => return Err("the first step has no `unless`".into()),
                (i, None) if i > 0 => {
                    return Err(format!(
                        "step {} needs `unless = \"delivered\"` or `\"acknowledged\"`",
                        i + 1
                    ));
                }
                _ => {}
            }
            if let Some(prev) = out.last()
                && after <= prev.after
            {
                return Err(format!("step {} must come later than step {}", i + 1, i));
            }
            out.push(Step {
                channels: s.channels.clone(),
                after,
                unless: s.unless,
            });
        }
        Ok(Self { steps: out })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.len() < 2
    }

    /// (step, delay after the first message, condition) of a channel;
    /// channels the cascade does not name are step 0.
    pub fn place(&self, channel: ChannelKind) -> (usize, Duration, Option<Reached>) {
        self.steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.channels.contains(&channel))
            .map_or((0, Duration::ZERO, None), |(i, s)| (i, s.after, s.unless))
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(channels: &[ChannelKind], after_secs: u64, unless: Option<Reached>) -> StepConfig {
        StepConfig {
            channels: channels.to_vec(),
            after_secs,
            unless,
        }
    }

    #[test]
    fn a_valid_cascade_places_each_channel() {
        use ChannelKind::*;
        let c = Cascade::parse(&[
            step(&[Fcm, Apns], 0, None),
            step(&[Sms], 120, Some(Reached::Delivered)),
            step(&[Voice], 300, Some(Reached::Acknowledged)),
        ])
        .unwrap();
        assert_eq!(c.place(Fcm), (0, Duration::ZERO, None));
        assert_eq!(
            c.place(Sms),
            (1, Duration::from_secs(120), Some(Reached::Delivered))
        );
        assert_eq!(c.place(Voice).0, 2);
        // Email is not named: it goes at once.
        assert_eq!(c.place(Email), (0, Duration::ZERO, None));
    }

    #[test]
    fn invalid_cascades_say_why() {
        use ChannelKind::*;
        let d = Some(Reached::Delivered);
        for (steps, expected) in [
            (vec![step(&[Fcm], 5, None)], "at once"),
            (
                vec![step(&[Fcm], 0, None), step(&[Sms], 60, None)],
                "unless",
            ),
            (
                vec![step(&[Fcm], 0, None), step(&[Fcm], 60, d)],
                "two steps",
            ),
            (
                vec![
                    step(&[Fcm], 0, None),
                    step(&[Sms], 60, d),
                    step(&[Voice], 60, d),
                ],
                "later",
            ),
            (vec![step(&[], 0, None)], "no channel"),
        ] {
            let err = Cascade::parse(&steps).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }
}
