//! APNs against the testkit mock: HTTP/2, headers, provider-token reuse and
//! renewal, error mapping.

use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tocsin_channels::{ApnsChannel, ApnsConfig, Channel, ChannelKind, ConfigError, SendError};
use tocsin_testkit::ApnsMock;

use crate::common::{message, push};

fn token() -> String {
    "a1b2".repeat(16)
}

async fn setup() -> (ApnsMock, ApnsChannel, TempDir) {
    let mock = ApnsMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ApnsConfig {
        key_file: mock.write_key(dir.path()),
        key_id: ApnsMock::KEY_ID.into(),
        team_id: ApnsMock::TEAM_ID.into(),
        topic: ApnsMock::TOPIC.into(),
        base_url: Some(mock.base_url()),
    };
    (mock, ApnsChannel::new(&cfg).unwrap(), dir)
}

#[tokio::test]
async fn sends_over_http2_with_apples_headers() {
    let (mock, channel, _dir) = setup().await;
    let mut msg = message(ChannelKind::Apns, &token(), push());
    msg.urgent = false;
    msg.expires_at = chrono::DateTime::from_timestamp(4_000_000_000, 0);
    msg.collapse_id = Some("notice-10".into());

    let receipt = channel.send(&msg).await.unwrap();

    let request = &mock.requests()[0];
    assert_eq!(request.http_version, "HTTP/2.0");
    assert_eq!(request.device_token, token());
    assert_eq!(request.topic.as_deref(), Some(ApnsMock::TOPIC));
    assert_eq!(request.push_type.as_deref(), Some("alert"));
    assert_eq!(request.priority.as_deref(), Some("5"));
    assert_eq!(request.expiration.as_deref(), Some("4000000000"));
    assert_eq!(request.collapse_id.as_deref(), Some("notice-10"));
    assert_eq!(receipt.provider_id, request.apns_id);
    assert!(!receipt.delivered);
    assert_eq!(
        request.body,
        json!({
            "aps": {
                "alert": {"title": "Відключення води", "body": "Вул. Шевченка, 10:00–14:00"},
                "sound": "default",
            },
            "notice_id": "10",
        })
    );
}

#[tokio::test]
async fn retries_carry_the_same_apns_id() {
    let (mock, channel, _dir) = setup().await;
    let msg = message(ChannelKind::Apns, &token(), push());
    mock.fail_next(1, 503, Some(Duration::from_secs(2)));
    assert_eq!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Retryable {
            reason: "apns: HTTP 503 ServiceUnavailable".into(),
            retry_after: Some(Duration::from_secs(2)),
        }
    );
    let first = channel.send(&msg).await.unwrap();
    let second = channel.send(&msg).await.unwrap();
    assert_eq!(first.provider_id, second.provider_id);
    let request = &mock.requests()[0];
    assert_eq!(request.priority.as_deref(), Some("10"));
    assert_eq!(request.expiration, None);
}

#[tokio::test]
async fn provider_token_is_reused_and_renewed_when_expired() {
    let (mock, channel, _dir) = setup().await;
    let msg = message(ChannelKind::Apns, &token(), push());
    for _ in 0..3 {
        channel.send(&msg).await.unwrap();
    }
    assert_eq!(mock.provider_tokens_seen(), 1);
    mock.expire_provider_tokens();
    channel.send(&msg).await.unwrap();
    assert_eq!(mock.provider_tokens_seen(), 2);
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn errors_are_mapped() {
    let (mock, channel, _dir) = setup().await;
    let dead = message(ChannelKind::Apns, &"0".repeat(64), push());
    assert!(matches!(
        channel.send(&dead).await.unwrap_err(),
        SendError::InvalidAddress { .. }
    ));
    let msg = message(ChannelKind::Apns, &token(), push());
    mock.fail_next(1, 429, Some(Duration::from_secs(30)));
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(30)
    ));
    mock.fail_next(1, 500, None);
    assert!(channel.send(&msg).await.unwrap_err().is_retryable());
    mock.fail_next(1, 400, None);
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::InvalidAddress { .. }
    ));
}

#[tokio::test]
async fn wrong_topic_is_rejected_by_the_mock() {
    let mock = ApnsMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ApnsConfig {
        key_file: mock.write_key(dir.path()),
        key_id: ApnsMock::KEY_ID.into(),
        team_id: ApnsMock::TEAM_ID.into(),
        topic: "org.other.app".into(),
        base_url: Some(mock.base_url()),
    };
    let channel = ApnsChannel::new(&cfg).unwrap();
    let err = channel
        .send(&message(ChannelKind::Apns, &token(), push()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::InvalidAddress {
            reason: "apns: HTTP 400 DeviceTokenNotForTopic".into()
        }
    );
}

#[tokio::test]
async fn wrong_team_is_a_permanent_auth_failure() {
    let mock = ApnsMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ApnsConfig {
        key_file: mock.write_key(dir.path()),
        key_id: ApnsMock::KEY_ID.into(),
        team_id: "OTHERTEAM1".into(),
        topic: ApnsMock::TOPIC.into(),
        base_url: Some(mock.base_url()),
    };
    let channel = ApnsChannel::new(&cfg).unwrap();
    let err = channel
        .send(&message(ChannelKind::Apns, &token(), push()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            reason: "apns: HTTP 403 InvalidProviderToken".into()
        }
    );
}

#[tokio::test]
async fn bad_key_files_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("AuthKey.p8");
    std::fs::write(&path, "not a key").unwrap();
    let cfg = ApnsConfig {
        key_file: path,
        key_id: "ABC123DEFG".into(),
        team_id: "TEAM123456".into(),
        topic: "org.tocsin.app".into(),
        base_url: None,
    };
    let err = ApnsChannel::new(&cfg).unwrap_err();
    assert!(matches!(err, ConfigError::BadFile { .. }), "{err:?}");
    assert!(err.to_string().contains("AuthKey.p8"), "{err}");
}
