//! The mocks reject what the real providers reject; the happy paths are
//! exercised by tocsin-channels' tests against these same mocks.

use std::time::Duration;

use serde_json::Value;
use tocsin_testkit::{ApnsMock, FcmMock, SmtpSink, TwilioMock};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn twilio_requires_basic_auth_and_fields() {
    let mock = TwilioMock::start().await;
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        mock.base_url(),
        TwilioMock::ACCOUNT_SID
    );
    let client = reqwest::Client::new();
    let form = [("To", "+380501234567"), ("From", "CITY"), ("Body", "hi")];

    let (status, body) = json(client.post(&url).form(&form).send().await.unwrap()).await;
    assert_eq!((status, &body["code"]), (401, &Value::from(20003)));

    let authed = || {
        client
            .post(&url)
            .basic_auth(TwilioMock::ACCOUNT_SID, Some(TwilioMock::AUTH_TOKEN))
    };
    let (status, body) = json(authed().form(&form[..2]).send().await.unwrap()).await;
    assert_eq!((status, &body["code"]), (400, &Value::from(21602)));

    let (status, body) = json(authed().form(&form).send().await.unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(body["status"], "queued");
    assert_eq!(mock.messages()[0].sid, body["sid"].as_str().unwrap());
    assert!(mock.wait_for(1, Duration::from_secs(1)).await);
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn twilio_calls_need_twiml_or_url() {
    let mock = TwilioMock::start().await;
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Calls.json",
        mock.base_url(),
        TwilioMock::ACCOUNT_SID
    );
    let response = reqwest::Client::new()
        .post(&url)
        .basic_auth(TwilioMock::ACCOUNT_SID, Some(TwilioMock::AUTH_TOKEN))
        .form(&[("To", "+380501234567"), ("From", "+15005550006")])
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!((status, &body["code"]), (400, &Value::from(21205)));
    assert!(mock.calls().is_empty());
}

/// Posts an SMS form with an `I-Twilio-Idempotency-Token`; returns the sid.
async fn send_sms(mock: &TwilioMock, key: &str, body: &str) -> String {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        mock.base_url(),
        TwilioMock::ACCOUNT_SID
    );
    let response = reqwest::Client::new()
        .post(&url)
        .basic_auth(TwilioMock::ACCOUNT_SID, Some(TwilioMock::AUTH_TOKEN))
        .header("I-Twilio-Idempotency-Token", key)
        .form(&[("To", "+380501234567"), ("From", "CITY"), ("Body", body)])
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 201, "{body}");
    body["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn twilio_creates_a_message_for_every_request_with_the_same_key() {
    let mock = TwilioMock::start().await;
    let first = send_sms(&mock, "delivery-1", "water off").await;
    let second = send_sms(&mock, "delivery-1", "water off").await;
    assert_ne!(first, second);
    let sids: Vec<String> = mock.messages().into_iter().map(|m| m.sid).collect();
    assert_eq!(sids, [first, second]);
    assert_eq!(mock.accepted(), 2);
    assert_eq!(mock.repeated_keys(), 1);

    // Another notice to the same number is a message, not a duplicate.
    send_sms(&mock, "delivery-2", "water back").await;
    let tally = mock.tally();
    assert_eq!((tally.messages(), tally.recipients()), (3, 1));
    assert_eq!(tally.duplicates(), 1);
    assert_eq!(tally.duplicated(), [("+380501234567".to_owned(), 2)]);
    assert_eq!(
        tally.missing(["+380501234567", "+380670000000"]),
        ["+380670000000"]
    );
    assert_eq!(mock.repeated_keys(), 1);
    assert_eq!(mock.call_tally().messages(), 0);
}

#[tokio::test]
async fn fcm_tally_ignores_the_ttl_a_resend_changes() {
    let mock = FcmMock::start().await;
    let bearer = mock.issue_token();
    let url = format!(
        "{}/v1/projects/{}/messages:send",
        mock.base_url(),
        FcmMock::PROJECT_ID
    );
    let message = |token: &str, body: &str, ttl: &str| {
        serde_json::json!({"message": {
            "token": token,
            "notification": {"title": "Water", "body": body},
            "android": {"ttl": ttl},
        }})
    };
    let sends = [
        message("tok-a", "off", "600s"),
        message("tok-a", "off", "590s"),
        message("tok-a", "back", "600s"),
        message("tok-b", "off", "600s"),
    ];
    for payload in &sends {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&bearer)
            .header("content-type", "application/json")
            .body(payload.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let tally = mock.tally();
    assert_eq!((tally.messages(), tally.recipients()), (4, 2));
    assert_eq!((tally.count("tok-a"), tally.duplicates()), (3, 1));
}

#[tokio::test]
async fn fcm_rejects_unsigned_assertions_and_unknown_bearers() {
    let mock = FcmMock::start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(mock.token_url())
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "e30.e30.c2ln"),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(mock.token_requests(), 0);

    let response = client
        .post(format!(
            "{}/v1/projects/{}/messages:send",
            mock.base_url(),
            FcmMock::PROJECT_ID
        ))
        .bearer_auth("made-up")
        .header("content-type", "application/json")
        .body(r#"{"message":{"token":"t"}}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    assert!(mock.messages().is_empty());
}

#[tokio::test]
async fn apns_refuses_http1() {
    let mock = ApnsMock::start().await;
    let response = reqwest::Client::new()
        .post(format!("{}/3/device/{}", mock.base_url(), "ab".repeat(32)))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 505);
    assert!(mock.requests().is_empty());
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn smtp_sink_unstuffs_dots_and_bounces() {
    let sink = SmtpSink::start().await;
    let stream = tokio::net::TcpStream::connect((sink.host(), sink.port()))
        .await
        .unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut expect = async |command: &str, code: &str| {
        if !command.is_empty() {
            write
                .write_all(format!("{command}\r\n").as_bytes())
                .await
                .unwrap();
        }
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            assert!(line.starts_with(code), "{command:?} got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    };
    expect("", "220").await;
    expect("EHLO test", "250").await;
    expect("NOOP", "250").await;
    expect("MAIL FROM:<a@example.com>", "250").await;
    expect("RCPT TO:<x@bounce.invalid>", "550").await;
    expect("RCPT TO:<b@example.com>", "250").await;
    expect("DATA", "354").await;
    expect("Subject: hi\r\n\r\n..leading dot\r\n.", "250").await;
    // The same mail again with a Date: the resident reads it twice.
    expect("MAIL FROM:<a@example.com>", "250").await;
    expect("RCPT TO:<b@example.com>", "250").await;
    expect("DATA", "354").await;
    expect("Date: now\r\nSubject: hi\r\n\r\n..leading dot\r\n.", "250").await;
    expect("RSET", "250").await;
    expect("QUIT", "221").await;

    let mail = &sink.mails()[0];
    assert_eq!(mail.from, "a@example.com");
    assert_eq!(mail.to, ["b@example.com"]);
    assert_eq!(mail.header("subject").as_deref(), Some("hi"));
    assert_eq!(mail.body_text(), ".leading dot\r\n");
    let tally = sink.tally();
    assert_eq!((tally.messages(), tally.duplicates()), (2, 1));
    assert_eq!(
        tally.missing(["b@example.com", "x@bounce.invalid"]),
        ["x@bounce.invalid"]
    );
}
