//! Twilio SMS and voice against the testkit mock: form fields, Basic auth,
//! idempotency, error mapping, and signed callbacks coming back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tocsin_channels::{
    Channel, ChannelKind, Content, ReportedStatus, Secret, SendError, TwilioSms, TwilioSmsConfig,
    TwilioVoice, TwilioVoiceConfig, call_status, message_status, signature, verify_signature,
};
use tocsin_testkit::{TwilioMock, twilio_signature};

use crate::common::message;

const TO: &str = "+380501234567";

fn sms_channel(mock: &TwilioMock, token: &str) -> TwilioSms {
    TwilioSms::new(&TwilioSmsConfig {
        base_url: Some(mock.base_url()),
        account_sid: TwilioMock::ACCOUNT_SID.into(),
        auth_token: Secret::new(token.into()),
        from: "LvivVoda".into(),
    })
    .unwrap()
}

fn voice_channel(mock: &TwilioMock) -> TwilioVoice {
    TwilioVoice::new(&TwilioVoiceConfig {
        base_url: Some(mock.base_url()),
        account_sid: TwilioMock::ACCOUNT_SID.into(),
        auth_token: Secret::new(TwilioMock::AUTH_TOKEN.into()),
        from: "+15005550006".into(),
        ring_timeout_secs: None,
    })
    .unwrap()
}

fn sms(body: &str) -> Content {
    Content::Sms { body: body.into() }
}

/// A received webhook: path with query, and its form fields.
type Hook = (String, Vec<(String, String)>);

/// A webhook receiver that checks signatures with tocsin-channels' verifier.
#[derive(Clone, Default)]
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Hook>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            base: format!("http://{}", listener.local_addr().unwrap()),
            seen: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn seen(&self) -> Vec<Hook> {
        self.seen.lock().unwrap().clone()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let url = format!("{}{}", receiver.base, uri);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let header = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !verify_signature(TwilioMock::AUTH_TOKEN, &url, &params, header) {
        return StatusCode::FORBIDDEN;
    }
    receiver
        .seen
        .lock()
        .unwrap()
        .push((uri.to_string(), params));
    StatusCode::NO_CONTENT
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn signature_agrees_with_the_testkit() {
    let params: Vec<(String, String)> = [
        ("MessageStatus", "delivered"),
        ("To", "+380501234567"),
        ("Digits", "1"),
        ("Digits", "2"),
        ("Body", "Відключення & <води>"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = "https://tocsin.example/hooks/twilio?x=1";
    assert_eq!(
        signature("token", url, &params),
        twilio_signature("token", url, &params)
    );
}

#[tokio::test]
async fn sms_form_auth_and_idempotency_headers() {
    let mock = TwilioMock::start().await;
    let channel = sms_channel(&mock, TwilioMock::AUTH_TOKEN);
    let mut msg = message(
        ChannelKind::Sms,
        "+380 50 123 45 67",
        sms("Відключення води"),
    );
    msg.status_callback = Some("https://tocsin.example/hooks/twilio/sms?d=1".into());

    let receipt = channel.send(&msg).await.unwrap();

    let created = &mock.messages()[0];
    assert_eq!(receipt.provider_id.as_deref(), Some(created.sid.as_str()));
    assert!(created.sid.starts_with("SM") && created.sid.len() == 34);
    assert_eq!(created.param("To"), Some(TO));
    assert_eq!(created.param("From"), Some("LvivVoda"));
    assert_eq!(created.param("Body"), Some("Відключення води"));
    assert_eq!(
        created.param("StatusCallback"),
        Some("https://tocsin.example/hooks/twilio/sms?d=1")
    );
    assert_eq!(created.idempotency_token.as_deref(), Some("delivery-1"));
    assert_eq!(created.idempotency_key.as_deref(), Some("delivery-1"));
}

#[tokio::test]
async fn a_resend_with_the_same_key_is_a_second_message() {
    let mock = TwilioMock::start().await;
    let channel = sms_channel(&mock, TwilioMock::AUTH_TOKEN);
    let msg = message(ChannelKind::Sms, TO, sms("hello"));
    let first = channel.send(&msg).await.unwrap();
    let second = channel.send(&msg).await.unwrap();
    // The gateway does not deduplicate: the resident gets two SMS.
    assert_ne!(first.provider_id, second.provider_id);
    assert_eq!(mock.messages().len(), 2);
    let tally = mock.tally();
    assert_eq!((tally.count(TO), tally.duplicates()), (2, 1));
    assert_eq!(tally.duplicated(), vec![(TO.to_owned(), 2)]);
    assert_eq!(mock.repeated_keys(), 1);
}

#[tokio::test]
async fn sms_errors_are_mapped() {
    let mock = TwilioMock::start().await;
    let channel = sms_channel(&mock, TwilioMock::AUTH_TOKEN);
    let invalid = message(ChannelKind::Sms, "+15005550001", sms("x"));
    assert!(matches!(
        channel.send(&invalid).await.unwrap_err(),
        SendError::InvalidAddress { reason } if reason.contains("21211")
    ));

    let mut msg = message(ChannelKind::Sms, TO, sms("x"));
    mock.fail_next(1, 429, Some(Duration::from_secs(11)));
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(11)
    ));
    msg.idempotency_key = "delivery-2".into();
    mock.fail_next(1, 500, None);
    assert!(channel.send(&msg).await.unwrap_err().is_retryable());
    channel.send(&msg).await.unwrap();
    assert_eq!(mock.messages().len(), 1);
}

#[tokio::test]
async fn wrong_credentials_are_permanent_and_never_echoed() {
    let mock = TwilioMock::start().await;
    let channel = sms_channel(&mock, "wrong-token-s3cr3t");
    let err = channel
        .send(&message(ChannelKind::Sms, TO, sms("x")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            reason: "twilio: gateway rejected credentials (HTTP 401)".into()
        }
    );
    assert!(!format!("{channel:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn status_callbacks_arrive_signed_and_parse() {
    let mock = TwilioMock::start().await;
    let receiver = Receiver::start().await;
    let channel = sms_channel(&mock, TwilioMock::AUTH_TOKEN);
    let mut msg = message(ChannelKind::Sms, TO, sms("x"));
    msg.status_callback = Some(format!("{}/hooks/twilio/sms?delivery=1", receiver.base));
    let sid = channel.send(&msg).await.unwrap().provider_id.unwrap();

    assert_eq!(mock.send_status_callback(&sid, "delivered").await, 204);
    assert_eq!(
        mock.send_status_callback_with_error(&sid, "undelivered", Some("30005"))
            .await,
        204
    );

    let seen = receiver.seen();
    assert_eq!(seen[0].0, "/hooks/twilio/sms?delivery=1");
    let first = &seen[0].1;
    assert_eq!(param(first, "MessageSid"), Some(sid.as_str()));
    assert_eq!(param(first, "AccountSid"), Some(TwilioMock::ACCOUNT_SID));
    assert_eq!(
        message_status(
            param(first, "MessageStatus").unwrap(),
            param(first, "ErrorCode")
        ),
        Some(ReportedStatus::Delivered)
    );
    let second = &seen[1].1;
    assert!(matches!(
        message_status(
            param(second, "MessageStatus").unwrap(),
            param(second, "ErrorCode")
        ),
        Some(ReportedStatus::Failed {
            invalid_address: true,
            ..
        })
    ));
}

#[tokio::test]
async fn voice_call_form_twiml_and_keypress() {
    let mock = TwilioMock::start().await;
    let receiver = Receiver::start().await;
    let channel = voice_channel(&mock);
    let gather = format!("{}/hooks/twilio/gather?delivery=1&n=2", receiver.base);
    let mut msg = message(
        ChannelKind::Voice,
        TO,
        Content::Voice {
            language: "uk-UA".into(),
            speech: "Увага! <Тривога> & відключення.".into(),
            prompt: "Натисніть 1, щоб підтвердити.".into(),
            gather_url: Some(gather.clone()),
        },
    );
    msg.status_callback = Some(format!("{}/hooks/twilio/voice", receiver.base));

    let receipt = channel.send(&msg).await.unwrap();

    let call = &mock.calls()[0];
    assert_eq!(receipt.provider_id.as_deref(), Some(call.sid.as_str()));
    assert!(call.sid.starts_with("CA"));
    assert_eq!(call.param("To"), Some(TO));
    assert_eq!(call.param("From"), Some("+15005550006"));
    assert_eq!(call.param("Timeout"), Some("30"));
    assert_eq!(
        call.params_named("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    let twiml = call.param("Twiml").unwrap();
    assert!(twiml.contains("<Gather numDigits=\"1\""), "{twiml}");
    assert!(
        twiml.contains("&lt;Тривога&gt; &amp; відключення"),
        "{twiml}"
    );
    assert_eq!(call.idempotency_token.as_deref(), Some("delivery-1"));

    assert_eq!(mock.press_digits(&call.sid, "1").await, 204);
    assert_eq!(mock.send_status_callback(&call.sid, "completed").await, 204);
    let seen = receiver.seen();
    assert_eq!(seen[0].0, "/hooks/twilio/gather?delivery=1&n=2");
    assert_eq!(param(&seen[0].1, "Digits"), Some("1"));
    assert_eq!(
        call_status(param(&seen[1].1, "CallStatus").unwrap()),
        Some(ReportedStatus::Delivered)
    );
}

#[tokio::test]
async fn voice_to_an_invalid_number_is_an_invalid_address() {
    let mock = TwilioMock::start().await;
    let channel = voice_channel(&mock);
    let msg = message(
        ChannelKind::Voice,
        "+15005550001",
        Content::Voice {
            language: "en-US".into(),
            speech: "Test".into(),
            prompt: "Press 1".into(),
            gather_url: None,
        },
    );
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::InvalidAddress { .. }
    ));
}

#[tokio::test]
async fn content_for_another_channel_is_permanent() {
    let mock = TwilioMock::start().await;
    let channel = voice_channel(&mock);
    let msg = message(ChannelKind::Voice, TO, sms("x"));
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Permanent { .. }
    ));
    assert_eq!(mock.request_count(), 0);
}
