//! Tokens, principals and organisations.

use chrono::Utc;
use sqlx::Connection;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, corrupt, from_ms, ms};
use crate::domain::OrgId;
use crate::domain::auth::{Principal, Role, TokenHash};
use crate::store::sql;
use crate::store::{NewOrganisation, Organisation, StoreError, StoreResult};

/// What `principal_from` reads: the token row, its organisation's territory.
pub(super) const PRINCIPAL_COLUMNS: &str = "t.role, t.organisation_id, o.territory, t.id, t.label";

/// The principal in the five `PRINCIPAL_COLUMNS` starting at `at`.
pub(super) fn principal_from(row: &SqliteRow, at: usize) -> StoreResult<Principal> {
    let role_text: String = row.get(at);
    let role = Role::parse(&role_text).ok_or_else(|| corrupt("api_tokens", &role_text))?;
    Ok(Principal {
        token: row.get(at + 3),
        name: row.get(at + 4),
        role,
        organisation: row.get::<Option<i64>, _>(at + 1).map(OrgId),
        territory: sql::read_territory(row.get(at + 1), row.get(at + 2)),
        person: None,
    })
}

impl SqliteStore {
    pub(super) async fn auth_has_admin(&self) -> StoreResult<bool> {
        let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM api_tokens WHERE role = 'admin')")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.get::<i64, _>(0) == 1)
    }

    pub(super) async fn auth_add_admin(
        &self,
        token: &TokenHash,
        label: &str,
        replace: bool,
    ) -> StoreResult<()> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        if replace {
            sqlx::query("DELETE FROM api_tokens WHERE role = 'admin' AND label = ?")
                .bind(label)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT OR IGNORE INTO api_tokens (token_hash, role, label, created_at)
             VALUES (?, 'admin', ?, ?)",
        )
        .bind(token.as_str())
        .bind(label)
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn auth_principal(&self, token: &TokenHash) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(&format!(
            "SELECT {PRINCIPAL_COLUMNS}
             FROM api_tokens t LEFT JOIN organisations o ON o.id = t.organisation_id
             WHERE t.token_hash = ?"
        ))
        .bind(token.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| principal_from(&r, 0)).transpose()
    }

    pub(super) async fn auth_create_organisation(
        &self,
        org: &NewOrganisation,
        token: &TokenHash,
    ) -> StoreResult<Organisation> {
        let now = Utc::now();
        let territory = org.territory.as_ref().map(|r| r.to_geojson().to_string());
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM organisations WHERE name = ?")
            .bind(org.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an organisation named \"{}\" already exists",
                org.name
            )));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO organisations (name, territory, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(org.name.as_str())
        .bind(territory)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, role, organisation_id, label, created_at)
             VALUES (?, 'executor', ?, 'organisation', ?)",
        )
        .bind(token.as_str())
        .bind(id)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Organisation {
            id: OrgId(id),
            name: org.name.as_str().to_owned(),
            territory: org.territory.clone().into(),
            created_at: from_ms(ms(now)),
        })
    }

    pub(super) async fn auth_list_organisations(&self) -> StoreResult<Vec<Organisation>> {
        let rows =
            sqlx::query("SELECT id, name, territory, created_at FROM organisations ORDER BY id")
                .fetch_all(&self.reader)
                .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Organisation {
                    id: OrgId(row.get(0)),
                    name: row.get(1),
                    territory: sql::read_territory(row.get(0), row.get(2)),
                    created_at: from_ms(row.get(3)),
                })
            })
            .collect()
    }
}
