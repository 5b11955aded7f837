//! The deprovisioning guard end to end: a mass deactivation held from the product beyond the
//! tenant's threshold while the IdP gets its ordinary answers, then approved or rejected; the
//! grace period; protected accounts; and what `scim-worker verify`, `/metrics`, the logs and
//! the event streams say about it.

mod grace;
mod protected;
mod wave;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{World, scalar};
use uuid::Uuid;

pub const ADMIN_KEY: &str = "deprovisioning-admin-key-5b8e1f3a9c2d7046";

/// An api with the admin API on, one worker, and the tenant "Acme".
pub async fn world() -> World {
    let env = tests::TestEnv::new().await;
    let api = env.spawn_api_with(&[("ADMIN_TOKEN", ADMIN_KEY)]).await;
    let worker = env.spawn_worker();
    World::from_parts(env, api, vec![worker]).await
}

/// `/admin/api/tenants/{tenant}/deprovisioning-guard{tail}`: (status, body).
pub async fn guard(w: &World, method: Method, tail: &str, body: Option<Value>) -> (StatusCode, Value) {
    w.admin(
        ADMIN_KEY,
        method,
        &format!("/admin/api/tenants/{}/deprovisioning-guard{tail}", w.tenant),
        body,
    )
    .await
}

/// Sets the tenant's policy; returns the guard as it then stands.
pub async fn set_policy(w: &World, policy: Value) -> Value {
    let (status, v) = guard(w, Method::PUT, "", Some(policy)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// The guard as it stands.
pub async fn status(w: &World) -> Value {
    let (status, v) = guard(w, Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// Approves or rejects (`decision`); returns how many were decided.
pub async fn decide(w: &World, decision: &str) -> u64 {
    let (status, v) = guard(w, Method::POST, &format!("/{decision}"), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["count"].as_u64().expect("count")
}

/// Creates users through SCIM; returns their ids.
pub async fn create_users(w: &World, prefix: &str, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let r = w
            .post_user(tests::okta_user(
                &format!("{prefix}{i}@acme.test"),
                "Given",
                "Family",
            ))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.id());
    }
    ids
}

/// Okta's deactivation: `PATCH active false`; every one must get its ordinary 200 whatever
/// the guard does with it. Sixteen at a time, as an IdP's burst.
pub async fn deactivate(w: &World, ids: &[Uuid]) {
    set_active(w, ids, false).await;
}

pub async fn set_active(w: &World, ids: &[Uuid], active: bool) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": active}}]
    });
    let statuses: Vec<(StatusCode, Value)> = futures_util::stream::iter(ids)
        .map(|id| {
            let body = body.clone();
            async move {
                let r = w.call(Method::PATCH, &format!("/Users/{id}"), Some(body)).await;
                (r.status, r.body)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (status, body) in statuses {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["active"], json!(active), "the IdP reads back what it sent");
    }
}

/// Okta's profile update of one attribute: `PATCH replace title`, answered 200; returns the
/// user as answered.
pub async fn set_title(w: &World, id: Uuid, title: &str) -> Value {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "title", "value": title}]});
    let r = w.call(Method::PATCH, &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// DELETEs, each answered 204.
pub async fn delete(w: &World, ids: &[Uuid]) {
    for id in ids {
        let r = w.call(Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
}

/// The tenant's product users that are active / inactive.
pub async fn product_counts(w: &World) -> (i64, i64) {
    let sql = format!(
        "select count(*) filter (where active) as active, count(*) filter (where not active) as inactive
         from product.users where tenant_id = '{}'",
        w.tenant
    );
    let active = scalar::<i64>(&w.db, &sql, "active").await;
    let inactive = scalar::<i64>(&w.db, &sql, "inactive").await;
    (active, inactive)
}

/// Whether the product has `id` active (`None`: no row).
pub async fn product_active(w: &World, id: Uuid) -> Option<bool> {
    w.env.product_user(&w.db, id).await.map(|u| u.active)
}

/// Waits until every change committed so far is published and the product has `inactive`
/// inactive users.
pub async fn product_settles_at(w: &World, inactive: i64) {
    tests::eventually(&format!("the product has {inactive} inactive users"), || async {
        product_counts(w).await.1 == inactive
    })
    .await;
}

/// `scim-worker verify` for the tenant: (passed, summary line, guarded lines).
pub fn verify(w: &World) -> (bool, Value, Vec<Value>) {
    let tenant = w.tenant.to_string();
    let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    let summary = lines
        .iter()
        .find(|l| l.get("differences").is_some())
        .cloned()
        .unwrap_or(Value::Null);
    let guarded = lines
        .iter()
        .filter(|l| l.get("guard").is_some())
        .cloned()
        .collect();
    (ok, summary, guarded)
}

#[tokio::test]
async fn policies_are_checked_and_default_to_the_documented_values() {
    let w = world().await;
    let v = status(&w).await;
    assert_eq!(
        v["policy"],
        json!({"enabled": true, "max_fraction": 0.1, "min_count": 25, "window_minutes": 60,
               "grace_minutes": 0, "protected": []})
    );
    assert_eq!(v["held"]["count"], 0);
    for (bad, names) in [
        (json!({"max_fraction": 0}), "max_fraction"),
        (json!({"max_fraction": 1.5}), "max_fraction"),
        (json!({"window_minutes": 0}), "window_minutes"),
        (json!({"grace_minutes": -1}), "grace_minutes"),
        (json!({"min_count": -3}), "min_count"),
        (json!({"protected": [""]}), "protected"),
        (json!({"max_fraktion": 0.2}), "max_fraktion"),
    ] {
        let (status, body) = guard(&w, Method::PUT, "", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        assert!(body.to_string().contains(names), "{bad} -> {body}");
    }
    let v = set_policy(&w, json!({"min_count": 3, "protected": ["Root@Acme.test"]})).await;
    assert_eq!(v["policy"]["min_count"], 3);
    assert_eq!(
        v["policy"]["max_fraction"], 0.1,
        "absent fields take their defaults"
    );
    assert_eq!(v["policy"]["protected"], json!(["Root@Acme.test"]));
    // Another tenant's guard is its own; an unknown tenant is 404.
    let (status, _) = w
        .admin(
            ADMIN_KEY,
            Method::GET,
            &format!("/admin/api/tenants/{}/deprovisioning-guard", Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deciding with nothing held decides nothing.
    assert_eq!(decide(&w, "approve").await, 0);
    assert_eq!(decide(&w, "reject").await, 0);
}
