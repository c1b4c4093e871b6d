//! What the dispatcher hands to a channel, and what it gets back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Address, ChannelKind, SendError};

/// The rendered, per-resident text of a notice, shaped for one kind of channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// For FCM and APNs. `data` reaches the app alongside the notification.
    Push {
        title: String,
        body: String,
        data: BTreeMap<String, String>,
    },
    Sms {
        body: String,
    },
    /// Plain-text UTF-8 email.
    Email {
        subject: String,
        body: String,
    },
    /// A text-to-speech call.
    Voice {
        /// BCP-47 tag for the speech engine, e.g. `uk-UA`.
        language: String,
        speech: String,
        /// Read after the speech, e.g. "Press 1 to confirm", in the resident's language.
        prompt: String,
        /// Where the keypress is posted; without it the call only speaks.
        gather_url: Option<String>,
    },
}

impl Content {
    /// The variant's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Content::Push { .. } => "push",
            Content::Sms { .. } => "sms",
            Content::Email { .. } => "email",
            Content::Voice { .. } => "voice",
        }
    }
}

/// One delivery attempt of one notice to one address.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub delivery_id: i64,
    pub notice_id: i64,
    /// Stable per delivery; sent wherever the provider accepts one so a retry
    /// after a lost response does not produce a second message.
    pub idempotency_key: String,
    pub address: Address,
    pub content: Content,
    /// High priority (FCM HIGH, apns-priority 10) rather than normal (5).
    pub urgent: bool,
    /// After this the message is worthless; `None` leaves the provider default.
    pub expires_at: Option<DateTime<Utc>>,
    /// Newer messages with the same id replace older undelivered ones on the device.
    pub collapse_id: Option<String>,
    /// Absolute URL for delivery reports (Twilio StatusCallback).
    pub status_callback: Option<String>,
    /// Absolute URL that stops email to this address (email only): sent as
    /// `List-Unsubscribe` with RFC 8058 one-click.
    pub unsubscribe_url: Option<String>,
}

impl OutboundMessage {
    /// Rejects a message whose address belongs to another channel; that is a
    /// dispatcher bug, so it is permanent rather than the contact's fault.
    pub(crate) fn check_kind(&self, expected: ChannelKind) -> Result<(), SendError> {
        if self.address.kind() == expected {
            Ok(())
        } else {
            Err(self.wrong_address(expected))
        }
    }

    pub(crate) fn wrong_address(&self, channel: ChannelKind) -> SendError {
        SendError::permanent(format!(
            "a {} address was routed to the {channel} channel",
            self.address.kind()
        ))
    }

    pub(crate) fn wrong_content(&self, channel: ChannelKind) -> SendError {
        SendError::permanent(format!(
            "{} content cannot be sent over the {channel} channel",
            self.content.type_name()
        ))
    }
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The provider's id for later status reports (FCM name, apns-id, Twilio sid).
    pub provider_id: Option<String>,
    /// True only when the provider confirmed delivery synchronously.
    pub delivered: bool,
}
