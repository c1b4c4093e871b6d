//! The journal on both backends: appends chain, pages come back in order,
//! and concurrent appends still form one unbroken chain.

use futures::future::join_all;
use serde_json::json;

use super::{pg_done, pg_store, sqlite_store};
use crate::domain::journal::{GENESIS, NewJournalEntry, verify};
use crate::store::Store;

both!(appends_form_one_chain_even_when_concurrent);

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
    assert_eq!(verify(&all), Ok(21));
    // Details come back byte for byte (they are hashed as stored).
    assert_eq!(all[0].detail, r#"{"n":0,"text":"Ремонт"}"#);
}
