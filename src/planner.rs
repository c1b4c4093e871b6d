//! Turns a notice's area into its audience.
//!
//! A resident is targeted when their location lies inside the area, or
//! when they subscribe to a zone that the notice names or whose interior
//! overlaps the area. Merely touching a zone's border does not pull its
//! subscribers in: otherwise naming one district would alert every
//! neighbouring district too.

use std::collections::HashMap;
use std::sync::Arc;
use tocsin_zones::{Area, Circle, Region, ZoneError};

use crate::directory::Directory;
use crate::domain::{ResidentId, ZoneId};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("zone {id} does not exist")]
    UnknownZone { index: usize, id: ZoneId },
    /// The zone exists but its row does not read back.
    #[error("zone {id} cannot be read back from the database")]
    UnreadableZone { index: usize, id: ZoneId },
    #[error("{0}")]
    Area(#[from] ZoneError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The resolved target of a notice.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Union of the named zones, the geometry and the circle.
    pub area: Area,
    /// Zones named by the notice, as given.
    pub named_zones: Vec<ZoneId>,
    /// Every resident matched by location or subscription, sorted, unique.
    /// Category preferences are applied by the store at fan-out.
    pub candidates: Vec<ResidentId>,
}

#[derive(Debug)]
pub struct Planner {
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
}

impl Planner {
    pub fn new(store: Arc<dyn Store>, directory: Arc<Directory>) -> Self {
        Self { store, directory }
    }

    pub async fn plan(
        &self,
        named_zones: &[ZoneId],
        regions: Vec<Region>,
        circles: Vec<Circle>,
    ) -> Result<Plan, PlanError> {
        // An unreadable zone is left out: it fails only the notices that
        // name it, never those that merely overlap where it was.
        let stored = self.store.list_zones().await?;
        let zones: HashMap<ZoneId, Region> =
            stored.zones.into_iter().map(|z| (z.id, z.region)).collect();
        let mut all_regions = regions;
        for (index, id) in named_zones.iter().enumerate() {
            let Some(region) = zones.get(id) else {
                let id = *id;
                return Err(if stored.unreadable.iter().any(|z| z.id == id) {
                    PlanError::UnreadableZone { index, id }
                } else {
                    PlanError::UnknownZone { index, id }
                });
            };
            all_regions.push(region.clone());
        }
        let area = Area::new(all_regions, circles)?;

        let mut subscribed: Vec<ZoneId> = zones
            .iter()
            .filter(|(id, region)| named_zones.contains(id) || area.overlaps_region(region))
            .map(|(id, _)| *id)
            .collect();
        subscribed.sort();

        let mut candidates = self.store.residents_in_zones(&subscribed).await?;
        candidates.extend(self.directory.query(area.clone()).await);
        candidates.sort_unstable();
        candidates.dedup();
        Ok(Plan {
            area,
            named_zones: named_zones.to_vec(),
            candidates,
        })
    }
}
