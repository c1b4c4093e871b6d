//! SMTP against the testkit sink: envelope, headers, UTF-8 body, error
//! mapping, authentication.

use std::time::Duration;

use tocsin_channels::{
    Channel, ChannelKind, Content, Secret, SendError, SmtpChannel, SmtpConfig, TlsMode,
};
use tocsin_testkit::SmtpSink;

use crate::common::{dead_url, message};

fn config(host: String, port: u16) -> SmtpConfig {
    SmtpConfig {
        host,
        port: Some(port),
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "Tocsin <alerts@city.example>".into(),
        pool_size: Some(2),
        timeout_secs: Some(5),
    }
}

fn email() -> Content {
    Content::Email {
        subject: "Відключення води 12.05".into(),
        body: "Шановні мешканці!\n\nВоду буде відключено з 10:00 до 14:00.\n.\nДякуємо.".into(),
    }
}

#[tokio::test]
async fn delivers_envelope_headers_and_utf8_body() {
    let sink = SmtpSink::start().await;
    let channel = SmtpChannel::new(&config(sink.host(), sink.port())).unwrap();
    let receipt = channel
        .send(&message(ChannelKind::Email, "Olena@Example.com", email()))
        .await
        .unwrap();
    assert_eq!(receipt.provider_id.as_deref(), Some("<delivery-1@tocsin>"));
    assert!(!receipt.delivered);

    let mail = &sink.mails()[0];
    assert_eq!(mail.from, "alerts@city.example");
    assert_eq!(mail.to, ["olena@example.com"]);
    assert_eq!(mail.header("Subject").unwrap(), "Відключення води 12.05");
    assert_eq!(mail.header("Message-ID").unwrap(), "<delivery-1@tocsin>");
    assert_eq!(mail.header("From").unwrap(), "Tocsin <alerts@city.example>");
    assert_eq!(mail.header("To").unwrap(), "olena@example.com");
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("text/plain; charset=utf-8")
    );
    let body = mail.body_text().replace("\r\n", "\n");
    assert_eq!(
        body.trim_end(),
        "Шановні мешканці!\n\nВоду буде відключено з 10:00 до 14:00.\n.\nДякуємо."
    );
}

#[tokio::test]
async fn pooled_connection_serves_several_messages() {
    let sink = SmtpSink::start().await;
    let channel = SmtpChannel::new(&config(sink.host(), sink.port())).unwrap();
    for n in 0..3 {
        let mut msg = message(ChannelKind::Email, "a@example.com", email());
        msg.idempotency_key = format!("delivery-{n}");
        channel.send(&msg).await.unwrap();
    }
    assert!(sink.wait_for(3, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn unknown_mailbox_is_an_invalid_address() {
    let sink = SmtpSink::start().await;
    let channel = SmtpChannel::new(&config(sink.host(), sink.port())).unwrap();
    let err = channel
        .send(&message(ChannelKind::Email, "gone@bounce.invalid", email()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::InvalidAddress { ref reason } if reason.contains("550")),
        "{err:?}"
    );
    assert!(sink.mails().is_empty());
}

#[tokio::test]
async fn transient_and_permanent_rejections() {
    let sink = SmtpSink::start().await;
    let channel = SmtpChannel::new(&config(sink.host(), sink.port())).unwrap();
    let msg = message(ChannelKind::Email, "a@example.com", email());
    sink.fail_next(1, 451);
    assert!(channel.send(&msg).await.unwrap_err().is_retryable());
    sink.fail_next(1, 554);
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Permanent { .. }
    ));
    channel.send(&msg).await.unwrap();
    assert_eq!(sink.mails().len(), 1);
}

#[tokio::test]
async fn authenticates_when_configured() {
    let sink = SmtpSink::start_with_auth("tocsin", "pa55word").await;
    let mut cfg = config(sink.host(), sink.port());
    cfg.username = Some("tocsin".into());
    cfg.password = Some(Secret::new("pa55word".into()));
    let channel = SmtpChannel::new(&cfg).unwrap();
    let msg = message(ChannelKind::Email, "a@example.com", email());
    channel.send(&msg).await.unwrap();
    assert!(!format!("{channel:?} {cfg:?}").contains("pa55word"));

    cfg.password = Some(Secret::new("wrong".into()));
    let channel = SmtpChannel::new(&cfg).unwrap();
    let err = channel.send(&msg).await.unwrap_err();
    assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_relay_is_retryable() {
    let url = dead_url().await;
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let channel = SmtpChannel::new(&config("127.0.0.1".into(), port)).unwrap();
    let err = channel
        .send(&message(ChannelKind::Email, "a@example.com", email()))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[test]
fn config_is_checked() {
    let mut cfg = config("smtp.example".into(), 25);
    cfg.from = "not a mailbox".into();
    let err = SmtpChannel::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("invalid from"), "{err}");
    let mut cfg = config("smtp.example".into(), 25);
    cfg.username = Some("u".into());
    assert!(SmtpChannel::new(&cfg).is_err());
    let parsed: SmtpConfig =
        serde_json::from_str(r#"{"host":"smtp.example","from":"a@b.example"}"#).unwrap();
    assert_eq!(parsed.tls, TlsMode::Starttls);
    assert!(serde_json::from_str::<SmtpConfig>(r#"{"host":"h","from":"a@b","extra":1}"#).is_err());
}
