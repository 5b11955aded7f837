//! Two lanes for change messages, so that one tenant's flood never delays another tenant's
//! change. Each tenant has an interactive share (a token bucket of changes per second); its
//! changes within the share go to the workers' main queue, the rest to the bulk queue. Workers
//! consume both with capacity of their own for each, so a quiet tenant's change waits behind at
//! most the main queue's few messages, never behind a 100,000-user import or a 100,000-member
//! group sitting in the bulk queue; when nobody floods, the bulk lane is empty and costs nothing.
//!
//! Order across lanes is not kept, and need not be: workers apply a snapshot only when its
//! version is newer, and resolve manager links and memberships whichever side arrives first (the
//! same guarantees that let several workers apply one queue concurrently).

use uuid::Uuid;

use crate::tenant_buckets::TenantBuckets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Interactive,
    Bulk,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Interactive, Lane::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Bulk => "bulk",
        }
    }
}

/// A tenant's interactive share: changes per second (0 sends everything through the main
/// queue, one lane as before), and changes it may send at once after being quiet.
pub use crate::tenant_buckets::Rate as Share;

/// Picks the lane of each change by its tenant's share. One per publishing process: with
/// several api replicas a tenant's share is at most the replicas' sum.
pub struct Lanes(TenantBuckets);

impl Lanes {
    pub fn new(share: Share) -> Self {
        Self(TenantBuckets::new(share))
    }

    /// Everything in the main queue.
    pub fn one() -> Self {
        Self::new(Share {
            per_second: 0.0,
            burst: 0.0,
        })
    }

    /// The lane of one change of `tenant` (takes from its share when it goes interactive).
    pub fn pick(&self, tenant: Uuid) -> Lane {
        match self.0.take(tenant) {
            Ok(()) => Lane::Interactive,
            Err(_) => Lane::Bulk,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_past_its_share_goes_to_the_bulk_lane_and_others_stay_interactive() {
        let lanes = Lanes::new(Share {
            per_second: 1.0,
            burst: 3.0,
        });
        let (noisy, quiet) = (Uuid::now_v7(), Uuid::now_v7());
        let picked: Vec<Lane> = (0..10).map(|_| lanes.pick(noisy)).collect();
        assert_eq!(&picked[..3], &[Lane::Interactive; 3]);
        assert!(picked[3..].iter().all(|l| *l == Lane::Bulk), "{picked:?}");
        assert_eq!(lanes.pick(quiet), Lane::Interactive);
    }

    #[test]
    fn a_zero_share_keeps_every_change_in_the_main_queue() {
        let lanes = Lanes::one();
        let t = Uuid::now_v7();
        assert!((0..1000).all(|_| lanes.pick(t) == Lane::Interactive));
    }
}
