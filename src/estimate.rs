//! What sending a notice would cost and how long it would take, from the
//! counted audience, the rendered message sizes and `[rates.*]`: the
//! arithmetic behind `POST /notices/preview`. Pure functions, no I/O.
//!
//! Money is kept in integer millionths while multiplying and rounded to
//! hundredths per channel, so amounts add up exactly and never print as
//! 0.30000000000000004.

use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use tocsin_channels::{ChannelKind, SmsInfo};

use crate::config::RatesConfig;
use crate::domain::Language;
use crate::store::AudienceCounts;

/// Speaking rate assumed for text-to-speech calls.
pub const WORDS_PER_MINUTE: u64 = 150;

/// What a channel's `price` is charged per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Segment,
    Minute,
    Message,
}

impl Unit {
    pub fn of(channel: ChannelKind) -> Self {
        match channel {
            ChannelKind::Sms => Self::Segment,
            ChannelKind::Voice => Self::Minute,
            ChannelKind::Fcm | ChannelKind::Apns | ChannelKind::Email => Self::Message,
        }
    }
}

/// The SMS residents of one language would get.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SmsSize {
    pub language: Language,
    pub recipients: u64,
    #[serde(flatten)]
    pub info: SmsInfo,
}

/// The call residents of one language would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSize {
    pub language: Language,
    pub calls: u64,
    /// Words spoken: the message and the prompt.
    pub words: u64,
    pub minutes_per_call: u64,
}

impl CallSize {
    pub fn new(language: Language, calls: u64, words: u64) -> Self {
        Self {
            language,
            calls,
            words,
            minutes_per_call: billed_minutes(words),
        }
    }
}

/// Started minutes of one call reading `words` at `WORDS_PER_MINUTE`;
/// even a short call is billed one minute.
pub fn billed_minutes(words: u64) -> u64 {
    words.div_ceil(WORDS_PER_MINUTE).max(1)
}

/// What one channel would send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub messages: u64,
    /// SMS segments, started call minutes, or messages.
    pub units: u64,
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Messages and billed units per channel that has any.
pub fn loads(
    counts: &AudienceCounts,
    sms: &[SmsSize],
    calls: &[CallSize],
) -> BTreeMap<ChannelKind, Load> {
    let mut loads: BTreeMap<ChannelKind, Load> = BTreeMap::new();
    for c in counts.contacts.iter().filter(|c| c.contacts > 0) {
        let load = loads.entry(c.channel).or_default();
        load.messages += non_negative(c.contacts);
        if Unit::of(c.channel) == Unit::Message {
            load.units += non_negative(c.contacts);
        }
    }
    if let Some(load) = loads.get_mut(&ChannelKind::Sms) {
        load.units = sms
            .iter()
            .map(|s| s.recipients * u64::from(s.info.segments))
            .sum();
    }
    if let Some(load) = loads.get_mut(&ChannelKind::Voice) {
        load.units = calls.iter().map(|c| c.calls * c.minutes_per_call).sum();
    }
    loads
}

/// An amount in hundredths of the currency, shown as a decimal number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(pub u64);

impl Serialize for Cents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A correctly rounded division prints as the decimal it stands for.
        s.serialize_f64(self.0 as f64 / 100.0)
    }
}

/// `units × price`, the price taken to a millionth, rounded half up to cents.
fn amount(units: u64, price: f64) -> Cents {
    let micros = (price * 1e6).round() as u128; // saturating; price is validated ≥ 0
    let cents = (u128::from(units) * micros + 5_000) / 10_000;
    Cents(u64::try_from(cents).unwrap_or(u64::MAX))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelCost {
    pub units: u64,
    pub unit: Unit,
    pub unit_price: f64,
    pub amount: Cents,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub currency: String,
    /// The sum of the priced channels' amounts.
    pub total: Cents,
    pub by_channel: BTreeMap<ChannelKind, ChannelCost>,
    /// Channels with messages but no configured `price`: not counted as free.
    pub unpriced: Vec<ChannelKind>,
}

pub fn cost(loads: &BTreeMap<ChannelKind, Load>, rates: &RatesConfig, currency: &str) -> Cost {
    let mut cost = Cost {
        currency: currency.to_owned(),
        total: Cents(0),
        by_channel: BTreeMap::new(),
        unpriced: Vec::new(),
    };
    for (&channel, load) in loads {
        let Some(price) = rates.get(channel).price else {
            cost.unpriced.push(channel);
            continue;
        };
        let amount = amount(load.units, price);
        cost.total = Cents(cost.total.0.saturating_add(amount.0));
        cost.by_channel.insert(
            channel,
            ChannelCost {
                units: load.units,
                unit: Unit::of(channel),
                unit_price: price,
                amount,
            },
        );
    }
    cost
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duration {
    /// The slowest rate-limited channel: channels send in parallel.
    pub total: f64,
    pub by_channel: BTreeMap<ChannelKind, f64>,
    /// Channels with messages but no `per_second`: as fast as the provider
    /// answers, so no estimate (and not part of `total`).
    pub unlimited: Vec<ChannelKind>,
}

/// Seconds per channel as messages / `per_second`, to a tenth; ignores
/// bursts, retries, quiet hours and provider latency.
pub fn duration(loads: &BTreeMap<ChannelKind, Load>, rates: &RatesConfig) -> Duration {
    let mut d = Duration {
        total: 0.0,
        by_channel: BTreeMap::new(),
        unlimited: Vec::new(),
    };
    for (&channel, load) in loads {
        match rates.get(channel).per_second {
            Some(rate) => {
                let secs = (load.messages as f64 / rate * 10.0).round() / 10.0;
                d.total = d.total.max(secs);
                d.by_channel.insert(channel, secs);
            }
            None => d.unlimited.push(channel),
        }
    }
    d
}

#[cfg(test)]
mod tests;
