//! A per-recipient count of what one channel's mock accepted: how many
//! messages each recipient got and how many of them were identical copies.
//!
//! A real gateway delivers every request it accepts, so a resend of the same
//! notice is a second SMS on a phone; the tally is how tests see that.
//! Content is what the person sees (an SMS body, a push's title, body and
//! data, a mail's subject and text), so two different notices to one person
//! are two messages, not a duplicate. Contents are compared by a 64-bit
//! hash, which keeps a million-message tally small.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

/// Messages per recipient and identical copies per (recipient, content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    messages: usize,
    recipients: HashMap<String, Received>,
}

/// What one recipient got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Received {
    messages: usize,
    /// Copies per content hash; a person rarely gets more than a few
    /// different messages, so a list beats a map per recipient.
    copies: Vec<(u64, usize)>,
}

impl Received {
    /// Copies beyond the first of each content.
    fn extra(&self) -> usize {
        self.copies.iter().map(|(_, n)| n - 1).sum()
    }

    /// The most identical copies of one content.
    fn most_copies(&self) -> usize {
        self.copies.iter().map(|(_, n)| *n).max().unwrap_or(0)
    }
}

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one accepted message with `content` for `recipient`.
    pub fn record(&mut self, recipient: &str, content: impl Hash) {
        let hash = content_hash(content);
        let received = match self.recipients.get_mut(recipient) {
            Some(r) => r,
            None => self.recipients.entry(recipient.to_owned()).or_default(),
        };
        received.messages += 1;
        match received.copies.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, n)) => *n += 1,
            None => received.copies.push((hash, 1)),
        }
        self.messages += 1;
    }

    /// Messages accepted, every copy counted.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Distinct recipients that got at least one message.
    pub fn recipients(&self) -> usize {
        self.recipients.len()
    }

    /// Messages `recipient` got, every copy counted.
    pub fn count(&self, recipient: &str) -> usize {
        self.recipients.get(recipient).map_or(0, |r| r.messages)
    }

    /// Extra identical copies: for each (recipient, content), copies - 1.
    pub fn duplicates(&self) -> usize {
        self.recipients.values().map(Received::extra).sum()
    }

    /// Recipients that got some message more than once, with the most
    /// identical copies they got of one message; most copies first, then
    /// by recipient.
    pub fn duplicated(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = self
            .recipients
            .iter()
            .map(|(who, r)| (who.clone(), r.most_copies()))
            .filter(|(_, copies)| *copies > 1)
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// The `expected` recipients that got nothing, in the order given.
    pub fn missing<'a>(&self, expected: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        expected
            .into_iter()
            .filter(|who| !self.recipients.contains_key(*who))
            .map(str::to_owned)
            .collect()
    }
}

impl<R: AsRef<str>, C: Hash> FromIterator<(R, C)> for Tally {
    fn from_iter<I: IntoIterator<Item = (R, C)>>(iter: I) -> Self {
        let mut tally = Tally::new();
        for (recipient, content) in iter {
            tally.record(recipient.as_ref(), content);
        }
        tally
    }
}

/// `DefaultHasher::new` has fixed keys, so equal contents hash equally
/// across tallies.
fn content_hash(content: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_copies_are_duplicates() {
        let tally: Tally = [
            ("+1", "water off"),
            ("+1", "water off"),
            ("+2", "water off"),
        ]
        .into_iter()
        .chain([("+1", "water off")])
        .collect();
        assert_eq!(tally.messages(), 4);
        assert_eq!(tally.recipients(), 2);
        assert_eq!(tally.count("+1"), 3);
        assert_eq!(tally.count("+3"), 0);
        assert_eq!(tally.duplicates(), 2);
        assert_eq!(tally.duplicated(), vec![("+1".to_owned(), 3)]);
    }

    #[test]
    fn different_notices_to_one_person_are_not_duplicates() {
        let tally: Tally = [("a@b", "water off"), ("a@b", "water back"), ("c@d", "x")]
            .into_iter()
            .collect();
        assert_eq!(tally.count("a@b"), 2);
        assert_eq!(tally.duplicates(), 0);
        assert!(tally.duplicated().is_empty());
    }

    #[test]
    fn duplicates_add_up_per_content() {
        let mut tally = Tally::new();
        for content in ["a", "a", "b", "b", "b"] {
            tally.record("+1", content);
        }
        tally.record("+2", "a");
        tally.record("+2", "a");
        assert_eq!(tally.duplicates(), 1 + 2 + 1);
        assert_eq!(
            tally.duplicated(),
            vec![("+1".to_owned(), 3), ("+2".to_owned(), 2)]
        );
    }

    #[test]
    fn missing_lists_expected_recipients_that_got_nothing() {
        let tally: Tally = [("+1", "x"), ("+9", "x")].into_iter().collect();
        assert_eq!(tally.missing(["+1", "+2", "+3"]), vec!["+2", "+3"]);
        assert!(tally.missing(["+1"]).is_empty());
        assert!(Tally::new().missing([]).is_empty());
    }
}
