//! Delivery policy settings: per-provider rates and prices (`[rates.*]`)
//! and the rules of who gets what when (`[policy]`: retries, quiet hours,
//! caps, fallback cascades).

use serde::Deserialize;
use tocsin_channels::ChannelKind;

use crate::domain::NoticeKind;
use crate::domain::cascade::{Cascade, StepConfig};
use crate::domain::quiet::QuietHours;

/// One provider account's limits and prices. Absent limits mean "as fast
/// as the provider answers" (bounded by `dispatch.concurrency`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelRate {
    /// Sustained messages (calls) per second across the whole cluster.
    pub per_second: Option<f64>,
    /// Messages that may go at once after an idle spell, at most
    /// `per_second`. No rolling second carries more than `per_second`
    /// either way, so a burst lowers the sustained rate to about
    /// `per_second - burst + 1`; defaults to 1 (an even pace).
    pub burst: Option<u32>,
    /// Provider calls in flight at once (a voice gateway's concurrent
    /// calls); defaults to `dispatch.concurrency`.
    pub max_in_flight: Option<usize>,
    /// Price per SMS segment, per started voice minute, or per message
    /// (push, email), in `policy.currency`.
    pub price: Option<f64>,
}

impl ChannelRate {
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(1)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatesConfig {
    pub fcm: ChannelRate,
    pub apns: ChannelRate,
    pub sms: ChannelRate,
    pub email: ChannelRate,
    pub voice: ChannelRate,
}

impl RatesConfig {
    pub fn get(&self, kind: ChannelKind) -> &ChannelRate {
        match kind {
            ChannelKind::Fcm => &self.fcm,
            ChannelKind::Apns => &self.apns,
            ChannelKind::Sms => &self.sms,
            ChannelKind::Email => &self.email,
            ChannelKind::Voice => &self.voice,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for kind in ChannelKind::ALL {
            let r = self.get(kind);
            if let Some(rate) = r.per_second
                && !(rate.is_finite() && rate > 0.0)
            {
                return Err(format!("rates.{kind}.per_second must be a positive number"));
            }
            if r.burst == Some(0) || r.max_in_flight == Some(0) {
                return Err(format!(
                    "rates.{kind}.burst and max_in_flight must be at least 1"
                ));
            }
            if let (Some(burst), Some(rate)) = (r.burst, r.per_second)
                && f64::from(burst) > rate.floor().max(1.0)
            {
                return Err(format!(
                    "rates.{kind}.burst ({burst}) must not exceed per_second ({rate}): no one-second window may carry more than per_second"
                ));
            }
            if let Some(p) = r.price
                && !(p.is_finite() && p >= 0.0)
            {
                return Err(format!("rates.{kind}.price must be zero or more"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// ISO 4217 code of every price in `[rates.*]`.
    pub currency: String,
    /// A delivery that has not gone out this many seconds after it was
    /// written fails instead of retrying further.
    pub retry_deadline_secs: u64,
    /// Quiet hours for residents who set none, in their own time zone
    /// (the city's when they set none). Routine notices wait until the end.
    pub quiet_hours: Option<QuietHours>,
    /// Planned (informational) notices per resident per day (in the
    /// city's time zone); more are suppressed. Only planned notices count
    /// and are capped.
    pub daily_cap: Option<u32>,
    /// Fallback cascade per notice kind; a kind without one sends on every
    /// channel at once.
    pub fallback: FallbackConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    pub planned: Vec<StepConfig>,
    pub unplanned: Vec<StepConfig>,
    pub emergency: Vec<StepConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            currency: "UAH".to_owned(),
            retry_deadline_secs: 6 * 3600,
            quiet_hours: None,
            daily_cap: None,
            fallback: FallbackConfig::default(),
        }
    }
}

impl PolicyConfig {
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.currency;
        if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "policy.currency \"{c}\" must be an ISO 4217 code such as \"UAH\""
            ));
        }
        if self.retry_deadline_secs == 0 {
            return Err("policy.retry_deadline_secs must be at least 1".into());
        }
        if self.daily_cap == Some(0) {
            return Err("policy.daily_cap must be at least 1 (leave it out for no cap)".into());
        }
        for kind in [
            NoticeKind::Planned,
            NoticeKind::Unplanned,
            NoticeKind::Emergency,
        ] {
            Cascade::parse(self.fallback_steps(kind))
                .map_err(|e| format!("policy.fallback.{}: {e}", kind.as_str()))?;
        }
        Ok(())
    }

    fn fallback_steps(&self, kind: NoticeKind) -> &[StepConfig] {
        match kind {
            NoticeKind::Planned => &self.fallback.planned,
            NoticeKind::Unplanned => &self.fallback.unplanned,
            NoticeKind::Emergency => &self.fallback.emergency,
        }
    }

    /// The kind's cascade (checked when the configuration was loaded).
    pub fn cascade(&self, kind: NoticeKind) -> Cascade {
        Cascade::parse(self.fallback_steps(kind)).unwrap_or_default()
    }
}
