use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::okta_user;

use crate::{
    ADA_ALIAS, ADA_EMPLOYEE_NUMBER, ADA_EXTERNAL_ID, ADA_USER_NAME, ENTERPRISE, Two,
    assert_not_found_like_a_missing_id, listed_ids, patch,
};

#[tokio::test]
async fn another_tenants_user_cannot_be_read_replaced_patched_or_deleted() {
    let two = Two::new().await;
    let ada = two.a.ada;
    two.writes_nothing(async {
        for (method, query, body) in [
            (Method::GET, "", None),
            (Method::GET, "?attributes=userName,emails", None),
            (Method::GET, "?excludedAttributes=groups", None),
            (Method::PUT, "", Some(okta_user(ADA_USER_NAME, "Hijacked", "ByB"))),
            (
                Method::PATCH,
                "",
                Some(patch(json!([{"op": "replace", "value": {"active": false}}]))),
            ),
            (
                Method::PATCH,
                "",
                Some(patch(
                    json!([{"op": "replace", "path": "userName", "value": "stolen@b.test"}]),
                )),
            ),
            (Method::DELETE, "", None),
        ] {
            assert_not_found_like_a_missing_id(&two, method, |id| format!("/Users/{id}{query}"), ada, body)
                .await;
        }
    })
    .await;
    let r = two.as_a(Method::GET, &format!("/Users/{ada}"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["givenName"], "Ada");
}

#[tokio::test]
async fn filters_and_lists_never_find_another_tenants_users() {
    let two = Two::new().await;
    let (ada, bob) = (two.a.ada, two.a.bob);
    let none = [
        format!("userName eq \"{ADA_USER_NAME}\""),
        format!("userName eq \"{}\"", ADA_USER_NAME.to_uppercase()),
        format!("externalId eq \"{ADA_EXTERNAL_ID}\""),
        format!("id eq \"{ada}\""),
        format!("id eq \"{ada}\" or id eq \"{bob}\""),
        format!("emails.value eq \"{ADA_ALIAS}\""),
        format!("emails[value eq \"{ADA_ALIAS}\"]"),
        format!("{ENTERPRISE}:employeeNumber eq \"{ADA_EMPLOYEE_NUMBER}\""),
        "userName sw \"ada\"".to_owned(),
        "userName co \"shared.test\"".to_owned(),
        "userName ew \"@a.test\"".to_owned(),
        "name.familyName eq \"Victim\"".to_owned(),
    ];
    for filter in &none {
        let r = two
            .as_b(
                Method::GET,
                &format!("/Users?filter={}", tests::urlencode(filter)),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{filter}: {}", r.body);
        // The same filter finds A's user for A: the filter itself works.
        let own = two
            .as_a(
                Method::GET,
                &format!("/Users?filter={}", tests::urlencode(filter)),
                None,
            )
            .await;
        assert!(
            listed_ids(&own.body)
                .iter()
                .any(|id| *id == ada.to_string() || *id == bob.to_string()),
            "{filter} should find A's user for A: {}",
            own.body
        );
    }
    // Filters that match everything, and no filter at all, list only B's own users.
    for query in [
        "?count=1000".to_owned(),
        format!("?filter={}&count=1000", tests::urlencode("userName pr")),
        format!(
            "?filter={}",
            tests::urlencode("meta.created gt \"2000-01-01T00:00:00Z\"")
        ),
        format!(
            "?filter={}",
            tests::urlencode("active eq true or active eq false")
        ),
        "?startIndex=2&count=1000".to_owned(),
        "?attributes=groups&count=1000".to_owned(),
    ] {
        let r = two.as_b(Method::GET, &format!("/Users{query}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        let text = r.body.to_string();
        for theirs in two.a_ids() {
            assert!(
                !text.contains(&theirs.to_string()),
                "{query} shows A's {theirs}: {text}"
            );
        }
        assert!(
            !text.contains(ADA_USER_NAME) && !text.contains(crate::A_GROUP_NAME),
            "{query}: {text}"
        );
    }
    let all = two.as_b(Method::GET, "/Users", None).await;
    assert_eq!(all.body["totalResults"], 1, "{}", all.body);
}

/// A 409 would tell B that A has a user of that name; per-tenant uniqueness means B may use it.
#[tokio::test]
async fn a_user_name_or_external_id_taken_in_another_tenant_is_free_and_not_disclosed() {
    let two = Two::new().await;
    let mut body = okta_user(ADA_USER_NAME, "Ada", "Namesake");
    body["externalId"] = json!(ADA_EXTERNAL_ID);
    let mut theirs = None;
    two.leaves_a_untouched(async {
        theirs = Some(two.as_b(Method::POST, "/Users", Some(body)).await);
    })
    .await;
    let theirs = theirs.unwrap();
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
    assert_ne!(theirs.id(), two.a.ada);
    let found = two
        .as_b(
            Method::GET,
            &format!(
                "/Users?filter={}",
                tests::urlencode(&format!("userName eq \"{ADA_USER_NAME}\""))
            ),
            None,
        )
        .await;
    assert_eq!(listed_ids(&found.body), vec![theirs.id().to_string()]);
}
