//! A scheduled warning-system check: at each run of `cron` (city time) a
//! marked Test alert goes to a test audience on every channel. Defined in
//! `tocsin.toml` (`[[alerts.checks]]`) or over the API; both are checked
//! by `validate`, which names the field that is wrong.

use serde::{Deserialize, Serialize};

use super::schedule::Schedule;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub name: String,
    /// 5 or 6 fields, e.g. "0 0 8,14,20 * * *" (08:00, 14:00, 20:00).
    pub cron: String,
    /// The audience the check reaches (else `alerts.test_audience`).
    pub audience: Option<String>,
    /// The area the Test alert names, as CAP "lat,lon radius_km".
    pub circle: String,
    /// Template to send (default: the built-in `check`).
    pub template: Option<String>,
}

/// A field of a check and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub field: &'static str,
    pub message: String,
}

impl CheckSpec {
    /// The checks that need nothing but the spec itself; the template and
    /// audience are checked by the caller, who knows what exists.
    pub fn validate(&self, tz: chrono_tz::Tz) -> Result<Schedule, CheckError> {
        let name = self.name.trim();
        if name.is_empty() || name.starts_with('@') || name.chars().count() > 100 {
            return Err(CheckError {
                field: "name",
                message: "must be 1 to 100 characters and not start with @".to_owned(),
            });
        }
        tocsin_cap::Circle::parse("circle", &self.circle).map_err(|e| CheckError {
            field: "circle",
            message: e.message,
        })?;
        Schedule::parse(&self.cron, tz).map_err(|e| CheckError {
            field: "cron",
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CheckSpec {
        CheckSpec {
            name: "sirens".into(),
            cron: "0 0 8,14,20 * * *".into(),
            audience: None,
            circle: "50.7,25.3 5".into(),
            template: None,
        }
    }

    #[test]
    fn each_field_is_checked_by_name() {
        let tz = chrono_tz::Europe::Kyiv;
        assert!(spec().validate(tz).is_ok());
        let field = |s: CheckSpec| s.validate(tz).unwrap_err().field;
        assert_eq!(
            field(CheckSpec {
                cron: "0 0 25 * * *".into(),
                ..spec()
            }),
            "cron"
        );
        assert_eq!(
            field(CheckSpec {
                circle: "north".into(),
                ..spec()
            }),
            "circle"
        );
        assert_eq!(
            field(CheckSpec {
                name: "@digest".into(),
                ..spec()
            }),
            "name"
        );
    }
}
