//! Configuration: defaults, then an optional `tocsin.toml`, then `TOCSIN_*`
//! environment variables (nested keys split by `__`, e.g.
//! `TOCSIN_CHANNELS__SMS__AUTH_TOKEN`), then command-line flags.
//!
//! A channel without a section runs on the simulated provider, so a fresh
//! checkout works with no credentials at all.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
mod alerts;
mod digest;
pub mod fingerprint;
mod journal;
mod policy;
mod testing;

pub use alerts::{AlertTemplate, AlertsConfig, CANCEL, CHECK};
pub use digest::DigestConfig;
pub use journal::JournalConfig;
pub use policy::{ChannelRate, PolicyConfig, RatesConfig};
pub use testing::TestingConfig;

use tocsin_channels::{
    ApnsConfig, ChannelKind, FcmConfig, Secret, SmtpConfig, TwilioSmsConfig, TwilioVoiceConfig,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Where the SQLite database lives in embedded mode.
    pub data_dir: PathBuf,
    /// `postgres://…` for the cluster mode; absent means SQLite in
    /// `data_dir`. A Secret because URLs carry passwords.
    pub database: Option<Secret>,
    /// `amqp://…` (RabbitMQ) for the cluster mode; absent means the
    /// in-process queue, and `serve` runs the workers itself.
    pub queue: Option<Secret>,
    /// Apply database migrations when `serve` starts (`tocsin migrate`
    /// applies them explicitly).
    pub migrate_on_start: bool,
    /// Where `tocsin worker` serves /healthz, /readyz and /metrics.
    pub worker_listen: SocketAddr,
    /// Threads that run the service's tasks (HTTP, planning, sending).
    /// Unset: one per CPU, less one in the embedded mode — see
    /// [`Config::runtime_threads`].
    pub threads: Option<usize>,
    pub amqp: AmqpConfig,
    /// The URL residents and providers reach this service at, for
    /// acknowledgement links and provider status callbacks. Defaults to
    /// `http://{listen}`, which only works on this machine.
    pub public_url: Option<String>,
    /// Admin bearer token (`TOCSIN_ADMIN_TOKEN`); when absent one is
    /// generated and printed once on first start.
    pub admin_token: Option<Secret>,
    pub log_format: LogFormat,
    pub city: CityConfig,
    pub dispatch: DispatchConfig,
    pub limits: LimitsConfig,
    pub simulated: SimulatedConfig,
    pub channels: ChannelsConfig,
    pub rates: RatesConfig,
    pub policy: PolicyConfig,
    pub alerts: AlertsConfig,
    pub digest: DigestConfig,
    /// The journal's HMAC key (see `config::journal`).
    pub journal: JournalConfig,
    pub metrics: MetricsConfig,
    pub testing: TestingConfig,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// When set, a scraper sends `Authorization: Bearer <token>`
    /// (`TOCSIN_METRICS__TOKEN`); without it `/metrics` answers everyone,
    /// as most exporters do, and is to be limited at the network.
    pub token: Option<Secret>,
}

/// More runtime threads than any machine Tocsin runs on has cores; a
/// typo like 10000 would otherwise fail at start with an OS error.
const MAX_THREADS: usize = 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("tocsin-data"),
            database: None,
            queue: None,
            migrate_on_start: true,
            worker_listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            threads: None,
            amqp: AmqpConfig::default(),
            public_url: None,
            admin_token: None,
            log_format: LogFormat::Text,
            city: CityConfig::default(),
            dispatch: DispatchConfig::default(),
            limits: LimitsConfig::default(),
            simulated: SimulatedConfig::default(),
            channels: ChannelsConfig::default(),
            rates: RatesConfig::default(),
            policy: PolicyConfig::default(),
            alerts: AlertsConfig::default(),
            digest: DigestConfig::default(),
            journal: JournalConfig::default(),
            metrics: MetricsConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpConfig {
    /// Prefix of every exchange and queue, so several installations (or
    /// test runs) can share one broker.
    pub prefix: String,
    /// Unacknowledged jobs per lane consumer; bounds what a killed worker
    /// leaves for another to redeliver.
    pub prefetch: u16,
    /// Quorum queues (replicated); `false` for classic durable queues.
    pub quorum: bool,
    /// Database connections per process in the cluster mode.
    pub db_max_connections: u32,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            prefix: "tocsin".to_owned(),
            prefetch: 2,
            quorum: true,
            db_max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    /// IANA time zone in which times are written in messages.
    pub timezone: String,
    /// Map tiles for the console (`https://tile.example/{z}/{x}/{y}.png`);
    /// without them the map shows zones and drawn areas as outlines only.
    pub tile_url: Option<String>,
    /// Credit line the tile provider requires.
    pub tile_attribution: Option<String>,
    /// The city's own language (a primary tag such as "uk"): alerts made
    /// from templates list its text first, so alert lists, the feeds and
    /// the journal show that headline.
    pub language: String,
}

impl Default for CityConfig {
    fn default() -> Self {
        Self {
            timezone: "Europe/Kyiv".to_owned(),
            tile_url: None,
            tile_attribution: None,
            language: "uk".to_owned(),
        }
    }
}

impl CityConfig {
    /// The tile server's origin (`https://tile.example`), which the
    /// console's content policy must allow images from.
    pub fn tile_origin(&self) -> Option<String> {
        let url = self.tile_url.as_deref()?;
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next()?;
        Some(format!("{scheme}://{host}"))
    }

    fn validate(&self) -> Result<(), String> {
        if crate::domain::Language::parse(&self.language).is_err() {
            return Err(format!(
                "city.language \"{}\" is not a language tag such as \"uk\"",
                self.language
            ));
        }
        let Some(url) = &self.tile_url else {
            return Ok(());
        };
        let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| url.contains(p));
        let scheme = url.starts_with("https://") || url.starts_with("http://");
        let plain = !url.contains(['"', '\'', ' ', ';']);
        if !(placeholders && scheme && plain) {
            return Err(format!(
                "city.tile_url \"{url}\" must be an http(s) URL with {{z}}, {{x}} and {{y}}"
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Deliveries per queue job. Larger batches cost less per delivery;
    /// smaller ones let an urgent job overtake sooner.
    pub batch_size: usize,
    /// Provider calls in flight per channel.
    pub concurrency: usize,
    /// Attempts before a transient error becomes a failure.
    pub max_attempts: u32,
    /// First retry delay in seconds; doubles per attempt, capped at 5 min.
    pub retry_base_secs: u64,
    /// Upper bound for one provider call, in seconds.
    pub send_timeout_secs: u64,
    /// How long a claim holds its deliveries without a renewal, in
    /// seconds: after a worker dies, what it held waits this long before
    /// another worker sends it. Renewed every third of it.
    pub lease_secs: u64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            concurrency: 32,
            max_attempts: 5,
            retry_base_secs: 2,
            send_timeout_secs: 30,
            lease_secs: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Vertices in one zone or notice geometry.
    pub max_vertices: usize,
    /// Largest circle radius in metres (a region-wide alert uses zones).
    pub max_circle_radius_m: f64,
    /// JSON request bodies, in bytes.
    pub max_body_bytes: usize,
    /// NDJSON import and zone collections, in bytes.
    pub max_import_bytes: usize,
    /// One-time codes the public subscription form may send per minute,
    /// all addresses together: each is an SMS the city pays for.
    pub codes_per_minute: u32,
    /// Console live streams open at once, all callers together.
    pub live_streams: usize,
    /// Console live streams one token (or signed-in session) may hold.
    pub live_streams_per_token: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_vertices: 20_000,
            max_circle_radius_m: 200_000.0,
            max_body_bytes: 2 * 1024 * 1024,
            max_import_bytes: 256 * 1024 * 1024,
            codes_per_minute: 20,
            live_streams: 1_000,
            live_streams_per_token: 16,
        }
    }
}

impl LimitsConfig {
    pub fn zones(&self) -> tocsin_zones::Limits {
        tocsin_zones::Limits {
            max_vertices: self.max_vertices,
            max_circle_radius_m: self.max_circle_radius_m,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatedConfig {
    /// Messages kept per simulated outbox (oldest dropped first).
    pub outbox_capacity: usize,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        Self {
            outbox_capacity: 10_000,
        }
    }
}

/// One optional section per channel; `provider` picks the implementation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    pub fcm: Option<FcmSection>,
    pub apns: Option<ApnsSection>,
    pub sms: Option<SmsSection>,
    pub email: Option<EmailSection>,
    pub voice: Option<VoiceSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum FcmSection {
    Fcm(FcmConfig),
    Simulated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum ApnsSection {
    Apns(ApnsConfig),
    Simulated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SmsSection {
    Twilio(TwilioSmsConfig),
    Simulated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum EmailSection {
    Smtp(SmtpConfig),
    Simulated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum VoiceSection {
    Twilio(TwilioVoiceConfig),
    Simulated,
}

impl ChannelsConfig {
    /// The Twilio auth token that signs status callbacks for `kind`, if that
    /// channel runs on Twilio.
    pub fn twilio_auth_token(&self, kind: ChannelKind) -> Option<&Secret> {
        match kind {
            ChannelKind::Sms => match &self.sms {
                Some(SmsSection::Twilio(c)) => Some(&c.auth_token),
                _ => None,
            },
            ChannelKind::Voice => match &self.voice {
                Some(VoiceSection::Twilio(c)) => Some(&c.auth_token),
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("{0}")]
    JournalKey(String),
}

/// `TOCSIN_A__B=v` as the key `a.b` with the *text* `v`. figment's own
/// `Env` provider guesses types, so an all-digit auth token or password
/// would turn into a number and then fail to load as a string.
fn env_overrides(vars: impl Iterator<Item = (String, String)>) -> Serialized<Dict> {
    let mut root = Dict::new();
    for (key, value) in vars {
        let Some(path) = key.strip_prefix("TOCSIN_") else {
            continue;
        };
        // TOCSIN_CONFIG names the file itself (a command-line option).
        if path.eq_ignore_ascii_case("config") || path.is_empty() {
            continue;
        }
        if is_foreign(path) {
            continue;
        }
        let parts: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        insert(&mut root, &parts, value);
    }
    Serialized::globals(root)
}

/// Variables that share our prefix without being settings: Kubernetes
/// service links for a Service named `tocsin-*` (`TOCSIN_API_PORT`,
/// `TOCSIN_API_SERVICE_HOST`, …) and the test suite's own `TOCSIN_TEST_*`.
/// Every other unknown `TOCSIN_*` key is still an error, so typos show.
fn is_foreign(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    // Service links use single underscores; nested settings use `__`
    // (so TOCSIN_CHANNELS__EMAIL__PORT is still a setting).
    let service_link = !key.contains("__")
        && (key.contains("_SERVICE_") || key.ends_with("_PORT") || key.contains("_PORT_"));
    key.starts_with("TEST_") || service_link
}

fn insert(dict: &mut Dict, path: &[String], value: String) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), Value::from(value));
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

impl Config {
    /// Loads defaults ← file ← environment. Flags are applied by the caller.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env_overrides(std::env::vars()));
        // Lossy: environment values arrive as text and become numbers or
        // booleans only where the field is one.
        let config: Config = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Threads for the async runtime: `threads` if set, else one per CPU,
    /// less one in the embedded mode. There SQLite's writer thread is on
    /// every delivery's path (claims, outcome folds) and does its work
    /// outside the runtime; with a runtime thread per CPU beside it, the
    /// threads took turns on the cores and woke each other across them.
    /// On two cores one runtime thread sent 13–24 % more per second than
    /// two (docs/BENCHMARKS.md, *Tenth look*).
    pub fn runtime_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let sqlite_writer = usize::from(self.database.is_none());
            cpus.saturating_sub(sqlite_writer).max(1)
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.city.timezone.parse::<chrono_tz::Tz>().is_err() {
            return invalid(format!(
                "city.timezone \"{}\" is not an IANA time zone such as \"Europe/Kyiv\"",
                self.city.timezone
            ));
        }
        self.city.validate().map_err(ConfigError::Invalid)?;
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(format!(
                "public_url \"{url}\" must start with http:// or https://"
            ));
        }
        if let Some(n) = self.threads
            && !(1..=MAX_THREADS).contains(&n)
        {
            return invalid(format!(
                "threads = {n}: must be 1 to {MAX_THREADS} (leave it unset for the default)"
            ));
        }
        let d = &self.dispatch;
        if d.batch_size == 0 || d.concurrency == 0 || d.max_attempts == 0 {
            return invalid(
                "dispatch.batch_size, concurrency and max_attempts must be at least 1".into(),
            );
        }
        if let Some(db) = &self.database
            && !(db.expose().starts_with("postgres://") || db.expose().starts_with("postgresql://"))
        {
            return invalid(
                "database must be a postgres:// URL (leave it out for the embedded SQLite store)"
                    .into(),
            );
        }
        if let Some(q) = &self.queue
            && !(q.expose().starts_with("amqp://") || q.expose().starts_with("amqps://"))
        {
            return invalid(
                "queue must be an amqp:// or amqps:// URL (leave it out for the in-process queue)"
                    .into(),
            );
        }
        if self.testing.clock_start.is_some() && !self.testing.adjustable_clock {
            return invalid("testing.clock_start needs testing.adjustable_clock = true".into());
        }
        self.alerts
            .validate(self.timezone())
            .map_err(ConfigError::Invalid)?;
        self.digest
            .validate(self.timezone())
            .map_err(ConfigError::Invalid)?;
        if self.amqp.prefetch == 0 || self.amqp.prefix.is_empty() {
            return invalid("amqp.prefetch must be at least 1 and amqp.prefix not empty".into());
        }
        self.rates.validate().map_err(ConfigError::Invalid)?;
        self.journal.validate().map_err(ConfigError::Invalid)?;
        if self
            .metrics
            .token
            .as_ref()
            .is_some_and(|t| t.expose().len() < 16)
        {
            return invalid("metrics.token must be at least 16 characters".into());
        }
        self.policy.validate().map_err(ConfigError::Invalid)?;
        if self.simulated.outbox_capacity == 0 {
            return invalid("simulated.outbox_capacity must be at least 1".into());
        }
        Ok(())
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.city.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
    }

    /// Base URL for links and callbacks, without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("tocsin.sqlite3")
    }
}

#[cfg(test)]
mod tests;
