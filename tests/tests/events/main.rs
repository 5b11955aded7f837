//! Change events end to end: a poll stream (RFC 8936) created through `/admin/api`, SCIM writes
//! through the api, and a receiver that verifies every SET with an independent JOSE library
//! against `/.well-known/jwks.json`, checks the gapless sequence and rebuilds the directory
//! from the full payloads.

mod asynchronous;
mod poll;
mod push;

use std::collections::BTreeMap;

use base64::Engine;
use jwt_simple::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tests::World;

pub const ADMIN_KEY: &str = "events-admin-key-5c1f0e9a7b3d4268";

/// An api with the admin API on and the signing key read afresh on every SET.
pub async fn world(extra: &[(&str, &str)]) -> World {
    let mut env = vec![("ADMIN_TOKEN", ADMIN_KEY), ("EVENTS_KEY_CACHE_SECS", "0")];
    env.extend_from_slice(extra);
    World::with_api(&env).await
}

/// A call to `/admin/api` with the admin key: (status, JSON body or null).
pub async fn admin(w: &World, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    w.admin(ADMIN_KEY, method, path, body).await
}

/// A poll stream of the world's tenant.
pub struct Stream {
    pub id: String,
    pub url: String,
    pub token: String,
}

pub async fn poll_stream(w: &World, extra: Value) -> Stream {
    let mut body = json!({"delivery": "poll"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    let (status, v) = admin(
        w,
        Method::POST,
        &format!("/admin/api/tenants/{}/event-streams", w.tenant),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    Stream {
        id: v["stream_id"].as_str().unwrap().to_owned(),
        url: v["poll_url"].as_str().unwrap().to_owned(),
        token: v["token"].as_str().unwrap().to_owned(),
    }
}

/// One RFC 8936 poll: (status, answer, WWW-Authenticate).
pub async fn poll(w: &World, s: &Stream, token: &str, body: Value) -> (StatusCode, Value, Option<String>) {
    // The poll URL names the public origin; the test's api listens where `w.api.base` says.
    let path = s.url.split("/events/").nth(1).unwrap();
    let r = w
        .env
        .http
        .post(format!("{}/events/{path}", w.api.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, r.json().await.unwrap_or(Value::Null), challenge)
}

/// The published keys, by `kid`.
pub async fn jwks(w: &World) -> BTreeMap<String, Value> {
    let r = w
        .env
        .http
        .get(format!("{}/.well-known/jwks.json", w.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().to_owned(), k.clone()))
        .collect()
}

/// Verifies a SET (signature by its `kid`'s published key, `typ`, `iss`, `aud`) with
/// jwt-simple and returns its claims.
pub fn verify(set: &str, keys: &BTreeMap<String, Value>, iss: &str, aud: &str) -> Map<String, Value> {
    let meta = Token::decode_metadata(set).expect("a JWS");
    assert_eq!(meta.algorithm(), "EdDSA");
    assert_eq!(meta.signature_type(), Some("secevent+jwt"));
    let kid = meta.key_id().expect("kid").to_owned();
    let jwk = keys
        .get(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    let key = Ed25519PublicKey::from_bytes(&x).unwrap();
    let options = VerificationOptions {
        required_signature_type: Some("secevent+jwt".into()),
        allowed_issuers: Some(HashSet::from_strings(&[iss])),
        allowed_audiences: Some(HashSet::from_strings(&[aud])),
        ..Default::default()
    };
    let c = key
        .verify_token::<Map<String, Value>>(set, Some(options))
        .expect("the SET verifies");
    assert!(c.expires_at.is_none(), "a SET has no exp (RFC 8417 §2.2)");
    let mut claims = c.custom;
    claims.insert("jti".into(), json!(c.jwt_id.expect("jti")));
    claims.insert("iss".into(), json!(c.issuer.expect("iss")));
    claims
}

#[tokio::test]
async fn the_jwks_is_open_and_a_rotation_keeps_the_old_key_published() {
    let w = world(&[]).await;
    let before = jwks(&w).await;
    assert_eq!(before.len(), 1, "the first key is made on first use");
    let rotated = w.env.cli(&["keys", "rotate"]).expect("keys rotate");
    let kid = rotated["kid"].as_str().unwrap();
    let after = jwks(&w).await;
    assert_eq!(after.len(), 2);
    assert!(after.contains_key(kid));
    assert!(
        before.keys().all(|k| after.contains_key(k)),
        "the old key stays published"
    );
    // New SETs are signed with the new key.
    let s = poll_stream(&w, json!({})).await;
    w.post_user(tests::okta_user("ada@acme.test", "Ada", "Lovelace"))
        .await;
    let sets = poll::until(&w, &s, 1).await;
    let (_, set) = sets.into_iter().next().unwrap();
    assert_eq!(Token::decode_metadata(&set).unwrap().key_id(), Some(kid));
}
