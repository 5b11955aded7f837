//! W3C trace context: the IdP's `traceparent` follows a change from the HTTP request through the
//! outbox and the AMQP message into the worker's logs.

use reqwest::StatusCode;
use serde_json::Value;
use tests::{eventually, okta_user, scalar};
use uuid::Uuid;

use crate::World;

const INCOMING: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn post_with(w: &World, user_name: &str, traceparent: Option<&str>) -> Uuid {
    let mut req = w
        .env
        .http
        .post(format!("{}/scim/v2/Users", w.api.base))
        .bearer_auth(&w.token)
        .header("Content-Type", "application/scim+json")
        .body(okta_user(user_name, "Tra", "Ced").to_string());
    if let Some(t) = traceparent {
        req = req.header("traceparent", t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    Uuid::parse_str(body["id"].as_str().unwrap()).unwrap()
}

async fn stored_traceparent(w: &World, id: Uuid) -> String {
    let db = w.env.db().await;
    scalar(
        &db,
        &format!(
            "select payload->>'traceparent' as t from scim.outbox where payload->>'resource_id' = '{id}'"
        ),
        "t",
    )
    .await
}

#[tokio::test]
async fn the_idp_traceparent_reaches_the_outbox_the_message_and_the_worker_logs() {
    let w = World::new().await;
    let id = post_with(&w, "traced@acme.test", Some(INCOMING)).await;

    // Same trace; the api's own span is the parent of what follows.
    let stored = stored_traceparent(&w, id).await;
    assert!(stored.starts_with(&format!("00-{TRACE_ID}-")), "{stored}");
    assert!(!stored.contains("00f067aa0ba902b7"), "{stored}");
    assert!(stored.ends_with("-01"), "{stored}");

    let db = w.env.db().await;
    w.env.product_user_where(&db, id, |_| true).await;
    let worker = w.worker.as_ref().unwrap();
    eventually(
        "the worker logs the change with the request's trace id",
        || async {
            worker
                .log()
                .lines()
                .any(|l| l.contains("change handled") && l.contains(TRACE_ID) && l.contains(&id.to_string()))
        },
    )
    .await;
    assert!(
        w.api
            .log()
            .lines()
            .any(|l| l.contains("user created") && l.contains(TRACE_ID)),
        "the api's handler log lines carry the trace id"
    );
}

#[tokio::test]
async fn requests_without_a_valid_traceparent_each_start_a_trace_of_their_own() {
    let w = World::new().await;
    let a = post_with(&w, "a@acme.test", None).await;
    let b = post_with(&w, "b@acme.test", Some("00-not-a-trace-01")).await;
    let (ta, tb) = (stored_traceparent(&w, a).await, stored_traceparent(&w, b).await);
    for t in [&ta, &tb] {
        let parts: Vec<&str> = t.split('-').collect();
        assert_eq!(parts.len(), 4, "{t}");
        assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("00", 32, 16), "{t}");
    }
    assert_ne!(
        ta.split('-').nth(1),
        tb.split('-').nth(1),
        "two requests, two traces"
    );
}
