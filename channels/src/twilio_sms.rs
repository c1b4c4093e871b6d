//! SMS through Twilio's Messages API, or any gateway that speaks it.

use serde::Deserialize;

use crate::twilio::{PROVIDER, TwilioApi};
use crate::{
    Address, Channel, ChannelKind, ConfigError, Content, OutboundMessage, Secret, SendError,
    SendReceipt,
};

/// The `[sms]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSmsConfig {
    /// Defaults to `https://api.twilio.com`.
    pub base_url: Option<String>,
    pub account_sid: String,
    pub auth_token: Secret,
    /// An E.164 number or an alphanumeric sender id (up to 11 characters).
    pub from: String,
}

/// Sends [`Content::Sms`] to [`Address::Sms`] numbers.
#[derive(Debug)]
pub struct TwilioSms {
    api: TwilioApi,
    from: String,
}

impl TwilioSms {
    pub fn new(cfg: &TwilioSmsConfig) -> Result<Self, ConfigError> {
        let from = cfg.from.trim();
        if !is_e164_like(from) && !is_alphanumeric_sender(from) {
            return Err(ConfigError::InvalidField {
                provider: PROVIDER,
                field: "from",
                reason: format!(
                    "{from:?} is neither an E.164 number nor an alphanumeric sender id of 1 to 11 letters, digits and spaces"
                ),
            });
        }
        Ok(TwilioSms {
            api: TwilioApi::new(cfg.base_url.as_deref(), &cfg.account_sid, &cfg.auth_token)?,
            from: from.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl Channel for TwilioSms {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(ChannelKind::Sms)?;
        let form = build_form(msg, &self.from)?;
        let receipt = self
            .api
            .create("Messages", &form, &msg.idempotency_key)
            .await?;
        tracing::debug!(
            delivery_id = msg.delivery_id,
            to = %msg.address.masked(),
            "twilio sms: accepted"
        );
        Ok(receipt)
    }
}

/// The `Messages.json` form. Pure, so the exact fields are unit-tested.
pub(crate) fn build_form(
    msg: &OutboundMessage,
    from: &str,
) -> Result<Vec<(&'static str, String)>, SendError> {
    let Address::Sms(to) = &msg.address else {
        return Err(msg.wrong_address(ChannelKind::Sms));
    };
    let Content::Sms { body } = &msg.content else {
        return Err(msg.wrong_content(ChannelKind::Sms));
    };
    if body.trim().is_empty() {
        return Err(SendError::permanent("sms: body is empty"));
    }
    let mut form = vec![
        ("To", to.as_str().to_owned()),
        ("From", from.to_owned()),
        ("Body", body.clone()),
    ];
    if let Some(callback) = &msg.status_callback {
        form.push(("StatusCallback", callback.clone()));
    }
    Ok(form)
}

/// `+` and 7 to 15 digits; looser than [`crate::PhoneNumber`] on purpose, so
/// short codes and test numbers a gateway hands out are accepted.
pub(crate) fn is_e164_like(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn is_alphanumeric_sender(value: &str) -> bool {
    (1..=11).contains(&value.chars().count())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && value.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhoneNumber;

    fn message() -> OutboundMessage {
        OutboundMessage {
            delivery_id: 7,
            notice_id: 3,
            idempotency_key: "d7".into(),
            address: Address::Sms(PhoneNumber::parse("+380 50 123 4567").unwrap()),
            content: Content::Sms {
                body: "Відключення води".into(),
            },
            urgent: false,
            expires_at: None,
            collapse_id: None,
            status_callback: Some("https://tocsin.example/hooks/twilio/sms".into()),
            unsubscribe_url: None,
        }
    }

    #[test]
    fn form_has_twilio_fields() {
        let form = build_form(&message(), "CITY").unwrap();
        assert_eq!(
            form,
            vec![
                ("To", "+380501234567".to_owned()),
                ("From", "CITY".to_owned()),
                ("Body", "Відключення води".to_owned()),
                (
                    "StatusCallback",
                    "https://tocsin.example/hooks/twilio/sms".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn sender_ids() {
        assert!(is_e164_like("+15005550006"));
        assert!(!is_e164_like("15005550006"));
        assert!(is_alphanumeric_sender("Lviv Water"));
        assert!(!is_alphanumeric_sender("12345"));
        assert!(!is_alphanumeric_sender("TooLongSender1"));
    }
}
