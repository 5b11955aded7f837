//! ETags and preconditions (RFC 7644 §3.14, RFC 7232).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::USER_SCHEMA;

use crate::{GROUP_SCHEMA, Steps, World, assert_error, patch};

fn etag(r: &tests::Response) -> String {
    r.header("etag")
        .unwrap_or_else(|| panic!("no ETag: {:?}", r.headers))
        .to_owned()
}

fn retitle(title: &str) -> Value {
    patch(json!([{"op": "replace", "path": "title", "value": title}]))
}

// RFC 7644 §3.14: meta.version is a weak ETag, sent as the ETag header, and changes with
// every change of the resource.
#[tokio::test]
async fn the_etag_is_meta_version_and_moves_with_each_change() {
    let w = World::without_worker().await;
    let id = w.named("etag@acme.test").await;
    let r = w.get(&format!("/Users/{id}")).await;
    let v1 = etag(&r);
    assert!(v1.starts_with("W/\""), "{v1}");
    assert_eq!(r.body["meta"]["version"], v1.as_str());
    let r = w
        .call(Method::PATCH, &format!("/Users/{id}"), Some(retitle("A")))
        .await;
    let v2 = etag(&r);
    assert_ne!(v2, v1);
    assert_eq!(r.body["meta"]["version"], v2.as_str());
    // An unchanged write is no new version.
    let r = w
        .call(Method::PATCH, &format!("/Users/{id}"), Some(retitle("A")))
        .await;
    assert_eq!(etag(&r), v2);
}

// RFC 7644 §3.14: a write with If-Match naming the current version (or `*`, or a list that
// contains it) goes through; a stale one is 412 Precondition Failed and changes nothing.
#[tokio::test]
async fn if_match_lets_only_writes_against_the_current_version_through() {
    let w = World::without_worker().await;
    let id = w.named("im@acme.test").await;
    let path = format!("/Users/{id}");
    let v1 = etag(&w.get(&path).await);
    let r = w
        .call_with(Method::PATCH, &path, Some(retitle("One")), &[("If-Match", &v1)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v2 = etag(&r);

    for stale in [v1.as_str(), "W/\"999\"", "\"nope\""] {
        let r = w
            .call_with(Method::PATCH, &path, Some(retitle("Two")), &[("If-Match", stale)])
            .await;
        assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
        let body = json!({"schemas": [USER_SCHEMA], "userName": "im@acme.test", "title": "Two"});
        let r = w
            .call_with(Method::PUT, &path, Some(body), &[("If-Match", stale)])
            .await;
        assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
        let r = w
            .call_with(Method::DELETE, &path, None, &[("If-Match", stale)])
            .await;
        assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
    }
    let r = w.get(&path).await;
    assert_eq!(r.body["title"], "One", "412s changed nothing");
    assert_eq!(etag(&r), v2);

    let list = format!("W/\"999\", {v2}");
    let r = w
        .call_with(
            Method::PATCH,
            &path,
            Some(retitle("Three")),
            &[("If-Match", &list)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = json!({"schemas": [USER_SCHEMA], "userName": "im@acme.test", "title": "Four"});
    let r = w
        .call_with(Method::PUT, &path, Some(body), &[("If-Match", "*")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The strong form of the tag compares equal too (weak comparison, see scim::etag).
    let strong = etag(&r).trim_start_matches("W/").to_owned();
    let r = w
        .call_with(Method::DELETE, &path, None, &[("If-Match", &strong)])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

// RFC 7644 §3.14: GET with If-None-Match naming the current version is 304 Not Modified,
// without a body and with the ETag; once the resource changes it is a 200 again.
#[tokio::test]
async fn if_none_match_answers_304_while_the_resource_is_unchanged() {
    let w = World::without_worker().await;
    let id = w.named("inm@acme.test").await;
    let path = format!("/Users/{id}");
    let v1 = etag(&w.get(&path).await);
    for tag in [v1.as_str(), "*", &format!("\"x\", {v1}")] {
        let r = w
            .call_with(Method::GET, &path, None, &[("If-None-Match", tag)])
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(r.body, Value::Null, "no body");
        assert_eq!(etag(&r), v1);
    }
    w.call(Method::PATCH, &path, Some(retitle("Changed"))).await;
    let r = w
        .call_with(Method::GET, &path, None, &[("If-None-Match", &v1)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["title"], "Changed");
    assert_ne!(etag(&r), v1);
}

// RFC 7644 §3.14 on Groups: the ETag moves when the members change (a group's version, which
// orders its own messages, does not), so If-None-Match and If-Match see membership changes.
#[tokio::test]
async fn a_groups_etag_moves_with_its_members() {
    let w = World::without_worker().await;
    let u = w.named("gm@acme.test").await;
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Tagged"});
    let created = w.call(Method::POST, "/Groups", Some(body)).await;
    let gid = created.id();
    let path = format!("/Groups/{gid}");
    let v1 = etag(&created);
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": u.to_string()}]}]));
    let r = w
        .call_with(Method::PATCH, &path, Some(add.clone()), &[("If-Match", &v1)])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let v2 = etag(&r);
    assert_ne!(v2, v1, "204 carries the new ETag");
    let r = w
        .call_with(Method::GET, &path, None, &[("If-None-Match", &v1)])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(etag(&r), v2);
    assert_eq!(r.body["meta"]["version"], v2.as_str());
    let r = w
        .call_with(Method::GET, &path, None, &[("If-None-Match", &v2)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{u}\"]")}]));
    let r = w
        .call_with(Method::PATCH, &path, Some(remove), &[("If-Match", &v1)])
        .await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
    let r = w.get(&path).await;
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(1), "unchanged");
    let put = json!({"schemas": [GROUP_SCHEMA], "displayName": "Renamed", "members": []});
    let r = w
        .call_with(Method::PUT, &path, Some(put), &[("If-Match", &v1)])
        .await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
    let r = w
        .call_with(Method::DELETE, &path, None, &[("If-Match", &v2)])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

// RFC 7232 §5: a request that would fail anyway fails with that error, not 412 (a missing
// resource is 404, an invalid change 400); a malformed header is a 400 itself.
#[tokio::test]
async fn errors_come_before_preconditions_and_malformed_tags_are_rejected() {
    let w = World::without_worker().await;
    let id = w.named("pre@acme.test").await;
    let path = format!("/Users/{id}");
    let stale = [("If-Match", "W/\"999\"")];
    let missing = format!("/Users/{}", Uuid::now_v7());
    let r = w
        .call_with(Method::PATCH, &missing, Some(retitle("x")), &stale)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let r = w
        .call_with(Method::GET, &missing, None, &[("If-None-Match", "*")])
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, None);
    let bad = patch(json!([{"op": "replace", "path": "active", "value": "maybe"}]));
    let r = w.call_with(Method::PATCH, &path, Some(bad), &stale).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    for malformed in ["999", "W/999", "\"unterminated"] {
        let r = w
            .call_with(
                Method::PATCH,
                &path,
                Some(retitle("x")),
                &[("If-Match", malformed)],
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    }
    // If-Match on a GET is a precondition too.
    let r = w.call_with(Method::GET, &path, None, &stale).await;
    assert_error(&r, StatusCode::PRECONDITION_FAILED, None);
}

/// Waits until `n` sessions of the test's database wait on a lock.
async fn until_waiting_on_locks(db: &sea_orm::DatabaseConnection, n: i64) {
    let deadline = Instant::now() + tests::EVENTUALLY;
    loop {
        let waiting: i64 = tests::scalar(
            db,
            "select count(*) as n from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock'",
            "n",
        )
        .await;
        if waiting >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} requests never queued on the row lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// RFC 7644 §3.14, race: two PATCHes with the same If-Match. The test holds the user's row
// lock until both requests are queued on it, so both arrive before either writes; the check
// happens under the lock, so exactly one succeeds and the other gets 412.
#[tokio::test]
async fn of_two_concurrent_patches_with_the_same_if_match_exactly_one_wins() {
    let w = World::without_worker().await;
    let db = w.env.db().await;
    for (kind, id) in [
        ("Users", w.named("race@acme.test").await),
        ("Groups", w.group("Race").await),
    ] {
        let path = format!("/{kind}/{id}");
        let tag = etag(&w.get(&path).await);
        let table = if kind == "Users" { "users" } else { "groups" };
        let holder = db.begin().await.unwrap();
        holder
            .execute_unprepared(&format!(
                "select 1 from scim.{table} where id = '{id}' for update"
            ))
            .await
            .unwrap();
        let change = |n: u32| {
            if kind == "Users" {
                retitle(&format!("Writer {n}"))
            } else {
                patch(json!([{"op": "replace", "path": "displayName", "value": format!("Writer {n}")}]))
            }
        };
        let headers = [("If-Match", tag.as_str())];
        let (a, b, ()) = tokio::join!(
            w.call_with(Method::PATCH, &path, Some(change(1)), &headers),
            w.call_with(Method::PATCH, &path, Some(change(2)), &headers),
            async {
                until_waiting_on_locks(&db, 2).await;
                holder.commit().await.unwrap();
            }
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        let ok = if kind == "Users" {
            StatusCode::OK
        } else {
            StatusCode::NO_CONTENT
        };
        assert_eq!(
            statuses,
            [ok, StatusCode::PRECONDITION_FAILED],
            "{kind}: {} / {}",
            a.body,
            b.body
        );
        let loser = if a.status == StatusCode::PRECONDITION_FAILED {
            &a
        } else {
            &b
        };
        assert_error(loser, StatusCode::PRECONDITION_FAILED, None);
        let now = w.get(&path).await;
        assert_ne!(etag(&now), tag, "{kind}: the winner's change is stored");
    }
}
