//! The machine's limit: a bare reqwest client sending the same kind of
//! request to the same mock provider as fast as it answers, with as many
//! requests in flight as Tocsin allows itself per channel. No database,
//! no queue, no rendering: what is left is HTTP and the mock. Each request
//! is built the way Tocsin's channels build theirs (URL parsed once, body
//! serialised from a struct, the APNs token as a plain header), so the
//! ratio measures what Tocsin adds, not a difference in building requests.

use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tocsin_testkit::{ApnsMock, FcmMock};

const TITLE: &str = "Вода";
const BODY: &str = "Планові роботи: без води до 14:00";

#[derive(Serialize)]
struct FcmRequest<'a> {
    message: FcmMessage<'a>,
}

#[derive(Serialize)]
struct FcmMessage<'a> {
    token: &'a str,
    notification: Alert,
    android: Android,
    apns: FcmApns,
    data: NoticeData,
}

#[derive(Serialize)]
struct Alert {
    title: &'static str,
    body: &'static str,
}

#[derive(Serialize)]
struct Android {
    priority: &'static str,
}

#[derive(Serialize)]
struct FcmApns {
    headers: FcmApnsHeaders,
}

#[derive(Serialize)]
struct FcmApnsHeaders {
    #[serde(rename = "apns-priority")]
    priority: &'static str,
}

#[derive(Serialize)]
struct NoticeData {
    notice_id: &'static str,
}

#[derive(Serialize)]
struct ApnsPayload {
    aps: Aps,
    notice_id: &'static str,
}

#[derive(Serialize)]
struct Aps {
    alert: Alert,
}

/// Sends `count` FCM messages over HTTP/1.1 keep-alive; messages/s.
pub async fn fcm(mock: &FcmMock, count: usize, in_flight: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().http1_only().build()?;
    let url = reqwest::Url::parse(&format!(
        "{}/v1/projects/{}/messages:send",
        mock.base_url(),
        FcmMock::PROJECT_ID
    ))?;
    let token = mock.issue_token();
    let send = |i: usize| {
        let device = format!("bare-{i}");
        let body = FcmRequest {
            message: FcmMessage {
                token: &device,
                notification: Alert {
                    title: TITLE,
                    body: BODY,
                },
                android: Android { priority: "NORMAL" },
                apns: FcmApns {
                    headers: FcmApnsHeaders { priority: "5" },
                },
                data: NoticeData { notice_id: "0" },
            },
        };
        client
            .post(url.clone())
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    run(count, in_flight, send).await
}

/// Sends `count` APNs notifications over one HTTP/2 connection (h2c);
/// messages/s.
pub async fn apns(mock: &ApnsMock, count: usize, in_flight: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let device_url = reqwest::Url::parse(&format!("{}/3/device", mock.base_url()))?;
    let authorization = format!("bearer {}", ApnsMock::provider_token());
    let send = |i: usize| {
        let mut url = device_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(&format!("b{i:063x}"));
        }
        let body = ApnsPayload {
            aps: Aps {
                alert: Alert {
                    title: TITLE,
                    body: BODY,
                },
            },
            notice_id: "0",
        };
        client
            .post(url)
            .header("authorization", &authorization)
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
