//! `tocsin-bench`: reproducible measurements of Tocsin on a synthetic city
//! generated from a seed (`city`):
//!
//! - `targeting`, `postgis`: recipient targeting against PostGIS on the
//!   same points;
//! - `service`, `setup`, `api`, `fanout`, `bare`, `emergency`, `load`: a release
//!   `tocsin serve` driven end to end against the mock providers, next to
//!   a bare client on the same mocks;
//! - `queue`: RabbitMQ's own publish/consume rate through lapin;
//! - `floor`: PostgreSQL's least CPU for tracking a delivery;
//! - `cpu`: the CPU each part of a run used, from `/proc`.
//!
//! Results are printed as markdown tables for docs/BENCHMARKS.md.

pub mod api;
pub mod bare;
pub mod city;
pub mod cpu;
pub mod emergency;
pub mod fanout;
pub mod floor;
pub mod load;
pub mod postgis;
pub mod queue;
pub mod service;
pub mod setup;
pub mod stats;
pub mod targeting;
