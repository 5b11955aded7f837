//! Dispatch: which module applies a change message to the `product` schema, in which
//! transaction, and which changes may share one. A message is applied iff its version is newer
//! than the row's, so duplicates, redeliveries and out-of-order arrivals are harmless and any
//! number of workers can apply concurrently. User and membership changes are applied as batches
//! (a single one is a batch of one; see `users` and `memberships`), groups one at a time
//! (`groups`), and a tenant's role mapping in pages of users (`roles`).

use std::collections::HashSet;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use shared::fault::Faults;
use shared::messages::{ChangeMessage, Resource};
use uuid::Uuid;

use crate::groups;
use crate::memberships::{self, MembershipChange};
use crate::nesting;
pub use crate::outcome::Outcome;
use crate::roles;
use crate::users::{self, UserChange};

#[derive(Clone)]
pub struct Applier {
    pub db: DatabaseConnection,
    /// The directory, where a role mapping's re-derivation reports its progress.
    pub directory: DatabaseConnection,
    /// Test-only hooks (none in production builds): a hold before each commit widens race
    /// windows so that tests can prove they are closed.
    pub faults: Faults,
}

/// What the consumer may apply together in one transaction: changes of one kind, each about a
/// different key (a statement cannot upsert one row twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKey {
    User(Uuid),
    /// A user's backfill after its tenant's mapping changed (`ChangeMessage::reapply`).
    Reapplied(Uuid),
    Membership {
        group: Uuid,
        user: Uuid,
    },
}

impl BatchKey {
    /// `None` for changes applied one at a time (groups).
    pub fn of(msg: &ChangeMessage) -> Option<Self> {
        match &msg.resource {
            Resource::User(_) if msg.reapply => Some(Self::Reapplied(msg.resource_id)),
            Resource::User(_) => Some(Self::User(msg.resource_id)),
            Resource::Membership(m) => Some(Self::Membership {
                group: msg.resource_id,
                user: m.user_id,
            }),
            Resource::Group(_) | Resource::ChildGroup(_) | Resource::RoleMapping(_) => None,
        }
    }

    /// Whether changes with these keys may share a batch.
    pub fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl Applier {
    pub async fn apply(&self, msg: &ChangeMessage) -> Result<Outcome, DbErr> {
        if BatchKey::of(msg).is_some() {
            return Ok(self.apply_batch(&[msg]).await?[0]);
        }
        if let Resource::RoleMapping(mapping) = &msg.resource {
            // Many transactions, one page of users each (see `roles`).
            return roles::apply_mapping(&self.db, &self.directory, msg, mapping).await;
        }
        let txn = self.db.begin().await?;
        let outcome = match &msg.resource {
            Resource::Group(snapshot) => groups::apply_group(&txn, msg, snapshot).await?,
            Resource::ChildGroup(edge) => nesting::apply_edge(&txn, msg, edge).await?,
            Resource::User(_) | Resource::Membership(_) | Resource::RoleMapping(_) => {
                unreachable!("applied as a batch or above")
            }
        };
        self.commit(txn).await?;
        Ok(outcome)
    }

    /// Applies changes of one kind with distinct [`BatchKey`]s in one transaction; the outcomes
    /// are in the order of `msgs`.
    pub async fn apply_batch(&self, msgs: &[&ChangeMessage]) -> Result<Vec<Outcome>, DbErr> {
        let keys: Vec<BatchKey> = msgs.iter().filter_map(|m| BatchKey::of(m)).collect();
        let one_kind = keys.len() == msgs.len() && keys.iter().all(|k| k.same_kind(&keys[0]));
        let distinct = keys.iter().collect::<HashSet<_>>().len() == keys.len();
        if msgs.is_empty() || !one_kind || !distinct {
            return Err(DbErr::Custom(
                "a batch holds changes of one kind with distinct keys".into(),
            ));
        }
        let txn = self.db.begin().await?;
        let outcomes = match keys[0] {
            BatchKey::User(_) | BatchKey::Reapplied(_) => {
                let changes: Vec<UserChange> = msgs.iter().filter_map(|m| UserChange::of(m)).collect();
                let reapply = matches!(keys[0], BatchKey::Reapplied(_));
                users::apply_users(&txn, &changes, reapply).await?
            }
            BatchKey::Membership { .. } => {
                let changes: Vec<MembershipChange> =
                    msgs.iter().filter_map(|m| MembershipChange::of(m)).collect();
                memberships::apply_memberships(&txn, &changes).await?
            }
        };
        self.commit(txn).await?;
        Ok(outcomes)
    }

    async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        self.faults.before_commit().await;
        txn.commit().await
    }
}
