//! FCM HTTP v1 against the testkit mock: payload, OAuth flow, token
//! caching and refresh, error mapping.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tempfile::TempDir;
use tocsin_channels::{Channel, ChannelKind, ConfigError, FcmChannel, FcmConfig, SendError};
use tocsin_testkit::FcmMock;

use crate::common::{dead_url, message, push};

const TOKEN: &str = "fcm-token:APA91b_test-1";

async fn setup() -> (FcmMock, FcmChannel, TempDir) {
    let mock = FcmMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = FcmConfig {
        service_account_file: mock.write_service_account(dir.path()),
        base_url: Some(mock.base_url()),
        token_url: None,
        project_id: None,
    };
    (mock, FcmChannel::new(&cfg).unwrap(), dir)
}

#[tokio::test]
async fn sends_the_v1_message_with_a_verified_oauth_token() {
    let (mock, channel, _dir) = setup().await;
    let mut msg = message(ChannelKind::Fcm, TOKEN, push());
    msg.expires_at = Some(chrono::Utc::now() + chrono::Duration::seconds(3600));
    msg.collapse_id = Some("notice-10".into());

    let receipt = channel.send(&msg).await.unwrap();

    assert_eq!(
        receipt.provider_id.as_deref(),
        Some("projects/tocsin-test/messages/1")
    );
    assert!(!receipt.delivered);
    assert_eq!(mock.token_requests(), 1);
    let sent = &mock.messages()[0]["message"];
    assert_eq!(sent["token"], TOKEN);
    assert_eq!(
        sent["notification"],
        json!({"title": "Відключення води", "body": "Вул. Шевченка, 10:00–14:00"})
    );
    assert_eq!(sent["data"], json!({"notice_id": "10"}));
    assert_eq!(sent["android"]["priority"], "HIGH");
    assert_eq!(sent["android"]["collapse_key"], "notice-10");
    let ttl = sent["android"]["ttl"].as_str().unwrap();
    assert!(matches!(ttl, "3599s" | "3600s"), "{ttl}");
    assert_eq!(sent["apns"]["headers"]["apns-priority"], "10");
}

#[tokio::test]
async fn access_token_is_cached_across_sends() {
    let (mock, channel, _dir) = setup().await;
    let msg = message(ChannelKind::Fcm, TOKEN, push());
    for _ in 0..3 {
        channel.send(&msg).await.unwrap();
    }
    assert_eq!(mock.token_requests(), 1);
    assert_eq!(mock.messages().len(), 3);
}

#[tokio::test]
async fn access_token_is_renewed_before_it_expires() {
    let (mock, channel, _dir) = setup().await;
    // 301 s minus the five-minute safety margin leaves one second of use.
    mock.set_token_lifetime(301);
    let msg = message(ChannelKind::Fcm, TOKEN, push());
    channel.send(&msg).await.unwrap();
    channel.send(&msg).await.unwrap();
    assert_eq!(mock.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    channel.send(&msg).await.unwrap();
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn revoked_token_is_refreshed_once_on_401() {
    let (mock, channel, _dir) = setup().await;
    let msg = message(ChannelKind::Fcm, TOKEN, push());
    channel.send(&msg).await.unwrap();
    mock.revoke_tokens();
    channel.send(&msg).await.unwrap();
    assert_eq!(mock.token_requests(), 2);
    assert_eq!(mock.messages().len(), 2);
}

#[tokio::test]
async fn persistent_401_is_permanent_after_one_refresh() {
    let (mock, channel, _dir) = setup().await;
    mock.fail_next(2, 401, None);
    let err = channel
        .send(&message(ChannelKind::Fcm, TOKEN, push()))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Permanent { .. }), "{err:?}");
    assert_eq!(mock.token_requests(), 2);
}

#[tokio::test]
async fn concurrent_senders_share_one_token_request() {
    let (mock, channel, _dir) = setup().await;
    let channel = Arc::new(channel);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let channel = channel.clone();
        tasks.spawn(async move {
            channel
                .send(&message(ChannelKind::Fcm, TOKEN, push()))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(mock.token_requests(), 1);
    assert!(mock.wait_for(16, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn dead_tokens_are_invalid_addresses() {
    let (_mock, channel, _dir) = setup().await;
    for token in ["unregistered-abc", "invalid-abc"] {
        let err = channel
            .send(&message(ChannelKind::Fcm, token, push()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::InvalidAddress { .. }),
            "{token}: {err:?}"
        );
    }
}

#[tokio::test]
async fn overload_is_retryable_with_the_providers_hint() {
    let (mock, channel, _dir) = setup().await;
    let msg = message(ChannelKind::Fcm, TOKEN, push());
    mock.fail_next(1, 429, Some(Duration::from_secs(7)));
    assert_eq!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Retryable {
            reason: "fcm: HTTP 429 QUOTA_EXCEEDED: planned failure".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    mock.fail_next(1, 500, None);
    assert!(matches!(
        channel.send(&msg).await.unwrap_err(),
        SendError::Retryable {
            retry_after: None,
            ..
        }
    ));
    channel.send(&msg).await.unwrap();
}

#[tokio::test]
async fn unreachable_server_is_retryable() {
    let mock = FcmMock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = FcmConfig {
        service_account_file: mock.write_service_account(dir.path()),
        base_url: Some(dead_url().await),
        token_url: Some(dead_url().await),
        project_id: None,
    };
    let channel = FcmChannel::new(&cfg).unwrap();
    let err = channel
        .send(&message(ChannelKind::Fcm, TOKEN, push()))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn config_errors_name_the_file_but_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let cfg = |path| FcmConfig {
        service_account_file: path,
        base_url: None,
        token_url: None,
        project_id: None,
    };
    let err = FcmChannel::new(&cfg(missing.clone())).unwrap_err();
    assert!(matches!(err, ConfigError::ReadFile { .. }));
    assert!(err.to_string().contains("nope.json"), "{err}");

    let broken = dir.path().join("broken.json");
    let secret = "-----BEGIN PRIVATE KEY-----\\nTOPSECRETMATERIAL\\n-----END PRIVATE KEY-----\\n";
    std::fs::write(
        &broken,
        format!(
            r#"{{"type":"service_account","project_id":"p","private_key":"{secret}","client_email":"a@b","token_uri":"https://oauth2.googleapis.com/token"}}"#
        ),
    )
    .unwrap();
    let err = FcmChannel::new(&cfg(broken)).unwrap_err().to_string();
    assert!(err.contains("private_key"), "{err}");
    assert!(!err.contains("TOPSECRET"), "{err}");

    let no_email = dir.path().join("no-email.json");
    std::fs::write(&no_email, r#"{"type":"service_account","private_key":"x"}"#).unwrap();
    let err = FcmChannel::new(&cfg(no_email)).unwrap_err().to_string();
    assert!(
        err.contains("private_key") || err.contains("client_email"),
        "{err}"
    );
}

#[tokio::test]
async fn debug_output_holds_no_credentials() {
    let (_mock, channel, _dir) = setup().await;
    channel
        .send(&message(ChannelKind::Fcm, TOKEN, push()))
        .await
        .unwrap();
    let debug = format!("{channel:?}");
    assert!(!debug.contains("mock-token"), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}
