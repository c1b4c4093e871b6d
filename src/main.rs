//! The `tocsin` command: `serve` runs the service, `admin-token` issues a
//! new admin token.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tocsin::Application;
use tocsin::config::{Config, LogFormat};
use tocsin::store::sqlite::SqliteStore;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the planner and the delivery workers.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Issue a new admin token, replacing the one generated at first start.
    AdminToken,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    init_logging(config.log_format);
    match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen;
            }
            let app = Application::build(config).await?;
            if let Some(token) = &app.generated_admin_token {
                // Printed, not logged: logs are shipped elsewhere, this
                // terminal belongs to whoever started the service.
                println!("Generated admin token (shown once; keep it safe): {token}");
                println!("Lost it? Run `tocsin admin-token` to issue a new one.");
            }
            println!("tocsin listening on http://{}", app.local_addr());
            let token = CancellationToken::new();
            tokio::spawn(shutdown_signal(token.clone()));
            app.run_until_stopped(token).await.context("serving HTTP")?;
        }
        Command::AdminToken => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("creating {}", config.data_dir.display()))?;
            let store = SqliteStore::open(&config.database_path()).await?;
            let token = tocsin::domain::auth::ApiToken::generate();
            tocsin::store::Store::replace_admin_token(&store, &token.hash(), "generated").await?;
            println!(
                "New admin token (the previous generated one no longer works): {}",
                token.expose()
            );
        }
    }
    Ok(())
}
