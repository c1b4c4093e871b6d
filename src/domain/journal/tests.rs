//! One test per rule of the chain: keyed entries, the legacy prefix, the
//! keyed head, the expected head, the key's own format.

use super::*;

fn key() -> JournalKey {
    JournalKey::from_bytes(&[7; 32]).unwrap()
}

fn at(id: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + id).unwrap()
}

fn new(id: i64) -> NewJournalEntry {
    NewJournalEntry {
        actor: "system:test".into(),
        action: "test".into(),
        subject: "x".into(),
        detail: serde_json::json!({ "n": id }),
    }
}

/// `legacy` plain SHA-256 entries, then `keyed` entries under `key()`.
fn chain(legacy: i64, keyed: i64) -> Vec<JournalEntry> {
    let mut out: Vec<JournalEntry> = Vec::new();
    for id in 1..=legacy + keyed {
        let last = out.last().map(|e| (e.id, e.hash.clone()));
        let mut e = new(id).chained(last, at(id), &key());
        if id <= legacy {
            e.hash = e.legacy_hash();
        }
        out.push(e);
    }
    out
}

/// What someone with the database but not the key can do: recompute the
/// plain SHA-256 of every entry from `from` on.
fn rehash_plain(entries: &mut [JournalEntry], from: usize) {
    for i in from..entries.len() {
        if i > 0 {
            entries[i].prev_hash = entries[i - 1].hash.clone();
        }
        entries[i].hash = entries[i].legacy_hash();
    }
}

#[test]
fn an_untouched_keyed_chain_verifies() {
    let c = chain(0, 5);
    let checked = verify(&key(), &c).unwrap();
    assert_eq!((checked.entries, checked.legacy), (5, 0));
    assert_eq!(checked.head, Some((5, c[4].hash.clone())));
    assert_eq!(verify(&key(), &[]).unwrap().entries, 0);
}

#[test]
fn any_change_is_found_at_the_entry_changed() {
    let mut edited = chain(0, 5);
    edited[2].detail = "{\"n\":99}".into();
    assert_eq!(verify(&key(), &edited).unwrap_err().id(), Some(3));

    let mut removed = chain(0, 5);
    removed.remove(1);
    assert_eq!(verify(&key(), &removed).unwrap_err().id(), Some(3));
}

#[test]
fn recomputing_plain_hashes_after_an_edit_does_not_pass() {
    let mut c = chain(0, 5);
    c[2].actor = "someone else".into();
    rehash_plain(&mut c, 2);
    let err = verify(&key(), &c).unwrap_err();
    assert_eq!(err.id(), Some(3), "{err}");
    assert!(err.to_string().contains("follows keyed entries"), "{err}");
}

#[test]
fn another_key_does_not_verify_keyed_entries() {
    let other = JournalKey::from_bytes(&[8; 32]).unwrap();
    let err = verify(&other, &chain(0, 3)).unwrap_err();
    assert_eq!(err.id(), Some(1));
    assert!(err.to_string().contains("another journal key"), "{err}");
}

#[test]
fn legacy_entries_are_accepted_as_the_start_of_the_chain() {
    let checked = verify(&key(), &chain(3, 2)).unwrap();
    assert_eq!((checked.entries, checked.legacy), (5, 3));
}

#[test]
fn a_legacy_entry_after_a_keyed_one_breaks_the_chain() {
    let mut c = chain(2, 3);
    // Entry 4 rewritten with a plain hash and entry 5 re-chained to it.
    rehash_plain(&mut c, 3);
    let last = (c[3].id, c[3].hash.clone());
    c[4] = new(5).chained(Some(last), at(5), &key());
    assert_eq!(verify(&key(), &c).unwrap_err().id(), Some(4));
}

#[test]
fn the_first_keyed_entry_covers_the_legacy_prefix() {
    let mut c = chain(3, 2);
    c[1].actor = "admin".into();
    rehash_plain(&mut c[..3], 1);
    let err = verify(&key(), &c).unwrap_err();
    assert_eq!(err.id(), Some(4), "{err}");
    assert!(err.to_string().contains("does not follow"), "{err}");
}

#[test]
fn the_newest_entry_must_be_keyed() {
    // Rewritten from the first entry on: every hash is a plain one.
    let mut c = chain(0, 4);
    c[0].detail = "{\"n\":42}".into();
    rehash_plain(&mut c, 0);
    let err = verify(&key(), &c).unwrap_err();
    assert_eq!(err.id(), Some(4), "{err}");
    assert!(err.to_string().contains("newest entry"), "{err}");

    // Cut back to the legacy prefix.
    let mut cut = chain(2, 2);
    cut.truncate(2);
    assert_eq!(verify(&key(), &cut).unwrap_err().id(), Some(2));
}

#[test]
fn an_expected_head_must_be_in_the_chain() {
    let c = chain(0, 5);
    let head = c[4].hash.clone();
    let mut v = Verifier::new(&key()).expecting(&head.to_uppercase());
    c.iter().for_each(|e| v.check(e).unwrap());
    assert_eq!(v.finish().unwrap().entries, 5);

    // The two newest rows deleted: the rest verifies, but not with --head.
    let mut v = Verifier::new(&key()).expecting(&head);
    c[..3].iter().for_each(|e| v.check(e).unwrap());
    let err = v.finish().unwrap_err();
    assert_eq!(
        err,
        Broken::Missing {
            hash: head.clone(),
            newest: "3".into()
        }
    );
    assert!(err.to_string().contains(&head), "{err}");
}

#[test]
fn fields_cannot_be_shifted_into_each_other() {
    let a = entry_hash(GENESIS, 1, 0, "ab", "c", "s", "{}");
    let b = entry_hash(GENESIS, 1, 0, "a", "bc", "s", "{}");
    assert_ne!(a, b);
    let mut e = new(1).chained(None, at(1), &key());
    let before = e.keyed_hash(&key());
    e.actor = "system:tes".into();
    e.action = "ttest".into();
    assert_ne!(e.keyed_hash(&key()), before);
}

#[test]
fn keys_are_hex_or_base64_of_at_least_32_bytes_and_never_printed() {
    let hex_key = "00".repeat(31) + "ff";
    let k = JournalKey::parse(&format!("  {hex_key}\n")).unwrap();
    assert_eq!(k.to_hex(), hex_key);
    let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 40]);
    assert_eq!(JournalKey::parse(&b64).unwrap().to_hex(), "01".repeat(40));
    let short = JournalKey::parse(&"ab".repeat(16 - 1)).unwrap_err();
    assert!(short.contains("32"), "{short}");
    let junk = JournalKey::parse("correct horse battery staple").unwrap_err();
    assert!(!junk.contains("horse"), "{junk}");
    assert_eq!(format!("{k:?}"), "JournalKey(***)");
    assert_ne!(
        JournalKey::generate().to_hex(),
        JournalKey::generate().to_hex()
    );
}
