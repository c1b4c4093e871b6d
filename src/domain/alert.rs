//! Civil-protection alerts: what their messages say, the exercise marker
//! that no drill message may lack, and which alerts ride the top lane.
//!
//! An alert is a CAP 1.2 document (`tocsin_cap::Alert`); when it is sent,
//! it becomes a notice whose `AlertContent` holds the text per language
//! and the marker. The renderer applies the marker to every channel's
//! content, so a drill cannot be rendered without it (Hawaii, 2018: the
//! drill and the live alert looked the same).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tocsin_cap::{MsgType, Severity, Status};
use tocsin_channels::Content;

use super::Language;

pub mod lanes;
pub use lanes::{LaneDecision, LanePolicy};

/// Where an alert is in its life.
///
/// ```text
/// pending ──approved──▶ sent ──a later Update sent──▶ superseded
///    │                   │  ╲                              │
///    │ expires passed    │   ╲──a Cancel sent──▶ ended ◀───┘
///    ▼                   ▼
/// expired        (its notice closes when it expires)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// An Actual alert waiting for a second person's approval.
    Pending,
    /// Handed to the dispatcher (its notice exists) and in effect.
    Sent,
    /// Kept and published as CAP, never sent to residents (Draft, System).
    Recorded,
    /// Pending when its `expires` passed: nobody approved it in time.
    Expired,
    /// A later Update of the same alert was sent and is in effect instead.
    Superseded,
    /// An all-clear or a correction (a Cancel) ended it.
    Ended,
}

impl AlertState {
    const ALL: [Self; 6] = [
        Self::Pending,
        Self::Sent,
        Self::Recorded,
        Self::Expired,
        Self::Superseded,
        Self::Ended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Recorded => "recorded",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Reached residents once: its CAP document stays public (for an
    /// Actual, Public alert) and an Update or Cancel may refer to it.
    pub fn was_sent(self) -> bool {
        matches!(self, Self::Sent | Self::Superseded | Self::Ended)
    }
}

/// What happens to a new alert, decided by its CAP status alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Actual: a second operator approves it (unless a pre-approved
    /// template is used).
    Approval,
    /// Exercise, Test: sent at once, marked, to a test audience.
    Drill(Marker),
    /// Draft, System: stored only.
    Record,
}

pub fn route(status: Status) -> Route {
    match status {
        Status::Actual => Route::Approval,
        Status::Exercise => Route::Drill(Marker::Exercise),
        Status::Test => Route::Drill(Marker::Test),
        Status::System | Status::Draft => Route::Record,
    }
}

/// The word every message of a drill starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Marker {
    Exercise,
    Test,
}

impl Marker {
    /// In the resident's language; English for languages without one.
    pub fn word(self, language: &Language) -> &'static str {
        match (self, primary(language.as_str())) {
            (Self::Exercise, "uk") => "НАВЧАННЯ",
            (Self::Exercise, "pl") => "ĆWICZENIA",
            (Self::Exercise, _) => "EXERCISE",
            (Self::Test, "uk") => "ТЕСТ",
            (Self::Test, "pl") => "TEST",
            (Self::Test, _) => "TEST",
        }
    }

    /// Prefixes every text a resident sees or hears.
    pub fn apply(self, language: &Language, content: Content) -> Content {
        let word = self.word(language);
        let mark = |text: String| format!("{word}: {text}");
        let bracket = |text: String| format!("[{word}] {text}");
        match content {
            Content::Push { title, body, data } => Content::Push {
                title: bracket(title),
                body: mark(body),
                data,
            },
            Content::Sms { body } => Content::Sms { body: mark(body) },
            Content::Email { subject, body } => Content::Email {
                subject: bracket(subject),
                body: mark(body),
            },
            Content::Voice {
                language,
                speech,
                prompt,
                gather_url,
            } => Content::Voice {
                language,
                // Said twice: a listener may miss the first word of a call.
                speech: format!("{word}. {word}. {speech}"),
                prompt,
                gather_url,
            },
        }
    }
}

/// "uk" of "uk-UA".
pub fn primary(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag)
}

/// What one language's messages say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertText {
    pub event: String,
    pub headline: String,
    pub description: Option<String>,
    pub instruction: Option<String>,
}

/// What one alert message (an Alert, Update or Cancel) says: the event of
/// the alert's notice it sent carries it, so each event renders its own
/// text. Built only from a CAP alert, so the marker always follows the
/// status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertContent {
    marker: Option<Marker>,
    msg_type: String,
    /// The lane table let this message past quiet hours (always so in the
    /// urgent lane; see `lanes.rs`).
    #[serde(default)]
    bypass_quiet_hours: bool,
    /// The gravest CAP severity of its infos, for whoever lists it.
    #[serde(default)]
    severity: Option<String>,
    /// By primary language subtag, in the order of the alert's infos.
    texts: BTreeMap<String, AlertText>,
    /// The language of the first info: the fallback for other residents.
    first: String,
}

impl AlertContent {
    pub fn from_cap(alert: &tocsin_cap::Alert, lane: LaneDecision) -> Self {
        let mut texts = BTreeMap::new();
        for info in &alert.infos {
            let text = AlertText {
                event: info.event.clone(),
                headline: info.headline.clone().unwrap_or_else(|| info.event.clone()),
                description: info.description.clone(),
                instruction: info.instruction.clone(),
            };
            texts
                .entry(primary(&info.language).to_lowercase())
                .or_insert(text);
        }
        let first = alert
            .infos
            .first()
            .map(|i| primary(&i.language).to_lowercase())
            .unwrap_or_else(|| "en".to_owned());
        Self {
            marker: match route(alert.status) {
                Route::Drill(marker) => Some(marker),
                // Never sent; marked anyway should one ever be rendered.
                Route::Record => Some(Marker::Test),
                Route::Approval => None,
            },
            msg_type: alert.msg_type.as_str().to_owned(),
            bypass_quiet_hours: lane.bypass_quiet_hours,
            severity: gravest(alert).map(|s| s.as_str().to_owned()),
            texts,
            first,
        }
    }

    pub fn bypasses_quiet_hours(&self) -> bool {
        self.bypass_quiet_hours
    }

    /// What lists show of it: a real alert or a drill, and how grave.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "real": self.marker.is_none(),
            "marker": self.marker,
            "severity": self.severity,
            "msg_type": self.msg_type,
        })
    }

    pub fn marker(&self) -> Option<Marker> {
        self.marker
    }

    /// "Alert", "Update" or "Cancel".
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// The resident's language, else English, else the first info's.
    pub fn text_for(&self, language: &Language) -> Option<&AlertText> {
        let lang = primary(language.as_str()).to_lowercase();
        self.texts
            .get(&lang)
            .or_else(|| self.texts.get("en"))
            .or_else(|| self.texts.get(&self.first))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("alert content serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The gravest CAP severity among the alert's infos (Unknown last).
pub fn gravest(alert: &tocsin_cap::Alert) -> Option<Severity> {
    alert
        .infos
        .iter()
        .map(|i| i.severity)
        .min_by_key(|s| Severity::ALL.iter().position(|v| v == s))
}

/// Which message types Tocsin acts on (Ack, Error are for systems).
pub fn accepted_type(t: MsgType) -> bool {
    matches!(t, MsgType::Alert | MsgType::Update | MsgType::Cancel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Language {
        Language::parse(s).unwrap()
    }

    fn every_content() -> Vec<Content> {
        vec![
            Content::Push {
                title: "t".into(),
                body: "b".into(),
                data: Default::default(),
            },
            Content::Sms { body: "b".into() },
            Content::Email {
                subject: "s".into(),
                body: "b".into(),
            },
            Content::Voice {
                language: "uk-UA".into(),
                speech: "s".into(),
                prompt: "p".into(),
                gather_url: None,
            },
        ]
    }

    #[test]
    fn the_marker_leads_every_text_of_every_channel() {
        for (l, word) in [("uk", "НАВЧАННЯ"), ("pl", "ĆWICZENIA"), ("en", "EXERCISE")] {
            for c in every_content() {
                let texts: Vec<String> = match Marker::Exercise.apply(&lang(l), c) {
                    Content::Push { title, body, .. } => vec![title, body],
                    Content::Sms { body } => vec![body],
                    Content::Email { subject, body } => vec![subject, body],
                    Content::Voice { speech, .. } => vec![speech],
                };
                for t in texts {
                    assert!(t.trim_start_matches('[').starts_with(word), "{t}");
                }
            }
        }
        assert_eq!(Marker::Test.word(&lang("uk")), "ТЕСТ");
        assert_eq!(Marker::Exercise.word(&lang("de")), "EXERCISE");
    }

    #[test]
    fn statuses_route_to_approval_drill_or_record() {
        assert_eq!(route(Status::Actual), Route::Approval);
        assert_eq!(route(Status::Exercise), Route::Drill(Marker::Exercise));
        assert_eq!(route(Status::Test), Route::Drill(Marker::Test));
        assert_eq!(route(Status::Draft), Route::Record);
    }
}
