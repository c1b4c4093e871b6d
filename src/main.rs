//! The `tocsin` command: `serve` runs the API (and, embedded, the
//! workers), `worker` runs delivery workers for the cluster mode,
//! `migrate` applies database migrations, `admin-token` issues a new
//! admin token, `journal` verifies or exports the audit journal.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tocsin::config::{Config, LogFormat};
use tocsin::{Application, WorkerProcess};

// A fan-out allocates and frees small buffers per message (JSON, HTTP,
// SQL rows) on every worker thread; glibc's allocator spent about 15 % of
// the service's CPU there (docs/BENCHMARKS.md), mimalloc a fraction of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tocsin_channels::Secret;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "tocsin",
    version,
    about = "Notification and mass-alerting broadcast service"
)]
struct Cli {
    /// Configuration file (TOML); environment variables TOCSIN_* override it.
    #[arg(long, global = true, env = "TOCSIN_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database) for the embedded mode.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (cluster mode); without it, SQLite in the data directory.
    #[arg(long, global = true)]
    database: Option<String>,
    /// RabbitMQ URL (cluster mode); without it, the in-process queue.
    #[arg(long, global = true)]
    queue: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and planner; with the in-process queue also the workers.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Do not apply database migrations at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run delivery workers only (cluster mode: needs --database and --queue).
    Worker {
        /// Address for /healthz, /readyz and /metrics.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Publish every unfinished delivery again (after a broker lost its
    /// data). Duplicated jobs are harmless: deliveries already sent, or
    /// held by a live worker's claim, are skipped.
    Requeue,
    /// Issue a new admin token, replacing the one generated at first start.
    AdminToken,
    /// The tamper-evident journal.
    Journal {
        #[command(subcommand)]
        action: JournalCommand,
    },
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Check the keyed hash chain and each alert's CAP against it; exits 1
    /// naming what does not fit, 2 when it cannot check (no database, no key).
    Verify {
        /// A head recorded earlier (`GET /api/v1/journal/head`, the daily
        /// digest): fails when that entry is no longer in the chain.
        #[arg(long, value_name = "HASH", value_parser = parse_hash)]
        head: Option<String>,
    },
    /// Write every entry as NDJSON to standard output.
    Export,
}

fn parse_hash(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("a journal hash is 64 hex digits".to_owned())
    }
}

/// Exit status of a journal command that could not look at the journal.
const CANNOT_CHECK: u8 = 2;

/// `journal verify` and `journal export`: 0 when done, 1 when the journal
/// is broken, 2 when there is nothing to check. Neither creates a
/// database (or a key) where there is none.
async fn journal(action: JournalCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let cannot = |e: &dyn std::fmt::Display| {
        eprintln!("{e}");
        Ok(ExitCode::from(CANNOT_CHECK))
    };
    if config.database.is_none() && !config.database_path().exists() {
        return cannot(&format!(
            "no database at {}",
            config.database_path().display()
        ));
    }
    let open = || tocsin::app::open_store(config, false, None);
    match action {
        JournalCommand::Verify { head } => {
            let key = match config.journal_key(false) {
                Ok(key) => key,
                Err(e) => return cannot(&e),
            };
            match open().await {
                Ok(store) => verify(store.as_ref(), &key, head.as_deref()).await,
                Err(e) => cannot(&e),
            }
        }
        JournalCommand::Export => match open().await {
            Ok(store) => {
                export(store.as_ref()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => cannot(&e),
        },
    }
}

async fn verify(
    store: &dyn tocsin::store::Store,
    key: &tocsin::domain::journal::JournalKey,
    head: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use tocsin::audit::AuditError;
    match tocsin::audit::verify(store, key, head).await {
        Ok(r) => {
            let c = &r.chain;
            println!(
                "journal intact: {} entries, {} of them legacy (plain SHA-256, from before the journal key)",
                c.entries, c.legacy
            );
            match &c.head {
                Some((id, hash)) => println!("head: {id} {hash}"),
                None => println!("head: none (the journal is empty)"),
            }
            println!(
                "alerts: {}, each with the CAP document journaled at its creation",
                r.alerts
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (AuditError::Broken(_) | AuditError::Alerts(_))) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
        Err(e @ AuditError::Store(_)) => {
            eprintln!("{e}");
            Ok(ExitCode::from(CANNOT_CHECK))
        }
    }
}

/// Writes the whole journal as NDJSON, page by page, in id order.
async fn export(store: &dyn tocsin::store::Store) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let page = store.journal_page(after, 10_000).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.id;
        for e in &page {
            println!("{}", serde_json::to_string(e)?);
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log written to a file or the journal
    // would otherwise be full of escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    token.cancel();
}

fn run_until_signal() -> CancellationToken {
    let token = CancellationToken::new();
    tokio::spawn(shutdown_signal(token.clone()));
    token
}

/// Reads the configuration first: it says how many threads the runtime
/// gets (`Config::runtime_threads`).
fn main() -> anyhow::Result<ExitCode> {
    let Cli {
        config: file,
        data_dir,
        database,
        queue,
        command,
    } = Cli::parse();
    let mut config = Config::load(file.as_deref())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = database {
        config.database = Some(Secret::new(url));
    }
    if let Some(url) = queue {
        config.queue = Some(Secret::new(url));
    }
    config.validate()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.runtime_threads())
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(command, config))
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<ExitCode> {
    init_logging(config.log_format);
    // Read back from the runtime, so the log says what is running.
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(threads, "runtime started");
    match command {
        Command::Serve { listen, no_migrate } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            config.migrate_on_start &= !no_migrate;
            let app = Application::build(config).await?;
            if let Some(token) = &app.generated_admin_token {
                // Printed, not logged: logs are shipped elsewhere, this
                // terminal belongs to whoever started the service.
                println!("Generated admin token (shown once; keep it safe): {token}");
                println!("Lost it? Run `tocsin admin-token` to issue a new one.");
            }
            println!("tocsin listening on http://{}", app.local_addr());
            app.run_until_stopped(run_until_signal())
                .await
                .context("serving HTTP")?;
        }
        Command::Worker { listen } => {
            anyhow::ensure!(
                config.queue.is_some() && config.database.is_some(),
                "a worker needs the shared database and queue: pass --database postgres://… and --queue amqp://… \
                 (with neither, `tocsin serve` runs the workers itself)"
            );
            if let Some(listen) = listen {
                config.worker_listen = listen;
            }
            let worker = WorkerProcess::build(config).await?;
            println!("tocsin worker listening on http://{}", worker.local_addr());
            worker
                .run_until_stopped(run_until_signal())
                .await
                .context("running workers")?;
        }
        Command::Migrate => {
            tocsin::app::open_store(&config, true, None).await?;
            println!("migrations applied");
        }
        Command::Requeue => {
            let core = tocsin::app::Core::build(config, false, None).await?;
            // Its own in-process queue would hold the jobs only until it
            // exits; the embedded service re-queues at its start.
            anyhow::ensure!(
                core.dispatcher.queue().durable(),
                "requeue publishes to a broker ([amqp] url); the embedded service re-queues unfinished deliveries itself when it starts"
            );
            let n = core
                .dispatcher
                .enqueue(tocsin::store::ToQueue::AllUnfinished)
                .await?;
            println!("{n} unfinished deliveries published");
        }
        Command::Journal { action } => return journal(action, &config).await,
        Command::AdminToken => {
            let store = tocsin::app::open_store(&config, config.migrate_on_start, None).await?;
            let token = tocsin::domain::auth::ApiToken::generate();
            store
                .replace_admin_token(&token.hash(), "generated")
                .await?;
            println!(
                "New admin token (the previous generated one no longer works): {}",
                token.expose()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
