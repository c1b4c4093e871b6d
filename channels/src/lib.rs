//! Delivery channels for Tocsin.
//!
//! Every way a resident can be reached — FCM push, APNs push, SMS, email and
//! voice calls — sits behind the [`Channel`] trait, so the service's dispatcher
//! never needs to know which provider is on the other end. The crate holds the
//! validated address types, the message model, the provider clients and the
//! rules that depend on the wire (SMS segment counting, Twilio signatures,
//! TwiML). It deliberately contains no HTTP server and no database code: the
//! service owns both.
//!
//! Providers map every failure onto [`SendError`], which tells the dispatcher
//! the only three things it needs: retry later, give up, or deactivate the
//! contact because the address is dead.

mod address;
mod apns;
mod config_de;
mod error;
mod fcm;
mod http;
mod message;
mod secret;
mod simulated;
pub mod sms;
mod smtp;
pub mod twilio;
mod twilio_sms;
mod twilio_voice;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use address::{Address, AddressError, ApnsToken, EmailAddress, FcmToken, PhoneNumber};
pub use apns::{ApnsChannel, ApnsConfig};
pub use error::{ConfigError, SendError, UnknownChannel};
pub use fcm::{FcmChannel, FcmConfig};
pub use message::{Content, OutboundMessage, SendReceipt};
pub use secret::Secret;
pub use simulated::{Outbox, OutboxEntry, SimulatedChannel};
pub use sms::{SmsEncoding, SmsInfo, analyze};
pub use smtp::{SmtpChannel, SmtpConfig, TlsMode};
pub use twilio::{ReportedStatus, call_status, message_status, signature, verify_signature};
pub use twilio_sms::{TwilioSms, TwilioSmsConfig};
pub use twilio_voice::{TwilioVoice, TwilioVoiceConfig, twiml};

/// The ways Tocsin can reach a resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Fcm,
    Apns,
    Sms,
    Email,
    Voice,
}

impl ChannelKind {
    /// Every kind, in the order operators see them listed.
    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Fcm,
        ChannelKind::Apns,
        ChannelKind::Sms,
        ChannelKind::Email,
        ChannelKind::Voice,
    ];

    /// The lowercase name used in configuration, the API and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Fcm => "fcm",
            ChannelKind::Apns => "apns",
            ChannelKind::Sms => "sms",
            ChannelKind::Email => "email",
            ChannelKind::Voice => "voice",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownChannel::new(s))
    }
}

/// One configured way of delivering messages of a single [`ChannelKind`].
///
/// Implementations are cheap to share (`Arc<dyn Channel>`) and safe to call
/// concurrently; they keep their own connection pools and token caches.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + fmt::Debug {
    /// The kind of address this channel delivers to.
    fn kind(&self) -> ChannelKind;

    /// Short provider name for logs and metrics: "fcm", "apns", "twilio", "smtp", "simulated".
    fn provider(&self) -> &'static str;

    /// True when nothing leaves the machine (see [`SimulatedChannel`]).
    fn simulated(&self) -> bool {
        false
    }

    /// Hands one message to the provider.
    ///
    /// `Ok` means the provider accepted it; only [`SendReceipt::delivered`]
    /// says whether it has also reached the device.
    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trips_through_strings_and_serde() {
        for kind in ChannelKind::ALL {
            assert_eq!(kind.as_str().parse::<ChannelKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ChannelKind>(&json).unwrap(), kind);
        }
        assert_eq!(" SMS ".parse::<ChannelKind>(), Ok(ChannelKind::Sms));
    }

    #[test]
    fn unknown_kind_lists_the_valid_values() {
        let err = "pigeon".parse::<ChannelKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown channel \"pigeon\"; valid values: fcm, apns, sms, email, voice"
        );
    }
}
