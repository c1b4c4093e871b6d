//! Wiring: builds every part from a `Config` and runs them until shutdown.
//! Tests and `main` both go through `Application`, so a test runs exactly
//! the service an operator runs.

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::directory::Directory;
use crate::dispatch::Dispatcher;
use crate::domain::auth::ApiToken;
use crate::links::Links;
use crate::planner::Planner;
use crate::providers::{ChannelSet, ChannelSetupError};
use crate::queue::memory::MemoryQueue;
use crate::render::Renderer;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

/// How long shutdown waits for in-flight sends before giving up; what is
/// unfinished then is re-queued at the next start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Channel(#[from] ChannelSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// A token generated on first start, to be shown once.
    pub generated_admin_token: Option<String>,
}

fn create_data_dir(config: &Config) -> Result<(), StartupError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&config.data_dir)
        .map_err(|source| StartupError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })
}

/// Registers the configured admin token, or creates one when no admin
/// exists yet. Returns a generated token so it can be shown once.
pub async fn ensure_admin(
    store: &dyn Store,
    config: &Config,
) -> Result<Option<String>, StoreError> {
    if let Some(token) = &config.admin_token {
        store
            .add_admin_token(
                &ApiToken::from_operator(token.expose()).hash(),
                "configured",
            )
            .await?;
        return Ok(None);
    }
    if store.has_admin().await? {
        return Ok(None);
    }
    let token = ApiToken::generate();
    store.add_admin_token(&token.hash(), "generated").await?;
    Ok(Some(token.expose().to_owned()))
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        create_data_dir(&config)?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.database_path()).await?);
        let generated_admin_token = ensure_admin(store.as_ref(), &config).await?;

        let channels = Arc::new(ChannelSet::from_config(
            &config.channels,
            config.simulated.outbox_capacity,
        )?);
        let directory = Arc::new(Directory::load(store.as_ref()).await?);
        let planner = Arc::new(Planner::new(Arc::clone(&store), Arc::clone(&directory)));
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Listen {
                    addr: config.listen.to_string(),
                    source,
                })?;
        let mut config = config;
        // With port 0 the real port is known only now; links must use it.
        if config.public_url.is_none() {
            config.listen = listener
                .local_addr()
                .map_err(|source| StartupError::Listen {
                    addr: config.listen.to_string(),
                    source,
                })?;
        }
        let links = Arc::new(Links::new(
            config.public_base(),
            store.secret("ack_key").await?,
        ));
        let instance: String = store.secret("instance").await?[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let renderer = Arc::new(Renderer::new(config.timezone()));
        let dispatcher = Arc::new(Dispatcher::new(
            Arc::clone(&store),
            Arc::new(MemoryQueue::new()),
            Arc::clone(&channels),
            Arc::clone(&renderer),
            Arc::clone(&links),
            config.dispatch.clone(),
            instance,
        ));
        let state = AppState {
            config: Arc::new(config),
            store,
            directory,
            planner,
            dispatcher,
            channels,
            links,
            renderer,
        };
        Ok(Self {
            listener,
            state,
            generated_admin_token,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then stops taking jobs,
    /// finishes in-flight sends and flushes outcomes.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let state = self.state;
        tracing::info!(residents = state.directory.len(), "resident index loaded");
        let running = state.dispatcher.start(shutdown.clone());
        match state
            .dispatcher
            .enqueue(state.dispatcher.restart_scope())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "re-queued unfinished deliveries"),
            Err(e) => tracing::error!(error = %e, "re-queueing unfinished deliveries failed"),
        }
        let app = api::router(state);
        let stop = shutdown.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        shutdown.cancel();
        if tokio::time::timeout(DRAIN_TIMEOUT, running.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown timed out; unfinished deliveries resume at next start");
        }
        Ok(())
    }
}
