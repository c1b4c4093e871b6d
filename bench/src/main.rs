//! `tocsin-bench`: measurements of Tocsin on a synthetic city, each a
//! subcommand printing a markdown table. See docs/BENCHMARKS.md.

mod commands;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tocsin_bench::api::Contacts;
use tocsin_bench::service::{Mode, sibling_binary};
use tocsin_bench::setup::{Setup, in_flight};

// The same allocator as the service: the bare client and the mocks run in
// this process, and the bare client stands for the machine's limit, so it
// must not be slowed by a weaker allocator than the one Tocsin uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Benchmarks for Tocsin on a synthetic city")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Residents inside polygons of 10, 100 and 1 000 vertices: Tocsin's
    /// in-memory index against PostGIS ST_Contains over a GiST index.
    Targeting {
        #[arg(long, default_value_t = 1_000_000)]
        residents: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Timed runs per case (after one warm-up); the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A PostgreSQL that may create databases; "none" skips PostGIS.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        postgres: String,
    },
    /// One notice to every resident through a real `tocsin serve` and the
    /// mock providers, API request to last delivery settled; a bare client
    /// against the same mock; peak memory and database growth.
    Fanout {
        #[command(flatten)]
        service: ServiceArgs,
        /// Complete runs (fresh service and database each); medians reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Console pages watching the fan-out: each keeps the live list
        /// of notices open while the notice drains.
        #[arg(long, default_value_t = 0)]
        watchers: usize,
    },
    /// Emergency notices published while a routine notice to every
    /// resident drains: POST to first and last provider call.
    Emergency {
        #[command(flatten)]
        service: ServiceArgs,
        /// Emergency notices per run.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Pause between two emergency notices, ms.
        #[arg(long, default_value_t = 2_000)]
        interval_ms: u64,
        /// Radius of each emergency's circle around a resident, metres.
        #[arg(long, default_value_t = 300.0)]
        radius_m: f64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// RabbitMQ alone through lapin: persistent publishes with confirms,
    /// then consuming with acks.
    Queue {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Message size: a Tocsin job of 200 delivery ids is about 1 600 bytes.
        #[arg(long, default_value_t = 1_600)]
        bytes: usize,
        /// Publishes in flight before waiting for their confirms.
        #[arg(long, default_value_t = 1_000)]
        window: usize,
        /// Unacknowledged messages per consumer (Tocsin's default is 2).
        #[arg(long, default_value_t = 2)]
        prefetch: u16,
        /// A classic queue instead of a quorum queue (Tocsin's default).
        #[arg(long)]
        classic: bool,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
        amqp: String,
    },
    /// PostgreSQL alone: the least CPU its server spends to track a
    /// delivery (a row as wide as Tocsin's inserted, claimed and given its
    /// outcome in batches), to set beside the cluster's figure in `fanout`.
    Floor {
        #[arg(long, default_value_t = 300_000)]
        rows: usize,
        /// Rows per claim statement (Tocsin claims a job of 200).
        #[arg(long, default_value_t = 200)]
        claim_batch: usize,
        /// Rows per outcome statement.
        #[arg(long, default_value_t = 500)]
        outcome_batch: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Resident registration and notice creation at stated request rates
    /// (open loop), p50/p99 latency.
    Api {
        #[command(flatten)]
        service: ServiceArgs,
        /// Resident registrations per second.
        #[arg(long, default_value_t = 200.0)]
        resident_rate: f64,
        /// Notices per second, each to a circle around a resident.
        #[arg(long, default_value_t = 10.0)]
        notice_rate: f64,
        /// Seconds each load lasts.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Radius of each notice's circle, metres.
        #[arg(long, default_value_t = 150.0)]
        radius_m: f64,
    },
}

/// Which service to start and which city to load into it.
#[derive(Args, Clone)]
struct ServiceArgs {
    #[arg(long, default_value_t = 1_000_000)]
    residents: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// One contact per resident on this channel.
    #[arg(long, value_enum, default_value_t = Contacts::Fcm)]
    contacts: Contacts,
    /// Worker processes; 0 runs embedded (SQLite, in-process queue),
    /// more runs the cluster (PostgreSQL, RabbitMQ, `serve` + workers).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// The `tocsin` binary; by default the one next to this benchmark.
    #[arg(long)]
    tocsin: Option<PathBuf>,
    /// TOML added to the generated configuration (e.g. `[dispatch]`
    /// settings), to measure a tuning.
    #[arg(long)]
    extra_config: Option<PathBuf>,
}

impl ServiceArgs {
    fn mode(&self) -> Mode {
        match self.workers {
            0 => Mode::Embedded,
            workers => Mode::Cluster { workers },
        }
    }

    fn binary(&self) -> PathBuf {
        self.tocsin.clone().unwrap_or_else(sibling_binary)
    }

    fn setup(&self) -> anyhow::Result<Setup> {
        let extra_config = match &self.extra_config {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            None => String::new(),
        };
        Ok(Setup {
            bin: self.binary(),
            mode: self.mode(),
            contacts: self.contacts,
            in_flight: in_flight(&extra_config)?,
            extra_config,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Targeting {
            residents,
            seed,
            runs,
            postgres,
        } => commands::targeting::run(residents, seed, runs.max(1), &postgres).await,
        Command::Fanout {
            service,
            runs,
            watchers,
        } => commands::fanout::run(&service, runs.max(1), watchers).await,
        Command::Emergency {
            service,
            count,
            interval_ms,
            radius_m,
            runs,
        } => {
            let plan = tocsin_bench::emergency::Plan {
                count: count.max(1),
                interval: std::time::Duration::from_millis(interval_ms),
                radius_m,
            };
            commands::emergency::run(&service, plan, runs.max(1)).await
        }
        Command::Queue {
            messages,
            bytes,
            window,
            prefetch,
            classic,
            runs,
            amqp,
        } => {
            let plan = tocsin_bench::queue::QueuePlan {
                messages: messages.max(1),
                bytes,
                window: window.max(1),
                prefetch: prefetch.max(1),
                quorum: !classic,
            };
            commands::queue::run(&amqp, plan, runs.max(1)).await
        }
        Command::Floor {
            rows,
            claim_batch,
            outcome_batch,
            runs,
        } => {
            let plan = tocsin_bench::floor::FloorPlan {
                rows: rows.max(1),
                claim_batch,
                outcome_batch,
            };
            commands::floor::run(plan, runs.max(1)).await
        }
        Command::Api {
            service,
            resident_rate,
            notice_rate,
            seconds,
            radius_m,
        } => {
            let load = commands::api::Load {
                resident_rate,
                notice_rate,
                duration: std::time::Duration::from_secs(seconds.max(1)),
                radius_m,
            };
            commands::api::run(&service, load).await
        }
    }
}
