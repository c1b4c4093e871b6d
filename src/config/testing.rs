//! `[testing]`: switches for test installations only, never production.

use serde::Deserialize;

/// Switches for test installations only.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Lets an admin move the policy clock (quiet hours, caps, releases)
    /// with `PUT /api/v1/testing/clock`. Never in production.
    pub adjustable_clock: bool,
    /// With `adjustable_clock`: the time the clock shows at start, so a
    /// test can restart the service "later" (missed scheduled runs).
    pub clock_start: Option<chrono::DateTime<chrono::Utc>>,
}
