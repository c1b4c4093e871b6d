//! The machine's limit: a bare reqwest client sending the same kind of
//! request to the same mock provider as fast as it answers, with as many
//! requests in flight as Tocsin allows itself per channel. No database,
//! no queue, no rendering: what is left is HTTP and the mock.

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use tocsin_testkit::{ApnsMock, FcmMock};

/// Sends `count` FCM messages over HTTP/1.1 keep-alive; messages/s.
pub async fn fcm(mock: &FcmMock, count: usize, in_flight: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().http1_only().build()?;
    let url = format!(
        "{}/v1/projects/{}/messages:send",
        mock.base_url(),
        FcmMock::PROJECT_ID
    );
    let token = mock.issue_token();
    let send = |i: usize| {
        let body = json!({ "message": {
            "token": format!("bare-{i}"),
            "notification": { "title": "Вода", "body": "Планові роботи: без води до 14:00" },
            "android": { "priority": "NORMAL" },
            "apns": { "headers": { "apns-priority": "5" } },
            "data": { "notice_id": "0" },
        }});
        client.post(&url).bearer_auth(&token).json(&body).send()
    };
    run(count, in_flight, send).await
}

/// Sends `count` APNs notifications over one HTTP/2 connection (h2c);
/// messages/s.
pub async fn apns(mock: &ApnsMock, count: usize, in_flight: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let base = mock.base_url();
    let token = ApnsMock::provider_token();
    let send = |i: usize| {
        let body = json!({
            "aps": { "alert": { "title": "Вода", "body": "Планові роботи: без води до 14:00" } },
            "notice_id": "0",
        });
        client
            .post(format!("{base}/3/device/b{i:063x}"))
            .bearer_auth(&token)
            .header("apns-topic", ApnsMock::TOPIC)
            .header("apns-push-type", "alert")
            .header("apns-priority", "5")
            .json(&body)
            .send()
    };
    run(count, in_flight, send).await
}

async fn run<F, Fut>(count: usize, in_flight: usize, send: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let start = Instant::now();
    let mut results = futures::stream::iter(0..count)
        .map(|i| {
            let request = send(i);
            async move {
                let response = request.await?;
                let status = response.status();
                // Read the body, as a client that checks the answer must.
                response.bytes().await?;
                Ok::<_, reqwest::Error>(status)
            }
        })
        .buffer_unordered(in_flight.max(1));
    while let Some(result) = results.next().await {
        let status = result?;
        anyhow::ensure!(status.is_success(), "the mock answered {status}");
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}
