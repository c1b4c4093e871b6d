//! Scheduled warning-system checks in SQLite: how far each schedule has
//! been looked at, and one row per run.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{SqliteStore, from_ms, ms};
use crate::domain::AlertId;
use crate::domain::check::CheckSpec;
use crate::store::{CheckRun, StoreError, StoreResult};

impl SqliteStore {
    pub(super) async fn checks_since(
        &self,
        name: &str,
        expression: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DateTime<Utc>> {
        // A new check, or a changed expression, starts from now: runs of
        // a schedule that did not exist were not missed.
        sqlx::query(
            "INSERT INTO checks (name, expression, since) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET expression = ?2, since = ?3
             WHERE checks.expression <> ?2",
        )
        .bind(name)
        .bind(expression)
        .bind(ms(now))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        let since: i64 = sqlx::query_scalar("SELECT since FROM checks WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *self.writer.lock().await?)
            .await?;
        Ok(from_ms(since))
    }

    pub(super) async fn checks_advance(&self, name: &str, to: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE checks SET since = MAX(since, ?) WHERE name = ?")
            .bind(ms(to))
            .bind(name)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(())
    }

    pub(super) async fn checks_record(&self, run: &CheckRun) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO check_runs (name, due_at, state, alert_id, detail, recorded_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (name, due_at) DO UPDATE SET state = excluded.state,
                 alert_id = excluded.alert_id, detail = excluded.detail
             WHERE ?7",
        )
        .bind(&run.name)
        .bind(ms(run.due_at))
        .bind(&run.state)
        .bind(run.alert.map(|a| a.0))
        .bind(&run.detail)
        .bind(ms(run.recorded_at))
        .bind(run.overwrite)
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn checks_runs(&self, name: &str, limit: u32) -> StoreResult<Vec<CheckRun>> {
        let rows = sqlx::query(
            "SELECT name, due_at, state, alert_id, detail, recorded_at FROM check_runs
             WHERE name = ? ORDER BY due_at DESC LIMIT ?",
        )
        .bind(name)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CheckRun {
                name: r.get(0),
                due_at: from_ms(r.get(1)),
                state: r.get(2),
                alert: r.get::<Option<i64>, _>(3).map(AlertId),
                detail: r.get(4),
                recorded_at: from_ms(r.get(5)),
                overwrite: false,
            })
            .collect())
    }

    pub(super) async fn checks_define(&self, spec: &CheckSpec, by: &str) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO check_definitions (name, cron, audience, circle, template, created_by,
                                            created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&spec.name)
        .bind(&spec.cron)
        .bind(&spec.audience)
        .bind(&spec.circle)
        .bind(&spec.template)
        .bind(by)
        .bind(ms(chrono::Utc::now()))
        .execute(&mut *self.writer.lock().await?)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "a check named \"{}\" already exists",
                spec.name
            )));
        }
        Ok(())
    }

    pub(super) async fn checks_undefine(&self, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM check_definitions WHERE name = ?")
            .bind(name)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn checks_defined(&self) -> StoreResult<Vec<CheckSpec>> {
        let rows = sqlx::query(
            "SELECT name, cron, audience, circle, template FROM check_definitions ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| CheckSpec {
                name: r.get(0),
                cron: r.get(1),
                audience: r.get(2),
                circle: r.get(3),
                template: r.get(4),
            })
            .collect())
    }
}
