//! `GET /api/v1/journal` (admin): the tamper-evident journal, paged;
//! `GET /api/v1/journal/head`, its newest entry (to keep a copy of
//! elsewhere, for `tocsin journal verify --head`); and `record`, which
//! handlers call after an action worth auditing.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::Caller;
use crate::domain::actor;
use crate::domain::auth::{Principal, Role};
use crate::domain::journal::NewJournalEntry;
use crate::store::Operator;

const MAX_PAGE: u32 = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let entries = state.store.journal_page(q.after, limit).await?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next_after": next })))
}

/// `{"id", "hash"}` of the newest entry; both null while it is empty.
pub async fn head(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let head = state.store.journal_head().await?;
    Ok(Json(json!({
        "id": head.as_ref().map(|e| e.id),
        "hash": head.as_ref().map(|e| &e.hash),
    })))
}

/// A civil-protection operator as the journal names them.
pub fn operator_actor(name: &str) -> String {
    format!("operator:{name}")
}

/// Who sent an alert: an operator, or the scheduler under its own
/// `system:` actor, which no operator's name can produce.
pub fn alert_actor(op: &Operator) -> String {
    if op.is_scheduler() {
        actor::SCHEDULER.to_owned()
    } else {
        operator_actor(&op.name)
    }
}

/// Who did it, as the journal names them.
pub fn actor(p: &Principal) -> String {
    match (p.role, p.organisation) {
        (Role::CivilProtection, _) => operator_actor(&p.name),
        (_, Some(org)) => format!("organisation:{org}"),
        (_, None) => "admin".to_owned(),
    }
}

/// Appends an entry after the action succeeded. A failure is logged, not
/// returned: the action itself is done, and a retried request would
/// repeat it.
pub async fn record(state: &AppState, actor: String, action: &str, subject: String, detail: Value) {
    let entry = NewJournalEntry {
        actor,
        action: action.to_owned(),
        subject,
        detail,
    };
    if let Err(e) = state.store.append_journal(&entry).await {
        tracing::error!(action, subject = %entry.subject, error = %e, "journal entry NOT written");
    }
}
