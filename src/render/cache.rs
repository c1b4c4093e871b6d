//! Rendering a notice event once per channel and language instead of once
//! per resident.
//!
//! A fan-out to a million residents sends a handful of different texts:
//! only the per-delivery links (acknowledge, keypress, unsubscribe) differ.
//! Rendering the templates for each message took about 15 % of the
//! service's CPU. So the text is rendered once with stand-ins where the
//! links go, and each message gets its links put in. That is only done
//! when it is provably the same: the text is rendered with two different
//! sets of stand-ins, and unless swapping one set for the other turns the
//! first rendering into the second exactly (a template that transforms a
//! link, or a notice whose own text contains a stand-in, would not), that
//! channel and language are rendered per message as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tocsin_channels::{ChannelKind, Content};

use super::{MessageInput, RenderError, Renderer};
use crate::domain::Language;

/// Stand-ins for the links, from Unicode's private use area: no link
/// contains them and no escaping changes them.
struct StandIns {
    ack: &'static str,
    gather: &'static str,
    unsubscribe: &'static str,
}

const FIRST: StandIns = StandIns {
    ack: "\u{E000}ack\u{E000}",
    gather: "\u{E000}gather\u{E000}",
    unsubscribe: "\u{E000}unsubscribe\u{E000}",
};
const SECOND: StandIns = StandIns {
    ack: "\u{E001}ack\u{E001}",
    gather: "\u{E001}gather\u{E001}",
    unsubscribe: "\u{E001}unsubscribe\u{E001}",
};

/// Which links a message has: part of the key, since a template may
/// render differently without one.
type Present = [bool; 3];

/// A rendered text with stand-ins for the links, or `None`: render per
/// message.
type Template = Option<Arc<Content>>;

/// Texts of one notice event; lives as long as the worker keeps the event.
/// `None` marks a channel and language that must be rendered per message.
/// Shared, not cloned, per message: each message builds its own copy with
/// its links anyway.
#[derive(Debug, Default)]
pub struct RenderCache {
    texts: Mutex<HashMap<(ChannelKind, Language, Present), Template>>,
}

impl Renderer {
    /// What `render` returns for `input`, from `cache` when this event was
    /// rendered for the channel and language before (see the module docs).
    pub fn render_cached(
        &self,
        cache: &RenderCache,
        channel: ChannelKind,
        input: &MessageInput<'_>,
    ) -> Result<Content, RenderError> {
        let present = [
            input.ack_url.is_some(),
            input.gather_url.is_some(),
            input.unsubscribe_url.is_some(),
        ];
        let key = (channel, input.language.clone(), present);
        let lock = || cache.texts.lock().unwrap_or_else(|e| e.into_inner());
        let cached = lock().get(&key).cloned();
        let template = match cached {
            Some(t) => t,
            None => {
                let t = self.with_stand_ins(channel, input)?.map(Arc::new);
                lock().insert(key, t.clone());
                t
            }
        };
        match template {
            Some(content) => Ok(map_text(&content, |text| put_links(text, input))),
            None => self.render(channel, input),
        }
    }

    /// The content with `FIRST`'s stand-ins for the links, if putting links
    /// in afterwards is exactly the same as rendering with them.
    fn with_stand_ins(
        &self,
        channel: ChannelKind,
        input: &MessageInput<'_>,
    ) -> Result<Option<Content>, RenderError> {
        let with = |s: &StandIns| MessageInput {
            ack_url: input.ack_url.map(|_| s.ack),
            gather_url: input.gather_url.map(|_| s.gather),
            unsubscribe_url: input.unsubscribe_url.map(|_| s.unsubscribe),
            ..*input
        };
        let first = self.render(channel, &with(&FIRST))?;
        let second = self.render(channel, &with(&SECOND))?;
        let swapped = map_text(&first, |text| {
            text.replace(FIRST.ack, SECOND.ack)
                .replace(FIRST.gather, SECOND.gather)
                .replace(FIRST.unsubscribe, SECOND.unsubscribe)
        });
        Ok((swapped == second).then_some(first))
    }
}

fn put_links(text: &str, input: &MessageInput<'_>) -> String {
    let mut out = text.to_owned();
    for (stand_in, link) in [
        (FIRST.ack, input.ack_url),
        (FIRST.gather, input.gather_url),
        (FIRST.unsubscribe, input.unsubscribe_url),
    ] {
        if let Some(link) = link
            && out.contains(stand_in)
        {
            out = out.replace(stand_in, link);
        }
    }
    out
}

/// The same content with `f` applied to every text in it.
fn map_text(content: &Content, f: impl Fn(&str) -> String) -> Content {
    match content {
        Content::Push { title, body, data } => Content::Push {
            title: f(title),
            body: f(body),
            data: data.iter().map(|(k, v)| (k.clone(), f(v))).collect(),
        },
        Content::Sms { body } => Content::Sms { body: f(body) },
        Content::Email { subject, body } => Content::Email {
            subject: f(subject),
            body: f(body),
        },
        Content::Voice {
            language,
            speech,
            prompt,
            gather_url,
        } => Content::Voice {
            language: language.clone(),
            speech: f(speech),
            prompt: f(prompt),
            gather_url: gather_url.as_deref().map(f),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventKind, NoticeKind};
    use crate::render::tests::{event, notice};

    fn input<'a>(
        n: &'a crate::store::Notice,
        e: &'a crate::store::NoticeEvent,
        language: &'a Language,
        id: u32,
        links: &'a mut Vec<String>,
    ) -> MessageInput<'a> {
        *links = vec![
            format!("https://alerts.example/ack/{id}.sig"),
            format!("https://alerts.example/g/{id}"),
            format!("https://alerts.example/unsubscribe/{id}.sig"),
        ];
        MessageInput {
            notice: n,
            event: e,
            language,
            ack_url: Some(&links[0]),
            gather_url: Some(&links[1]),
            unsubscribe_url: Some(&links[2]),
        }
    }

    /// Every channel and language, two deliveries each: the cached text
    /// is exactly the per-message rendering, links included.
    #[test]
    fn cached_texts_equal_rendering_each_message() {
        let r = Renderer::default();
        let n = notice(NoticeKind::Unplanned, Some("pipe burst"), true);
        let e = event(EventKind::Published, None);
        let cache = RenderCache::default();
        for lang in ["uk", "pl", "en", "de"] {
            let language = Language::parse(lang).unwrap();
            for channel in ChannelKind::ALL {
                for id in [1, 2] {
                    let mut links = Vec::new();
                    let input = input(&n, &e, &language, id, &mut links);
                    let cached = r.render_cached(&cache, channel, &input).unwrap();
                    assert_eq!(
                        cached,
                        r.render(channel, &input).unwrap(),
                        "{lang} {channel}"
                    );
                }
            }
        }
        let texts = cache.texts.lock().unwrap();
        assert!(
            texts.values().all(Option::is_some),
            "every stock template caches"
        );
    }

    #[test]
    fn a_template_that_transforms_a_link_is_rendered_per_message() {
        let mut r = Renderer::default();
        r.add_template(
            "en/push.j2",
            "{% block title %}T{% endblock %}{% block body %}{{ ack_url | upper }}{% endblock %}",
        );
        let n = notice(NoticeKind::Planned, None, true);
        let e = event(EventKind::Published, None);
        let language = Language::parse("en").unwrap();
        let cache = RenderCache::default();
        for id in [1, 2] {
            let mut links = Vec::new();
            let input = input(&n, &e, &language, id, &mut links);
            let cached = r.render_cached(&cache, ChannelKind::Fcm, &input).unwrap();
            assert_eq!(cached, r.render(ChannelKind::Fcm, &input).unwrap());
        }
        assert_eq!(cache.texts.lock().unwrap().values().next(), Some(&None));
    }

    #[test]
    fn a_title_holding_a_stand_in_is_not_taken_for_a_link() {
        let r = Renderer::default();
        let mut n = notice(NoticeKind::Planned, None, true);
        n.title = format!("Works {} here", FIRST.ack);
        let e = event(EventKind::Published, None);
        let language = Language::parse("en").unwrap();
        let cache = RenderCache::default();
        let mut links = Vec::new();
        let input = input(&n, &e, &language, 1, &mut links);
        for channel in ChannelKind::ALL {
            let cached = r.render_cached(&cache, channel, &input).unwrap();
            assert_eq!(cached, r.render(channel, &input).unwrap(), "{channel}");
        }
    }
}
