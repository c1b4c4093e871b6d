//! Email through an SMTP relay, with lettre's pooled async transport.

use std::error::Error as _;
use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use crate::{
    Address, Channel, ChannelKind, ConfigError, Content, EmailAddress, OutboundMessage, Secret,
    SendError, SendReceipt,
};

const PROVIDER: &str = "smtp";
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const DEFAULT_POOL_SIZE: u32 = 4;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (SMTPS), port 465 by default.
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required; port 587 by default.
    #[default]
    Starttls,
    /// No encryption, port 25 by default: only for a relay on localhost or a test sink.
    None,
}

/// The `[email]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults by `tls`: 465, 587 or 25.
    #[serde(default, deserialize_with = "crate::config_de::opt_number")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Sender, e.g. `Tocsin <alerts@city.example>`.
    pub from: String,
    #[serde(default, deserialize_with = "crate::config_de::opt_number")]
    pub pool_size: Option<u32>,
    #[serde(default, deserialize_with = "crate::config_de::opt_number")]
    pub timeout_secs: Option<u64>,
}

/// Sends [`Content::Email`] to [`Address::Email`].
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    tls: TlsMode,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpChannel {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, ConfigError> {
        let invalid = |field, reason: String| ConfigError::InvalidField {
            provider: PROVIDER,
            field,
            reason,
        };
        let host = cfg.host.trim();
        if host.is_empty() {
            return Err(invalid("host", "must not be empty".to_owned()));
        }
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| invalid("from", format!("{:?} is not a mailbox: {e}", cfg.from)))?;
        let port = cfg.port.unwrap_or(match cfg.tls {
            TlsMode::Tls => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        });
        let client_error = |e: lettre::transport::smtp::Error| ConfigError::Client {
            provider: PROVIDER,
            reason: e.to_string(),
        };
        let builder = match cfg.tls {
            TlsMode::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(client_error)?
            }
            TlsMode::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(client_error)?
            }
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        };
        let pool_size = cfg.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if pool_size == 0 {
            return Err(invalid("pool_size", "must be at least 1".to_owned()));
        }
        let timeout = Duration::from_secs(cfg.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS));
        let mut builder = builder
            .port(port)
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(pool_size));
        match (&cfg.username, &cfg.password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "username",
                    "username and password must be set together".to_owned(),
                ));
            }
        }
        Ok(SmtpChannel {
            transport: builder.build(),
            from,
            host: host.to_owned(),
            port,
            tls: cfg.tls,
        })
    }
}

#[async_trait::async_trait]
impl Channel for SmtpChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(ChannelKind::Email)?;
        let (email, message_id) = build_email(msg, &self.from)?;
        self.transport
            .send(email)
            .await
            .map_err(|e| classify_error(&e))?;
        tracing::debug!(
            delivery_id = msg.delivery_id,
            to = %msg.address.masked(),
            "smtp: accepted by relay"
        );
        Ok(SendReceipt {
            provider_id: Some(message_id),
            delivered: false,
        })
    }
}

/// Builds the MIME message and returns it with its Message-ID. Pure, so the
/// headers are unit-tested.
pub(crate) fn build_email(
    msg: &OutboundMessage,
    from: &Mailbox,
) -> Result<(Message, String), SendError> {
    let Address::Email(to) = &msg.address else {
        return Err(msg.wrong_address(ChannelKind::Email));
    };
    let Content::Email { subject, body } = &msg.content else {
        return Err(msg.wrong_content(ChannelKind::Email));
    };
    let message_id = message_id(&msg.idempotency_key);
    let mut builder = Message::builder()
        .from(from.clone())
        .to(mailbox(to)?)
        .subject(subject.as_str())
        .message_id(Some(message_id.clone()))
        // Keeps vacation responders from answering a mass alert (RFC 3834).
        .raw_header(raw_header("Auto-Submitted", "auto-generated"));
    if let Some(url) = &msg.unsubscribe_url {
        // RFC 2369 link plus RFC 8058 one-click: mail clients show an
        // "unsubscribe" button that POSTs to the URL without opening it.
        builder = builder
            .raw_header(raw_header("List-Unsubscribe", &format!("<{url}>")))
            .raw_header(raw_header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click",
            ));
    }
    let email = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body.clone())
        .map_err(|e| SendError::permanent(format!("smtp: cannot build the message: {e}")))?;
    Ok((email, message_id))
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

fn mailbox(address: &EmailAddress) -> Result<Mailbox, SendError> {
    address
        .as_str()
        .parse::<lettre::Address>()
        .map(|a| Mailbox::new(None, a))
        .map_err(|e| SendError::invalid_address(format!("smtp: {e}")))
}

/// `<key@tocsin>`, derived from the idempotency key so a resend after a lost
/// reply carries the same id and receivers can drop the duplicate. Bytes
/// that are not allowed in a message id are hex-escaped.
fn message_id(idempotency_key: &str) -> String {
    let local: String = idempotency_key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            }
        })
        .collect();
    format!("<{local}@tocsin>")
}

fn classify_error(error: &lettre::transport::smtp::Error) -> SendError {
    let reason = format!("smtp: {error}");
    if error.is_permanent() {
        let server_text = error.source().map(|s| s.to_string()).unwrap_or_default();
        let code = error
            .status()
            .and_then(|c| c.to_string().parse::<u16>().ok())
            .unwrap_or(500);
        if is_mailbox_problem(code, &server_text) {
            return SendError::invalid_address(reason);
        }
        return SendError::permanent(reason);
    }
    if error.is_client() {
        return SendError::permanent(reason);
    }
    // 4xx replies, timeouts, refused connections, TLS hiccups, a dropped pool.
    SendError::retryable(reason, None)
}

/// A 5xx that blames the recipient's mailbox rather than us or our message.
/// The enhanced status code (RFC 3463) is decisive when present: 5.1.x is
/// about the address and 5.2.1 a disabled mailbox, while e.g. 5.7.1 is a
/// policy rejection that says nothing about the address.
fn is_mailbox_problem(code: u16, server_text: &str) -> bool {
    let enhanced = server_text.split_whitespace().find_map(|word| {
        let parts: Vec<&str> = word.trim_end_matches([',', ';', ':']).split('.').collect();
        let numeric = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        (numeric && parts[0] == "5").then(|| (parts[1].to_owned(), parts[2].to_owned()))
    });
    match enhanced {
        Some((subject, detail)) => subject == "1" || (subject == "2" && detail == "1"),
        None => matches!(code, 550 | 551 | 553),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> OutboundMessage {
        OutboundMessage {
            delivery_id: 5,
            notice_id: 9,
            idempotency_key: "delivery-5".into(),
            address: Address::Email(EmailAddress::parse("olena@Example.COM").unwrap()),
            content: Content::Email {
                subject: "Ремонт".into(),
                body: "Воду відключать завтра.".into(),
            },
            urgent: false,
            expires_at: None,
            collapse_id: None,
            status_callback: None,
            unsubscribe_url: None,
        }
    }

    #[test]
    fn email_carries_headers_and_envelope() {
        let from: Mailbox = "Tocsin <alerts@city.example>".parse().unwrap();
        let (email, id) = build_email(&message(), &from).unwrap();
        assert_eq!(id, "<delivery-5@tocsin>");
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(
            text.contains("From: Tocsin <alerts@city.example>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: olena@example.com\r\n"), "{text}");
        assert!(
            text.contains("Message-ID: <delivery-5@tocsin>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Auto-Submitted: auto-generated\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{text}"
        );
        assert_eq!(email.envelope().to()[0].to_string(), "olena@example.com");
    }

    #[test]
    fn unsubscribe_headers_only_with_a_link() {
        let from: Mailbox = "alerts@city.example".parse().unwrap();
        let (email, _) = build_email(&message(), &from).unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(!text.contains("List-Unsubscribe"), "{text}");
        let mut msg = message();
        msg.unsubscribe_url = Some("https://alerts.example/unsubscribe/5.abc_-D".into());
        let (email, _) = build_email(&msg, &from).unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(
            text.contains("List-Unsubscribe: <https://alerts.example/unsubscribe/5.abc_-D>\r\n"),
            "{text}"
        );
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{text}"
        );
    }

    #[test]
    fn message_ids_escape_odd_keys() {
        assert_eq!(message_id("a b@c"), "<a=20b=40c@tocsin>");
    }

    #[test]
    fn mailbox_problems_are_told_apart_from_policy() {
        assert!(is_mailbox_problem(550, "5.1.1 mailbox unavailable"));
        assert!(is_mailbox_problem(550, "<x@y>: Recipient address rejected"));
        assert!(is_mailbox_problem(552, "5.2.1 mailbox disabled"));
        assert!(!is_mailbox_problem(550, "5.7.1 message rejected as spam"));
        assert!(!is_mailbox_problem(554, "transaction failed"));
    }
}
