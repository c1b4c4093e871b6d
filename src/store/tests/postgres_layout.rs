//! PostgreSQL's delivery tables are laid out for fan-outs of millions of
//! rows and three updates per row: sending a delivery updates its row in
//! place ("HOT": no new index entries; migration 11), and inserting one
//! runs no per-row check (migration 12). These tests fail when an index
//! starts to refer to `state` again, when publishing stops using the
//! partial indexes of pending rows, or when a trigger comes back.

use super::*;
use crate::store::postgres::TempDatabase;

/// A migrated store on a fresh database with a single connection, so the
/// table statistics read at the end are this backend's own, flushed on
/// demand.
async fn one_connection() -> Option<(TempDatabase, PgStore)> {
    let db = TempDatabase::create().await?;
    let store = PgStore::connect(&db.url(), 1, true).await.unwrap();
    Some((db, store))
}

#[tokio::test]
async fn no_index_of_deliveries_refers_to_state() {
    let Some((db, s)) = one_connection().await else {
        return;
    };
    let defs: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index
         WHERE indrelid = 'deliveries'::regclass",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert!(defs.len() >= 5, "{defs:?}");
    let on_state: Vec<&String> = defs.iter().filter(|d| d.contains("state")).collect();
    assert!(on_state.is_empty(), "{on_state:?}");
    pg_done(db, s).await;
}

#[tokio::test]
async fn claims_and_outcomes_update_deliveries_in_place() {
    let Some((db, s)) = one_connection().await else {
        return;
    };
    let residents: Vec<NewResident> = (0..300).map(numbered).collect();
    let ids = s.insert_residents(&residents).await.unwrap();
    let (_, e) = s.create_notice(&notice(), &ids).await.unwrap();
    let deliveries = event_deliveries(&s, &e).await;
    assert_eq!(deliveries.len(), 300);
    s.mark_queued(&deliveries).await.unwrap();
    let claimed = s.claim(&deliveries, lease()).await.unwrap();
    assert_eq!(claimed.len(), 300);
    let outcomes: Vec<Outcome> = claimed
        .iter()
        .map(|d| Outcome {
            delivery: d.id,
            contact: d.contact_id,
            at: Utc::now(),
            kind: OutcomeKind::Delivered {
                provider_id: Some(format!("p-{}", d.id.0)),
            },
        })
        .collect();
    s.record_outcomes(&outcomes).await.unwrap();

    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(s.pool())
        .await
        .unwrap();
    let (updated, hot): (i64, i64) = sqlx::query_as(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'deliveries'",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(
        updated, 900,
        "queued, claimed and recorded: three updates each"
    );
    // Marking queued changes `pending`, which is indexed; the claim and the
    // outcome change nothing indexed. A few find their page full.
    assert!(hot >= 500, "{hot} of {updated} updates were HOT");
    pg_done(db, s).await;
}

/// Publishing reads pending deliveries through the partial indexes on
/// `pending`, not through the whole table.
#[tokio::test]
async fn publishing_reads_the_pending_indexes() {
    let Some((db, s)) = one_connection().await else {
        return;
    };
    let plan = |sql: &'static str| {
        let pool = s.pool().clone();
        async move {
            let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                .fetch_all(&pool)
                .await
                .unwrap();
            lines.join("\n")
        }
    };
    sqlx::query("SET enable_seqscan = off")
        .execute(s.pool())
        .await
        .unwrap();
    let event = plan(
        "SELECT id FROM deliveries WHERE not_before IS NULL AND pending AND event_id = 1
         AND id > 0 ORDER BY id LIMIT 100",
    )
    .await;
    assert!(event.contains("deliveries_pending_by_event"), "{event}");
    let all = plan(
        "SELECT id FROM deliveries WHERE not_before IS NULL AND pending AND id > 0
         ORDER BY id LIMIT 100",
    )
    .await;
    assert!(all.contains("deliveries_pending "), "{all}");
    pg_done(db, s).await;
}

/// A foreign key is a trigger that runs once per inserted row: a fan-out
/// of a million rows ran millions of lookups.
#[tokio::test]
async fn fan_out_tables_have_no_row_triggers() {
    let Some((db, s)) = one_connection().await else {
        return;
    };
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT tgrelid::regclass::text || ': ' || tgname FROM pg_trigger
         WHERE tgrelid IN ('deliveries'::regclass, 'notice_recipients'::regclass)",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert!(triggers.is_empty(), "{triggers:?}");
    pg_done(db, s).await;
}
