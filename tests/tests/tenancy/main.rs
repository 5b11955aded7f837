//! Tenant isolation on every endpoint. Tenant A owns users and a group; with tenant B's token
//! nothing of A can be read, changed, deleted, found by a filter or referenced (as a group member
//! or a manager), a 404 for A's resource reads exactly like a 404 for one that never existed, and
//! A's rows in the directory, the outbox and the product stay byte for byte what they were.
//! `routes` checks that `ROUTES` lists every endpoint the api declares, so a new endpoint cannot
//! slip past these tests.

mod auth;
mod conditional;
mod groups;
mod managers;
mod routes;
mod search;
mod unsupported;
mod users;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tests::{Api, Response, TestEnv, Worker, okta_user};
use uuid::Uuid;

pub use tests::urn::BULK_REQUEST;
pub use tests::urn::ENTERPRISE;
pub use tests::urn::GROUP_SCHEMA;
pub use tests::urn::PATCH_OP;
pub use tests::urn::SEARCH_REQUEST;
pub use tests::urn::USER_SCHEMA;

/// Tenant A's resources, with every key a reference or a filter could name them by.
pub struct Victim {
    pub tenant: Uuid,
    pub token: String,
    pub ada: Uuid,
    pub bob: Uuid,
    pub group: Uuid,
}

pub const ADA_USER_NAME: &str = "ada@shared.test";
pub const ADA_EXTERNAL_ID: &str = "ext-ada-A";
pub const ADA_ALIAS: &str = "ada.alias@a-mail.test";
pub const ADA_EMPLOYEE_NUMBER: &str = "E-ADA";
pub const A_GROUP_NAME: &str = "Engineering A";
pub const A_GROUP_EXTERNAL_ID: &str = "grp-ext-A";

/// Tenant B, the one trying: a user and a group of its own.
pub struct Intruder {
    pub tenant: Uuid,
    pub token: String,
    pub carol: Uuid,
    pub group: Uuid,
}

pub struct Two {
    pub env: TestEnv,
    pub api: Api,
    _worker: Worker,
    pub db: DatabaseConnection,
    pub a: Victim,
    pub b: Intruder,
}

impl Two {
    /// Both tenants, with A's resources already in the product.
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api().await;
        let worker = env.spawn_worker();
        let db = env.db().await;
        let (a_tenant, a_token) = env.create_tenant("Victim");
        let (b_tenant, b_token) = env.create_tenant("Intruder");
        let mut two = Self {
            env,
            api,
            _worker: worker,
            db,
            a: Victim {
                tenant: a_tenant,
                token: a_token,
                ada: Uuid::nil(),
                bob: Uuid::nil(),
                group: Uuid::nil(),
            },
            b: Intruder {
                tenant: b_tenant,
                token: b_token,
                carol: Uuid::nil(),
                group: Uuid::nil(),
            },
        };
        let mut ada = okta_user(ADA_USER_NAME, "Ada", "Victim");
        ada["externalId"] = json!(ADA_EXTERNAL_ID);
        ada["emails"] = json!([
            {"value": ADA_USER_NAME, "type": "work", "primary": true},
            {"value": ADA_ALIAS, "type": "other"}
        ]);
        ada[ENTERPRISE] = json!({"employeeNumber": ADA_EMPLOYEE_NUMBER});
        two.a.ada = two.created(&two.a.token.clone(), "/Users", ada).await;
        two.a.bob = two
            .created(
                &two.a.token.clone(),
                "/Users",
                okta_user("bob@a.test", "Bob", "Victim"),
            )
            .await;
        let group = json!({"schemas": [GROUP_SCHEMA], "displayName": A_GROUP_NAME, "externalId": A_GROUP_EXTERNAL_ID, "members": [{"value": two.a.ada.to_string()}, {"value": two.a.bob.to_string()}]});
        two.a.group = two.created(&two.a.token.clone(), "/Groups", group).await;
        two.b.carol = two
            .created(
                &two.b.token.clone(),
                "/Users",
                okta_user("carol@b.test", "Carol", "Intruder"),
            )
            .await;
        let group = json!({"schemas": [GROUP_SCHEMA], "displayName": "B team", "members": [{"value": two.b.carol.to_string()}]});
        two.b.group = two.created(&two.b.token.clone(), "/Groups", group).await;
        two.quiesce().await;
        two
    }

    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call_with(token, method, path, body, &[]).await
    }

    /// [`Two::call`] with extra headers (`If-Match`, `If-None-Match`).
    pub async fn call_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.env
            .request_with(
                &self.api,
                method,
                &format!("/scim/v2{path}"),
                Some(token),
                body,
                headers,
            )
            .await
    }

    pub async fn as_a(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call(&self.a.token, method, path, body).await
    }

    pub async fn as_b(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call(&self.b.token, method, path, body).await
    }

    /// POSTs and insists on 201; returns the new id.
    pub async fn created(&self, token: &str, path: &str, body: Value) -> Uuid {
        let r = self.call(token, Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
        r.id()
    }

    pub fn a_ids(&self) -> [Uuid; 3] {
        [self.a.ada, self.a.bob, self.a.group]
    }

    /// Everything that would identify either tenant or one of their resources, and A's token:
    /// none of it may show in an answer that is meant to say nothing about a tenant.
    pub fn identifying(&self) -> Vec<String> {
        vec![
            self.a.tenant.to_string(),
            self.b.tenant.to_string(),
            self.a.ada.to_string(),
            self.a.bob.to_string(),
            self.a.group.to_string(),
            self.b.carol.to_string(),
            self.b.group.to_string(),
            ADA_USER_NAME.to_owned(),
            ADA_EXTERNAL_ID.to_owned(),
            A_GROUP_NAME.to_owned(),
            A_GROUP_EXTERNAL_ID.to_owned(),
            self.a.token.clone(),
        ]
    }

    /// Waits until the worker has applied everything the directory holds (verify finds no
    /// difference), so that a change that should not happen has had every chance to show.
    pub async fn quiesce(&self) {
        tests::eventually("directory and product converge", || async {
            self.env.worker_cli(&["verify"]).0
        })
        .await;
    }

    /// Everything stored for `tenant`, as text: directory rows, outbox rows (without their
    /// publication time, which the dispatcher sets on its own schedule) and product rows.
    pub async fn state_of(&self, tenant: Uuid) -> String {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "select coalesce(string_agg(x, E'\\n' order by x), '') as d from (
                     select 'scim.users ' || t::text as x from scim.users t where tenant_id = $1
                     union all select 'scim.groups ' || t::text from scim.groups t where tenant_id = $1
                     union all select 'scim.group_members ' || t::text from scim.group_members t where tenant_id = $1
                     union all select 'scim.outbox ' || t.id || ' ' || t.message_id || ' ' || t.payload::text
                         from scim.outbox t where tenant_id = $1
                     union all select 'product.users ' || t::text from product.users t where tenant_id = $1
                     union all select 'product.groups ' || t::text from product.groups t where tenant_id = $1
                     union all select 'product.group_members ' || t::text from product.group_members t
                         join product.groups g on g.id = t.group_id where g.tenant_id = $1
                     union all select 'product.group_versions ' || t::text from product.group_versions t where tenant_id = $1
                     union all select 'product.membership_versions ' || t::text from product.membership_versions t where tenant_id = $1
                 ) s",
                [tenant.into()],
            ))
            .await
            .expect("state query")
            .expect("one row");
        let state: String = row.try_get("", "d").expect("state");
        assert!(state.contains("product.users"), "the worker has applied {tenant}");
        state
    }

    pub async fn last_outbox_id(&self) -> i64 {
        tests::scalar(&self.db, "select coalesce(max(id), 0) as n from scim.outbox", "n").await
    }

    pub async fn outbox_rows_after(&self, after: i64) -> i64 {
        tests::scalar(
            &self.db,
            &format!("select count(*) as n from scim.outbox where id > {after}"),
            "n",
        )
        .await
    }

    /// A's stored state (directory, outbox and product rows) is what it was before `run`, once
    /// the worker has applied whatever `run` caused.
    pub async fn leaves_a_untouched<F: Future<Output = ()>>(&self, run: F) {
        let before = self.state_of(self.a.tenant).await;
        run.await;
        self.quiesce().await;
        assert_eq!(self.state_of(self.a.tenant).await, before);
    }

    /// As `leaves_a_untouched`, and `run` (requests that must all be refused) wrote no change
    /// for any tenant.
    pub async fn writes_nothing<F: Future<Output = ()>>(&self, run: F) {
        let mark = self.last_outbox_id().await;
        self.leaves_a_untouched(run).await;
        assert_eq!(
            self.outbox_rows_after(mark).await,
            0,
            "a refused request wrote a change"
        );
    }
}

/// A 404 for another tenant's resource must not tell it apart from a resource that does not
/// exist: same status, same body once the id is swapped.
pub async fn assert_not_found_like_a_missing_id(
    two: &Two,
    method: Method,
    path_of: impl Fn(Uuid) -> String,
    theirs: Uuid,
    body: Option<Value>,
) {
    assert_not_found_like_a_missing_id_with(two, method, path_of, theirs, body, &[]).await;
}

/// [`assert_not_found_like_a_missing_id`] for a request with extra headers: a precondition
/// about another tenant's resource is never evaluated (no 412, no 304), since that would tell
/// the resource exists.
pub async fn assert_not_found_like_a_missing_id_with(
    two: &Two,
    method: Method,
    path_of: impl Fn(Uuid) -> String,
    theirs: Uuid,
    body: Option<Value>,
    headers: &[(&str, &str)],
) {
    let r = two
        .call_with(
            &two.b.token,
            method.clone(),
            &path_of(theirs),
            body.clone(),
            headers,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "{method} {} {headers:?}: {}",
        path_of(theirs),
        r.body
    );
    tests::assert_scim_error(&r);
    assert_eq!(r.header("etag"), None, "{method} {} {headers:?}", path_of(theirs));
    let missing = Uuid::now_v7();
    let control = two
        .call_with(&two.b.token, method.clone(), &path_of(missing), body, headers)
        .await;
    assert_eq!(control.status, StatusCode::NOT_FOUND, "{headers:?}");
    assert_eq!(
        r.body.to_string().replace(&theirs.to_string(), "<id>"),
        control.body.to_string().replace(&missing.to_string(), "<id>"),
        "{method} {} {headers:?}: the answer differs from a missing id's",
        path_of(theirs)
    );
}

/// Ids of a list response's resources.
pub fn listed_ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// A SearchRequest (RFC 7644 §3.4.3) made of `params`.
pub fn search_request(mut params: Value) -> Value {
    params["schemas"] = json!([SEARCH_REQUEST]);
    params
}

/// A BulkRequest (RFC 7644 §3.7) of `operations`.
pub fn bulk_request(operations: Value) -> Value {
    json!({"schemas": [BULK_REQUEST], "Operations": operations})
}

/// The `ETag` header of a response that must carry one.
pub fn etag(r: &Response) -> String {
    r.header("etag")
        .unwrap_or_else(|| panic!("{}: no ETag: {}", r.status, r.body))
        .to_owned()
}
