//! Civil-protection settings (`[alerts]`): the CAP sender, the default test
//! audience, pre-made templates and which of them skip the second
//! operator's approval.

use serde::Deserialize;
use std::collections::BTreeMap;
use tocsin_cap::{Certainty, Severity, Urgency};

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
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            sender: "civil-protection@tocsin.invalid".to_owned(),
            test_audience: None,
            preapproved: vec![CANCEL.to_owned()],
            templates: BTreeMap::new(),
        }
    }
}

/// The built-in false-alarm correction (see `AlertTemplate::cancel`).
pub const CANCEL: &str = "cancel";

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
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.sender.trim().is_empty() || self.sender.contains([' ', ',', '<', '&']) {
            return Err(format!(
                "alerts.sender \"{}\" must be non-empty without spaces, commas, < or &",
                self.sender
            ));
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
