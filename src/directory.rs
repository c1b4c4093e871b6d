//! The in-memory spatial index of residents' locations.
//!
//! Loaded from the store at start and kept in step by the resident
//! handlers. Targeting a million points is CPU work (hundreds of
//! milliseconds), so queries run on the blocking pool, not on the async
//! executor threads that serve HTTP.

use std::sync::{Arc, RwLock};
use tocsin_zones::{Area, GeoPoint, PointIndex};

use crate::domain::ResidentId;
use crate::store::{Store, StoreResult};

#[derive(Debug, Default)]
pub struct Directory {
    /// A std lock: it is never held across an await, and readers (queries)
    /// vastly outnumber writers (resident registrations).
    index: RwLock<PointIndex<ResidentId>>,
}

impl Directory {
    pub async fn load(store: &dyn Store) -> StoreResult<Self> {
        let points = store.resident_locations().await?;
        let index = tokio::task::spawn_blocking(move || {
            PointIndex::bulk_load(points.into_iter().map(|(id, p)| (p, id)).collect())
        })
        .await
        .expect("building the resident index panicked");
        Ok(Self {
            index: RwLock::new(index),
        })
    }

    pub fn insert_many(&self, points: impl IntoIterator<Item = (ResidentId, GeoPoint)>) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        for (id, p) in points {
            index.insert(p, id);
        }
    }

    pub fn remove(&self, id: ResidentId, p: GeoPoint) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.remove(p, id);
    }

    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Residents whose location lies in `area`.
    pub async fn query(self: &Arc<Self>, area: Area) -> Vec<ResidentId> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            this.index
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .query(&area)
        })
        .await
        .expect("resident index query panicked")
    }
}
