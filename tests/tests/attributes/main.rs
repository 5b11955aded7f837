//! Tenant-defined attributes end to end: a tenant's own schema extension defined through
//! `/admin/api`, its values sent by Okta and Entra ID, checked, stored, returned, filtered,
//! sorted and patched, and seen by no other tenant.

mod extensions;
mod mapping;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tests::World;

pub const ADMIN_KEY: &str = "attributes-admin-key-7d2e9c4b1a6f3058";

/// An api with the admin API on, one worker, and the tenant "Acme".
pub async fn world() -> World {
    let env = tests::TestEnv::new().await;
    let api = env.spawn_api_with(&[("ADMIN_TOKEN", ADMIN_KEY)]).await;
    let worker = env.spawn_worker();
    World::from_parts(env, api, vec![worker]).await
}

/// A call to `/admin/api` with the admin key: (status, JSON body or null).
pub async fn admin(w: &World, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = w
        .env
        .http
        .request(method, format!("{}{path}", w.api.base))
        .bearer_auth(ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
