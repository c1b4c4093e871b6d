//! One module per `tocsin-bench` subcommand: run the measurement, print
//! the markdown table that goes into docs/BENCHMARKS.md.

pub mod api;
pub mod emergency;
pub mod fanout;
pub mod floor;
pub mod queue;
pub mod targeting;

use indicatif::{ProgressBar, ProgressStyle};
use tocsin_bench::city;
use tocsin_zones::GeoPoint;

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:40}] {pos}/{len} ({elapsed})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    b.set_message(what.to_owned());
    b
}

pub fn spinner(what: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner().with_message(what.to_owned());
    s.enable_steady_tick(std::time::Duration::from_millis(200));
    s
}

/// The city's residents, with a progress bar.
pub fn residents(count: usize, seed: u64) -> Vec<GeoPoint> {
    let making = bar(count as u64, "generating residents");
    let c = city::generate(count, seed, |i| making.set_position(i));
    making.finish_and_clear();
    c.residents
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
