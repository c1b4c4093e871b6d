//! The journal in SQLite: the single writer connection serialises appends,
//! so "last entry + 1" cannot be taken twice.

use chrono::Utc;
use sqlx::Connection;
use sqlx::{Sqlite, Transaction};

use super::{SqliteStore, ms};
use crate::domain::journal::{JournalEntry, JournalKey, NewJournalEntry};
use crate::store::StoreResult;
use crate::store::sql::{JOURNAL_COLUMNS, journal_from_row, journal_head_sql, journal_key};

/// Appends inside the caller's transaction, so an action and its entry
/// commit together or not at all.
pub(super) async fn append_in(
    tx: &mut Transaction<'_, Sqlite>,
    key: Option<&JournalKey>,
    e: &NewJournalEntry,
) -> StoreResult<JournalEntry> {
    let key = journal_key(key)?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM journal ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let entry = e.chained(last, Utc::now(), key);
    sqlx::query(&format!(
        "INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(entry.id)
    .bind(ms(entry.at))
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.subject)
    .bind(&entry.detail)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut **tx)
    .await?;
    Ok(entry)
}

impl SqliteStore {
    pub(super) async fn journal_append(&self, e: &NewJournalEntry) -> StoreResult<JournalEntry> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
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
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(journal_from_row).collect())
    }

    pub(super) async fn journal_newest(&self) -> StoreResult<Option<JournalEntry>> {
        let row = sqlx::query(&journal_head_sql())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(journal_from_row))
    }
}
