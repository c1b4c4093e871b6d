//! The few calls the end-to-end benchmarks make to a running Tocsin: import
//! the city's residents, publish notices, wait for their deliveries to
//! settle.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tocsin_zones::GeoPoint;

use crate::city;

/// How residents are reached: one contact each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Contacts {
    /// FCM push (HTTP/1.1 keep-alive to the provider).
    Fcm,
    /// APNs push (HTTP/2 to the provider).
    Apns,
    /// All five channels, spread like a city's subscriptions: 40 % FCM,
    /// 25 % APNs, 20 % SMS, 10 % email, 5 % voice.
    Mixed,
}

impl Contacts {
    /// The contact of resident `i`; `pick` in 0..100 chooses the channel
    /// for `Mixed`.
    fn contact(self, i: usize, pick: usize) -> Value {
        let channel = match self {
            Contacts::Fcm => "fcm",
            Contacts::Apns => "apns",
            Contacts::Mixed => match pick {
                0..40 => "fcm",
                40..65 => "apns",
                65..85 => "sms",
                85..95 => "email",
                _ => "voice",
            },
        };
        let address = match channel {
            "fcm" => format!("bench-{i}"),
            // 64 hex digits, never the mock's magic "0000" prefix.
            "apns" => format!("a{i:063x}"),
            "sms" => format!("+38067{i:07}"),
            "email" => format!("r{i}@lutsk.example"),
            _ => format!("+38050{i:07}"),
        };
        json!({ "channel": channel, "address": address })
    }
}

const LANGUAGES: [&str; 3] = ["uk", "pl", "en"];

/// A client for one running service.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    pub fn new(url: &str, token: &str) -> Api {
        Api {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .build()
                .expect("a default HTTP client"),
            url: url.to_owned(),
            token: token.to_owned(),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        answer(response).await
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        answer(response).await
    }

    /// Opens the console's live list of notices (server-sent events, as a
    /// page watching a fan-out does) and keeps reading it until aborted.
    /// Fails if the service refuses the stream, so a run never reports
    /// watchers that were not there.
    pub async fn watch_live(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut response = self
            .http
            .get(format!("{}/api/v1/notices/live", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(answer(response).await.unwrap_err());
        }
        Ok(tokio::spawn(async move {
            while let Ok(Some(_)) = response.chunk().await {}
        }))
    }

    /// Imports the residents in NDJSON requests of `chunk` lines; calls
    /// `progress` with the number imported so far.
    pub async fn import(
        &self,
        points: &[GeoPoint],
        contacts: Contacts,
        chunk: usize,
        progress: impl Fn(u64),
    ) -> anyhow::Result<usize> {
        let mut imported = 0;
        for (n, part) in points.chunks(chunk).enumerate() {
            let mut body = String::with_capacity(part.len() * 140);
            for (k, p) in part.iter().enumerate() {
                let i = n * chunk + k;
                let line = json!({
                    "language": LANGUAGES[i % 3],
                    "location": { "lat": p.lat(), "lon": p.lon() },
                    "contacts": [contacts.contact(i, (i * 37) % 100)],
                });
                body.push_str(&line.to_string());
                body.push('\n');
            }
            let response = self
                .http
                .post(format!("{}/api/v1/residents/import", self.url))
                .bearer_auth(&self.token)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await?;
            let answer = answer(response).await?;
            imported += answer["imported"].as_u64().context("imported count")? as usize;
            progress(imported as u64);
        }
        Ok(imported)
    }

    /// Publishes a notice; returns its id and (recipients, deliveries).
    pub async fn publish(&self, notice: &Value) -> anyhow::Result<(i64, u64)> {
        let created = self.post("/api/v1/notices", notice).await?;
        let id = created["id"].as_i64().context("notice id")?;
        Ok((id, created["deliveries"].as_u64().unwrap_or(0)))
    }

    /// Polls the notice's delivery summary until nothing is pending,
    /// queued or sending; returns the summary and when it settled.
    pub async fn settled(&self, id: i64, poll: Duration) -> anyhow::Result<(Value, Instant)> {
        loop {
            let s = self.summary(id).await?;
            if busy(&s) == 0 {
                return Ok((s, Instant::now()));
            }
            tokio::time::sleep(poll).await;
        }
    }

    pub async fn summary(&self, id: i64) -> anyhow::Result<Value> {
        self.get(&format!("/api/v1/notices/{id}/deliveries/summary"))
            .await
    }
}

/// Deliveries of a summary not yet in a final state.
pub fn busy(summary: &Value) -> u64 {
    ["pending", "queued", "sending"]
        .iter()
        .map(|k| summary["by_state"][k].as_u64().unwrap_or(0))
        .sum()
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A notice to the whole city (every generated resident lies inside).
pub fn city_notice(kind: &str, title: &str) -> Value {
    let edge = city::HALF_KM;
    let ring: Vec<[f64; 2]> = [(-edge, -edge), (edge, -edge), (edge, edge), (-edge, edge)]
        .iter()
        .chain(std::iter::once(&(-edge, -edge)))
        .map(|(e, n)| {
            let (lat, lon) = city::to_lat_lon(*e, *n);
            [lon, lat]
        })
        .collect();
    notice(
        kind,
        title,
        json!({ "geometry": { "type": "Polygon", "coordinates": [ring] } }),
    )
}

/// A notice to the residents within `radius_m` of `centre`.
pub fn circle_notice(kind: &str, title: &str, centre: GeoPoint, radius_m: f64) -> Value {
    let area =
        json!({ "circle": { "lat": centre.lat(), "lon": centre.lon(), "radius_m": radius_m } });
    notice(kind, title, area)
}

fn notice(kind: &str, title: &str, area: Value) -> Value {
    let now = chrono::Utc::now();
    json!({
        "kind": kind,
        "category": "water",
        "title": title,
        "cause": "benchmark",
        // Relative: messages of works that have ended expire unsent.
        "starts_at": now.to_rfc3339(),
        "expected_end": (now + chrono::Duration::hours(8)).to_rfc3339(),
        "area": area,
    })
}
