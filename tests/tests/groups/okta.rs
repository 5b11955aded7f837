//! Okta's group push, in the order Okta sends it: look the group up by name, create it empty,
//! add members in batches, remove one by `members[value eq "<id>"]`, replace the list, send
//! its no-path rename along with membership updates, and delete it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    GROUP_SCHEMA, Steps, World, last_outbox_id, member_ids, message_version, outbox_after, refs, sorted,
};

#[tokio::test]
async fn okta_pushes_a_group_and_manages_its_members() {
    let w = World::new().await;
    let users = w.users("okta", 5).await;
    let found = w
        .get("/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100")
        .await;
    assert_eq!(found.body["totalResults"], 0);

    let created = w.post_group("Engineering", &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let gid = created.id();
    assert_eq!(created.body["schemas"], json!([GROUP_SCHEMA]));
    assert_eq!(created.body["displayName"], "Engineering");
    assert_eq!(created.body["members"], json!([]));
    assert_eq!(created.body["meta"]["resourceType"], "Group");
    assert_eq!(created.body["meta"]["version"], "W/\"1\"");
    let location = format!("{}/scim/v2/Groups/{gid}", w.api.base);
    assert_eq!(created.header("location"), Some(location.as_str()));
    assert_eq!(created.header("etag"), Some("W/\"1\""));

    // Two batches of adds; the second repeats a member, which is no change.
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users[..3])}]),
    )
    .await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users[2..4])}]),
    )
    .await;
    let read = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_ids(&read.body), sorted(&users[..4]));
    let first = &read.body["members"][0];
    assert_eq!(first["type"], "User");
    assert_eq!(
        first["$ref"],
        format!(
            "{}/scim/v2/Users/{}",
            w.api.base,
            first["value"].as_str().unwrap()
        )
    );
    assert!(first["display"].as_str().unwrap().ends_with("@acme.test"));
    assert_eq!(
        message_version(&w, gid).await,
        1,
        "members have versions of their own"
    );
    assert_ne!(
        read.body["meta"]["version"], created.body["meta"]["version"],
        "the ETag moves with the members"
    );

    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
    )
    .await;
    assert_eq!(w.members(gid).await, sorted(&users[1..4]));
    // Okta retries removals: removing a non-member succeeds and changes nothing.
    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
    )
    .await;

    // The full list: exactly these members afterwards.
    w.patch_ok(
        gid,
        json!([{"op": "replace", "path": "members", "value": refs(&[users[3], users[4]])}]),
    )
    .await;
    assert_eq!(w.members(gid).await, sorted(&[users[3], users[4]]));

    // Okta sends its rename (with the id inside) along with membership updates: when the name
    // is unchanged it must cost nothing.
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;
    let etag_before = w.get(&format!("/Groups/{gid}")).await.body["meta"]["version"].clone();
    w.patch_ok(
        gid,
        json!([{"op": "replace", "value": {"id": gid.to_string(), "displayName": "Engineering"}}]),
    )
    .await;
    assert!(
        outbox_after(&db, before).await.is_empty(),
        "an unchanged rename writes nothing"
    );
    let read = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read.body["meta"]["version"], etag_before);
    assert_eq!(message_version(&w, gid).await, 1);

    w.patch_ok(
        gid,
        json!([{"op": "replace", "value": {"id": gid.to_string(), "displayName": "Engineering EMEA"}}]),
    )
    .await;
    let read = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(read.body["displayName"], "Engineering EMEA");
    assert_ne!(read.body["meta"]["version"], etag_before);
    assert_eq!(message_version(&w, gid).await, 2);
    let written = outbox_after(&db, before).await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].routing_key, "group.updated");
    assert_eq!(written[0].payload["snapshot"]["display_name"], "Engineering EMEA");
    assert_eq!(written[0].payload["version"], 2);

    let deleted = w.call(Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.get(&format!("/Groups/{gid}")).await.status,
        StatusCode::NOT_FOUND
    );
    let again = w.call(Method::DELETE, &format!("/Groups/{gid}"), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let written = outbox_after(&db, before).await;
    let last = written.last().unwrap();
    assert_eq!(last.routing_key, "group.deleted");
    assert_eq!(last.payload["snapshot"]["deleted"], true);
    assert_eq!(last.payload["version"], 3);
    // The name is free again.
    assert_eq!(
        w.post_group("Engineering EMEA", &[]).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn okta_membership_messages_carry_one_pair_each_with_its_own_version() {
    let w = World::new().await;
    let users = w.users("pair", 2).await;
    let gid = w.group("Pairs").await;
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users)}]),
    )
    .await;
    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
    )
    .await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&users[..1])}]),
    )
    .await;
    let got: Vec<(String, String, bool, i64)> = outbox_after(&db, before)
        .await
        .iter()
        .map(|r| {
            assert_eq!(r.payload["resource_id"], gid.to_string());
            (
                r.routing_key.clone(),
                r.payload["snapshot"]["user_id"].as_str().unwrap().to_owned(),
                r.payload["snapshot"]["member"].as_bool().unwrap(),
                r.payload["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let (a, b) = (users[0].to_string(), users[1].to_string());
    let mut first_two = got[..2].to_vec();
    first_two.sort();
    assert_eq!(
        first_two,
        vec![
            ("membership.created".into(), a.clone(), true, 1),
            ("membership.created".into(), b, true, 1)
        ]
    );
    assert_eq!(
        got[2..].to_vec(),
        vec![
            ("membership.deleted".into(), a.clone(), false, 2),
            ("membership.created".into(), a, true, 3)
        ]
    );
}

#[tokio::test]
async fn a_put_sets_the_membership_to_exactly_the_list_and_without_members_leaves_it() {
    let w = World::new().await;
    let users = w.users("put", 3).await;
    let created = w.post_group("Put", &users[..2]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(member_ids(&created.body), sorted(&users[..2]));
    let gid = created.id();
    let path = format!("/Groups/{gid}");
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Put", "members": refs(&users[1..])});
    let r = w.call(Method::PUT, &path, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(member_ids(&r.body), sorted(&users[1..]));
    assert_eq!(r.body["meta"]["version"], "W/\"2\"", "the membership changed");
    assert_eq!(
        message_version(&w, gid).await,
        1,
        "the group's own attributes did not"
    );
    // A rename by PUT without `members` keeps them.
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Put 2"});
    let r = w.call(Method::PUT, &path, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["displayName"], "Put 2");
    assert_eq!(r.body["meta"]["version"], "W/\"3\"");
    assert_eq!(message_version(&w, gid).await, 2);
    assert_eq!(member_ids(&r.body), sorted(&users[1..]));
    // An empty list empties the group.
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Put 2", "members": []});
    let r = w.call(Method::PUT, &path, Some(body)).await;
    assert_eq!(r.body["members"], json!([]));
}

#[tokio::test]
async fn a_patch_asking_for_attributes_gets_the_group_back() {
    let w = World::new().await;
    let u = w.user("echo@acme.test").await;
    let gid = w.group("Echo").await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Groups/{gid}?excludedAttributes=members"),
            Some(crate::patch(
                json!([{"op": "add", "path": "members", "value": refs(&[u])}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["displayName"], "Echo");
    assert!(r.body.get("members").is_none());
    assert_eq!(w.members(gid).await, vec![u]);
}
