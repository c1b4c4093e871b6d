//! What every end-to-end benchmark starts from: fresh mock providers, a
//! fresh service pointed at them, and the city's residents imported.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tocsin_testkit::Providers;
use tocsin_zones::GeoPoint;

use serde::Deserialize;
use tocsin::config::DispatchConfig;

use crate::api::{Api, Contacts};
use crate::service::{Mode, Service};

/// Which service to start and how residents are reached.
#[derive(Debug, Clone)]
pub struct Setup {
    pub bin: PathBuf,
    pub mode: Mode,
    pub contacts: Contacts,
    /// TOML added to the configuration that points at the mocks.
    pub extra_config: String,
    /// Provider calls the service keeps in flight per channel
    /// (`dispatch.concurrency`, from `extra_config` or Tocsin's default):
    /// the bare client is given the same, so the ratio compares like with
    /// like.
    pub in_flight: usize,
}

/// The part of the added TOML the benchmark itself needs to know.
#[derive(Deserialize, Default)]
struct Extra {
    #[serde(default)]
    dispatch: DispatchConfig,
}

/// `dispatch.concurrency` as the service will read it from `extra_config`.
pub fn in_flight(extra_config: &str) -> anyhow::Result<usize> {
    let extra: Extra = toml::from_str(extra_config)
        .map_err(|e| anyhow::anyhow!("the added configuration: {e}"))?;
    Ok(extra.dispatch.concurrency)
}

/// A running service holding the city.
#[derive(Debug)]
pub struct Loaded {
    pub providers: Arc<Providers>,
    pub service: Service,
    pub api: Api,
    /// Residents imported per second.
    pub import_per_s: f64,
}

impl Setup {
    /// Starts the mocks and the service and imports `points` in requests
    /// of 100 000 lines, moving `progress` as it goes.
    pub async fn load(
        &self,
        points: &[GeoPoint],
        progress: &indicatif::ProgressBar,
    ) -> anyhow::Result<Loaded> {
        let providers = Arc::new(Providers::start().await);
        let config = providers.config(&self.extra_config);
        let service = Service::start(&self.bin, self.mode, &config).await?;
        let api = Api::new(&service.url, &service.token);
        progress.set_message(format!("{}: importing", self.mode));
        progress.set_length(points.len() as u64);
        progress.set_position(0);
        let started = Instant::now();
        api.import(points, self.contacts, 100_000, |n| progress.set_position(n))
            .await?;
        Ok(Loaded {
            providers,
            service,
            api,
            import_per_s: points.len() as f64 / started.elapsed().as_secs_f64(),
        })
    }
}
