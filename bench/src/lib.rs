//! `tocsin-bench`: reproducible measurements of Tocsin on a synthetic city
//! generated from a seed (`city`), starting with recipient targeting
//! against PostGIS on the same points (`targeting`, `postgis`). Results
//! are printed as a markdown table for docs/BENCHMARKS.md.

pub mod city;
pub mod postgis;
pub mod stats;
pub mod targeting;
