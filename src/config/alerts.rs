//! Civil-protection settings (`[alerts]`): the CAP sender, the default test
//! audience, pre-made templates, which of them skip the second person's
//! approval, and the lane table (`[alerts.lanes]`, see
//! `domain/alert/lanes.rs`).

use serde::Deserialize;
use std::collections::BTreeMap;
use tocsin_cap::{Certainty, Severity, Urgency};

use crate::domain::alert::LanePolicy;
use crate::domain::check::CheckSpec;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// CAP `sender` of alerts composed in Tocsin (an e-mail-like id).
    pub sender: String,
    /// The audience an Exercise or Test reaches when the request names none.
    pub test_audience: Option<String>,
    /// Ending templates (`ends_alert`) a Cancel of an existing, sent
    /// Actual alert may use without a second person; it then goes to that
    /// alert's audience only. Every such use is journaled. The false-alarm
    /// `cancel` is listed by default so that a correction takes one
    /// request.
    pub preapproved: Vec<String>,
    /// Pre-made alerts by name, e.g. `[alerts.templates.air_raid]`.
    pub templates: BTreeMap<String, AlertTemplate>,
    /// Scheduled warning-system checks (`[[alerts.checks]]`).
    pub checks: Vec<CheckSpec>,
    /// From urgency × severity × certainty to lane and quiet hours.
    pub lanes: LanePolicy,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            sender: "civil-protection@tocsin.invalid".to_owned(),
            test_audience: None,
            preapproved: vec![CANCEL.to_owned()],
            templates: BTreeMap::new(),
            checks: Vec::new(),
            lanes: LanePolicy::default(),
        }
    }
}

/// The built-in false-alarm correction (see `AlertTemplate::cancel`).
pub const CANCEL: &str = "cancel";
/// The built-in all-clear: the threat is over (see `AlertTemplate::all_clear`).
pub const ALL_CLEAR: &str = "all_clear";
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
    /// An all-clear or a correction: sent only as the Cancel of an
    /// existing alert, never as a new alert to an area.
    #[serde(default)]
    pub ends_alert: bool,
    /// The template (with `ends_alert`) whose text ends alerts made from
    /// this one, e.g. "Відбій повітряної тривоги" for an air-raid alert;
    /// unset: the built-in `all_clear`.
    pub all_clear: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateText {
    /// The event's name in this language (unset: the template's
    /// `event`); it titles push messages and emails.
    pub event: Option<String>,
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
            .or_else(|| (name == ALL_CLEAR).then(AlertTemplate::all_clear))
            .or_else(|| (name == CHECK).then(AlertTemplate::check))
    }

    /// The all-clear template of alerts made from `template` (or of
    /// alerts made without one).
    pub fn all_clear_for(&self, template: Option<&str>) -> String {
        template
            .and_then(|t| self.template(t))
            .and_then(|t| t.all_clear)
            .unwrap_or_else(|| ALL_CLEAR.to_owned())
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
            if let Some(end) = &t.all_clear
                && !self.template(end).is_some_and(|e| e.ends_alert)
            {
                return Err(format!(
                    "{}: \"{end}\" is not a template with ends_alert = true",
                    field("all_clear")
                ));
            }
        }
        for name in &self.preapproved {
            match self.template(name) {
                None => {
                    return Err(format!(
                        "alerts.preapproved names \"{name}\", which is not a template"
                    ));
                }
                Some(t) if !t.ends_alert => {
                    return Err(format!(
                        "alerts.preapproved names \"{name}\", which does not end an alert: \
                         only an all-clear or correction (ends_alert = true) may skip the \
                         second person, and only as the Cancel of a sent alert"
                    ));
                }
                Some(_) => {}
            }
        }
        self.lanes.validate()
    }
}

/// One language of a built-in template: tag, event, headline, instruction.
type BuiltinText = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

impl AlertTemplate {
    /// A template shipped with Tocsin, in Ukrainian, Polish and English.
    fn builtin(
        event: &str,
        (urgency, severity): (&str, &str),
        ends_alert: bool,
        texts: [BuiltinText; 3],
    ) -> Self {
        Self {
            event: event.to_owned(),
            urgency: urgency.to_owned(),
            severity: severity.to_owned(),
            certainty: "Observed".to_owned(),
            category: safety(),
            text: texts
                .into_iter()
                .map(|(tag, event, headline, instruction)| {
                    let text = TemplateText {
                        event: Some(event.to_owned()),
                        headline: headline.to_owned(),
                        description: None,
                        instruction: instruction.map(str::to_owned),
                    };
                    (tag.to_owned(), text)
                })
                .collect(),
            ends_alert,
            all_clear: None,
        }
    }

    /// The routine warning-system check.
    pub fn check() -> Self {
        Self::builtin(
            "Warning system check",
            ("Expected", "Minor"),
            false,
            [
                (
                    "uk-UA",
                    "Перевірка системи оповіщення",
                    "Перевірка системи оповіщення, дій не потрібно",
                    None,
                ),
                (
                    "pl-PL",
                    "Test systemu ostrzegania",
                    "Test systemu ostrzegania, nie trzeba nic robić",
                    None,
                ),
                (
                    "en-US",
                    "Warning system check",
                    "Warning system check; no action is needed",
                    None,
                ),
            ],
        )
    }

    /// The false-alarm correction: what the Hawaii operators needed 38
    /// minutes to compose in 2018.
    pub fn cancel() -> Self {
        Self::builtin(
            "False alarm",
            ("Immediate", "Minor"),
            true,
            [
                (
                    "uk-UA",
                    "Хибна тривога",
                    "Відбій: попереднє сповіщення надіслано помилково",
                    Some("Загрози немає, жодних дій не потрібно"),
                ),
                (
                    "pl-PL",
                    "Fałszywy alarm",
                    "Odwołanie: poprzedni komunikat wysłano omyłkowo",
                    Some("Nie ma zagrożenia, nie trzeba nic robić"),
                ),
                (
                    "en-US",
                    "False alarm",
                    "Cancelled: the previous alert was sent in error",
                    Some("There is no threat; no action is needed"),
                ),
            ],
        )
    }

    /// The threat is over. Needs a second person unless listed in
    /// `preapproved`: a false all-clear sends people out of shelter.
    pub fn all_clear() -> Self {
        Self::builtin(
            "All clear",
            ("Immediate", "Minor"),
            true,
            [
                (
                    "uk-UA",
                    "Відбій тривоги",
                    "Відбій тривоги: загроза минула",
                    Some("Дотримуйтеся подальших вказівок міських служб"),
                ),
                (
                    "pl-PL",
                    "Odwołanie alarmu",
                    "Odwołanie alarmu: zagrożenie minęło",
                    Some("Stosuj się do dalszych komunikatów służb miejskich"),
                ),
                (
                    "en-US",
                    "All clear",
                    "All clear: the threat has passed",
                    Some("Follow further instructions from the city's services"),
                ),
            ],
        )
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

    const AIR_RAID: &str = "[templates.air_raid]\nevent = \"Air raid\"\nurgency = \"Immediate\"\n\
        severity = \"Extreme\"\ncertainty = \"Observed\"\n\
        [templates.air_raid.text.uk-UA]\nheadline = \"Повітряна тривога\"\n";

    #[test]
    fn built_in_templates_name_their_event_in_each_language() {
        for t in [
            AlertTemplate::check(),
            AlertTemplate::cancel(),
            AlertTemplate::all_clear(),
        ] {
            let events: Vec<&str> = ["uk-UA", "pl-PL", "en-US"]
                .iter()
                .map(|l| t.text[*l].event.as_deref().unwrap())
                .collect();
            assert_ne!(events[0], events[2], "{events:?}");
            assert_ne!(events[1], events[2], "{events:?}");
        }
        assert!(AlertTemplate::cancel().ends_alert && AlertTemplate::all_clear().ends_alert);
        assert!(!AlertTemplate::check().ends_alert);
    }

    #[test]
    fn only_ending_templates_skip_the_second_person() {
        let alarm = format!("preapproved = [\"air_raid\"]\n{AIR_RAID}");
        let err = parse(&alarm).unwrap_err();
        assert!(err.contains("does not end an alert"), "{err}");
        assert_eq!(parse("preapproved = [\"cancel\", \"all_clear\"]\n"), Ok(()));
    }

    #[test]
    fn an_all_clear_must_be_an_ending_template() {
        let bad = AIR_RAID.replace(
            "[templates.air_raid.text",
            "all_clear = \"air_raid\"\n[templates.air_raid.text",
        );
        let err = parse(&bad).unwrap_err();
        assert!(err.contains("alerts.templates.air_raid.all_clear"), "{err}");
        let good = AIR_RAID.replace(
            "[templates.air_raid.text",
            "all_clear = \"all_clear\"\n[templates.air_raid.text",
        );
        assert_eq!(parse(&good), Ok(()));
    }
}
