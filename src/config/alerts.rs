//! Civil-protection settings (`[alerts]`): the CAP sender, the default test
//! audience, pre-made templates and which of them skip the second
//! operator's approval.

use serde::Deserialize;
use std::collections::BTreeMap;
use tocsin_cap::{Certainty, Severity, Urgency};

use crate::domain::check::CheckSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// CAP `sender` of alerts composed in Tocsin (an e-mail-like id).
    pub sender: String,
    /// The audience an Exercise or Test reaches when the request names none.
    pub test_audience: Option<String>,
    /// Templates an Actual alert may use without a second operator. Every
    /// such use is journaled. The false-alarm `cancel` is listed by default
    /// so that a correction takes one request.
    pub preapproved: Vec<String>,
    /// Pre-made alerts by name, e.g. `[alerts.templates.air_raid]`.
    pub templates: BTreeMap<String, AlertTemplate>,
    /// Scheduled warning-system checks (`[[alerts.checks]]`).
    pub checks: Vec<CheckSpec>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            sender: "civil-protection@tocsin.invalid".to_owned(),
            test_audience: None,
            preapproved: vec![CANCEL.to_owned()],
            templates: BTreeMap::new(),
            checks: Vec::new(),
        }
    }
}

/// The built-in false-alarm correction (see `AlertTemplate::cancel`).
pub const CANCEL: &str = "cancel";
/// The built-in warning-system check message (see `AlertTemplate::check`).
pub const CHECK: &str = "check";

/// A pre-made alert: the CAP info fields, with text per language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTemplate {
    pub event: String,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    #[serde(default = "safety")]
    pub category: String,
    /// By language tag, e.g. `[alerts.templates.air_raid.text.uk-UA]`.
    pub text: BTreeMap<String, TemplateText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    pub headline: String,
    pub description: Option<String>,
    pub instruction: Option<String>,
}

fn safety() -> String {
    "Safety".to_owned()
}

impl AlertsConfig {
    /// The named template; `cancel` exists even when not configured.
    pub fn template(&self, name: &str) -> Option<AlertTemplate> {
        self.templates
            .get(name)
            .cloned()
            .or_else(|| (name == CANCEL).then(AlertTemplate::cancel))
            .or_else(|| (name == CHECK).then(AlertTemplate::check))
    }

    pub fn validate(&self, tz: chrono_tz::Tz) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.checks.iter().enumerate() {
            let field = |f: &str| format!("alerts.checks[{i}].{f}");
            c.validate(tz)
                .map_err(|e| format!("{}: {}", field(e.field), e.message))?;
            if !names.insert(c.name.as_str()) {
                return Err(format!("{}: \"{}\" is used twice", field("name"), c.name));
            }
            let template = c.template.as_deref().unwrap_or(CHECK);
            if self.template(template).is_none() {
                return Err(format!(
                    "{}: no template named \"{template}\"",
                    field("template")
                ));
            }
            if c.audience.is_none() && self.test_audience.is_none() {
                return Err(format!(
                    "{}: a check goes to a test audience; name one here or set alerts.test_audience",
                    field("audience")
                ));
            }
        }
        for (name, t) in &self.templates {
            let field = |f: &str| format!("alerts.templates.{name}.{f}");
            if Urgency::parse(&t.urgency).is_none() {
                return Err(format!(
                    "{}: expected one of {}",
                    field("urgency"),
                    Urgency::expected()
                ));
            }
            if Severity::parse(&t.severity).is_none() {
                return Err(format!(
                    "{}: expected one of {}",
                    field("severity"),
                    Severity::expected()
                ));
            }
            if Certainty::parse(&t.certainty).is_none() {
                return Err(format!(
                    "{}: expected one of {}",
                    field("certainty"),
                    Certainty::expected()
                ));
            }
            if tocsin_cap::Category::parse(&t.category).is_none() {
                return Err(format!(
                    "{}: expected one of {}",
                    field("category"),
                    tocsin_cap::Category::expected()
                ));
            }
            if t.text.is_empty() {
                return Err(format!("{}: needs at least one language", field("text")));
            }
        }
        for name in &self.preapproved {
            if self.template(name).is_none() {
                return Err(format!(
                    "alerts.preapproved names \"{name}\", which is not a template"
                ));
            }
        }
        Ok(())
    }
}

impl AlertTemplate {
    /// The routine warning-system check.
    pub fn check() -> Self {
        let text = |headline: &str| TemplateText {
            headline: headline.to_owned(),
            description: None,
            instruction: None,
        };
        Self {
            event: "Warning system check".to_owned(),
            urgency: "Expected".to_owned(),
            severity: "Minor".to_owned(),
            certainty: "Observed".to_owned(),
            category: safety(),
            text: BTreeMap::from([
                (
                    "uk-UA".to_owned(),
                    text("Перевірка системи оповіщення, дій не потрібно"),
                ),
                (
                    "pl-PL".to_owned(),
                    text("Test systemu ostrzegania, nie trzeba nic robić"),
                ),
                (
                    "en-US".to_owned(),
                    text("Warning system check; no action is needed"),
                ),
            ]),
        }
    }

    /// The false-alarm correction: what the Hawaii operators needed 38
    /// minutes to compose in 2018.
    pub fn cancel() -> Self {
        let text = |headline: &str, instruction: &str| TemplateText {
            headline: headline.to_owned(),
            description: None,
            instruction: Some(instruction.to_owned()),
        };
        Self {
            event: "False alarm".to_owned(),
            urgency: "Immediate".to_owned(),
            severity: "Minor".to_owned(),
            certainty: "Observed".to_owned(),
            category: safety(),
            text: BTreeMap::from([
                (
                    "uk-UA".to_owned(),
                    text(
                        "Відбій: попереднє сповіщення надіслано помилково",
                        "Загрози немає, жодних дій не потрібно",
                    ),
                ),
                (
                    "pl-PL".to_owned(),
                    text(
                        "Odwołanie: poprzedni komunikat wysłano omyłkowo",
                        "Nie ma zagrożenia, nie trzeba nic robić",
                    ),
                ),
                (
                    "en-US".to_owned(),
                    text(
                        "Cancelled: the previous alert was sent in error",
                        "There is no threat; no action is needed",
                    ),
                ),
            ]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Format;

    fn parse(toml: &str) -> Result<(), String> {
        let c: AlertsConfig = figment::Figment::new()
            .merge(figment::providers::Toml::string(toml))
            .extract()
            .map_err(|e| e.to_string())?;
        c.validate(chrono_tz::Europe::Kyiv)
    }

    #[test]
    fn checks_are_validated_naming_the_field() {
        let ok = "[[checks]]\nname = \"s\"\ncron = \"0 0 8,14,20 * * *\"\naudience = \"a\"\ncircle = \"50.7,25.3 5\"\n";
        assert_eq!(parse(ok), Ok(()));
        let bad_cron = ok.replace("8,14,20", "25");
        assert!(
            parse(&bad_cron)
                .unwrap_err()
                .contains("alerts.checks[0].cron")
        );
        let bad_circle = ok.replace("50.7,25.3 5", "north");
        assert!(
            parse(&bad_circle)
                .unwrap_err()
                .contains("alerts.checks[0].circle")
        );
        let no_audience = ok.replace("audience = \"a\"\n", "");
        assert!(parse(&no_audience).unwrap_err().contains("test audience"));
        let unknown = "preapproved = [\"air_raid\"]\n";
        assert!(parse(unknown).unwrap_err().contains("not a template"));
    }
}
