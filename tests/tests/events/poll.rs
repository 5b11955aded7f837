//! RFC 8936 poll streams: signed SETs in sequence, redelivery of what was not acknowledged, long
//! polls, `setErrs`, filters and notice payloads, replay, and a consumer that rebuilds the
//! directory from full payloads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use tests::{World, okta_user};

use crate::{Stream, admin, jwks, poll, poll_stream, verify, world};

const EV: &str = "urn:ietf:params:scim:event:";

/// Polls, acknowledging what each answer brought, until `n` SETs have come (30 s at most);
/// returns them as (jti, SET) in arrival order.
pub async fn until(w: &World, s: &Stream, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut ack: Vec<String> = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} SETs arrived",
            got.len()
        );
        let (status, v, _) = poll(w, s, &s.token, json!({"ack": ack, "returnImmediately": false})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        ack = Vec::new();
        for (jti, set) in v["sets"].as_object().unwrap() {
            ack.push(jti.clone());
            got.push((jti.clone(), set.as_str().unwrap().to_owned()));
        }
    }
    if !ack.is_empty() {
        poll(
            w,
            s,
            &s.token,
            json!({"ack": ack, "maxEvents": 0, "returnImmediately": true}),
        )
        .await;
    }
    got
}

/// Verified claims of SETs, in sequence order.
async fn claims_of(w: &World, s: &Stream, sets: &[(String, String)]) -> Vec<Map<String, Value>> {
    let keys = jwks(w).await;
    let iss = format!("{}/scim/v2", w.api.base);
    let mut out: Vec<Map<String, Value>> = sets
        .iter()
        .map(|(jti, set)| {
            let c = verify(set, &keys, &iss, &s.url);
            assert_eq!(c["jti"], json!(jti), "the answer's key is the SET's jti");
            c
        })
        .collect();
    out.sort_by_key(|c| c["sequence"].as_i64().unwrap());
    out
}

fn events_of(c: &Map<String, Value>) -> BTreeSet<String> {
    c["events"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn a_consumer_of_full_sets_rebuilds_the_directory_in_a_gapless_sequence() {
    let w = world(&[]).await;
    let s = poll_stream(&w, json!({})).await;
    // Users: create three, deactivate one (PATCH, Okta's form), replace one (PUT), delete one.
    let mut ids = Vec::new();
    for name in ["ada", "grace", "alan"] {
        let r = w
            .post_user(okta_user(&format!("{name}@acme.test"), name, "X"))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        ids.push(r.id());
    }
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    let r = w
        .call(Method::PATCH, &format!("/Users/{}", ids[0]), Some(deactivate))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut grace = okta_user("grace@acme.test", "Grace", "Hopper");
    grace["title"] = json!("Rear Admiral");
    let r = w
        .call(Method::PUT, &format!("/Users/{}", ids[1]), Some(grace))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = w.call(Method::DELETE, &format!("/Users/{}", ids[2]), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // A group with a member, then one member added and one removed.
    let r = w
        .call(
            Method::POST,
            "/Groups",
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng",
                "members": [{"value": ids[0].to_string()}]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let group = r.id();
    let members = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ids[1].to_string()}]},
        {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}]});
    let r = w
        .call(Method::PATCH, &format!("/Groups/{group}"), Some(members))
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    let sets = until(&w, &s, 8).await;
    let claims = claims_of(&w, &s, &sets).await;
    assert_eq!(claims.len(), 8, "one SET per change, none twice");
    let sequence: Vec<i64> = claims.iter().map(|c| c["sequence"].as_i64().unwrap()).collect();
    assert_eq!(sequence, (1..=8).collect::<Vec<_>>(), "gapless, from 1");
    let kinds: Vec<BTreeSet<String>> = claims.iter().map(events_of).collect();
    let set = |v: &[&str]| v.iter().map(|e| format!("{EV}{e}")).collect::<BTreeSet<_>>();
    assert_eq!(kinds[0], set(&["prov:create:full"]));
    assert_eq!(
        kinds[3],
        set(&["prov:patch:full", "prov:deactivate"]),
        "one change, one SET"
    );
    assert_eq!(kinds[4], set(&["prov:put:full"]));
    assert_eq!(kinds[5], set(&["prov:delete"]));
    assert_eq!(kinds[6], set(&["prov:create:full"]));
    assert_eq!(kinds[7], set(&["prov:patch:full"]));
    // Every SET names its subject the RFC 9967 way and has a transaction of its own.
    let txns: BTreeSet<&str> = claims.iter().map(|c| c["txn"].as_str().unwrap()).collect();
    assert_eq!(txns.len(), 8);
    assert_eq!(claims[0]["sub_id"]["format"], "scim");
    assert_eq!(claims[0]["sub_id"]["uri"], format!("/Users/{}", ids[0]));
    assert_eq!(claims[7]["sub_id"]["uri"], format!("/Groups/{group}"));

    // The consumer: users from full payloads, groups from the create and the PatchOps.
    let mut users: BTreeMap<String, Value> = BTreeMap::new();
    let mut groups: BTreeMap<String, (Value, BTreeSet<String>)> = BTreeMap::new();
    for c in &claims {
        let uri = c["sub_id"]["uri"].as_str().unwrap();
        let (kind, id) = uri.trim_start_matches('/').split_once('/').unwrap();
        for (event, body) in c["events"].as_object().unwrap() {
            let data = &body["data"];
            match (kind, event.trim_start_matches(EV)) {
                ("Users", "prov:delete") => {
                    users.remove(id);
                }
                ("Users", e) if e.ends_with(":full") => {
                    assert_eq!(body["version"], data["meta"]["version"]);
                    users.insert(id.to_owned(), data.clone());
                }
                ("Groups", "prov:create:full") => {
                    let members = data["members"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["value"].as_str().unwrap().to_owned())
                        .collect();
                    groups.insert(id.to_owned(), (data.clone(), members));
                }
                ("Groups", "prov:patch:full") => {
                    let (_, members) = groups.get_mut(id).unwrap();
                    for op in data["Operations"].as_array().unwrap() {
                        match (op["op"].as_str().unwrap(), op["path"].as_str()) {
                            ("add", Some("members")) => {
                                for m in op["value"].as_array().unwrap() {
                                    members.insert(m["value"].as_str().unwrap().to_owned());
                                }
                            }
                            ("remove", Some(p)) if p.starts_with("members[value eq") => {
                                let v = p.split('"').nth(1).unwrap();
                                members.remove(v);
                            }
                            ("replace", None) => {}
                            other => panic!("unexpected operation {other:?}"),
                        }
                    }
                }
                (_, e) if e == "prov:activate" || e == "prov:deactivate" => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    // ...equals the directory.
    let listed = w.get("/Users").await.body;
    let mut directory: BTreeMap<String, Value> = BTreeMap::new();
    for u in listed["Resources"].as_array().unwrap() {
        let mut u = u.clone();
        u.as_object_mut().unwrap().remove("groups");
        directory.insert(u["id"].as_str().unwrap().to_owned(), u);
    }
    assert_eq!(users, directory);
    let g = w.get(&format!("/Groups/{group}")).await.body;
    let want: BTreeSet<String> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(groups[&group.to_string()].1, want);
    assert_eq!(want, BTreeSet::from([ids[1].to_string()]));
}

#[tokio::test]
async fn unacknowledged_sets_come_back_with_the_same_jti_and_acknowledged_ones_do_not() {
    let w = world(&[("EVENTS_ACK_TIMEOUT_SECS", "1")]).await;
    let s = poll_stream(&w, json!({})).await;
    w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    let first = until_unacked(&w, &s).await;
    let (_, again, _) = poll(&w, &s, &s.token, json!({"returnImmediately": true})).await;
    assert_eq!(
        again["sets"],
        json!({}),
        "not handed out twice within the ack timeout"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, again, _) = poll(&w, &s, &s.token, json!({"returnImmediately": true})).await;
    assert_eq!(
        again["sets"].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec![&first]
    );
    let (_, v, _) = poll(
        &w,
        &s,
        &s.token,
        json!({"ack": [first], "maxEvents": 0, "returnImmediately": true}),
    )
    .await;
    assert_eq!(v["sets"], json!({}));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, v, _) = poll(&w, &s, &s.token, json!({"returnImmediately": true})).await;
    assert_eq!(v["sets"], json!({}), "an acknowledged SET is done");
}

/// Polls without acknowledging until one SET comes; its jti.
async fn until_unacked(w: &World, s: &Stream) -> String {
    let (status, v, _) = poll(w, s, &s.token, json!({"returnImmediately": false})).await;
    assert_eq!(status, StatusCode::OK);
    let sets = v["sets"].as_object().unwrap();
    assert_eq!(sets.len(), 1, "{v}");
    sets.keys().next().unwrap().clone()
}

#[tokio::test]
async fn a_long_poll_answers_when_a_change_commits() {
    let w = world(&[("EVENTS_LONG_POLL_SECS", "25")]).await;
    let s = poll_stream(&w, json!({})).await;
    let started = Instant::now();
    let waiting = {
        let (http, base, token) = (w.env.http.clone(), w.api.base.clone(), s.token.clone());
        let path = s.url.split("/events/").nth(1).unwrap().to_owned();
        tokio::spawn(async move {
            http.post(format!("{base}/events/{path}"))
                .bearer_auth(token)
                .json(&json!({"returnImmediately": false}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the poll waits while there is nothing");
    w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    let v = waiting.await.unwrap();
    assert_eq!(v["sets"].as_object().unwrap().len(), 1, "{v}");
    // It answered because of the change, not because its 25 s ran out.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn polls_need_the_streams_own_token_and_well_formed_requests() {
    let w = world(&[]).await;
    let s = poll_stream(&w, json!({})).await;
    for token in ["", "scimev_00", w.token.as_str()] {
        let (status, v, challenge) = poll(&w, &s, token, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {v}");
        assert_eq!(challenge.as_deref(), Some("Bearer"));
    }
    let (status, v, _) = poll(&w, &s, &s.token, json!({"maxEvents": "ten"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["err"], "invalid_request");
    // Another tenant's stream token opens only its own stream.
    let (other, _) = w.other_tenant("Other");
    let (_, v) = admin(
        &w,
        Method::POST,
        &format!("/admin/api/tenants/{other}/event-streams"),
        Some(json!({"delivery": "poll"})),
    )
    .await;
    let (status, _, _) = poll(&w, &s, v["token"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_filtered_notice_stream_gets_only_its_events_with_changed_attributes() {
    let w = world(&[]).await;
    let s = poll_stream(
        &w,
        json!({"events": [format!("{EV}prov:deactivate")], "payload": "notice"}),
    )
    .await;
    let r = w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    let id = r.id();
    let deactivate = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(deactivate))
        .await;
    let sets = until(&w, &s, 1).await;
    let claims = claims_of(&w, &s, &sets).await;
    assert_eq!(
        claims[0]["sequence"], 2,
        "the create was numbered, but not sent here"
    );
    let notice = &claims[0]["events"][format!("{EV}prov:patch:notice")];
    assert_eq!(notice["attributes"], json!(["active"]));
    assert!(notice.get("data").is_none());
    assert_eq!(claims[0]["events"][format!("{EV}prov:deactivate")], json!({}));
}

#[tokio::test]
async fn set_errors_are_recorded_and_a_replay_sends_the_same_sets_again() {
    let w = world(&[]).await;
    let s = poll_stream(&w, json!({})).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    w.post_user(okta_user("grace@acme.test", "Grace", "H")).await;
    let sets = until(&w, &s, 2).await;
    let jtis: BTreeSet<String> = sets.iter().map(|(j, _)| j.clone()).collect();
    let (_, v, _) = poll(
        &w,
        &s,
        &s.token,
        json!({"returnImmediately": true,
        "setErrs": {sets[0].0.clone(): {"err": "invalid_key", "description": "unknown kid"}}}),
    )
    .await;
    assert_eq!(v["sets"], json!({}));
    let tenant_streams = format!("/admin/api/tenants/{}/event-streams", w.tenant);
    let (_, list) = admin(&w, Method::GET, &tenant_streams, None).await;
    let shown = &list["streams"][0];
    assert_eq!(shown["stream_id"], json!(s.id));
    assert_eq!(shown["last_error"], "invalid_key: unknown kid");
    assert_eq!(shown["position"], 2);
    assert_eq!(shown["backlog"], 0);
    assert_eq!(shown["unacknowledged"], 0);
    let (status, v) = admin(
        &w,
        Method::POST,
        &format!("{tenant_streams}/{}/replay", s.id),
        Some(json!({"from": since.to_rfc3339()})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["position"], 0);
    let again: BTreeSet<String> = until(&w, &s, 2).await.into_iter().map(|(j, _)| j).collect();
    assert_eq!(
        again, jtis,
        "a replayed SET keeps its jti, so receivers drop repeats"
    );
    let (status, _) = admin(&w, Method::DELETE, &format!("{tenant_streams}/{}", s.id), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = poll(&w, &s, &s.token, json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deleted stream's token opens nothing"
    );
}

#[tokio::test]
async fn streams_are_refused_what_they_must_not_have() {
    let w = world(&[]).await;
    let path = format!("/admin/api/tenants/{}/event-streams", w.tenant);
    for (body, says) in [
        (
            json!({"delivery": "push", "endpoint": "http://127.0.0.1:9/hook"}),
            "https",
        ),
        (
            json!({"delivery": "push", "endpoint": "https://127.0.0.1/hook"}),
            "inside this network",
        ),
        (
            json!({"delivery": "push", "endpoint": "https://169.254.169.254/latest"}),
            "inside this network",
        ),
        (json!({"delivery": "push"}), "needs an endpoint"),
        (
            json!({"delivery": "poll", "events": ["urn:ietf:params:scim:event:prov:nope"]}),
            "not an event",
        ),
        (json!({"delivery": "poll", "payload": "some"}), "payload"),
        (json!({"delivery": "carrier pigeon"}), "delivery"),
    ] {
        let (status, v) = admin(&w, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(says), "{body}: {v}");
    }
    let (_, list) = admin(&w, Method::GET, &path, None).await;
    assert_eq!(list["streams"], json!([]));
    // Without a stream, changes leave no event rows behind.
    w.post_user(okta_user("ada@acme.test", "Ada", "L")).await;
    let rows: i64 = tests::scalar(&w.db, "select count(*) as n from scim.events", "n").await;
    assert_eq!(rows, 0);
}
