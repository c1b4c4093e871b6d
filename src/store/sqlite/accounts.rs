//! Console accounts, enrolment links, sign-in failures and sessions.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::{Connection, Sqlite, Transaction};

use super::auth::{PRINCIPAL_COLUMNS, principal_from};
use super::{SqliteStore, from_ms, ms, opt_from_ms};
use crate::domain::account::{LoginRecord, PasswordHash, Username, lock_for};
use crate::domain::auth::{Person, Role, TokenHash};
use crate::store::sql::{
    ACCOUNT_COLUMNS, ACCOUNTS, AccountRow, END_SESSIONS, ENROLMENT_BY_TOKEN, HAS_PASSWORD,
    INSERT_ENROLMENT, NO_PASSWORD, REPLACE_ENROLMENTS, SET_OWN_PASSWORD, USE_ENROLMENT,
    VOID_PASSWORD, account_from, enrolment_from, stored_password,
};
use crate::store::{
    Account, Enrolment, NewAccount, NewEnrolment, Reissued, Session, StoreError, StoreResult,
};

/// The shared `$n` statements in SQLite's `?n`.
fn lite(sql: &str) -> String {
    sql.replace('$', "?")
}

async fn insert_enrolment(
    tx: &mut Transaction<'_, Sqlite>,
    account: i64,
    link: &NewEnrolment,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(&lite(INSERT_ENROLMENT))
        .bind(link.token.as_str())
        .bind(account)
        .bind(now)
        .bind(ms(link.expires_at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn account_in(tx: &mut Transaction<'_, Sqlite>, id: i64) -> StoreResult<Account> {
    let row: AccountRow = sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNTS} WHERE a.id = ?"
    ))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    account_from(row)
}

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
        .bind(NO_PASSWORD)
        .bind(principal)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        insert_enrolment(&mut tx, id, &a.enrolment, ms(now)).await?;
        let account = account_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(account)
    }

    pub(super) async fn accounts_list(&self) -> StoreResult<Vec<Account>> {
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNTS} ORDER BY a.id"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(account_from).collect()
    }

    pub(super) async fn accounts_reissue(
        &self,
        account: i64,
        link: &NewEnrolment,
    ) -> StoreResult<Reissued> {
        let now = ms(Utc::now());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let had_password: bool = sqlx::query_scalar(&lite(HAS_PASSWORD))
            .bind(account)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound("account"))?;
        let links_replaced = sqlx::query(&lite(REPLACE_ENROLMENTS))
            .bind(now)
            .bind(account)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(&lite(VOID_PASSWORD))
            .bind(account)
            .execute(&mut *tx)
            .await?;
        let sessions_ended = sqlx::query(&lite(END_SESSIONS))
            .bind(account)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        insert_enrolment(&mut tx, account, link, now).await?;
        let account = account_in(&mut tx, account).await?;
        tx.commit().await?;
        Ok(Reissued {
            account,
            had_password,
            sessions_ended,
            links_replaced,
        })
    }

    pub(super) async fn accounts_enrolment(
        &self,
        token: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Enrolment>> {
        let row: Option<(i64, i64, bool, bool)> = sqlx::query_as(&lite(ENROLMENT_BY_TOKEN))
            .bind(token.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| enrolment_from(r, now)))
    }

    pub(super) async fn accounts_enrol(
        &self,
        token: &TokenHash,
        password: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let Some(account) = sqlx::query_scalar::<_, i64>(&lite(USE_ENROLMENT))
            .bind(ms(now))
            .bind(token.as_str())
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        sqlx::query(&lite(SET_OWN_PASSWORD))
            .bind(password.as_str())
            .bind(ms(now))
            .bind(account)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&lite(END_SESSIONS))
            .bind(account)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(account))
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
            hash: stored_password(r.get(1)),
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
            "SELECT {PRINCIPAL_COLUMNS}, a.id, a.username, s.csrf_token, s.expires_at,
                    a.enrolled_at IS NOT NULL AND a.password_hash <> ''
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
            let mut principal = principal_from(&r, 0)?;
            principal.person = Some(Person {
                account: r.get(5),
                username: r.get(6),
                own_password: r.get(9),
            });
            Ok(Session {
                principal,
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
