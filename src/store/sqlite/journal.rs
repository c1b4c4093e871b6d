//! The journal in SQLite: the single writer connection serialises appends,
//! so "last entry + 1" cannot be taken twice.

use chrono::Utc;
use sqlx::Connection;
use sqlx::{Row, Sqlite, Transaction};

use super::{SqliteStore, from_ms, ms};
use crate::domain::journal::{JournalEntry, NewJournalEntry};
use crate::store::StoreResult;

const COLUMNS: &str = "id, at, actor, action, subject, detail, prev_hash, hash";

fn from_row(r: &sqlx::sqlite::SqliteRow) -> JournalEntry {
    JournalEntry {
        id: r.get(0),
        at: from_ms(r.get(1)),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        detail: r.get(5),
        prev_hash: r.get(6),
        hash: r.get(7),
    }
}

/// Appends inside the caller's transaction, so an action and its entry
/// commit together or not at all.
pub(super) async fn append_in(
    tx: &mut Transaction<'_, Sqlite>,
    e: &NewJournalEntry,
) -> StoreResult<JournalEntry> {
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM journal ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await?;
    let entry = e.chained(last, Utc::now());
    sqlx::query(&format!(
        "INSERT INTO journal ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
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
        let entry = append_in(&mut tx, e).await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub(super) async fn journal_read(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM journal WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }
}
