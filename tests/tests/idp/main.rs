//! Every major identity provider's SCIM client, replayed from the first request it sends to the
//! product row: one file per IdP, each the requests that IdP's documentation (or source code)
//! says it sends, with its quirks, every one cited beside the request. docs/idps.md is the
//! compatibility matrix that names these tests; docs/idp-sources.md holds the research.
//!
//! Where an IdP's documents do not say how it sends a flow, the replay sends the RFC 7644 form
//! and says so: the matrix marks those cells "RFC form", not "documented".

mod authentik;
mod entra;
mod jumpcloud;
mod keycloak;
mod okta;
mod onelogin;
mod ping;
mod rippling;
mod sailpoint;
mod validator;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use shared::entity::product_user;
use tests::{Response, TestEnv, World, eventually, product_members};
use uuid::Uuid;

pub use tests::urn::{ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};

pub const ADMIN_KEY: &str = "idp-replay-admin-key-0123456789abcdef";

/// One IdP's client against a fresh api, one worker and the tenant "Acme".
pub struct Idp {
    pub w: World,
    /// The `User-Agent` it sends.
    pub ua: &'static str,
    pub content_type: &'static str,
}

impl Idp {
    pub async fn new(ua: &'static str) -> Self {
        Self::with_content_type(ua, "application/scim+json").await
    }

    pub async fn with_content_type(ua: &'static str, content_type: &'static str) -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api_with(&[("ADMIN_TOKEN", ADMIN_KEY)]).await;
        let worker = env.spawn_worker();
        Self {
            w: World::from_parts(env, api, vec![worker]).await,
            ua,
            content_type,
        }
    }

    /// A request under `/scim/v2` as this IdP sends it: its User-Agent, its Content-Type, the
    /// tenant's bearer token.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let headers = [("User-Agent", self.ua), ("Content-Type", self.content_type)];
        self.w.call_with(method, path, body, &headers).await
    }

    /// [`Idp::send`], asserting the status; `step` names the request in a failure.
    pub async fn expect(
        &self,
        step: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Response {
        let r = self.send(method.clone(), path, body).await;
        assert_eq!(r.status, status, "{step}: {method} {path} answered {}", r.body);
        r
    }

    /// The product row of user `id` once it satisfies `check`.
    pub async fn product_user(
        &self,
        id: Uuid,
        check: impl Fn(&product_user::Model) -> bool,
    ) -> product_user::Model {
        self.w.env.product_user_where(&self.w.db, id, check).await
    }

    /// Waits until `product.group_members` of `group` holds exactly `want`.
    pub async fn product_members_become(&self, group: Uuid, want: &[Uuid]) {
        let mut want = want.to_vec();
        want.sort();
        eventually(&format!("product members of {group} become {want:?}"), || {
            let want = want.clone();
            async move { product_members(&self.w.db, group).await == want }
        })
        .await;
    }

    /// Waits until the product has the group `id` (or, with `false`, no longer has it).
    pub async fn product_group_exists(&self, id: Uuid, exists: bool) {
        eventually(&format!("product group {id} exists: {exists}"), || async move {
            count(
                &self.w.db,
                "select count(*) as n from product.groups where id = $1",
                id,
            )
            .await
                == i64::from(exists)
        })
        .await;
    }

    /// Every row of the tenant's activity log names `idp` (or none, for `None`) and carries the
    /// User-Agent as sent; waits until there are at least `min` rows (the log is written in
    /// batches a moment after the requests).
    pub async fn activity_names(&self, idp: Option<&str>, min: usize) {
        let path = format!("/admin/api/tenants/{}/activity?limit=500", self.w.tenant);
        eventually(
            &format!("the activity log has {min} of the replay's requests"),
            || async { self.activity(&path).await.len() >= min },
        )
        .await;
        let rows = self.activity(&path).await;
        for row in &rows {
            assert_eq!(row["client"], self.ua, "{row}");
            assert_eq!(row["idp"], json!(idp), "{row}");
        }
    }
}

impl Idp {
    async fn activity(&self, path: &str) -> Vec<Value> {
        let (status, v) = self.w.admin(ADMIN_KEY, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["activity"].as_array().cloned().unwrap_or_default()
    }
}

async fn count(db: &DatabaseConnection, sql: &str, id: Uuid) -> i64 {
    let stmt = sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, [id.into()]);
    match db.query_one_raw(stmt).await {
        Ok(Some(row)) => row.try_get("", "n").expect("n"),
        Ok(None) => 0,
        Err(e) if e.to_string().contains("does not exist") => 0,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// A PatchOp body.
pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// `value eq "x"` for a query string.
pub fn eq(attr: &str, value: &str) -> String {
    tests::urlencode(&format!("{attr} eq \"{value}\""))
}
