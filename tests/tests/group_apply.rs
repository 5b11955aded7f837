//! The worker's side of groups, driven by change messages published straight to the exchange:
//! any arrival order converges, stale and repeated messages change nothing, a deleted group
//! takes its memberships with it.

use std::time::Duration;

use chrono::Utc;
use lapin::BasicProperties;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use shared::messages::{ChangeMessage, GroupSnapshot, MembershipSnapshot, Operation, Resource, UserSnapshot};
use tests::{TestEnv, eventually, publish, scalar};
use uuid::Uuid;

struct Bus {
    env: TestEnv,
    _worker: tests::Worker,
    db: DatabaseConnection,
    tenant: Uuid,
}

impl Bus {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let worker = env.spawn_worker();
        let db = env.db().await;
        // The worker declares the topology and migrates on start.
        eventually("the worker is ready", || async {
            db.execute_unprepared("select 1 from product.group_members limit 1")
                .await
                .is_ok()
        })
        .await;
        env.worker_consuming().await;
        Self {
            env,
            _worker: worker,
            db,
            tenant: Uuid::now_v7(),
        }
    }

    async fn send(&self, msgs: &[ChangeMessage]) {
        for m in msgs {
            publish(
                &self.env.exchange,
                &m.routing_key(),
                &m.to_json(),
                BasicProperties::default(),
            )
            .await;
        }
    }

    /// Sends a marker group after earlier messages and waits for it: once it is applied, the
    /// messages before it have been consumed too.
    async fn drain(&self) {
        let marker = Uuid::now_v7();
        self.send(&[self.group(marker, 1, "Marker", false)]).await;
        eventually("the marker is applied", || async {
            self.group_name(marker).await.is_some()
        })
        .await;
    }

    fn user(&self, id: Uuid, version: i64) -> ChangeMessage {
        let snap = UserSnapshot {
            user_name: format!("{id}@x.test"),
            active: true,
            ..Default::default()
        };
        ChangeMessage::new(
            self.tenant,
            id,
            version,
            Operation::Created,
            Utc::now(),
            Resource::User(snap),
        )
    }

    fn group(&self, id: Uuid, version: i64, name: &str, deleted: bool) -> ChangeMessage {
        let snap = GroupSnapshot {
            display_name: name.into(),
            external_id: None,
            deleted,
        };
        ChangeMessage::new(
            self.tenant,
            id,
            version,
            Operation::Updated,
            Utc::now(),
            Resource::Group(snap),
        )
    }

    fn member(&self, group: Uuid, user: Uuid, version: i64, member: bool) -> ChangeMessage {
        let snap = MembershipSnapshot {
            user_id: user,
            member,
        };
        ChangeMessage::new(
            self.tenant,
            group,
            version,
            Operation::Updated,
            Utc::now(),
            Resource::Membership(snap),
        )
    }

    async fn members(&self, group: Uuid) -> i64 {
        scalar(
            &self.db,
            &format!("select count(*) as n from product.group_members where group_id = '{group}'"),
            "n",
        )
        .await
    }

    /// The group's name, or `None` while it does not exist. One statement: a count and a read
    /// apart could straddle the worker's delete (the test failed on that race).
    async fn group_name(&self, group: Uuid) -> Option<String> {
        use sea_orm::ConnectionTrait;
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "select name from product.groups where id = $1",
                [group.into()],
            ))
            .await
            .expect("query product.groups")?;
        Some(row.try_get("", "name").expect("name"))
    }
}

#[tokio::test]
async fn a_membership_arriving_before_its_group_and_user_is_applied_when_both_are_there() {
    let bus = Bus::new().await;
    let (g, u) = (Uuid::now_v7(), Uuid::now_v7());
    bus.send(&[bus.member(g, u, 1, true)]).await;
    bus.send(&[bus.group(g, 1, "Sales", false)]).await;
    eventually("the group exists", || async { bus.group_name(g).await.is_some() }).await;
    assert_eq!(bus.members(g).await, 0, "the user is not there yet");
    bus.send(&[bus.user(u, 1)]).await;
    eventually("the membership appears with the user", || async {
        bus.members(g).await == 1
    })
    .await;
}

#[tokio::test]
async fn late_and_repeated_membership_messages_do_not_undo_newer_ones() {
    let bus = Bus::new().await;
    let (g, u) = (Uuid::now_v7(), Uuid::now_v7());
    bus.send(&[
        bus.user(u, 1),
        bus.group(g, 1, "Ops", false),
        bus.member(g, u, 2, false),
    ])
    .await;
    eventually("the group exists", || async { bus.group_name(g).await.is_some() }).await;
    // The add (v1) arrives after the removal (v2), then the removal again.
    bus.send(&[bus.member(g, u, 1, true), bus.member(g, u, 2, false)])
        .await;
    // A marker message after them proves they were consumed.
    bus.drain().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bus.members(g).await, 0);
}

#[tokio::test]
async fn a_deleted_group_takes_its_memberships_and_a_late_create_cannot_resurrect_it() {
    let bus = Bus::new().await;
    let (g, u) = (Uuid::now_v7(), Uuid::now_v7());
    bus.send(&[
        bus.user(u, 1),
        bus.group(g, 1, "Temp", false),
        bus.member(g, u, 1, true),
    ])
    .await;
    eventually("the membership exists", || async { bus.members(g).await == 1 }).await;
    bus.send(&[
        bus.group(g, 3, "Temp", true),
        bus.group(g, 2, "Temp renamed", false),
    ])
    .await;
    eventually("the group is gone", || async {
        bus.group_name(g).await.is_none()
    })
    .await;
    bus.drain().await;
    assert_eq!(
        bus.group_name(g).await,
        None,
        "the older rename did not bring it back"
    );
    assert_eq!(bus.members(g).await, 0);
}

#[tokio::test]
async fn renames_apply_in_version_order() {
    let bus = Bus::new().await;
    let g = Uuid::now_v7();
    bus.send(&[
        bus.group(g, 2, "New name", false),
        bus.group(g, 1, "Old name", false),
    ])
    .await;
    eventually("the newest name wins", || async {
        bus.group_name(g).await.as_deref() == Some("New name")
    })
    .await;
    bus.drain().await;
    assert_eq!(bus.group_name(g).await.as_deref(), Some("New name"));
}

#[tokio::test]
async fn memberships_never_join_across_tenants() {
    let bus = Bus::new().await;
    let (g, u) = (Uuid::now_v7(), Uuid::now_v7());
    let mut foreign_user = bus.user(u, 1);
    foreign_user.tenant_id = Uuid::now_v7();
    bus.send(&[
        foreign_user,
        bus.group(g, 1, "Mine", false),
        bus.member(g, u, 1, true),
    ])
    .await;
    bus.drain().await;
    assert_eq!(
        bus.members(g).await,
        0,
        "a user of another tenant is never a member"
    );
}
