//! The tamper-evident journal: every entry carries an HMAC-SHA256, under a
//! key kept outside the database, of the previous entry's hash and its own
//! content. Changing, removing or reordering any stored row breaks the
//! chain from that row on, and recomputing the hashes needs the key.
//! `Verifier` names the first entry that no longer fits.
//!
//! Entries written before the key existed carry a plain SHA-256 of the
//! same fields ("legacy"). They are accepted only as the start of the
//! chain: the first keyed entry covers the last legacy hash, so the
//! prefix cannot be rewritten either, and the newest entry must be keyed,
//! so a journal rewritten or cut back to plain hashes does not verify.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The hash the first entry chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who did it: `admin`, `organisation:<id>`, `operator:<name>`, or a
    /// part of the service itself, `system:<part>` (see `domain::actor`).
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

/// The journal's HMAC key: at least 32 bytes, never printed.
#[derive(Clone)]
pub struct JournalKey(Arc<[u8]>);

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalKey(***)")
    }
}

impl JournalKey {
    /// Shorter keys make the HMAC guessable; 32 bytes is SHA-256's size.
    pub const MIN_BYTES: usize = 32;
    /// Far more than any sensible key; bounds what a key file may hold.
    pub const MAX_BYTES: usize = 1024;

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if !(Self::MIN_BYTES..=Self::MAX_BYTES).contains(&bytes.len()) {
            return Err(format!(
                "must be {} to {} bytes, not {}",
                Self::MIN_BYTES,
                Self::MAX_BYTES,
                bytes.len()
            ));
        }
        Ok(Self(bytes.into()))
    }

    /// A new random key of 32 bytes.
    pub fn generate() -> Self {
        Self(crate::domain::auth::random_bytes(Self::MIN_BYTES).into())
    }

    /// Hex (tried first) or base64 text; surrounding whitespace is
    /// ignored. Errors never repeat the text: it is a secret.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            decode_hex(text)
        } else {
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(text).ok())
                .ok_or_else(|| "must be hex or base64 text".to_owned())?
        };
        Self::from_bytes(&bytes).map_err(|e| format!("{e} once decoded"))
    }

    /// The key as hex text, for the key file `serve` creates.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

impl NewJournalEntry {
    /// The entry this becomes when appended after `last` (id and hash of
    /// the newest entry; `None` for an empty journal), keyed. `at` is kept
    /// to the millisecond, as stored and hashed.
    pub fn chained(
        &self,
        last: Option<(i64, String)>,
        at: DateTime<Utc>,
        key: &JournalKey,
    ) -> JournalEntry {
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
        e.hash = e.keyed_hash(key);
        e
    }
}

/// How an entry's stored hash was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// HMAC-SHA256 under the journal key.
    Keyed,
    /// Plain SHA-256, written before the journal had a key.
    Legacy,
}

impl JournalEntry {
    /// What `hash` must be for these fields under `key`.
    pub fn keyed_hash(&self, key: &JournalKey) -> String {
        let mut mac = key.mac();
        self.feed(|part| mac.update(part));
        hex(&mac.finalize().into_bytes())
    }

    /// What `hash` was for these fields before the journal had a key.
    pub fn legacy_hash(&self) -> String {
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

    /// Whether the stored hash fits the fields, and how; `None` when it
    /// fits neither way (changed, or written under another key).
    pub fn hashing(&self, key: &JournalKey) -> Option<Hashing> {
        if self.hash == self.keyed_hash(key) {
            Some(Hashing::Keyed)
        } else if self.hash == self.legacy_hash() {
            Some(Hashing::Legacy)
        } else {
            None
        }
    }

    fn feed(&self, update: impl FnMut(&[u8])) {
        feed_fields(
            [
                &self.prev_hash,
                &self.id.to_string(),
                &self.at.timestamp_millis().to_string(),
                &self.actor,
                &self.action,
                &self.subject,
                &self.detail,
            ],
            update,
        );
    }
}

/// Fields are length-prefixed, so no choice of text can make two entries
/// hash alike.
fn feed_fields(parts: [&str; 7], mut update: impl FnMut(&[u8])) {
    for part in parts {
        update(&(part.len() as u64).to_be_bytes());
        update(part.as_bytes());
    }
}

/// The plain SHA-256 of an entry with these fields after `prev_hash`, as
/// entries were hashed before the journal had a key.
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
    feed_fields(
        [
            prev_hash,
            &id.to_string(),
            &at_ms.to_string(),
            actor,
            action,
            subject,
            detail,
        ],
        |part| h.update(part),
    );
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where and why the chain broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("entry {id}: {reason}")]
    Entry { id: i64, reason: String },
    /// A head recorded earlier (`--head`) is gone: newer rows were removed.
    #[error(
        "the entry with hash {hash} is not in the journal (its newest entry is now {newest}): \
         entries were removed, or the hash is not from this journal"
    )]
    Missing { hash: String, newest: String },
}

impl Broken {
    /// The entry the chain broke at, if it broke at one.
    pub fn id(&self) -> Option<i64> {
        match self {
            Self::Entry { id, .. } => Some(*id),
            Self::Missing { .. } => None,
        }
    }
}

/// What a verified chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub entries: u64,
    /// Entries hashed without the key, all at the start of the chain.
    pub legacy: u64,
    /// Id and hash of the newest entry.
    pub head: Option<(i64, String)>,
}

/// Checks a chain entry by entry, in id order, so a long journal can be
/// read page by page.
#[derive(Debug)]
pub struct Verifier {
    key: JournalKey,
    prev: String,
    expected_id: i64,
    checked: Checked,
    /// A hash that must appear in the chain (`--head`), and whether it did.
    expect: Option<(String, bool)>,
}

impl Verifier {
    pub fn new(key: &JournalKey) -> Self {
        Self {
            key: key.clone(),
            prev: GENESIS.to_owned(),
            expected_id: 1,
            checked: Checked {
                entries: 0,
                legacy: 0,
                head: None,
            },
            expect: None,
        }
    }

    /// Also requires an entry with this hash: a head recorded earlier
    /// (the API, the digest), so removing the newest rows is found.
    pub fn expecting(mut self, head: &str) -> Self {
        self.expect = Some((head.to_ascii_lowercase(), false));
        self
    }

    pub fn check(&mut self, e: &JournalEntry) -> Result<(), Broken> {
        let broken = |reason: &str| Broken::Entry {
            id: e.id,
            reason: reason.to_owned(),
        };
        if e.id != self.expected_id {
            return Err(broken(&format!(
                "expected entry {} here: an entry was removed or inserted",
                self.expected_id
            )));
        }
        if e.prev_hash != self.prev {
            return Err(broken("does not follow the entry before it"));
        }
        let keyed_before = self.checked.entries > self.checked.legacy;
        match e.hashing(&self.key) {
            None => {
                return Err(broken(
                    "its content was changed after it was written (or it was written \
                     under another journal key)",
                ));
            }
            Some(Hashing::Legacy) if keyed_before => {
                return Err(broken(
                    "has a plain SHA-256 but follows keyed entries: it was rewritten \
                     without the journal key",
                ));
            }
            Some(Hashing::Legacy) => self.checked.legacy += 1,
            Some(Hashing::Keyed) => {}
        }
        if let Some((hash, seen)) = &mut self.expect {
            *seen |= *hash == e.hash;
        }
        self.prev = e.hash.clone();
        self.expected_id += 1;
        self.checked.entries += 1;
        self.checked.head = Some((e.id, e.hash.clone()));
        Ok(())
    }

    /// The rules about the whole chain: its newest entry is keyed, and the
    /// expected head is in it.
    pub fn finish(self) -> Result<Checked, Broken> {
        let c = self.checked;
        if let Some((id, _)) = &c.head
            && c.legacy == c.entries
        {
            return Err(Broken::Entry {
                id: *id,
                reason: "the newest entry has a plain SHA-256, not the journal key's HMAC: \
                         the journal was rewritten or cut back to entries anyone can recompute \
                         (a journal from before the key is sealed by the next `tocsin serve`)"
                    .to_owned(),
            });
        }
        if let Some((hash, false)) = self.expect {
            let newest = c
                .head
                .as_ref()
                .map_or_else(|| "none, it is empty".to_owned(), |(id, _)| id.to_string());
            return Err(Broken::Missing { hash, newest });
        }
        Ok(c)
    }
}

/// Checks a whole chain read in id order.
pub fn verify<'a>(
    key: &JournalKey,
    entries: impl IntoIterator<Item = &'a JournalEntry>,
) -> Result<Checked, Broken> {
    let mut v = Verifier::new(key);
    for e in entries {
        v.check(e)?;
    }
    v.finish()
}

#[cfg(test)]
mod tests;
