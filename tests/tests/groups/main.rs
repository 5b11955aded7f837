//! Groups and memberships, end to end: Okta's group push and Entra ID's group provisioning
//! through the real `scim-api`, the directory rows and outbox messages they write, the cost of
//! a membership change in a large group, and (in `product`) what the worker makes of it.

mod entra;
mod errors;
mod nesting;
mod okta;
mod product;
mod reads;
mod references;
mod roles;
mod scale;
mod users;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tests::{Response, okta_user};
use uuid::Uuid;

pub use tests::World;

pub use tests::urn::GROUP_SCHEMA;
pub use tests::urn::PATCH_OP;

/// The steps of group tests, on the suite's one World.
#[allow(async_fn_in_trait)]
pub trait Steps {
    /// Creates a user through the api; returns its id.
    async fn user(&self, user_name: &str) -> Uuid;

    /// Creates `n` users named `<prefix>-<i>@acme.test`; returns their ids in creation order.
    async fn users(&self, prefix: &str, n: usize) -> Vec<Uuid>;

    /// Okta's group push: a POST with an empty member list.
    async fn post_group(&self, name: &str, members: &[Uuid]) -> Response;

    async fn group(&self, name: &str) -> Uuid;

    async fn patch_group(&self, id: Uuid, ops: Value) -> Response;

    /// PATCHes and insists on 204 No Content.
    async fn patch_ok(&self, id: Uuid, ops: Value);

    /// The member ids a GET of the group shows, in the order shown.
    async fn members(&self, id: Uuid) -> Vec<Uuid>;

    /// The members a GET of the group shows, as shown.
    async fn members_raw(&self, id: Uuid) -> Vec<Value>;
}

impl Steps for World {
    /// Creates a user through the api; returns its id.
    async fn user(&self, user_name: &str) -> Uuid {
        let r = self
            .call(
                Method::POST,
                "/Users",
                Some(okta_user(user_name, "Given", "Family")),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    /// Creates `n` users named `<prefix>-<i>@acme.test`; returns their ids in creation order.
    async fn users(&self, prefix: &str, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(self.user(&format!("{prefix}-{i}@acme.test")).await);
        }
        ids
    }

    /// Okta's group push: a POST with an empty member list.
    async fn post_group(&self, name: &str, members: &[Uuid]) -> Response {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": refs(members)});
        self.call(Method::POST, "/Groups", Some(body)).await
    }

    async fn group(&self, name: &str) -> Uuid {
        let r = self.post_group(name, &[]).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    async fn patch_group(&self, id: Uuid, ops: Value) -> Response {
        self.call(Method::PATCH, &format!("/Groups/{id}"), Some(patch(ops)))
            .await
    }

    /// PATCHes and insists on 204 No Content.
    async fn patch_ok(&self, id: Uuid, ops: Value) {
        let r = self.patch_group(id, ops.clone()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{ops} → {}", r.body);
    }

    /// The member ids a GET of the group shows, in the order shown.
    async fn members(&self, id: Uuid) -> Vec<Uuid> {
        let r = self.get(&format!("/Groups/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        member_ids(&r.body)
    }

    async fn members_raw(&self, id: Uuid) -> Vec<Value> {
        let r = self.get(&format!("/Groups/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["members"].as_array().cloned().unwrap_or_default()
    }
}

/// The version of a group's own change messages. Its ETag (`meta.version`) moves with
/// membership changes too; this does not, since members travel in messages of their own.
pub async fn message_version(w: &World, gid: Uuid) -> i64 {
    let db = w.env.db().await;
    tests::scalar(
        &db,
        &format!("select version from scim.groups where id = '{gid}'"),
        "version",
    )
    .await
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// `[{"value": id}, ...]`
pub fn refs(ids: &[Uuid]) -> Value {
    ids.iter().map(|id| json!({"value": id.to_string()})).collect()
}

pub fn member_ids(group: &Value) -> Vec<Uuid> {
    group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    m["value"]
                        .as_str()
                        .and_then(|s| Uuid::parse_str(s).ok())
                        .expect("member value")
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn sorted(ids: &[Uuid]) -> Vec<Uuid> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

/// An outbox row as written.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub routing_key: String,
    pub payload: Value,
    pub bytes: i32,
}

pub async fn last_outbox_id(db: &DatabaseConnection) -> i64 {
    tests::scalar(db, "select coalesce(max(id), 0) as n from scim.outbox", "n").await
}

/// Outbox rows written after row `after`, in order.
pub async fn outbox_after(db: &DatabaseConnection, after: i64) -> Vec<OutboxRow> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select id, routing_key, payload, octet_length(payload::text) as bytes
             from scim.outbox where id > $1 order by id",
            [after.into()],
        ))
        .await
        .expect("outbox query");
    rows.iter()
        .map(|r| OutboxRow {
            id: r.try_get("", "id").expect("id"),
            routing_key: r.try_get("", "routing_key").expect("routing_key"),
            payload: r.try_get("", "payload").expect("payload"),
            bytes: r.try_get("", "bytes").expect("bytes"),
        })
        .collect()
}
