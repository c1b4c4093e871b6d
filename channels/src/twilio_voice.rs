//! Text-to-speech alert calls through Twilio's Calls API.
//!
//! The call's script travels inline as TwiML, so no webhook has to be
//! reachable for the call itself; only the optional keypress confirmation
//! and the status callbacks come back to the service.

use serde::Deserialize;

use crate::twilio::{PROVIDER, TwilioApi};
use crate::twilio_sms::is_e164_like;
use crate::{
    Address, Channel, ChannelKind, ConfigError, Content, OutboundMessage, Secret, SendError,
    SendReceipt,
};

const DEFAULT_RING_TIMEOUT_SECS: u32 = 30;
/// Twilio rejects inline TwiML longer than this.
const MAX_TWIML_CHARS: usize = 4000;
/// Call progress events worth a status callback; "answered" is what tells
/// the service a human (or a voicemail) picked up.
const CALLBACK_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];

/// The `[voice]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioVoiceConfig {
    /// Defaults to `https://api.twilio.com`.
    pub base_url: Option<String>,
    pub account_sid: String,
    pub auth_token: Secret,
    /// The caller id, an E.164 number on the account.
    pub from: String,
    /// How long to let the phone ring; defaults to 30 seconds.
    #[serde(default, deserialize_with = "crate::config_de::opt_number")]
    pub ring_timeout_secs: Option<u32>,
}

/// Places calls for [`Content::Voice`] to [`Address::Voice`] numbers.
#[derive(Debug)]
pub struct TwilioVoice {
    api: TwilioApi,
    from: String,
    ring_timeout_secs: u32,
}

impl TwilioVoice {
    pub fn new(cfg: &TwilioVoiceConfig) -> Result<Self, ConfigError> {
        let from = cfg.from.trim();
        if !is_e164_like(from) {
            return Err(ConfigError::InvalidField {
                provider: PROVIDER,
                field: "from",
                reason: format!("{from:?} must be an E.164 number such as +380441234567"),
            });
        }
        let ring_timeout_secs = cfg.ring_timeout_secs.unwrap_or(DEFAULT_RING_TIMEOUT_SECS);
        if !(5..=600).contains(&ring_timeout_secs) {
            return Err(ConfigError::InvalidField {
                provider: PROVIDER,
                field: "ring_timeout_secs",
                reason: format!("{ring_timeout_secs} is outside Twilio's 5 to 600 seconds"),
            });
        }
        Ok(TwilioVoice {
            api: TwilioApi::new(cfg.base_url.as_deref(), &cfg.account_sid, &cfg.auth_token)?,
            from: from.to_owned(),
            ring_timeout_secs,
        })
    }
}

#[async_trait::async_trait]
impl Channel for TwilioVoice {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Voice
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(ChannelKind::Voice)?;
        let form = build_form(msg, &self.from, self.ring_timeout_secs)?;
        let receipt = self
            .api
            .create("Calls", &form, &msg.idempotency_key)
            .await?;
        tracing::debug!(
            delivery_id = msg.delivery_id,
            to = %msg.address.masked(),
            "twilio voice: call placed"
        );
        Ok(receipt)
    }
}

/// The `Calls.json` form. Pure, so the exact fields are unit-tested.
pub(crate) fn build_form(
    msg: &OutboundMessage,
    from: &str,
    ring_timeout_secs: u32,
) -> Result<Vec<(&'static str, String)>, SendError> {
    let Address::Voice(to) = &msg.address else {
        return Err(msg.wrong_address(ChannelKind::Voice));
    };
    let Content::Voice {
        language,
        speech,
        prompt,
        gather_url,
    } = &msg.content
    else {
        return Err(msg.wrong_content(ChannelKind::Voice));
    };
    let script = twiml(language, speech, prompt, gather_url.as_deref());
    if script.chars().count() > MAX_TWIML_CHARS {
        return Err(SendError::permanent(format!(
            "voice: the call script exceeds Twilio's {MAX_TWIML_CHARS} characters"
        )));
    }
    let mut form = vec![
        ("To", to.as_str().to_owned()),
        ("From", from.to_owned()),
        ("Twiml", script),
        ("Timeout", ring_timeout_secs.to_string()),
    ];
    if let Some(callback) = &msg.status_callback {
        form.push(("StatusCallback", callback.clone()));
        form.push(("StatusCallbackMethod", "POST".to_owned()));
        for event in CALLBACK_EVENTS {
            form.push(("StatusCallbackEvent", event.to_owned()));
        }
    }
    Ok(form)
}

/// The call script: the speech inside a one-digit `<Gather>` that posts to
/// `gather_url`, followed by the speech once more for people who did not
/// press anything. Without `gather_url` it only speaks. All text is
/// XML-escaped, so hostile notice text cannot inject verbs like `<Dial>`.
pub fn twiml(language: &str, speech: &str, prompt: &str, gather_url: Option<&str>) -> String {
    let say = |text: &str| {
        format!(
            "<Say language=\"{}\">{}</Say>",
            xml_escape(language),
            xml_escape(text)
        )
    };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
    match gather_url {
        Some(url) => {
            out.push_str(&format!(
                "<Gather numDigits=\"1\" action=\"{}\" method=\"POST\" timeout=\"10\">",
                xml_escape(url)
            ));
            out.push_str(&say(speech));
            out.push_str(&say(prompt));
            out.push_str("</Gather>");
            out.push_str(&say(speech));
        }
        None => out.push_str(&say(speech)),
    }
    out.push_str("</Response>");
    out
}

/// Escapes markup and drops characters XML 1.0 cannot carry at all.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PhoneNumber;

    #[test]
    fn twiml_with_gather() {
        let xml = twiml(
            "uk-UA",
            "Увага! Відключення газу.",
            "Натисніть 1",
            Some("https://t.example/g?d=1&k=2"),
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Gather numDigits=\"1\" action=\"https://t.example/g?d=1&amp;k=2\" method=\"POST\" timeout=\"10\">\
             <Say language=\"uk-UA\">Увага! Відключення газу.</Say>\
             <Say language=\"uk-UA\">Натисніть 1</Say></Gather>\
             <Say language=\"uk-UA\">Увага! Відключення газу.</Say></Response>"
        );
    }

    #[test]
    fn twiml_without_gather_only_speaks() {
        assert_eq!(
            twiml("en-US", "Hello", "Press 1", None),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say language=\"en-US\">Hello</Say></Response>"
        );
    }

    #[test]
    fn hostile_text_cannot_inject_markup() {
        let xml = twiml(
            "en\" voice=\"x",
            "</Say><Dial>+15551234567</Dial><Say>",
            "it's \u{0}ok",
            None,
        );
        assert!(!xml.contains("<Dial>"));
        assert!(xml.contains("&lt;/Say&gt;&lt;Dial&gt;"));
        assert!(xml.contains("language=\"en&quot; voice=&quot;x\""));
        assert!(!xml.contains('\u{0}'));
    }

    #[test]
    fn form_has_twilio_fields() {
        let msg = OutboundMessage {
            delivery_id: 1,
            notice_id: 1,
            idempotency_key: "k".into(),
            address: Address::Voice(PhoneNumber::parse("+48 512 345 678").unwrap()),
            content: Content::Voice {
                language: "pl-PL".into(),
                speech: "Uwaga".into(),
                prompt: "Naciśnij 1".into(),
                gather_url: None,
            },
            urgent: true,
            expires_at: None,
            collapse_id: None,
            status_callback: Some("https://t.example/cb".into()),
            unsubscribe_url: None,
        };
        let form = build_form(&msg, "+15005550006", 25).unwrap();
        let names: Vec<_> = form.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "To",
                "From",
                "Twiml",
                "Timeout",
                "StatusCallback",
                "StatusCallbackMethod",
                "StatusCallbackEvent",
                "StatusCallbackEvent",
                "StatusCallbackEvent",
                "StatusCallbackEvent"
            ]
        );
        assert_eq!(form[0].1, "+48512345678");
        assert_eq!(form[3].1, "25");
    }
}
