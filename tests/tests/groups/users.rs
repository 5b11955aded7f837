//! Deleting a user takes it out of every group it is in, in the same transaction, with one
//! membership message per group.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;

use crate::{Steps, World, last_outbox_id, outbox_after};

#[tokio::test]
async fn deleting_a_user_removes_it_from_every_group() {
    let w = World::new().await;
    let users = w.users("leaver", 2).await;
    let (leaver, stayer) = (users[0], users[1]);
    let a = w.post_group("A", &users).await.id();
    let b = w.post_group("B", &[leaver]).await.id();
    let c = w.post_group("C", &[stayer]).await.id();
    let db = w.env.db().await;
    let before = last_outbox_id(&db).await;

    let r = w.call(Method::DELETE, &format!("/Users/{leaver}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    assert_eq!(w.members(a).await, vec![stayer]);
    assert!(w.members(b).await.is_empty());
    assert_eq!(w.members(c).await, vec![stayer]);
    let written = outbox_after(&db, before).await;
    assert_eq!(written[0].routing_key, "user.deleted");
    let mut removals: Vec<(String, String, bool, i64)> = written[1..]
        .iter()
        .map(|r| {
            (
                r.routing_key.clone(),
                r.payload["resource_id"].as_str().unwrap().to_owned(),
                r.payload["snapshot"]["member"].as_bool().unwrap(),
                r.payload["version"].as_i64().unwrap(),
            )
        })
        .collect();
    removals.sort();
    let mut expected = vec![
        ("membership.deleted".to_owned(), a.to_string(), false, 2),
        ("membership.deleted".to_owned(), b.to_string(), false, 2),
    ];
    expected.sort();
    assert_eq!(removals, expected);
    for r in &written[1..] {
        assert_eq!(r.payload["snapshot"]["user_id"], leaver.to_string());
    }
    let still_member: i64 = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select count(*) as n from scim.group_members where user_id = $1 and member",
            [leaver.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(still_member, 0);
    // The member filter no longer finds its groups either.
    let f = format!("members%5Bvalue%20eq%20%22{leaver}%22%5D");
    assert_eq!(
        w.get(&format!("/Groups?filter={f}")).await.body["totalResults"],
        0
    );
}

/// Adds lock their users `FOR SHARE` and a deletion locks its user `FOR UPDATE`, so an add
/// either commits before the deletion (which then removes the membership) or sees the user
/// deleted and keeps its id as a reference. Without that lock this fails on every run.
#[tokio::test]
async fn users_added_while_being_deleted_never_stay_members() {
    let w = World::new().await;
    let users = w.users("race", 20).await;
    let gid = w.group("Racing").await;
    let adds = users.iter().map(|u| {
        w.patch_group(
            gid,
            serde_json::json!([{"op": "add", "path": "members", "value": crate::refs(&[*u])}]),
        )
    });
    let paths: Vec<String> = users.iter().map(|u| format!("/Users/{u}")).collect();
    let deletes = paths.iter().map(|p| w.call(Method::DELETE, p, None));
    let (added, deleted) = tokio::join!(
        futures_util::future::join_all(adds),
        futures_util::future::join_all(deletes)
    );
    for r in &added {
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    for r in &deleted {
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    // An add after the deletion keeps the id as a reference, never as a user.
    let shown = w.members_raw(gid).await;
    assert!(shown.iter().all(|m| m.get("type").is_none()), "{shown:?}");
    let db = w.env.db().await;
    let stale: i64 = tests::scalar(
        &db,
        "select count(*) as n from scim.group_members m join scim.users u on u.id = m.user_id
         where m.member and u.deleted_at is not null",
        "n",
    )
    .await;
    assert_eq!(stale, 0);
}
