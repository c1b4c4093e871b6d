//! What `tocsin journal verify` checks: the hash chain (keyed, with any
//! legacy prefix; `domain::journal::Verifier`), that a head recorded
//! earlier is still in it, and that every alert's stored CAP document is
//! the one whose SHA-256 its `alert.created` entry holds, so changing an
//! Exercise into an Actual in the database is found.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::domain::journal::{Broken, Checked, JournalEntry, JournalKey, Verifier};
use crate::store::{Store, StoreError};

/// Journal entries read per query.
const JOURNAL_PAGE: u32 = 10_000;
/// Alerts (with their CAP documents) read per query.
const ALERT_PAGE: u32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub chain: Checked,
    /// Alerts whose CAP matched the journal.
    pub alerts: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("journal BROKEN: {0}")]
    Broken(#[from] Broken),
    /// One line per alert that does not match its journal entries.
    #[error("journal BROKEN: {}", .0.join("\njournal BROKEN: "))]
    Alerts(Vec<String>),
    #[error("cannot read the database: {0}")]
    Store(#[from] StoreError),
}

/// Reads the whole journal and every alert; `head` is a hash that must
/// still be in the chain (from `GET /api/v1/journal/head` or the digest).
pub async fn verify(
    store: &dyn Store,
    key: &JournalKey,
    head: Option<&str>,
) -> Result<Report, AuditError> {
    let mut verifier = Verifier::new(key);
    if let Some(head) = head {
        verifier = verifier.expecting(head);
    }
    let mut caps = CapHashes::default();
    let mut after = 0;
    loop {
        let page = store.journal_page(after, JOURNAL_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            verifier.check(e)?;
            caps.note(e);
        }
    }
    let chain = verifier.finish()?;
    let alerts = check_alerts(store, caps).await?;
    Ok(Report { chain, alerts })
}

/// Each alert's `alert.created` entry: its id and the CAP hash it holds.
#[derive(Debug, Default)]
struct CapHashes {
    by_alert: BTreeMap<i64, (i64, Option<String>)>,
    problems: Vec<String>,
}

impl CapHashes {
    fn note(&mut self, e: &JournalEntry) {
        if e.action != "alert.created" {
            return;
        }
        let Some(alert) = e
            .subject
            .strip_prefix("alert/")
            .and_then(|id| id.parse::<i64>().ok())
        else {
            return;
        };
        let hash = serde_json::from_str::<serde_json::Value>(&e.detail)
            .ok()
            .and_then(|d| d["cap_sha256"].as_str().map(str::to_owned));
        if let Some((first, _)) = self.by_alert.insert(alert, (e.id, hash)) {
            self.problems.push(format!(
                "alert {alert} is journaled as created twice (entries {first} and {})",
                e.id
            ));
        }
    }

    /// Compares one stored alert with its entry; false when it differs.
    fn check(&mut self, alert: i64, cap: &str) -> bool {
        let problem = match self.by_alert.remove(&alert) {
            None => format!("alert {alert} has no alert.created entry in the journal"),
            Some((entry, None)) => {
                format!("alert {alert}: its alert.created entry {entry} holds no cap_sha256")
            }
            Some((entry, Some(journaled))) => {
                if sha256_hex(cap) == journaled {
                    return true;
                }
                format!(
                    "alert {alert}: its stored CAP does not match the SHA-256 journaled when \
                     it was created (entry {entry}): the document was changed"
                )
            }
        };
        self.problems.push(problem);
        false
    }

    /// The alerts journaled as created that the database no longer has.
    fn missing(mut self) -> Vec<String> {
        for (alert, (entry, _)) in &self.by_alert {
            self.problems.push(format!(
                "alert {alert} is journaled as created (entry {entry}) but is not in the database"
            ));
        }
        self.problems
    }
}

async fn check_alerts(store: &dyn Store, mut caps: CapHashes) -> Result<u64, AuditError> {
    let mut matched = 0;
    let mut before = None;
    loop {
        let page = store
            .list_alerts(before, crate::store::AlertListing::All, ALERT_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        for a in &page {
            matched += u64::from(caps.check(a.id.0, &a.cap));
        }
    }
    let problems = caps.missing();
    if problems.is_empty() {
        Ok(matched)
    } else {
        Err(AuditError::Alerts(problems))
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::journal::NewJournalEntry;

    fn created(entry: i64, alert: i64, detail: serde_json::Value) -> JournalEntry {
        let key = JournalKey::from_bytes(&[3; 32]).unwrap();
        NewJournalEntry {
            actor: "operator:Оксана".into(),
            action: "alert.created".into(),
            subject: format!("alert/{alert}"),
            detail,
        }
        .chained(Some((entry - 1, "00".repeat(32))), chrono::Utc::now(), &key)
    }

    #[test]
    fn each_alert_needs_the_cap_its_creation_journaled() {
        let cap = "<alert>…<status>Exercise</status>…</alert>";
        let mut caps = CapHashes::default();
        caps.note(&created(
            5,
            1,
            serde_json::json!({"cap_sha256": sha256_hex(cap)}),
        ));
        caps.note(&created(
            6,
            2,
            serde_json::json!({"cap_sha256": sha256_hex(cap)}),
        ));
        caps.note(&created(7, 3, serde_json::json!({"status": "Exercise"})));
        caps.note(&created(
            8,
            4,
            serde_json::json!({"cap_sha256": sha256_hex(cap)}),
        ));
        assert!(caps.check(1, cap));
        assert!(!caps.check(2, &cap.replace("Exercise", "Actual")));
        assert!(!caps.check(3, cap), "an entry without a hash");
        assert!(!caps.check(9, cap), "an alert never journaled");
        let problems = caps.missing();
        let expected = [
            "alert 2: its stored CAP does not match the SHA-256 journaled when it was \
             created (entry 6): the document was changed",
            "alert 3: its alert.created entry 7 holds no cap_sha256",
            "alert 9 has no alert.created entry in the journal",
            "alert 4 is journaled as created (entry 8) but is not in the database",
        ];
        assert_eq!(problems, expected);
    }

    #[test]
    fn an_alert_created_twice_is_named() {
        let mut caps = CapHashes::default();
        caps.note(&created(5, 1, serde_json::json!({"cap_sha256": "a"})));
        caps.note(&created(9, 1, serde_json::json!({"cap_sha256": "a"})));
        assert_eq!(
            caps.missing()[0],
            "alert 1 is journaled as created twice (entries 5 and 9)"
        );
    }
}
