//! Which events pass quiet hours although their lane does not: an alert
//! the lane table (`[alerts.lanes]`) lets past them in the normal lane.
//! The answer is read from the event's alert text once per event and
//! kept, since enqueueing asks for every page of a fan-out.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::domain::EventId;
use crate::store::{QueuedDelivery, Store, StoreResult};

/// Events remembered before the memory starts over; a city has a handful
/// of alerts a day.
const REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
pub struct QuietBypass {
    known: Mutex<HashMap<EventId, bool>>,
}

impl QuietBypass {
    /// The events of `page` (among those the gate looks at) whose
    /// messages go through quiet hours.
    pub async fn events(
        &self,
        store: &dyn Store,
        page: &[&QueuedDelivery],
    ) -> StoreResult<HashSet<EventId>> {
        let mut events: Vec<EventId> = page.iter().map(|d| d.event).collect();
        events.sort_unstable();
        events.dedup();
        let mut out = HashSet::new();
        for event in events {
            let known = self.lock().get(&event).copied();
            let bypass = match known {
                Some(b) => b,
                None => {
                    let b = store.event_context(event).await?.is_some_and(|(n, e)| {
                        e.alert
                            .as_ref()
                            .or(n.alert.as_ref())
                            .is_some_and(|a| a.bypasses_quiet_hours())
                    });
                    let mut known = self.lock();
                    if known.len() >= REMEMBERED {
                        known.clear();
                    }
                    known.insert(event, b);
                    b
                }
            };
            if bypass {
                out.insert(event);
            }
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, bool>> {
        // A poisoned map is only a cache: its contents are still answers.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}
