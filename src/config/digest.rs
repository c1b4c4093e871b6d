//! The leadership digest (`[digest]`): who gets it and when.

use serde::Deserialize;
use tocsin_channels::EmailAddress;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestConfig {
    /// Recipients; no digest is sent when empty.
    pub to: Vec<String>,
    /// When, in city time; the default is ready before 08:00.
    pub cron: String,
    /// uk, pl or en.
    pub language: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            to: Vec::new(),
            cron: "0 30 7 * * *".to_owned(),
            language: "uk".to_owned(),
        }
    }
}

impl DigestConfig {
    pub fn validate(&self, tz: chrono_tz::Tz) -> Result<(), String> {
        for (i, to) in self.to.iter().enumerate() {
            EmailAddress::parse(to).map_err(|e| format!("digest.to[{i}]: {e}"))?;
        }
        crate::domain::schedule::Schedule::parse(&self.cron, tz)
            .map_err(|e| format!("digest.cron: {e}"))?;
        if !["uk", "pl", "en"].contains(&self.language.as_str()) {
            return Err(format!(
                "digest.language \"{}\": expected uk, pl or en",
                self.language
            ));
        }
        Ok(())
    }

    pub fn recipients(&self) -> Vec<EmailAddress> {
        self.to
            .iter()
            .filter_map(|t| EmailAddress::parse(t).ok())
            .collect()
    }
}
