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
    w.admin(ADMIN_KEY, method, path, body).await
}

/// A poll stream of the world's tenant with `payload` ("full" or "notice"): (poll URL path,
/// token).
pub async fn poll_stream(w: &World, payload: &str) -> (String, String) {
    let (status, v) = admin(
        w,
        Method::POST,
        &format!("/admin/api/tenants/{}/event-streams", w.tenant),
        Some(serde_json::json!({"delivery": "poll", "payload": payload})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let url = v["poll_url"].as_str().unwrap();
    let path = format!("/events/{}", url.split("/events/").nth(1).unwrap());
    (path, v["token"].as_str().unwrap().to_owned())
}

/// The claims of every SET the stream has now (signatures are the events tests' business).
pub async fn sets(w: &World, stream: &(String, String)) -> Vec<Value> {
    use base64::Engine;
    let r = w
        .env
        .http
        .post(format!("{}{}", w.api.base, stream.0))
        .bearer_auth(&stream.1)
        .json(&serde_json::json!({"maxEvents": 100, "returnImmediately": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["sets"]
        .as_object()
        .unwrap()
        .values()
        .map(|set| {
            let payload = set.as_str().unwrap().split('.').nth(1).unwrap();
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}
