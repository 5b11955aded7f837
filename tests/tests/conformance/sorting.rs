//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::urlencode;

use crate::{ENTERPRISE, Steps, World, assert_error, ids, patch};

// RFC 7644 §3.4.2.3: userName is caseExact false, so it sorts case-insensitively; sortOrder is
// case-insensitive and "descending" reverses the order.
#[tokio::test]
async fn user_names_sort_case_insensitively_in_either_direction() {
    let w = World::without_worker().await;
    let delta = w.named("delta@acme.test").await;
    let bravo = w.named("Bravo@acme.test").await;
    let alpha = w.named("alpha@acme.test").await;
    let charlie = w.named("Charlie@acme.test").await;
    let r = w.get("/Users?sortBy=userName").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body), [alpha, bravo, charlie, delta]);
    let r = w.get("/Users?sortBy=username&sortOrder=ascending").await;
    assert_eq!(ids(&r.body), [alpha, bravo, charlie, delta]);
    let r = w.get("/Users?sortBy=userName&sortOrder=DESCENDING").await;
    assert_eq!(ids(&r.body), [delta, charlie, bravo, alpha]);
}

// RFC 7644 §3.4.2.3: a caseExact string (externalId) sorts case-sensitively, in Unicode order.
#[tokio::test]
async fn case_exact_attributes_sort_case_sensitively() {
    let w = World::without_worker().await;
    let lower_b = w.user(json!({"userName": "u1", "externalId": "b"})).await;
    let upper_b = w.user(json!({"userName": "u2", "externalId": "B"})).await;
    let lower_a = w.user(json!({"userName": "u3", "externalId": "a"})).await;
    let upper_a = w.user(json!({"userName": "u4", "externalId": "A"})).await;
    let r = w.get("/Users?sortBy=externalId").await;
    assert_eq!(ids(&r.body), [upper_a, upper_b, lower_a, lower_b]);
}

// RFC 7644 §3.4.2.3: "if there is no data for the specified sortBy value, they are sorted via
// the sortOrder parameter, i.e., they are ordered last if ascending and first if descending".
#[tokio::test]
async fn resources_without_the_value_come_last_ascending_and_first_descending() {
    let w = World::without_worker().await;
    let none = w.named("nobody@acme.test").await;
    let smith = w
        .user(json!({"userName": "s@acme.test", "name": {"familyName": "smith"}}))
        .await;
    let empty = w
        .user(json!({"userName": "e@acme.test", "name": {"givenName": "Only"}}))
        .await;
    let jones = w
        .user(json!({"userName": "j@acme.test", "name": {"familyName": "Jones"}}))
        .await;
    let r = w.get("/Users?sortBy=name.familyName").await;
    let got = ids(&r.body);
    assert_eq!(got[..2], [jones, smith]);
    let mut tail = got[2..].to_vec();
    tail.sort();
    let mut missing = vec![none, empty];
    missing.sort();
    assert_eq!(tail, missing, "no data, tie broken by id");
    let r = w.get("/Users?sortBy=name.familyName&sortOrder=descending").await;
    let got = ids(&r.body);
    assert_eq!(got[..2], missing[..], "no data first, still by id");
    assert_eq!(got[2..], [smith, jones]);
}

// RFC 7644 §3.4.2.3: "if it's a multi-valued attribute, resources are sorted by the value of
// the primary attribute, if any, or else the first value in the list, if any".
#[tokio::test]
async fn multi_valued_attributes_sort_by_the_primary_value_else_the_first() {
    let w = World::without_worker().await;
    let a = w
        .user(json!({"userName": "a", "emails": [
            {"value": "z@x.test"}, {"value": "a@x.test", "primary": true}]}))
        .await;
    let m = w
        .user(json!({"userName": "m", "emails": [{"value": "m@x.test"}, {"value": "b@x.test"}]}))
        .await;
    let c = w
        .user(json!({"userName": "c", "emails": [{"value": "C@x.test", "primary": true}]}))
        .await;
    let none = w.user(json!({"userName": "n"})).await;
    for by in ["emails.value", "emails", "EMAILS.VALUE"] {
        let r = w.get(&format!("/Users?sortBy={by}")).await;
        assert_eq!(r.status, StatusCode::OK, "{by}: {}", r.body);
        assert_eq!(ids(&r.body), [a, c, m, none], "{by}");
    }
    let r = w.get("/Users?sortBy=emails.value&sortOrder=descending").await;
    assert_eq!(ids(&r.body), [none, m, c, a]);
}

// RFC 7644 §3.4.2.3 with §3.4.2.4: sorted pages neither overlap nor skip, even when many
// resources share the sort value (ties are broken by id).
#[tokio::test]
async fn sorted_pages_are_stable_when_values_tie() {
    let w = World::without_worker().await;
    let mut all = Vec::new();
    for i in 0..7 {
        let title = if i % 3 == 0 { "Architect" } else { "Engineer" };
        all.push(
            w.user(json!({"userName": format!("t{i}@acme.test"), "title": title}))
                .await,
        );
    }
    let whole = ids(&w.get("/Users?sortBy=title&count=100").await.body);
    let mut paged = Vec::new();
    for start in [1, 3, 5, 7] {
        let r = w
            .get(&format!("/Users?sortBy=title&startIndex={start}&count=2"))
            .await;
        assert_eq!(r.body["totalResults"], 7);
        paged.extend(ids(&r.body));
    }
    assert_eq!(paged, whole);
    let architects: Vec<_> = [all[0], all[3], all[6]].into();
    let mut sorted_architects = architects.clone();
    sorted_architects.sort();
    assert_eq!(whole[..3], sorted_architects[..], "ties in id order");
}

// RFC 7644 §3.4.2.3: meta.created and meta.lastModified are dateTime attributes and sort
// chronologically; sorting combines with a filter.
#[tokio::test]
async fn meta_dates_sort_chronologically_and_combine_with_filters() {
    let w = World::without_worker().await;
    let first = w.named("first@acme.test").await;
    let second = w.named("second@acme.test").await;
    let third = w.named("third@acme.test").await;
    let other = w.named("other@example.test").await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{first}"),
            Some(patch(
                json!([{"op": "replace", "path": "title", "value": "Touched"}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = w.get("/Users?sortBy=meta.lastModified").await;
    assert_eq!(ids(&r.body), [second, third, other, first]);
    let r = w.get("/Users?sortBy=meta.created&sortOrder=descending").await;
    assert_eq!(ids(&r.body), [other, third, second, first]);
    let f = urlencode("userName ew \"@acme.test\"");
    let r = w
        .get(&format!("/Users?filter={f}&sortBy=userName&sortOrder=descending"))
        .await;
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(ids(&r.body), [third, second, first]);
}

// RFC 7644 §3.4.2.3 and §3.10: an extension attribute sorts by its URN-qualified path.
#[tokio::test]
async fn extension_attributes_sort_by_their_urn_path() {
    let w = World::without_worker().await;
    let b = w
        .user(json!({"userName": "b", ENTERPRISE: {"employeeNumber": "E-200"}}))
        .await;
    let a = w
        .user(json!({"userName": "a", ENTERPRISE: {"employeeNumber": "e-100"}}))
        .await;
    let r = w
        .get(&format!(
            "/Users?sortBy={}",
            urlencode(&format!("{ENTERPRISE}:employeeNumber"))
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body), [a, b]);
}

// RFC 7644 §3.4.2.3 for Groups: displayName sorts case-insensitively; members, a set of
// references, has no value to sort groups by.
#[tokio::test]
async fn groups_sort_by_display_name_and_not_by_members() {
    let w = World::without_worker().await;
    let beta = w.group("beta").await;
    let alpha = w.group("Alpha").await;
    let gamma = w.group("GAMMA").await;
    let r = w.get("/Groups?sortBy=displayName").await;
    assert_eq!(ids(&r.body), [alpha, beta, gamma]);
    let r = w
        .get("/Groups?sortBy=displayName&sortOrder=descending&startIndex=2&count=1")
        .await;
    assert_eq!(ids(&r.body), [beta]);
    let r = w.get("/Groups?sortBy=members.value").await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
}

// RFC 7644 §3.4.2.3 with §3.12: a sortBy that names no sortable attribute, or a sortOrder
// other than ascending/descending, is a 400 invalidValue (invalidPath is PATCH's, and
// invalidFilter the filter's).
#[tokio::test]
async fn unknown_or_unsortable_sort_parameters_are_invalid_values() {
    let w = World::without_worker().await;
    w.named("x@acme.test").await;
    for q in [
        "sortBy=shoeSize",
        "sortBy=name",
        "sortBy=password",
        "sortBy=groups.display",
        "sortBy=name..familyName",
        "sortBy=userName&sortOrder=sideways",
        "sortOrder=upwards",
    ] {
        let r = w.get(&format!("/Users?{q}")).await;
        assert_error(&r, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
}
