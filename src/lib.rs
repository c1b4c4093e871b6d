//! Tocsin: a notification and mass-alerting broadcast service.
//!
//! Map of the crate, in the order a notice flows through it:
//!
//! - [`api`]: HTTP handlers (axum); parse input into [`domain`] types.
//! - [`planner`]: turns a notice's area into its audience, using the
//!   in-memory [`directory`] of resident locations and zone subscriptions.
//! - [`store`]: the only place with SQL; writes the notice, its audience
//!   and one pending delivery per contact in one transaction.
//! - [`dispatch`]: hands deliveries to the [`queue`] and runs one worker per
//!   channel that renders ([`render`]) and sends through the providers of
//!   `tocsin_channels` ([`providers`]), recording outcomes in batches.
//! - [`links`]: acknowledgement links and provider callback URLs.
//! - [`estimate`]: cost and duration of a notice for the preview.
//! - [`app`] wires it all from a [`config::Config`]; `main.rs` is the CLI;
//!   [`audit`] is what `tocsin journal verify` checks.
//! - [`supervise`]: a panic in a long-lived task costs one piece of work,
//!   not the task.
//!
//! Geometry lives in the `tocsin_zones` crate and provider wire formats in
//! `tocsin_channels`; neither knows about HTTP servers or databases.

pub mod api;
pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod directory;
pub mod dispatch;
pub mod domain;
pub mod estimate;
#[doc(hidden)]
pub mod fuzzing;
pub mod links;
pub mod metrics;
pub mod planner;
pub mod providers;
pub mod queue;
pub mod render;
pub mod scheduler;
pub mod store;
pub mod supervise;

pub use app::{Application, WorkerProcess};
pub use config::Config;
