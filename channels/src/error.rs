//! Errors at the crate boundary: what a send did wrong, what a provider's
//! configuration lacks, and an unknown channel name.
//!
//! [`SendError`] is deliberately coarse: the dispatcher only decides between
//! retrying, giving up and deactivating the contact, so each provider folds
//! its own error zoo into these three.

use std::path::PathBuf;
use std::time::Duration;

/// Why a message could not be handed to the provider.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum SendError {
    /// Worth trying again later: rate limits, 5xx, timeouts, dropped connections, SMTP 4xx.
    #[error("temporary failure: {reason}")]
    Retryable {
        reason: String,
        /// The provider's own hint (Retry-After), when it gave one.
        retry_after: Option<Duration>,
    },
    /// Retrying will not help: malformed request, bad credentials or configuration.
    #[error("permanent failure: {reason}")]
    Permanent { reason: String },
    /// The address itself is dead (unregistered token, invalid number,
    /// unknown mailbox); the service deactivates the contact.
    #[error("invalid address: {reason}")]
    InvalidAddress { reason: String },
}

impl SendError {
    pub(crate) fn retryable(reason: impl Into<String>, retry_after: Option<Duration>) -> Self {
        SendError::Retryable {
            reason: reason.into(),
            retry_after,
        }
    }

    pub(crate) fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_address(reason: impl Into<String>) -> Self {
        SendError::InvalidAddress {
            reason: reason.into(),
        }
    }

    /// True for [`SendError::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable { .. })
    }
}

/// A provider could not be built from its configuration.
///
/// Messages name the file or field at fault and never include key material.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{provider}: cannot read {}: {reason}", path.display())]
    ReadFile {
        provider: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{provider}: {}: {reason}", path.display())]
    BadFile {
        provider: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{provider}: invalid {field}: {reason}")]
    InvalidField {
        provider: &'static str,
        field: &'static str,
        reason: String,
    },
    #[error("{provider}: cannot build the HTTP/SMTP client: {reason}")]
    Client {
        provider: &'static str,
        reason: String,
    },
}

/// A channel name that is not one of [`crate::ChannelKind::ALL`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("unknown channel {0:?}; valid values: fcm, apns, sms, email, voice")]
pub struct UnknownChannel(String);

impl UnknownChannel {
    pub(crate) fn new(raw: &str) -> Self {
        UnknownChannel(raw.to_owned())
    }
}
