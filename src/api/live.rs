//! Live delivery counts for the console, as server-sent events: the
//! answer is sent at once and again whenever it changes (checked every
//! 2 s), so a page follows a fan-out without polling. A stream ends after
//! an hour; `EventSource` reconnects by itself. The counts come from
//! `counts::SharedCounts`, one count for all streams.
//!
//! - `GET /api/v1/notices/{id}/progress`: one notice's summary.
//! - `GET /api/v1/notices/live`: the caller's 50 newest notices, each with
//!   its summary (one connection for the whole list: browsers allow only a
//!   few per server).

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::future::Future;

use super::AppState;
use super::counts::EVERY;
use super::error::ApiError;
use super::extract::{Caller, IdPath};
use super::notices::{notice_json, summary_json, visible_notice};
use super::streams::StreamSlot;
use crate::domain::NoticeId;
use crate::domain::auth::Principal;
use crate::store::Notice;

const TICKS: usize = 1_800;
const LISTED: u32 = 50;

/// A slot for one more stream of `caller`, or 429 past the caps.
fn slot(state: &AppState, caller: &Principal) -> Result<StreamSlot, ApiError> {
    let limits = &state.config.limits;
    state.streams.take(
        caller.token,
        limits.live_streams,
        limits.live_streams_per_token,
    )
}

/// Events named `event`, each time `read` gives something new; `slot` is
/// held until the stream ends or the client goes.
fn changes<F, Fut>(
    state: AppState,
    slot: StreamSlot,
    event: &'static str,
    read: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    F: Fn(AppState) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ApiError>> + Send,
{
    let ticks = futures::stream::unfold(
        (state, read, None::<String>, 0usize, slot),
        |(state, read, last, tick, slot)| async move {
            if tick >= TICKS {
                return None;
            }
            if tick > 0 {
                tokio::time::sleep(EVERY).await;
            }
            let now = match read(state.clone()).await {
                Ok(body) => Some(body.to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, "live counts: reading failed");
                    None
                }
            };
            let changed = now.filter(|n| last.as_ref() != Some(n));
            let next = changed.clone().or(last);
            Some((changed, (state, read, next, tick + 1, slot)))
        },
    );
    let events = futures::StreamExt::filter_map(ticks, move |e| async move {
        e.map(|data| Ok(Event::default().event(event).data(data)))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

pub async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = visible_notice(&state, &caller, id).await?.id;
    let slot = slot(&state, &caller.0)?;
    Ok(changes(state, slot, "summary", move |state| async move {
        let notice = state
            .store
            .get_notice(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("notice {id} not found")))?;
        shared_summary(&state, &notice).await
    }))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = slot(&state, &caller)?;
    Ok(changes(state, slot, "notices", move |state| {
        let caller = caller.clone();
        async move { newest(&state, &caller).await }
    }))
}

async fn newest(state: &AppState, caller: &Principal) -> Result<Value, ApiError> {
    let org = if caller.is_admin() {
        None
    } else {
        caller.organisation
    };
    let notices = state
        .store
        .list_notices(org, None::<NoticeId>, LISTED)
        .await?;
    let mut out = Vec::with_capacity(notices.len());
    for n in &notices {
        let mut v = notice_json(n, None);
        v["summary"] = shared_summary(state, n).await?;
        out.push(v);
    }
    Ok(json!({ "notices": out }))
}

async fn shared_summary(state: &AppState, notice: &Notice) -> Result<Value, ApiError> {
    let summary = state
        .counts
        .get(notice.id, || state.store.delivery_summary(notice.id))
        .await?;
    Ok(summary_json(state, notice, &summary))
}
