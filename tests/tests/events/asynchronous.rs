//! Asynchronous requests (RFC 9967 §3): `Prefer: respond-async` writes answer 202 with
//! `Set-Txn`, and their `Location` answers the `misc:asyncresp` SET once the product applied the
//! change (every message of it), or the error when the product could not.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use jwt_simple::prelude::*;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};
use tests::{Response, World, eventually, okta_user, scalar, urlencode};
use uuid::Uuid;

use crate::{jwks, poll, poll_stream, verify, world};

const ASYNC: &str = "urn:ietf:params:scim:event:misc:asyncresp";
const SET_TYPE: (&str, &str) = ("Accept", "application/secevent+jwt");

/// An asynchronous write: (Set-Txn, the completion's path under /scim/v2).
fn accepted(r: &Response) -> (String, String) {
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body, Value::Null, "a 202 has no body");
    assert_eq!(r.header("preference-applied"), Some("respond-async"));
    let txn = r.header("set-txn").expect("Set-Txn").to_owned();
    let location = r.header("location").expect("Location");
    let path = location
        .split("/scim/v2")
        .nth(1)
        .expect("under the SCIM base")
        .to_owned();
    assert_eq!(path, format!("/AsyncRequests/{txn}"));
    (txn, path)
}

/// The answer at `path` once the request is complete (30 s at most), asked with `headers`.
async fn once_complete(w: &World, path: &str, headers: &[(&str, &str)]) -> Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = w.call_with(Method::GET, path, None, headers).await;
        if r.status != StatusCode::ACCEPTED {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            return r;
        }
        assert_eq!(r.header("retry-after"), Some("1"));
        assert!(Instant::now() < deadline, "{path} did not complete in time");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The completion at `path`, as JSON claims.
async fn completed(w: &World, path: &str) -> Map<String, Value> {
    let r = once_complete(w, path, &[]).await;
    r.body.as_object().cloned().expect("claims as JSON")
}

/// Verifies a completion SET with jwt-simple: signature by its `kid`'s published key, `typ`,
/// `iss`; a completion names no audience.
fn verify_completion(set: &str, keys: &BTreeMap<String, Value>, iss: &str) -> Map<String, Value> {
    let meta = Token::decode_metadata(set).expect("a JWS");
    assert_eq!(meta.signature_type(), Some("secevent+jwt"));
    let jwk = &keys[meta.key_id().expect("kid")];
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap();
    let options = VerificationOptions {
        required_signature_type: Some("secevent+jwt".into()),
        allowed_issuers: Some(HashSet::from_strings(&[iss])),
        ..Default::default()
    };
    let c = Ed25519PublicKey::from_bytes(&x)
        .unwrap()
        .verify_token::<Map<String, Value>>(set, Some(options))
        .expect("the completion verifies");
    assert!(c.audiences.is_none());
    let mut claims = c.custom;
    claims.insert("jti".into(), json!(c.jwt_id.expect("jti")));
    claims
}

fn outcome(c: &Map<String, Value>) -> &Value {
    &c["events"][ASYNC]
}

#[tokio::test]
async fn an_async_create_is_answered_at_once_and_completes_when_the_product_has_it() {
    let w = world(&[]).await;
    let stream = poll_stream(&w, json!({})).await;
    let r = w
        .call_with(
            Method::POST,
            "/Users",
            Some(okta_user("ada@acme.test", "Ada", "Lovelace")),
            &[("Prefer", "respond-async")],
        )
        .await;
    let (txn, path) = accepted(&r);

    // The directory has it at once (the IdP reads its own writes); the product does not yet,
    // since no worker runs, so the request is still pending.
    let found = w
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"ada@acme.test\"")
        ))
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let user = &found.body["Resources"][0];
    let id = Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    let pending = w.call_with(Method::GET, &path, None, &[SET_TYPE]).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED);
    assert_eq!(pending.header("retry-after"), Some("1"));

    let _worker = w.env.spawn_worker();
    let r = once_complete(&w, &path, &[SET_TYPE]).await;
    assert_eq!(r.header("content-type"), Some("application/secevent+jwt"));
    let set = r.body.as_str().expect("a compact JWS").to_owned();
    assert!(
        w.env.product_user(&w.db, id).await.is_some(),
        "complete means the product applied it"
    );
    let base = format!("{}/scim/v2", w.api.base);
    let c = verify_completion(&set, &jwks(&w).await, &base);
    assert_eq!(c["txn"], json!(txn));
    assert_eq!(
        c["sub_id"],
        json!({"format": "scim", "uri": format!("/Users/{id}")})
    );
    let e = outcome(&c);
    assert_eq!(e["method"], "POST");
    assert_eq!(e["status"], "201");
    assert_eq!(e["version"], user["meta"]["version"]);
    assert_eq!(e["location"], json!(format!("{base}/Users/{id}")));
    assert!(e.get("response").is_none());

    // The change's own SET on the tenant's stream carries the same txn.
    let (_, v, _) = poll(&w, &stream, &stream.token, json!({"returnImmediately": true})).await;
    let keys = jwks(&w).await;
    let sets = v["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{v}");
    let created = verify(
        sets.values().next().unwrap().as_str().unwrap(),
        &keys,
        &base,
        &stream.url,
    );
    assert_eq!(created["txn"], json!(txn));
}

#[tokio::test]
async fn updates_deletes_and_group_writes_complete_only_when_every_message_is_applied() {
    let w = World::new().await;
    let prefer = [("Prefer", "respond-async")];
    let mut members = Vec::new();
    for i in 0..40 {
        let r = w
            .post_user(okta_user(&format!("m{i}@acme.test"), "M", &format!("{i}")))
            .await;
        members.push(r.id());
    }

    // A group whose members travel as 40 messages of their own.
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Everyone",
        "members": members.iter().map(|id| json!({"value": id})).collect::<Vec<_>>(),
    });
    let (_, path) = accepted(&w.call_with(Method::POST, "/Groups", Some(body), &prefer).await);
    let c = completed(&w, &path).await;
    assert_eq!(outcome(&c)["status"], "201");
    let uri = c["sub_id"]["uri"].as_str().unwrap();
    let group = uri.strip_prefix("/Groups/").unwrap().to_owned();
    let linked: i64 = scalar(
        &w.db,
        &format!("select count(*) as n from product.group_members where group_id = '{group}'"),
        "n",
    )
    .await;
    assert_eq!(linked, 40, "complete only once every member is in the product");

    // A deactivation, answered as JSON to a client that accepts JSON only.
    let ada = members[0];
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}],
    });
    let r = w
        .call_with(Method::PATCH, &format!("/Users/{ada}"), Some(patch), &prefer)
        .await;
    let (txn, path) = accepted(&r);
    let c = completed(&w, &path).await;
    assert_eq!(c["txn"], json!(txn));
    let now = w.get(&format!("/Users/{ada}")).await;
    assert_eq!(outcome(&c)["method"], "PATCH");
    assert_eq!(outcome(&c)["status"], "200");
    assert_eq!(outcome(&c)["version"], now.body["meta"]["version"]);
    assert!(!w.env.product_user(&w.db, ada).await.unwrap().active);

    // A delete: 204, no version or location.
    let bob = members[1];
    let (_, path) = accepted(
        &w.call_with(Method::DELETE, &format!("/Users/{bob}"), None, &prefer)
            .await,
    );
    let c = completed(&w, &path).await;
    assert_eq!(outcome(&c)["status"], "204");
    assert!(outcome(&c).get("version").is_none());
    assert!(!w.env.product_user(&w.db, bob).await.unwrap().active);

    // With `wait`, a change the product applies in time is answered as a synchronous one.
    let r = w
        .call_with(
            Method::POST,
            "/Users",
            Some(okta_user("waited@acme.test", "Wai", "Ted")),
            &[("Prefer", "respond-async, wait=20")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["userName"], "waited@acme.test");
    assert!(w.env.product_user(&w.db, r.id()).await.is_some());
}

#[tokio::test]
async fn a_change_the_product_refuses_completes_with_an_error_that_only_its_tenant_sees() {
    let w = World::new().await;
    let db = &w.db;
    eventually("the worker migrated the product schema", || async {
        db.execute_unprepared("select 1 from product.users limit 1")
            .await
            .is_ok()
    })
    .await;
    db.execute_unprepared(
        "alter table product.users add constraint refuse_mallory check (user_name <> 'mallory@acme.test')",
    )
    .await
    .unwrap();
    let prefer = [("Prefer", "respond-async")];
    let r = w
        .call_with(
            Method::POST,
            "/Users",
            Some(okta_user("mallory@acme.test", "Mal", "Lory")),
            &prefer,
        )
        .await;
    let (_, path) = accepted(&r);
    let c = completed(&w, &path).await;
    let e = outcome(&c);
    assert_eq!(e["method"], "POST");
    assert_eq!(e["status"], "500");
    assert_eq!(e["response"]["status"], "500");
    assert_eq!(
        e["response"]["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert!(
        !e.to_string().contains("refuse_mallory"),
        "no internal reason: {e}"
    );

    // Another tenant's token finds nothing there, no token is refused, and a made-up id is
    // not found.
    let (_, other) = w.other_tenant("Globex");
    let r = w.call_as(&other, Method::GET, &path, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = w
        .env
        .request(&w.api, Method::GET, &format!("/scim/v2{path}"), None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for id in [Uuid::now_v7().simple().to_string(), "nope".to_owned()] {
        let r = w.get(&format!("/AsyncRequests/{id}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        tests::assert_scim_error(&r);
    }

    // A write refused by the directory is refused at once, asynchronous or not.
    let r = w
        .call_with(
            Method::POST,
            "/Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})),
            &prefer,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.header("set-txn").is_none());
}
