//! Console accounts, sign-in failures and sessions.

use chrono::{DateTime, Utc};
use sqlx::Connection;
use sqlx::Row;

use super::auth::{PRINCIPAL_COLUMNS, principal_from};
use super::{SqliteStore, from_ms, ms, opt_from_ms};
use crate::domain::account::{LoginRecord, PasswordHash, Username, lock_for};
use crate::domain::auth::{Role, TokenHash};
use crate::store::{Account, NewAccount, Session, StoreError, StoreResult};

impl SqliteStore {
    pub(super) async fn accounts_create(&self, a: &NewAccount) -> StoreResult<Account> {
        let now = Utc::now();
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM accounts WHERE username = ?")
            .bind(a.username.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "the username \"{}\" is taken",
                a.username.as_str()
            )));
        }
        // The journal and approvals name an officer by this name.
        let name_taken =
            sqlx::query("SELECT 1 FROM api_tokens WHERE role = 'civil_protection' AND label = ?")
                .bind(a.display_name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if a.role == Role::CivilProtection && name_taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an operator named \"{}\" already exists",
                a.display_name.as_str()
            )));
        }
        if let Some(org) = a.organisation {
            let known = sqlx::query("SELECT 1 FROM organisations WHERE id = ?")
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::Invalid {
                    field: "organisation_id",
                    message: format!("no organisation {}", org.0),
                });
            }
        }
        let principal: i64 = sqlx::query(
            "INSERT INTO api_tokens (token_hash, role, organisation_id, label, created_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(a.principal.as_str())
        .bind(a.role.as_str())
        .bind(a.organisation.map(|o| o.0))
        .bind(a.display_name.as_str())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let id: i64 = sqlx::query(
            "INSERT INTO accounts (username, password_hash, principal_id, created_at)
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(a.username.as_str())
        .bind(a.password.as_str())
        .bind(principal)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        tx.commit().await?;
        Ok(Account {
            id,
            username: a.username.as_str().to_owned(),
            display_name: a.display_name.as_str().to_owned(),
            role: a.role,
            organisation_id: a.organisation,
            created_at: from_ms(ms(now)),
        })
    }

    pub(super) async fn accounts_login_record(
        &self,
        username: &Username,
    ) -> StoreResult<Option<LoginRecord>> {
        let row = sqlx::query(
            "SELECT id, password_hash, failures, locked_until FROM accounts WHERE username = ?",
        )
        .bind(username.as_str())
        .fetch_optional(&mut *self.writer.lock().await?)
        .await?;
        Ok(row.map(|r| LoginRecord {
            account: r.get(0),
            hash: PasswordHash::from_stored(r.get(1)),
            failures: u32::try_from(r.get::<i64, _>(2)).unwrap_or(u32::MAX),
            locked_until: opt_from_ms(r.get(3)),
        }))
    }

    pub(super) async fn accounts_login_failed(
        &self,
        account: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let failures: i64 = sqlx::query(
            "UPDATE accounts SET failures = failures + 1 WHERE id = ? RETURNING failures",
        )
        .bind(account)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let until = lock_for(u32::try_from(failures).unwrap_or(u32::MAX)).map(|d| now + d);
        if let Some(until) = until {
            sqlx::query("UPDATE accounts SET locked_until = ? WHERE id = ?")
                .bind(ms(until))
                .bind(account)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(until)
    }

    pub(super) async fn accounts_open_session(
        &self,
        account: i64,
        session: &TokenHash,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        replacing: Option<&TokenHash>,
    ) -> StoreResult<()> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        if let Some(old) = replacing {
            sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
                .bind(old.as_str())
                .execute(&mut *tx)
                .await?;
        }
        // Expired sessions of this account go with each sign-in, so the
        // table does not grow with every shift.
        sqlx::query("DELETE FROM sessions WHERE account_id = ? AND expires_at <= ?")
            .bind(account)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE accounts SET failures = 0, locked_until = NULL WHERE id = ?")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(session.as_str())
        .bind(account)
        .bind(csrf_token)
        .bind(now)
        .bind(ms(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn accounts_session(
        &self,
        session: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS}, a.id, a.username, s.csrf_token, s.expires_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id
             JOIN api_tokens t ON t.id = a.principal_id
             LEFT JOIN organisations o ON o.id = t.organisation_id
             WHERE s.id_hash = ? AND s.expires_at > ?"
        ))
        .bind(session.as_str())
        .bind(ms(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(Session {
                principal: principal_from(&r, 0)?,
                account: r.get(5),
                username: r.get(6),
                csrf_token: r.get(7),
                expires_at: from_ms(r.get(8)),
            })
        })
        .transpose()
    }

    pub(super) async fn accounts_close_session(&self, session: &TokenHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(session.as_str())
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(())
    }
}
