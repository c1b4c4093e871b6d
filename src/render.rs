//! Renders a notice event into channel content in the resident's language,
//! from the templates embedded at build time (see `templates/README.md`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;
use tocsin_channels::{ChannelKind, Content, SmsInfo};

use crate::domain::Language;
use crate::domain::alert::{AlertContent, AlertText};
use crate::store::{Notice, NoticeEvent};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template for {family} messages (looked for {tried})")]
    Missing { family: &'static str, tried: String },
    #[error("template {name} failed: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// What one message is about and who reads it.
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    pub notice: &'a Notice,
    pub event: &'a NoticeEvent,
    pub language: &'a Language,
    /// Link the resident follows to acknowledge (email, push data).
    pub ack_url: Option<&'a str>,
    /// Where a voice call posts the pressed key.
    pub gather_url: Option<&'a str>,
    /// Link that stops email to this contact (email footer).
    pub unsubscribe_url: Option<&'a str>,
}

impl<'a> MessageInput<'a> {
    /// What this event of an alert's notice says: its own text (an Update
    /// or all-clear never repeats the alarm), else the notice's (events
    /// stored before events carried their text).
    fn alert(&self) -> Option<&'a AlertContent> {
        self.event.alert.as_ref().or(self.notice.alert.as_ref())
    }
}

#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
    tz: Tz,
}

/// Which template family serves a channel: both push channels share one.
fn family(channel: ChannelKind) -> &'static str {
    match channel {
        ChannelKind::Fcm | ChannelKind::Apns => "push",
        ChannelKind::Sms => "sms",
        ChannelKind::Email => "email",
        ChannelKind::Voice => "voice",
    }
}

/// Languages shipped with their own templates.
pub const TEMPLATE_LANGUAGES: [&str; 3] = ["uk", "pl", "en"];

/// BCP-47 locale for text-to-speech; unknown languages are read in English.
fn voice_locale(language: &Language) -> &'static str {
    match language.as_str() {
        "uk" => "uk-UA",
        "pl" => "pl-PL",
        _ => "en-US",
    }
}

/// Ends a sentence with a full stop unless it already has punctuation, so
/// "Pipe burst" and "Pipe burst." both read well inside a template.
fn sentence(value: String) -> String {
    let trimmed = value.trim_end();
    match trimmed.chars().last() {
        Some('.' | '!' | '?' | '…') | None => trimmed.to_owned(),
        Some(_) => format!("{trimmed}."),
    }
}

#[derive(Serialize)]
struct NoticeView<'a> {
    id: i64,
    kind: &'static str,
    category: &'static str,
    title: &'a str,
    cause: Option<&'a str>,
    starts_at: String,
    expected_end: Option<String>,
}

#[derive(Serialize)]
struct EventView<'a> {
    kind: &'static str,
    message: Option<&'a str>,
    expected_end: Option<String>,
}

#[derive(Serialize)]
struct View<'a> {
    notice: NoticeView<'a>,
    event: EventView<'a>,
    /// An alert's text in the resident's language (alert templates only).
    alert: Option<&'a AlertText>,
    ack_url: Option<&'a str>,
    unsubscribe_url: Option<&'a str>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new(Tz::UTC)
    }
}

impl Renderer {
    pub fn new(tz: Tz) -> Self {
        let mut env = Environment::new();
        // Undefined variables are errors: a typo in a template fails the
        // template tests instead of sending a message with a hole in it.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_filter("sentence", sentence);
        minijinja_embed::load_templates!(&mut env);
        Self { env, tz }
    }

    /// Adds or replaces a template (tests and future per-city overrides).
    #[cfg(test)]
    fn add_template(&mut self, name: &'static str, source: &'static str) {
        self.env
            .add_template(name, source)
            .expect("valid test template");
    }

    fn format_time(&self, t: DateTime<Utc>, language: &Language) -> String {
        let local = t.with_timezone(&self.tz);
        match language.as_str() {
            "en" => local.format("%Y-%m-%d %H:%M").to_string(),
            _ => local.format("%d.%m.%Y %H:%M").to_string(),
        }
    }

    /// The first existing template in the lookup order of the README.
    fn template_name(
        &self,
        language: &Language,
        kind: &str,
        family: &'static str,
    ) -> Result<String, RenderError> {
        let lang = language.as_str();
        let candidates = [
            format!("{lang}/{kind}.{family}.j2"),
            format!("{lang}/{family}.j2"),
            format!("en/{kind}.{family}.j2"),
            format!("en/{family}.j2"),
        ];
        candidates
            .iter()
            .find(|name| self.env.get_template(name).is_ok())
            .cloned()
            .ok_or_else(|| RenderError::Missing {
                family,
                tried: candidates.join(", "),
            })
    }

    pub fn render(
        &self,
        channel: ChannelKind,
        input: &MessageInput<'_>,
    ) -> Result<Content, RenderError> {
        let family = family(channel);
        // Alerts carry their own text; notices are written from their fields.
        let kind = match input.alert() {
            Some(_) => "alert",
            None => input.notice.kind.as_str(),
        };
        let name = self.template_name(input.language, kind, family)?;
        let fail = |source| RenderError::Template {
            name: name.clone(),
            source,
        };
        let template = self.env.get_template(&name).map_err(fail)?;
        let view = self.view(input);
        let mut captured = template
            .render_captured_to(&view, std::io::sink())
            .map_err(fail)?;
        let mut block = |b: &str| {
            captured
                .with_state_mut(|state| state.render_block(b))
                .map(|s| s.trim().to_owned())
                .map_err(fail)
        };
        let content = match family {
            "push" => Content::Push {
                title: block("title")?,
                body: block("body")?,
                data: push_data(input),
            },
            "sms" => Content::Sms {
                body: block("body")?,
            },
            "email" => Content::Email {
                subject: block("subject")?.replace(['\r', '\n'], " "),
                body: block("body")?,
            },
            _ => Content::Voice {
                language: voice_locale(input.language).to_owned(),
                speech: block("speech")?,
                prompt: block("prompt")?,
                gather_url: input.gather_url.map(str::to_owned),
            },
        };
        // Here and nowhere else: every channel's content of an exercise or
        // test passes this line, so none can go out unmarked.
        Ok(match input.alert().and_then(|a| a.marker()) {
            Some(marker) => marker.apply(input.language, content),
            None => content,
        })
    }

    /// Encoding and segment count of the SMS this event becomes in each
    /// template language: what the city pays per recipient. SMS carry no
    /// per-resident link, so one rendering per language is exact.
    pub fn sms_sizes(
        &self,
        notice: &Notice,
        event: &NoticeEvent,
    ) -> Result<BTreeMap<&'static str, SmsInfo>, RenderError> {
        let mut sizes = BTreeMap::new();
        for lang in TEMPLATE_LANGUAGES {
            let language = Language::parse(lang).expect("template languages are valid tags");
            let input = MessageInput {
                notice,
                event,
                language: &language,
                ack_url: None,
                gather_url: None,
                unsubscribe_url: None,
            };
            if let Content::Sms { body } = self.render(ChannelKind::Sms, &input)? {
                sizes.insert(lang, tocsin_channels::analyze(&body));
            }
        }
        Ok(sizes)
    }

    fn view<'a>(&self, input: &MessageInput<'a>) -> View<'a> {
        let (n, e, lang) = (input.notice, input.event, input.language);
        View {
            notice: NoticeView {
                id: n.id.0,
                kind: n.kind.as_str(),
                category: n.category.as_str(),
                title: &n.title,
                cause: n.cause.as_deref(),
                starts_at: self.format_time(n.starts_at, lang),
                expected_end: n.expected_end.map(|t| self.format_time(t, lang)),
            },
            event: EventView {
                kind: e.kind.as_str(),
                message: e.message.as_deref(),
                expected_end: e.expected_end.map(|t| self.format_time(t, lang)),
            },
            alert: input.alert().and_then(|a| a.text_for(lang)),
            ack_url: input.ack_url,
            unsubscribe_url: input.unsubscribe_url,
        }
    }
}

/// Data keys an app needs to show the notice and acknowledge it.
fn push_data(input: &MessageInput<'_>) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    data.insert("notice_id".to_owned(), input.notice.id.to_string());
    data.insert("event".to_owned(), input.event.kind.as_str().to_owned());
    data.insert("kind".to_owned(), input.notice.kind.as_str().to_owned());
    if let Some(alert) = input.alert() {
        data.insert("alert".to_owned(), alert.msg_type().to_lowercase());
        if let Some(marker) = alert.marker() {
            data.insert("exercise".to_owned(), format!("{marker:?}").to_lowercase());
        }
    }
    data.insert(
        "category".to_owned(),
        input.notice.category.as_str().to_owned(),
    );
    if let Some(url) = input.ack_url {
        data.insert("ack_url".to_owned(), url.to_owned());
    }
    data
}

mod cache;
#[cfg(test)]
mod tests;

pub use cache::RenderCache;
