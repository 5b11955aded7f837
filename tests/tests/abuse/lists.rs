//! Finding 4: `GET /Groups?attributes=members&count=1000` over large groups built one answer of
//! every member of every group on the page (71 MB over 41 groups of 10,000), and a few at once
//! took the api to gigabytes. A list answer now carries at most SCIM_LIST_MAX_MEMBERS members:
//! the page ends early and `itemsPerPage` says how far it got.

use std::collections::HashSet;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use tests::seed;
use uuid::Uuid;

use crate::World;

const GROUPS: usize = 12;
const MEMBERS: usize = 10_000;

async fn large_groups(w: &World) -> Vec<Uuid> {
    let db = w.env.db().await;
    let users = seed::users(&db, w.tenant, "member", MEMBERS).await;
    let mut groups = Vec::new();
    for i in 0..GROUPS {
        groups.push(seed::group(&db, w.tenant, &format!("Large {i:02}"), &users).await);
    }
    groups
}

#[tokio::test]
async fn lists_of_large_groups_with_members_stay_small_in_memory_and_page_through_everything() {
    let w = World::with_api(&[]).await;
    let groups = large_groups(&w).await;
    let path = "/Groups?attributes=members,displayName&count=1000";
    let answers: Vec<_> = futures_util::stream::iter(0..4)
        .map(|_| w.call(Method::GET, path, None))
        .buffer_unordered(4)
        .collect()
        .await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["totalResults"], GROUPS);
        // 10,000 members fit the default budget of 10,000; a second group would not.
        assert_eq!(
            r.body["itemsPerPage"], 1,
            "the page ends where the member budget does"
        );
        assert_eq!(
            r.body["Resources"][0]["members"].as_array().unwrap().len(),
            MEMBERS
        );
    }
    let peak = tests::peak_rss_mib(w.api.pid()).expect("api running");
    eprintln!("api peak RSS after four concurrent member lists: {peak:.1} MiB");
    assert!(peak < 100.0, "the api's peak RSS was {peak:.1} MiB");

    // Paging by itemsPerPage reaches every group, each with all its members.
    let mut seen = HashSet::new();
    let mut start = 1;
    while start <= GROUPS {
        let r = w
            .call(Method::GET, &format!("{path}&startIndex={start}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let page = r.body["Resources"].as_array().unwrap();
        assert!(!page.is_empty(), "a page at {start} is empty");
        for g in page {
            assert_eq!(g["members"].as_array().unwrap().len(), MEMBERS);
            seen.insert(g["id"].as_str().unwrap().to_owned());
        }
        start += page.len();
    }
    let want: HashSet<String> = groups.iter().map(Uuid::to_string).collect();
    assert_eq!(seen, want);

    // Without members, one page holds them all, as before.
    let r = w.call(Method::GET, "/Groups?count=1000", None).await;
    assert_eq!(r.body["itemsPerPage"], GROUPS, "{}", r.body);
    assert!(r.body["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn a_group_larger_than_the_member_budget_is_not_listed_with_its_members() {
    let w = World::with_api(&[("SCIM_LIST_MAX_MEMBERS", "500")]).await;
    let db = w.env.db().await;
    let users = seed::users(&db, w.tenant, "member", 501).await;
    let big = seed::group(&db, w.tenant, "Big", &users).await;
    let r = w.call(Method::GET, "/Groups?attributes=members", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "tooMany");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&big.to_string()) && detail.contains("excludedAttributes=members"),
        "{detail}"
    );
    // The group itself reads whole.
    let r = w.call(Method::GET, &format!("/Groups/{big}"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 501);
}
