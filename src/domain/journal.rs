//! The tamper-evident journal: every entry carries the SHA-256 of the
//! previous entry's hash and its own content, so changing, removing or
//! reordering any stored row breaks the chain from that row on, and
//! `verify` names the first entry that no longer fits.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash the first entry chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who did it: `admin:<label>`, `organisation:<id>`, `system`.
    pub actor: String,
    /// What happened, e.g. `notice.published`.
    pub action: String,
    /// What it happened to, e.g. `notice/12`.
    pub subject: String,
    /// Details as JSON text, stored and hashed byte for byte.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// What a caller asks to record; the store numbers and chains it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJournalEntry {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

impl NewJournalEntry {
    /// The entry this becomes when appended after `last` (id and hash of
    /// the newest entry; `None` for an empty journal). `at` is kept to the
    /// millisecond, as stored and hashed.
    pub fn chained(&self, last: Option<(i64, String)>, at: DateTime<Utc>) -> JournalEntry {
        let (prev_id, prev_hash) = last.unwrap_or((0, GENESIS.to_owned()));
        let at = DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at);
        let mut e = JournalEntry {
            id: prev_id + 1,
            at,
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            detail: self.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        e.hash = e.computed_hash();
        e
    }
}

impl JournalEntry {
    /// What `hash` must be for these fields.
    pub fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.id,
            self.at.timestamp_millis(),
            &self.actor,
            &self.action,
            &self.subject,
            &self.detail,
        )
    }
}

/// The hash of an entry with these fields after `prev_hash`. Fields are
/// length-prefixed, so no choice of text can make two entries hash alike.
pub fn entry_hash(
    prev_hash: &str,
    id: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev_hash,
        &id.to_string(),
        &at_ms.to_string(),
        actor,
        action,
        subject,
        detail,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry {id}: {reason}")]
pub struct Broken {
    pub id: i64,
    pub reason: String,
}

/// Checks a chain entry by entry, in id order, so a long journal can be
/// read page by page.
#[derive(Debug)]
pub struct Verifier {
    prev: String,
    expected_id: i64,
    count: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            prev: GENESIS.to_owned(),
            expected_id: 1,
            count: 0,
        }
    }
}

impl Verifier {
    pub fn check(&mut self, e: &JournalEntry) -> Result<(), Broken> {
        let broken = |reason: &str| Broken {
            id: e.id,
            reason: reason.to_owned(),
        };
        if e.id != self.expected_id {
            return Err(Broken {
                id: e.id,
                reason: format!(
                    "expected entry {} here: an entry was removed or inserted",
                    self.expected_id
                ),
            });
        }
        if e.prev_hash != self.prev {
            return Err(broken("does not follow the entry before it"));
        }
        let hash = e.computed_hash();
        if hash != e.hash {
            return Err(broken("its content was changed after it was written"));
        }
        self.prev = hash;
        self.expected_id += 1;
        self.count += 1;
        Ok(())
    }

    /// Entries checked so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Checks a whole chain read in id order; returns how many entries it holds.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a JournalEntry>) -> Result<u64, Broken> {
    let mut v = Verifier::default();
    for e in entries {
        v.check(e)?;
    }
    Ok(v.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<JournalEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|id| {
                let at = DateTime::from_timestamp_millis(1_800_000_000_000 + id).unwrap();
                let detail = format!("{{\"n\":{id}}}");
                let hash = entry_hash(
                    &prev,
                    id,
                    at.timestamp_millis(),
                    "system",
                    "test",
                    "x",
                    &detail,
                );
                let e = JournalEntry {
                    id,
                    at,
                    actor: "system".into(),
                    action: "test".into(),
                    subject: "x".into(),
                    detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn any_change_is_found_at_the_entry_changed() {
        let mut edited = chain(5);
        edited[2].detail = "{\"n\":99}".into();
        assert_eq!(verify(&edited).unwrap_err().id, 3);

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify(&removed).unwrap_err().id, 3);

        // Re-hashing the edited entry does not help: the next one no
        // longer follows it.
        let mut rehashed = chain(5);
        let e = &mut rehashed[2];
        e.actor = "someone else".into();
        e.hash = entry_hash(
            &e.prev_hash,
            e.id,
            e.at.timestamp_millis(),
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
        );
        assert_eq!(verify(&rehashed).unwrap_err().id, 4);
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let a = entry_hash(GENESIS, 1, 0, "ab", "c", "s", "{}");
        let b = entry_hash(GENESIS, 1, 0, "a", "bc", "s", "{}");
        assert_ne!(a, b);
    }
}
