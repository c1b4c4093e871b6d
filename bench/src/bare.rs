//! The machine's limit: a bare reqwest client sending the same requests
//! to the same mock provider as fast as it answers, with as many requests
//! in flight as Tocsin allows itself per channel. No database, no queue,
//! no rendering: what is left is HTTP and the mock.
//!
//! [`Shape::Tocsin`] sends what Tocsin sends for the benchmark's notice:
//! the same headers (`apns-id`, `apns-expiration`, `apns-collapse-id`, the
//! user agent), the same JSON keys with a personal acknowledgement link,
//! and the texts Tocsin renders in the city's three languages. Each
//! request is built the way Tocsin's channels build theirs (URL parsed
//! once, body serialised from a struct, the APNs token as a plain
//! header). So the ratio measures what Tocsin adds, not a difference in
//! what is sent: the extra headers and keys alone cost the client and the
//! mock about a tenth of the rate. [`Shape::Minimal`] is the smaller
//! request the benchmark used before, kept as a second reference.

use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tocsin_testkit::{ApnsMock, FcmMock};

/// What a bare-client run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The request Tocsin sends for the benchmark's notice.
    Tocsin,
    /// Title, body and one data key; no optional headers.
    Minimal,
}

/// What one bare-client run measured.
#[derive(Debug, Clone, Copy)]
pub struct BareRun {
    pub per_s: f64,
    /// Mean size of the JSON bodies sent.
    pub body_bytes: f64,
}

/// Tocsin's user agent, so the header costs the same.
const USER_AGENT: &str = concat!("tocsin/", env!("CARGO_PKG_VERSION"));
const MINIMAL_TEXT: (&str, &str) = ("Вода", "Планові роботи: без води до 14:00");
/// Title and body Tocsin renders for the benchmark's notice (`city_notice`)
/// in uk, pl and en, which the city's residents take in turn.
const TEXTS: [(&str, &str); 3] = [
    (
        "Планові роботи: водопостачання",
        "Fan-out. Причина: benchmark. З 25.11.2026 03:22 до 25.11.2026 11:22.",
    ),
    (
        "Prace planowe: woda",
        "Fan-out. Przyczyna: benchmark. Od 25.11.2026 03:22 do 25.11.2026 11:22.",
    ),
    (
        "Planned works: water supply",
        "Fan-out. Cause: benchmark. From 2026-11-25 03:22 to 2026-11-25 11:22.",
    ),
];
/// The notice's collapse id and its time to live (eight hours).
const COLLAPSE: &str = "notice-1";
const TTL_S: i64 = 8 * 3600 - 1;

/// The data keys Tocsin sends with a notice; `None` for the minimal shape.
#[derive(Serialize)]
struct Data<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    notice_id: &'static str,
}

#[derive(Serialize)]
struct Alert {
    title: &'static str,
    body: &'static str,
}

#[derive(Serialize)]
struct FcmRequest<'a> {
    message: FcmMessage<'a>,
}

#[derive(Serialize)]
struct FcmMessage<'a> {
    token: &'a str,
    notification: Alert,
    data: Data<'a>,
    android: Android<'a>,
    apns: FcmApns<'a>,
}

#[derive(Serialize)]
struct Android<'a> {
    priority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapse_key: Option<&'static str>,
}

#[derive(Serialize)]
struct FcmApns<'a> {
    headers: FcmApnsHeaders<'a>,
}

#[derive(Serialize)]
struct FcmApnsHeaders<'a> {
    #[serde(rename = "apns-priority")]
    priority: &'static str,
    #[serde(rename = "apns-expiration", skip_serializing_if = "Option::is_none")]
    expiration: Option<&'a str>,
    #[serde(rename = "apns-collapse-id", skip_serializing_if = "Option::is_none")]
    collapse_id: Option<&'static str>,
}

#[derive(Serialize)]
struct ApnsPayload<'a> {
    aps: Aps,
    #[serde(flatten)]
    data: Data<'a>,
}

#[derive(Serialize)]
struct Aps {
    alert: Alert,
    #[serde(skip_serializing_if = "Option::is_none")]
    sound: Option<&'static str>,
}

/// The per-request parts of the Tocsin shape: texts in the resident's
/// language and a personal acknowledgement link as long as Tocsin's.
fn texts(shape: Shape, i: usize) -> (Alert, Option<String>) {
    let (title, body) = match shape {
        Shape::Tocsin => TEXTS[i % TEXTS.len()],
        Shape::Minimal => MINIMAL_TEXT,
    };
    let ack_url = (shape == Shape::Tocsin).then(|| {
        let token = format!("{:022x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        format!("http://127.0.0.1:40000/ack/{i}.{}", &token[..22])
    });
    (Alert { title, body }, ack_url)
}

fn data(shape: Shape, ack_url: Option<&str>) -> Data<'_> {
    let full = shape == Shape::Tocsin;
    Data {
        ack_url,
        category: full.then_some("water"),
        event: full.then_some("published"),
        kind: full.then_some("planned"),
        notice_id: if full { "1" } else { "0" },
    }
}

fn client_builder(shape: Shape) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match shape {
        Shape::Tocsin => builder.user_agent(USER_AGENT),
        Shape::Minimal => builder,
    }
}

/// Sends `count` FCM messages over HTTP/1.1 keep-alive.
pub async fn fcm(
    mock: &FcmMock,
    count: usize,
    in_flight: usize,
    shape: Shape,
) -> anyhow::Result<BareRun> {
    let client = client_builder(shape).http1_only().build()?;
    let url = reqwest::Url::parse(&format!(
        "{}/v1/projects/{}/messages:send",
        mock.base_url(),
        FcmMock::PROJECT_ID
    ))?;
    let token = mock.issue_token();
    let full = shape == Shape::Tocsin;
    let expiration = expiration();
    let ttl = format!("{TTL_S}s");
    let send = |i: usize| {
        let device = format!("bare-{i}");
        let (notification, ack_url) = texts(shape, i);
        let body = FcmRequest {
            message: FcmMessage {
                token: &device,
                notification,
                data: data(shape, ack_url.as_deref()),
                android: Android {
                    priority: "NORMAL",
                    ttl: full.then_some(ttl.as_str()),
                    collapse_key: full.then_some(COLLAPSE),
                },
                apns: FcmApns {
                    headers: FcmApnsHeaders {
                        priority: "5",
                        expiration: full.then_some(expiration.as_str()),
                        collapse_id: full.then_some(COLLAPSE),
                    },
                },
            },
        };
        let body = serde_json::to_vec(&body).expect("a struct serialises");
        let request = client
            .post(url.clone())
            .bearer_auth(&token)
            .header("content-type", "application/json");
        (body.len(), request.body(body).send())
    };
    run(count, in_flight, send).await
}

/// Sends `count` APNs notifications over one HTTP/2 connection (h2c).
pub async fn apns(
    mock: &ApnsMock,
    count: usize,
    in_flight: usize,
    shape: Shape,
) -> anyhow::Result<BareRun> {
    let client = client_builder(shape).http2_prior_knowledge().build()?;
    let device_url = reqwest::Url::parse(&format!("{}/3/device", mock.base_url()))?;
    let authorization = format!("bearer {}", ApnsMock::provider_token());
    let expiration = expiration();
    let send = |i: usize| {
        let mut url = device_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push(&format!("b{i:063x}"));
        }
        let (alert, ack_url) = texts(shape, i);
        let body = ApnsPayload {
            aps: Aps {
                alert,
                sound: (shape == Shape::Tocsin).then_some("default"),
            },
            data: data(shape, ack_url.as_deref()),
        };
        let body = serde_json::to_vec(&body).expect("a struct serialises");
        let mut request = client
            .post(url)
            .header("authorization", &authorization)
            .header("content-type", "application/json")
            .header("apns-topic", ApnsMock::TOPIC)
            .header("apns-push-type", "alert")
            .header("apns-priority", "5");
        if shape == Shape::Tocsin {
            request = request
                .header("apns-id", format!("{i:08x}-0000-5000-8000-{i:012x}"))
                .header("apns-expiration", expiration.as_str())
                .header("apns-collapse-id", COLLAPSE);
        }
        (body.len(), request.body(body).send())
    };
    run(count, in_flight, send).await
}

/// The notice's end as APNs wants it, in epoch seconds.
fn expiration() -> String {
    (chrono::Utc::now().timestamp() + TTL_S + 1).to_string()
}

/// Sends `count` requests, `in_flight` at a time; `send` builds one and
/// says how many body bytes it carries.
async fn run<F, Fut>(count: usize, in_flight: usize, send: F) -> anyhow::Result<BareRun>
where
    F: Fn(usize) -> (usize, Fut),
    Fut: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut body_bytes = 0;
    let start = Instant::now();
    let mut results = futures::stream::iter(0..count)
        .map(|i| {
            let (bytes, request) = send(i);
            body_bytes += bytes;
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
    // The stream's closure holds the byte count until it is dropped.
    drop(results);
    let per_s = count as f64 / start.elapsed().as_secs_f64();
    Ok(BareRun {
        per_s,
        body_bytes: body_bytes as f64 / count.max(1) as f64,
    })
}
