//! The journal on both backends: appends chain under the key, pages come
//! back in order, concurrent appends still form one unbroken chain, the
//! head is the newest entry, and a store without the key journals nothing.

use futures::future::join_all;
use serde_json::json;

use super::{pg_done, pg_store, sqlite_store, test_journal_key};
use crate::domain::journal::{GENESIS, Hashing, NewJournalEntry, verify};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

both!(
    appends_form_one_chain_even_when_concurrent,
    the_head_is_the_newest_entry
);

fn entry(n: usize) -> NewJournalEntry {
    NewJournalEntry {
        actor: "admin".into(),
        action: "test.appended".into(),
        subject: format!("thing/{n}"),
        detail: json!({"n": n, "text": "Ремонт"}),
    }
}

async fn appends_form_one_chain_even_when_concurrent(s: &dyn Store) {
    let first = s.append_journal(&entry(0)).await.unwrap();
    assert_eq!((first.id, first.prev_hash.as_str()), (1, GENESIS));
    assert_eq!(first.hashing(&test_journal_key()), Some(Hashing::Keyed));
    let results =
        join_all((1..=20).map(|n| async move { s.append_journal(&entry(n)).await })).await;
    assert!(results.iter().all(Result::is_ok));
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = s.journal_page(after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        all.extend(page);
    }
    assert_eq!(all.len(), 21);
    let checked = verify(&test_journal_key(), &all).unwrap();
    assert_eq!((checked.entries, checked.legacy), (21, 0));
    // Details come back byte for byte (they are hashed as stored).
    assert_eq!(all[0].detail, r#"{"n":0,"text":"Ремонт"}"#);
}

async fn the_head_is_the_newest_entry(s: &dyn Store) {
    assert_eq!(s.journal_head().await.unwrap(), None);
    s.append_journal(&entry(0)).await.unwrap();
    let second = s.append_journal(&entry(1)).await.unwrap();
    assert_eq!(s.journal_head().await.unwrap(), Some(second));
}

#[tokio::test]
async fn a_store_without_the_key_writes_no_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.sqlite3"))
        .await
        .unwrap();
    let err = s.append_journal(&entry(0)).await.unwrap_err();
    assert!(err.to_string().contains("no journal key"), "{err}");
    assert_eq!(s.journal_head().await.unwrap(), None);
}
