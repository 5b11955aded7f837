//! RFC 8935 push streams: `scim-worker deliver` POSTs every SET to a real HTTP receiver, which
//! verifies it; failures are retried, a killed deliverer's streams are taken over, a refusal
//! pauses the stream until a replay.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use reqwest::Method;
use serde_json::{Value, json};
use tests::{Worker, World, okta_user};

use crate::{admin, jwks, verify, world};

/// How the receiver answers.
#[derive(Clone)]
enum Mode {
    Accept,
    /// 500 for about this share of pushes.
    Flaky(f64),
    /// 400 with this RFC 8935 `err`.
    Refuse(&'static str),
}

#[derive(Clone)]
struct Receiver {
    mode: Arc<Mutex<Mode>>,
    /// Every SET it accepted, in the order it accepted them.
    accepted: Arc<Mutex<Vec<String>>>,
    /// What a push looked like that it could not use.
    wrong: Arc<Mutex<Vec<String>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if header("content-type") != "application/secevent+jwt"
        || header("authorization") != "Bearer receiver-secret"
    {
        r.wrong.lock().unwrap().push(format!("{headers:?}"));
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mode = r.mode.lock().unwrap().clone();
    match mode {
        Mode::Flaky(p) if rand::random::<f64>() < p => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Flaky(_) => {
            // A receiver that takes its time, so the deliverer is killed in the middle of work.
            tokio::time::sleep(Duration::from_millis(40)).await;
            r.accepted
                .lock()
                .unwrap()
                .push(String::from_utf8(body.to_vec()).unwrap());
            StatusCode::ACCEPTED.into_response()
        }
        Mode::Refuse(err) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"err": err, "description": "test refusal"})),
        )
            .into_response(),
        _ => {
            r.accepted
                .lock()
                .unwrap()
                .push(String::from_utf8(body.to_vec()).unwrap());
            StatusCode::ACCEPTED.into_response()
        }
    }
}

async fn receiver(mode: Mode) -> (Receiver, String) {
    let r = Receiver {
        mode: Arc::new(Mutex::new(mode)),
        accepted: Arc::default(),
        wrong: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, format!("http://{addr}/hook"))
}

const INSECURE: (&str, &str) = ("EVENTS_ALLOW_INSECURE_ENDPOINTS", "1");

fn deliverer(w: &World) -> Worker {
    w.env.spawn_deliverer_with(&[
        INSECURE,
        ("EVENTS_PUSH_RETRY_INITIAL_MS", "50"),
        ("EVENTS_PUSH_POLL_MS", "100"),
        ("EVENTS_PUSH_LEASE_SECS", "2"),
        ("EVENTS_KEY_CACHE_SECS", "0"),
    ])
}

async fn push_stream(w: &World, endpoint: &str) -> (String, String) {
    let (status, v) = admin(
        w,
        Method::POST,
        &format!("/admin/api/tenants/{}/event-streams", w.tenant),
        Some(json!({"delivery": "push", "endpoint": endpoint, "authorization": "Bearer receiver-secret"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(v.get("token").is_none() && v.get("poll_url").is_none(), "{v}");
    let sid = v["stream_id"].as_str().unwrap().to_owned();
    (sid.clone(), format!("{}/events/streams/{sid}", w.api.base))
}

/// Waits until the receiver accepted SETs covering sequences 1..=n; returns the accepted
/// sequence numbers in acceptance order.
async fn accepted_through(w: &World, r: &Receiver, aud: &str, n: i64, within: Duration) -> Vec<i64> {
    let deadline = Instant::now() + within;
    loop {
        let sets = r.accepted.lock().unwrap().clone();
        let keys = jwks(w).await;
        let iss = format!("{}/scim/v2", w.api.base);
        let seqs: Vec<i64> = sets
            .iter()
            .map(|s| verify(s, &keys, &iss, aud)["sequence"].as_i64().unwrap())
            .collect();
        let have: BTreeSet<i64> = seqs.iter().copied().collect();
        if (1..=n).all(|s| have.contains(&s)) {
            return seqs;
        }
        assert!(Instant::now() < deadline, "accepted only {have:?} of 1..={n}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_set_reaches_a_flaky_receiver_in_order_even_when_the_deliverer_is_killed() {
    let w = world(&[INSECURE]).await;
    let (r, endpoint) = receiver(Mode::Flaky(0.3)).await;
    let (_, aud) = push_stream(&w, &endpoint).await;
    let mut first = deliverer(&w);
    let mut ids = Vec::new();
    for i in 0..15 {
        let resp = w
            .post_user(okta_user(&format!("u{i}@acme.test"), "U", &i.to_string()))
            .await;
        ids.push(resp.id());
    }
    // Kill the deliverer mid-stream (it takes 40 ms a SET, so 15 SETs take it 600 ms) once a
    // few have arrived; another takes the stream over when the lease of the first ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.accepted.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the first deliverer delivered nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_kill = r.accepted.lock().unwrap().len();
    first.kill9();
    let _second = deliverer(&w);
    for id in &ids {
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"title": "Engineer"}}]});
        w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    }
    let seqs = accepted_through(&w, &r, &aud, 30, Duration::from_secs(90)).await;
    assert!(
        before_kill < 15,
        "the kill came after the first deliverer had finished ({before_kill} accepted)"
    );
    // Order: whatever was accepted again (a repeat after the kill) never goes backwards past
    // what came before it except as a repeat of an earlier SET.
    let mut highest = 0;
    for s in &seqs {
        assert!(
            *s <= highest + 1,
            "sequence {s} accepted before {} (order lost): {seqs:?}",
            highest + 1
        );
        highest = highest.max(*s);
    }
    assert!(
        r.wrong.lock().unwrap().is_empty(),
        "{:?}",
        r.wrong.lock().unwrap()
    );
    let (_, list) = admin(
        &w,
        Method::GET,
        &format!("/admin/api/tenants/{}/event-streams", w.tenant),
        None,
    )
    .await;
    let s = &list["streams"][0];
    assert_eq!(s["position"], 30);
    assert_eq!(s["backlog"], 0);
    assert_eq!(s["paused"], false);
}

#[tokio::test]
async fn a_refused_set_pauses_the_stream_until_a_replay() {
    let w = world(&[INSECURE]).await;
    let (r, endpoint) = receiver(Mode::Refuse("invalid_key")).await;
    let (sid, aud) = push_stream(&w, &endpoint).await;
    let _d = deliverer(&w);
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    let streams = format!("/admin/api/tenants/{}/event-streams", w.tenant);
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown: Value = loop {
        let (_, list) = admin(&w, Method::GET, &streams, None).await;
        if list["streams"][0]["paused"] == true {
            break list["streams"][0].clone();
        }
        assert!(Instant::now() < deadline, "the stream never paused: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reason = shown["paused_reason"].as_str().unwrap();
    assert!(
        reason.contains("invalid_key") && reason.contains("test refusal"),
        "{reason}"
    );
    assert_eq!(shown["position"], 0, "a refused SET is not delivered");
    // Paused: nothing more is sent, whatever happens.
    w.post_user(okta_user("grace@acme.test", "Grace", "H")).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(r.accepted.lock().unwrap().is_empty());
    // The receiver is fixed; a replay resumes the stream from the start.
    *r.mode.lock().unwrap() = Mode::Accept;
    let (status, v) = admin(
        &w,
        Method::POST,
        &format!("{streams}/{sid}/replay"),
        Some(json!({"from": since.to_rfc3339()})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let seqs = accepted_through(&w, &r, &aud, 2, Duration::from_secs(30)).await;
    assert_eq!(seqs, [1, 2]);
}
