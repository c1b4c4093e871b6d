//! The journal in PostgreSQL: an advisory transaction lock serialises
//! appends across processes, so "last entry + 1" cannot be taken twice.

use chrono::Utc;
use sqlx::PgConnection;

use super::{JOURNAL_LOCK, PgStore};
use crate::domain::journal::{JournalEntry, JournalKey, NewJournalEntry};
use crate::store::StoreResult;
use crate::store::sql::{JOURNAL_COLUMNS, journal_from_row, journal_head_sql, journal_key, ms};

/// Appends inside the caller's transaction, so an action and its entry
/// commit together or not at all. The lock is held to the commit: call
/// this last in a long transaction.
pub(super) async fn append_in(
    conn: &mut PgConnection,
    key: Option<&JournalKey>,
    e: &NewJournalEntry,
) -> StoreResult<JournalEntry> {
    let key = journal_key(key)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(JOURNAL_LOCK)
        .execute(&mut *conn)
        .await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM journal ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let entry = e.chained(last, Utc::now(), key);
    sqlx::query(&format!(
        "INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(entry.id)
    .bind(ms(entry.at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await?;
    Ok(entry)
}

impl PgStore {
    pub(super) async fn journal_append(&self, e: &NewJournalEntry) -> StoreResult<JournalEntry> {
        let mut tx = self.pool.begin().await?;
        let entry = append_in(&mut tx, self.journal_key.as_ref(), e).await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub(super) async fn journal_read(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(journal_from_row).collect())
    }

    pub(super) async fn journal_newest(&self) -> StoreResult<Option<JournalEntry>> {
        let row = sqlx::query(&journal_head_sql())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(journal_from_row))
    }
}
