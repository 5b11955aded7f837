//! Cursor paging (RFC 9865): `cursor` and `count` on lists and searches, `nextCursor` on every
//! page but the last, `invalidCursor`, `expiredCursor` and `invalidCount`, and the `pagination`
//! block of /ServiceProviderConfig.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{Response, eventually, seed, urlencode};
use uuid::Uuid;

use crate::{Steps, World, assert_error, ids, patch};

/// How a walk asks for its pages.
enum Via {
    /// `GET {0}&cursor=...`; the path has its query string.
    Get(String),
    /// `POST {0}/.search` with this SearchRequest and `cursor`.
    Search(&'static str, Value),
}

async fn page(w: &World, via: &Via, cursor: &str) -> Response {
    match via {
        Via::Get(path) => w.get(&format!("{path}&cursor={}", urlencode(cursor))).await,
        Via::Search(path, body) => {
            let mut body = body.clone();
            body["cursor"] = json!(cursor);
            w.search(path, body).await
        }
    }
}

/// Walks a list from an empty cursor to the page without `nextCursor`: every resource id in
/// the order answered. Each page must be a cursor page: no `startIndex`, and a `nextCursor`
/// on every page but the last.
async fn walk(w: &World, via: &Via) -> Vec<Uuid> {
    let mut cursor = String::new();
    let mut all = Vec::new();
    for _ in 0..1000 {
        let r = page(w, via, &cursor).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.get("startIndex").is_none(), "{}", r.body);
        assert_eq!(
            r.body["itemsPerPage"].as_u64(),
            r.body["Resources"].as_array().map(|a| a.len() as u64)
        );
        all.extend(ids(&r.body));
        match r.body.get("nextCursor") {
            None => return all,
            Some(next) => cursor = next.as_str().expect("a string cursor").to_owned(),
        }
    }
    panic!("the walk did not end");
}

/// The first page's `nextCursor` of `GET {path}&cursor=`.
async fn first_cursor(w: &World, token: &str, path: &str) -> String {
    let r = w
        .call_as(token, Method::GET, &format!("{path}&cursor="), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["nextCursor"].as_str().expect("a nextCursor").to_owned()
}

fn once(ids: &[Uuid]) -> HashSet<Uuid> {
    let set: HashSet<Uuid> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "a resource came twice: {ids:?}");
    set
}

// RFC 9865: an empty cursor starts; `nextCursor` on every page but the last. Seeded users
// share one creation time, so the walk also crosses ties broken by id.
#[tokio::test]
async fn a_cursor_walk_answers_every_user_once_and_no_next_cursor_on_the_last_page() {
    let w = World::without_worker().await;
    let seeded = seed::users(&w.db, w.tenant, "walk", 23).await;
    let r = w.get("/Users?cursor&count=5").await;
    assert_eq!(r.body["totalResults"], 23, "{}", r.body);
    assert_eq!(r.body["itemsPerPage"], 5);
    let walked = walk(&w, &Via::Get("/Users?count=5".into())).await;
    assert_eq!(once(&walked), seeded.iter().copied().collect());
    // The same order as paging by index.
    assert_eq!(walked, w.user_ids("count=100").await);
    // A page that ends exactly at the last user has no nextCursor either.
    assert_eq!(walk(&w, &Via::Get("/Users?count=23".into())).await.len(), 23);
    let r = w.get("/Users?count=23&cursor=").await;
    assert!(r.body.get("nextCursor").is_none(), "{}", r.body);
    // Nothing to list: one empty page.
    let r = w.get("/Groups?cursor=").await;
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["Resources"].clone()),
        (json!(0), json!([]))
    );
    assert!(r.body.get("nextCursor").is_none(), "{}", r.body);
}

#[tokio::test]
async fn a_cursor_walks_groups_filtered_and_sorted_searches_and_the_root() {
    let w = World::without_worker().await;
    let even = seed::users(&w.db, w.tenant, "even", 9).await;
    seed::users(&w.db, w.tenant, "odd", 8).await;
    let mut groups = Vec::new();
    for i in 0..7 {
        groups.push(seed::group(&w.db, w.tenant, &format!("Team {i}"), &[]).await);
    }
    let walked = walk(&w, &Via::Get("/Groups?count=3".into())).await;
    assert_eq!(walked, groups);
    // A filtered search: only what matches, each once.
    let filtered = Via::Search("/Users", json!({"filter": "userName sw \"even\"", "count": 2}));
    assert_eq!(once(&walk(&w, &filtered).await), even.iter().copied().collect());
    // Sorted: the sortBy order, as paging by index has it.
    let sorted = "sortBy=userName&sortOrder=descending";
    let walked = walk(&w, &Via::Get(format!("/Users?{sorted}&count=4"))).await;
    assert_eq!(walked, w.user_ids(&format!("{sorted}&count=100")).await);
    let by_name = Via::Search("/Users", json!({"sortBy": "name.givenName", "count": 3}));
    let walked = walk(&w, &by_name).await;
    assert_eq!(walked, w.user_ids("sortBy=name.givenName&count=100").await);
    // The root: every user, then every group, across the seam in one page or another.
    for count in [3, 17, 24] {
        let root = Via::Search("", json!({"count": count}));
        let walked = walk(&w, &root).await;
        assert_eq!(walked.len(), 17 + 7, "count {count}");
        assert_eq!(walked[17..], groups[..], "count {count}");
        once(&walked);
    }
    let r = w.search("", json!({"cursor": "", "count": 17})).await;
    assert!(r.body.get("nextCursor").is_some(), "groups follow: {}", r.body);
    assert_eq!(r.body["totalResults"], 24);
}

// The point of cursors: resources that exist throughout a walk are each answered once, however
// many others are created, deleted or changed while it runs.
#[tokio::test]
async fn a_cursor_walk_under_concurrent_writes_answers_every_lasting_user_once() {
    let w = World::with_api(&[("SCIM_TENANT_RATE_LIMIT", "0")]).await;
    let lasting = seed::users(&w.db, w.tenant, "lasting", 60).await;
    let doomed = seed::users(&w.db, w.tenant, "doomed", 30).await;
    let done = AtomicBool::new(false);
    let writes = AtomicUsize::new(0);
    let walker = async {
        let plain = walk(&w, &Via::Get("/Users?count=3".into())).await;
        let sorted = walk(&w, &Via::Get("/Users?sortBy=userName&count=4".into())).await;
        done.store(true, Ordering::SeqCst);
        (plain, sorted)
    };
    let writer = async {
        let mut i = 0;
        while !done.load(Ordering::SeqCst) {
            let r = w
                .post_user(json!({"schemas": [crate::USER_SCHEMA], "userName": format!("new-{i}@acme.test")}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            if let Some(id) = doomed.get(i) {
                let r = w.call(Method::DELETE, &format!("/Users/{id}"), None).await;
                assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
            }
            let id = lasting[(i * 7) % lasting.len()];
            let ops = json!([{"op": "replace", "path": "title", "value": format!("t{i}")}]);
            let r = w
                .call(Method::PATCH, &format!("/Users/{id}"), Some(patch(ops)))
                .await;
            assert!(r.status.is_success(), "{}", r.body);
            writes.fetch_add(3, Ordering::SeqCst);
            i += 1;
        }
    };
    let ((plain, sorted), ()) = tokio::join!(walker, writer);
    assert!(
        writes.load(Ordering::SeqCst) >= 9,
        "the writes ran beside the walk"
    );
    for walked in [plain, sorted] {
        let seen = once(&walked);
        for id in &lasting {
            assert!(seen.contains(id), "lasting user {id} was skipped");
        }
    }
}

// RFC 9865: a cursor that is not a nextCursor of this query is invalidCursor: garbage, an
// edited one, another tenant's, or one of another filter or endpoint. All get the same detail.
#[tokio::test]
async fn cursors_of_another_query_tenant_or_hand_are_invalid_cursors() {
    let w = World::without_worker().await;
    seed::users(&w.db, w.tenant, "mine", 5).await;
    let (other, other_token) = w.other_tenant("Globex");
    seed::users(&w.db, other, "theirs", 5).await;
    let cursor = first_cursor(&w, &w.token, "/Users?count=2").await;
    let theirs = first_cursor(&w, &other_token, "/Users?count=2").await;
    let filtered = first_cursor(&w, &w.token, "/Users?count=2&filter=userName%20sw%20%22mine%22").await;
    let mut edited: Vec<char> = cursor.chars().collect();
    let mid = edited.len() / 2;
    edited[mid] = if edited[mid] == 'A' { 'B' } else { 'A' };
    let edited: String = edited.into_iter().collect();
    let mut details = HashSet::new();
    for (what, path) in [
        ("garbage", "/Users?count=2&cursor=not-a-cursor".to_owned()),
        ("edited", format!("/Users?count=2&cursor={edited}")),
        (
            "cut short",
            format!("/Users?count=2&cursor={}", &cursor[..cursor.len() - 4]),
        ),
        ("another tenant's", format!("/Users?count=2&cursor={theirs}")),
        ("without its filter", format!("/Users?count=2&cursor={filtered}")),
        (
            "with another filter",
            format!("/Users?count=2&cursor={cursor}&filter=userName%20sw%20%22m%22"),
        ),
        (
            "with a sort",
            format!("/Users?count=2&cursor={cursor}&sortBy=userName"),
        ),
        ("of another endpoint", format!("/Groups?count=2&cursor={cursor}")),
    ] {
        let r = w.get(&path).await;
        assert_eq!(r.body["scimType"], "invalidCursor", "{what}: {}", r.body);
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidCursor"));
        details.insert(r.body["detail"].clone());
    }
    assert_eq!(
        details.len(),
        1,
        "one answer for every invalid cursor: {details:?}"
    );
    let r = w.search("/Users", json!({"cursor": "garbage"})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidCursor"));
    let r = w.search("", json!({"cursor": cursor})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidCursor"));
    // The same cursor still works with its own query, from GET or .search alike.
    assert_eq!(
        w.get(&format!("/Users?count=2&cursor={cursor}")).await.status,
        StatusCode::OK
    );
    let r = w.search("/Users", json!({"count": 2, "cursor": cursor})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

// RFC 9865: a cursor older than cursorTimeout is expiredCursor (here the api's
// SCIM_CURSOR_TIMEOUT_SECS is 1 second, and /ServiceProviderConfig says so).
#[tokio::test]
async fn a_cursor_older_than_the_cursor_timeout_is_an_expired_cursor() {
    let w = World::with_api(&[("SCIM_CURSOR_TIMEOUT_SECS", "1")]).await;
    seed::users(&w.db, w.tenant, "slow", 3).await;
    let config = w.get("/ServiceProviderConfig").await;
    assert_eq!(config.body["pagination"]["cursorTimeout"], 1);
    let cursor = first_cursor(&w, &w.token, "/Users?count=1").await;
    let path = format!("/Users?count=1&cursor={cursor}");
    eventually("the cursor expires", || async {
        let r = w.get(&path).await;
        if r.status == StatusCode::OK {
            return false;
        }
        assert_error(&r, StatusCode::BAD_REQUEST, Some("expiredCursor"));
        true
    })
    .await;
}

// RFC 9865: with a cursor, count must be 1 to maxPageSize (invalidCount); startIndex and
// cursor together ask for both paging methods, which is refused.
#[tokio::test]
async fn with_a_cursor_a_count_out_of_range_is_an_invalid_count_and_start_index_is_refused() {
    let w = World::without_worker().await;
    let max = w.get("/ServiceProviderConfig").await.body["pagination"]["maxPageSize"]
        .as_i64()
        .unwrap();
    for count in [0, -1, max + 1] {
        let r = w.get(&format!("/Users?cursor=&count={count}")).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidCount"));
        let r = w.search("/Groups", json!({"cursor": "", "count": count})).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidCount"));
    }
    assert_eq!(
        w.get(&format!("/Users?cursor=&count={max}")).await.status,
        StatusCode::OK
    );
    let r = w.get("/Users?cursor=&startIndex=1").await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let r = w.search("/Users", json!({"cursor": "", "startIndex": 2})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    // Without a cursor, paging by index stays the default and clamps as before.
    let r = w.get("/Users?count=0").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["startIndex"], 1);
    assert!(r.body.get("nextCursor").is_none());
}

// RFC 9865: the pagination block.
#[tokio::test]
async fn the_service_provider_config_advertises_both_paging_methods() {
    let w = World::without_worker().await;
    let r = w.get("/ServiceProviderConfig").await;
    assert_eq!(
        r.body["pagination"],
        json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": 100,
            "maxPageSize": r.body["filter"]["maxResults"],
            "cursorTimeout": 3600,
        })
    );
}
