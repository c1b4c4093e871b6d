//! What the journal records about the configuration: a SHA-256 of each
//! section's effective values. Secrets print as `***` in `Debug`, so no
//! credential is hashed or journaled (a rotated key is not seen as a
//! change; its section's other fields are).

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Debug;

use super::Config;

/// Section name → hex SHA-256 of its `Debug` form (no map in the
/// configuration is a `HashMap`, so the form is stable).
pub fn sections(c: &Config) -> BTreeMap<String, String> {
    let parts: [(&str, &dyn Debug); 12] = [
        ("city", &c.city),
        ("dispatch", &c.dispatch),
        ("limits", &c.limits),
        ("rates", &c.rates),
        ("policy", &c.policy),
        ("alerts", &c.alerts),
        ("digest", &c.digest),
        ("channels", &c.channels),
        ("simulated", &c.simulated),
        ("testing", &c.testing),
        ("journal", &c.journal),
        ("public_url", &c.public_url),
    ];
    parts
        .into_iter()
        .map(|(name, value)| {
            let hash = Sha256::digest(format!("{value:?}").as_bytes());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            (name.to_owned(), hex)
        })
        .collect()
}

/// The sections whose fingerprint differs from `before` (all of them the
/// first time).
pub fn changed(
    before: Option<&BTreeMap<String, String>>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    now.iter()
        .filter(|(k, v)| before.and_then(|b| b.get(*k)) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_section_is_named_and_secrets_are_not_hashed() {
        let a = Config::default();
        let mut b = Config::default();
        b.policy.daily_cap = Some(3);
        let (fa, fb) = (sections(&a), sections(&b));
        assert_eq!(changed(Some(&fa), &fb), ["policy"]);
        assert!(changed(Some(&fa), &sections(&a)).is_empty(), "stable");
        assert_eq!(changed(None, &fa).len(), fa.len());
    }

    #[test]
    fn the_journal_key_is_not_part_of_it_but_where_it_lives_is() {
        let keyed = |hex: &str| {
            let mut c = Config::default();
            c.journal.key = Some(tocsin_channels::Secret::new(hex.repeat(32)));
            sections(&c)
        };
        assert!(changed(Some(&keyed("ab")), &keyed("cd")).is_empty());
        let a = Config::default();
        let mut file = Config::default();
        file.journal.key_file = Some("/run/secrets/journal.key".into());
        assert_eq!(changed(Some(&sections(&a)), &sections(&file)), ["journal"]);
    }
}
