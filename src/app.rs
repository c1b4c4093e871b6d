//! Wiring: builds every part from a `Config` and runs them until shutdown.
//!
//! `Application` is `tocsin serve` (API, planner, and — with the
//! in-process queue — the workers); `WorkerProcess` is `tocsin worker`
//! (workers plus health, readiness and metrics endpoints). Both are built
//! on `Core`, the parts they share. `main` and the tests go through these
//! types, so a test runs exactly the service an operator runs.

use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::clock::{AdjustableClock, Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::directory::Directory;
use crate::dispatch::Dispatcher;
use crate::domain::actor;
use crate::domain::auth::ApiToken;
use crate::domain::journal::{Hashing, JournalKey, NewJournalEntry};
use crate::links::Links;
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::providers::{ChannelSet, ChannelSetupError};
use crate::queue::amqp::{AmqpQueue, AmqpSettings};
use crate::queue::memory::MemoryQueue;
use crate::queue::{Queue, QueueError};
use crate::render::Renderer;
use crate::store::{self, Store, StoreError};

/// How long shutdown waits for in-flight sends before giving up; what is
/// unfinished then is re-queued (embedded) or redelivered (cluster).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `serve` looks for deliveries a broker outage left pending or
/// whose claim's lease ran out.
const SWEEP_PERIOD: Duration = Duration::from_secs(5);
/// How often waiting messages (cascade steps, quiet hours) are looked at.
/// How often the scheduler (checks, digest, reminders) looks at the clock.
const SCHEDULER_PERIOD: Duration = Duration::from_secs(1);
const RELEASE_PERIOD: Duration = Duration::from_secs(1);

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
    Config(#[from] ConfigError),
    /// The newest journal entry fits neither the key nor a plain hash.
    #[error(
        "journal entry {0}, the newest, does not verify with the configured journal key: \
         the key is not the one the journal was written with (keys cannot be changed), or \
         the entry was altered. Run `tocsin journal verify` to see where the chain breaks"
    )]
    JournalKeyMismatch(i64),
    #[error("cannot reach the queue: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Channel(#[from] ChannelSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
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

/// Opens the configured store: PostgreSQL when `database` is set, else
/// SQLite in the data directory. Only a store given the journal key
/// writes the journal.
pub async fn open_store(
    config: &Config,
    migrate: bool,
    journal_key: Option<JournalKey>,
) -> Result<Arc<dyn Store>, StartupError> {
    if config.database.is_none() {
        create_data_dir(config)?;
    }
    let url = config.database.as_ref().map(|s| s.expose());
    Ok(store::open(
        url,
        &config.database_path(),
        config.amqp.db_max_connections,
        migrate,
        journal_key,
    )
    .await?)
}

/// The key `serve` journals with, created on the first embedded start.
fn serve_journal_key(config: &Config) -> Result<JournalKey, StartupError> {
    if config.database.is_none() {
        create_data_dir(config)?;
    }
    Ok(config.journal_key(true)?)
}

/// Checks at start that the newest journal entry fits the key, so a wrong
/// key stops `serve` before it writes entries nobody can verify. A journal
/// from before the key (plain SHA-256 head) is sealed: a keyed entry
/// covering its head through `prev_hash`, so the legacy prefix cannot be
/// rewritten from then on either.
pub async fn seal_journal(store: &dyn Store, key: &JournalKey) -> Result<(), StartupError> {
    let Some(head) = store.journal_head().await? else {
        return Ok(());
    };
    match head.hashing(key) {
        Some(Hashing::Keyed) => Ok(()),
        None => Err(StartupError::JournalKeyMismatch(head.id)),
        Some(Hashing::Legacy) => {
            tracing::info!(
                legacy_entries = head.id,
                "sealing the journal's plain-SHA-256 entries under the journal key"
            );
            store
                .append_journal(&NewJournalEntry {
                    actor: actor::SERVICE.to_owned(),
                    action: "journal.keyed".to_owned(),
                    subject: "journal".to_owned(),
                    detail: serde_json::json!({"legacy_entries": head.id,
                        "legacy_head": head.hash}),
                })
                .await?;
            Ok(())
        }
    }
}

async fn open_queue(config: &Config) -> Result<Arc<dyn Queue>, StartupError> {
    Ok(match &config.queue {
        None => Arc::new(MemoryQueue::new()),
        Some(url) => Arc::new(
            AmqpQueue::connect(AmqpSettings {
                url: url.expose().to_owned(),
                prefix: config.amqp.prefix.clone(),
                prefetch: config.amqp.prefetch,
                quorum: config.amqp.quorum,
            })
            .await?,
        ),
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen {
            addr: addr.to_string(),
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
        // Replace, not add: changing TOCSIN_ADMIN_TOKEN revokes the old one.
        store
            .replace_admin_token(
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

/// Journals the configuration `serve` starts with when it differs from
/// the last start's: which sections changed, by their SHA-256 (see
/// `config::fingerprint`; secrets are not part of it).
pub async fn journal_config_change(store: &dyn Store, config: &Config) -> Result<(), StoreError> {
    const KEY: &str = "config_fingerprint";
    let now = crate::config::fingerprint::sections(config);
    let before: Option<std::collections::BTreeMap<String, String>> = store
        .setting(KEY)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok());
    let changed = crate::config::fingerprint::changed(before.as_ref(), &now);
    if changed.is_empty() {
        return Ok(());
    }
    store
        .append_journal(&NewJournalEntry {
            actor: actor::SERVICE.to_owned(),
            action: "config.changed".to_owned(),
            subject: "config".to_owned(),
            detail: serde_json::json!({"sections": changed, "first_start": before.is_none(),
                "fingerprint": now}),
        })
        .await?;
    let value = serde_json::to_vec(&now).expect("a map of strings serialises");
    store.put_setting(KEY, &value).await
}

/// The parts `serve` and `worker` share.
#[derive(Debug, Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub channels: Arc<ChannelSet>,
    pub renderer: Arc<Renderer>,
    pub links: Arc<Links>,
    pub dispatcher: Arc<Dispatcher>,
    pub metrics: Arc<Metrics>,
    /// Set only with `[testing] adjustable_clock`.
    pub test_clock: Option<Arc<AdjustableClock>>,
}

impl Core {
    /// `config.public_url` must already be final: links are built from it.
    /// `journal_key` only for `serve`: nothing else writes the journal.
    pub async fn build(
        config: Config,
        migrate: bool,
        journal_key: Option<JournalKey>,
    ) -> Result<Self, StartupError> {
        let metrics = Arc::new(Metrics::install());
        let store = open_store(&config, migrate, journal_key).await?;
        let queue = open_queue(&config).await?;
        let channels = Arc::new(ChannelSet::from_config(
            &config.channels,
            config.simulated.outbox_capacity,
        )?);
        let links = Arc::new(Links::new(
            config.public_base(),
            store.secret("ack_key").await?,
        ));
        let instance: String = store.secret("instance").await?[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let renderer = Arc::new(Renderer::new(config.timezone()));
        let test_clock = config.testing.adjustable_clock.then(|| {
            tracing::warn!("the policy clock can be moved over the API: a test installation");
            let clock = AdjustableClock::default();
            if let Some(start) = config.testing.clock_start {
                clock.set(start);
            }
            Arc::new(clock)
        });
        let clock: Arc<dyn Clock> = match &test_clock {
            Some(c) => Arc::clone(c) as Arc<dyn Clock>,
            None => Arc::new(SystemClock),
        };
        let parts = crate::dispatch::Parts {
            store: Arc::clone(&store),
            queue,
            channels: Arc::clone(&channels),
            renderer: Arc::clone(&renderer),
            links: Arc::clone(&links),
            clock,
        };
        let dispatcher = Arc::new(Dispatcher::new(parts, &config, instance));
        Ok(Self {
            test_clock,
            config: Arc::new(config),
            store,
            channels,
            renderer,
            links,
            dispatcher,
            metrics,
        })
    }
}

/// Re-publishes what the queue does not hold: every unfinished delivery
/// for the in-process queue, only never-published ones for the broker.
/// With the in-process queue this process is the only sender, so the
/// leases of the one before it are void: its workers are gone.
async fn requeue(dispatcher: &Dispatcher, store: &dyn Store) {
    if !dispatcher.queue().durable() {
        match store.forget_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "claims of the previous run released"),
            Err(e) => tracing::error!(error = %e, "releasing the previous run's claims failed"),
        }
    }
    match dispatcher.enqueue(dispatcher.restart_scope()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deliveries = n, "re-queued unfinished deliveries"),
        Err(e) => tracing::error!(error = %e, "re-queueing unfinished deliveries failed"),
    }
}

async fn drain(running: crate::dispatch::Running) {
    if tokio::time::timeout(DRAIN_TIMEOUT, running.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown timed out; unfinished deliveries resume later");
    }
}

/// Leaves the database complete on its own after a clean stop (what is
/// not flushed is folded at the next start).
async fn flush(store: &dyn Store) {
    if let Err(e) = store.flush().await {
        tracing::error!(error = %e, "flushing recorded outcomes at shutdown failed; they are applied at the next start");
    }
}

/// `tocsin serve`.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// With the in-process queue nobody else could send.
    run_workers: bool,
    /// A token generated on first start, to be shown once.
    pub generated_admin_token: Option<String>,
}

impl Application {
    pub async fn build(mut config: Config) -> Result<Self, StartupError> {
        let listener = bind(config.listen).await?;
        // With port 0 the real port is known only now; links must use it.
        if config.public_url.is_none() {
            config.listen = listener
                .local_addr()
                .map_err(|source| StartupError::Listen {
                    addr: config.listen.to_string(),
                    source,
                })?;
        }
        let migrate = config.migrate_on_start;
        let key = serve_journal_key(&config)?;
        let core = Core::build(config, migrate, Some(key.clone())).await?;
        let generated_admin_token = ensure_admin(core.store.as_ref(), &core.config).await?;
        seal_journal(core.store.as_ref(), &key).await?;
        journal_config_change(core.store.as_ref(), &core.config).await?;
        let directory = Arc::new(Directory::load(core.store.as_ref()).await?);
        let planner = Arc::new(Planner::new(
            Arc::clone(&core.store),
            Arc::clone(&directory),
        ));
        let run_workers = !core.dispatcher.queue().durable();
        let state = AppState {
            config: Arc::clone(&core.config),
            store: core.store,
            directory,
            planner,
            dispatcher: core.dispatcher,
            channels: core.channels,
            links: core.links,
            renderer: core.renderer,
            metrics: core.metrics,
            counts: Arc::default(),
            streams: Arc::default(),
            clock: match &core.test_clock {
                Some(c) => Arc::clone(c) as Arc<dyn Clock>,
                None => Arc::new(SystemClock),
            },
            test_clock: core.test_clock,
        };
        Ok(Self {
            listener,
            state,
            run_workers,
            generated_admin_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then stops taking jobs,
    /// finishes in-flight sends and flushes outcomes.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let state = self.state;
        tracing::info!(residents = state.directory.len(), "resident index loaded");
        let running = self
            .run_workers
            .then(|| state.dispatcher.start(shutdown.clone()));
        requeue(&state.dispatcher, state.store.as_ref()).await;
        state
            .dispatcher
            .spawn_release(RELEASE_PERIOD, shutdown.clone());
        state
            .dispatcher
            .spawn_sweeper(SWEEP_PERIOD, shutdown.clone());
        crate::scheduler::spawn(state.clone(), SCHEDULER_PERIOD, shutdown.clone());
        let store = Arc::clone(&state.store);
        let app = api::router(state);
        let stop = shutdown.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        shutdown.cancel();
        if let Some(running) = running {
            drain(running).await;
        }
        flush(store.as_ref()).await;
        Ok(())
    }
}

/// `tocsin worker`: delivery workers only, for the cluster mode.
#[derive(Debug)]
pub struct WorkerProcess {
    listener: TcpListener,
    core: Core,
}

impl WorkerProcess {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        if config.public_url.is_none() {
            tracing::warn!(
                "public_url is not set: acknowledgement links and provider callbacks will point at {}",
                config.public_base()
            );
        }
        let listener = bind(config.worker_listen).await?;
        // Workers never migrate: `serve` or `tocsin migrate` owns the schema.
        // No journal key: workers never write the journal.
        let core = Core::build(config, false, None).await?;
        Ok(Self { listener, core })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let core = self.core;
        let running = core.dispatcher.start(shutdown.clone());
        let app = Router::new()
            .route("/healthz", get(api::health::healthz))
            .route("/readyz", get(api::health::core_readyz))
            .route("/metrics", get(api::health::core_metrics))
            .route("/api/v1/simulated/outbox", get(api::outbox::outbox::<Core>))
            .with_state(core);
        let stop = shutdown.clone();
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await?;
        shutdown.cancel();
        drain(running).await;
        Ok(())
    }
}
