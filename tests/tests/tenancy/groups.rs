use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    A_GROUP_EXTERNAL_ID, A_GROUP_NAME, GROUP_SCHEMA, Two, assert_not_found_like_a_missing_id, listed_ids,
    patch,
};

fn refs(ids: &[Uuid]) -> Value {
    ids.iter().map(|id| json!({"value": id.to_string()})).collect()
}

fn member_ids(group: &Value) -> Vec<String> {
    group["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn another_tenants_group_cannot_be_read_replaced_patched_or_deleted() {
    let two = Two::new().await;
    let (group, ada, carol) = (two.a.group, two.a.ada, two.b.carol);
    let put = |members: Option<&[Uuid]>| {
        let mut body = json!({"schemas": [GROUP_SCHEMA], "displayName": "Hijacked"});
        if let Some(m) = members {
            body["members"] = refs(m);
        }
        Some(body)
    };
    two.writes_nothing(async {
        for (method, query, body) in [
            (Method::GET, "", None),
            (Method::GET, "?excludedAttributes=members", None),
            (Method::GET, "?attributes=members", None),
            (Method::PUT, "", put(None)),
            (Method::PUT, "", put(Some(&[]))),
            (Method::PUT, "", put(Some(&[carol]))),
            (
                Method::PATCH,
                "",
                Some(patch(
                    json!([{"op": "replace", "path": "displayName", "value": "Hijacked"}]),
                )),
            ),
            (
                Method::PATCH,
                "",
                Some(patch(
                    json!([{"op": "add", "path": "members", "value": refs(&[carol])}]),
                )),
            ),
            (
                Method::PATCH,
                "",
                Some(patch(
                    json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
                )),
            ),
            (
                Method::PATCH,
                "",
                Some(patch(json!([{"op": "remove", "path": "members"}]))),
            ),
            (
                Method::PATCH,
                "?attributes=members",
                Some(patch(
                    json!([{"op": "replace", "value": {"id": group.to_string(), "displayName": "Hijacked"}}]),
                )),
            ),
            (Method::DELETE, "", None),
        ] {
            assert_not_found_like_a_missing_id(
                &two,
                method,
                |id| format!("/Groups/{id}{query}"),
                group,
                body,
            )
            .await;
        }
    })
    .await;
    let r = two.as_a(Method::GET, &format!("/Groups/{group}"), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["displayName"], A_GROUP_NAME);
    assert_eq!(member_ids(&r.body).len(), 2);
}

#[tokio::test]
async fn filters_and_lists_never_find_another_tenants_groups() {
    let two = Two::new().await;
    let (group, ada) = (two.a.group, two.a.ada);
    for filter in [
        format!("displayName eq \"{A_GROUP_NAME}\""),
        format!("displayName eq \"{}\"", A_GROUP_NAME.to_lowercase()),
        format!("externalId eq \"{A_GROUP_EXTERNAL_ID}\""),
        format!("id eq \"{group}\""),
        format!("members.value eq \"{ada}\""),
        format!("members[value eq \"{ada}\"]"),
        "displayName sw \"Eng\"".to_owned(),
    ] {
        let q = format!("/Groups?filter={}", tests::urlencode(&filter));
        let r = two.as_b(Method::GET, &q, None).await;
        assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{filter}: {}", r.body);
        let own = two.as_a(Method::GET, &q, None).await;
        assert_eq!(
            listed_ids(&own.body),
            vec![group.to_string()],
            "{filter} works for A"
        );
    }
    for query in [
        "?count=1000",
        "?attributes=members,displayName",
        "?filter=displayName%20pr&attributes=members",
    ] {
        let r = two.as_b(Method::GET, &format!("/Groups{query}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        assert_eq!(listed_ids(&r.body), vec![two.b.group.to_string()], "{query}");
        let text = r.body.to_string();
        for theirs in two.a_ids() {
            assert!(
                !text.contains(&theirs.to_string()),
                "{query} shows A's {theirs}: {text}"
            );
        }
    }
}

/// A membership naming another tenant's user never links it, in every form it can be asked for:
/// the id is kept as a reference exactly as an id that does not exist is (same answer once the
/// id is swapped), no change message names it, and A's user and groups are untouched.
#[tokio::test]
async fn another_tenants_users_never_become_members_in_any_form() {
    let two = Two::new().await;
    let (ada, carol, mine) = (two.a.ada, two.b.carol, two.b.group);
    let missing = Uuid::now_v7();
    let group_path = format!("/Groups/{mine}");
    let attempts = |foreign: Uuid, name: &str| {
        vec![
            (
                Method::POST,
                "/Groups".to_owned(),
                json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Smuggled {name}"), "members": refs(&[foreign])}),
            ),
            (
                Method::POST,
                "/Groups".to_owned(),
                json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Smuggled 2 {name}"), "members": refs(&[carol, foreign])}),
            ),
            (
                Method::PUT,
                group_path.clone(),
                json!({"schemas": [GROUP_SCHEMA], "displayName": "B team", "members": refs(&[carol, foreign])}),
            ),
            (
                Method::PATCH,
                group_path.clone(),
                patch(json!([{"op": "add", "path": "members", "value": refs(&[foreign])}])),
            ),
            (
                Method::PATCH,
                group_path.clone(),
                patch(json!([{"op": "Add", "path": "members", "value": refs(&[foreign])}])),
            ),
            (
                Method::PATCH,
                group_path.clone(),
                patch(json!([{"op": "replace", "path": "members", "value": refs(&[carol, foreign])}])),
            ),
        ]
    };
    let mark = two.last_outbox_id().await;
    two.leaves_a_untouched(async {
        let reset = patch(json!([{"op": "replace", "path": "members", "value": refs(&[carol])}]));
        for ((method, path, body), (_, _, control)) in
            attempts(ada, "a").into_iter().zip(attempts(missing, "m"))
        {
            let mut shown = Vec::new();
            for body in [body, control] {
                let r = two.as_b(Method::PATCH, &group_path, Some(reset.clone())).await;
                assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
                let r = two.as_b(method.clone(), &path, Some(body)).await;
                assert!(r.status.is_success(), "{method} {path}: {}", r.body);
                shown.push(if method == Method::POST {
                    r.body["members"].clone()
                } else {
                    two.as_b(Method::GET, &group_path, None).await.body["members"].clone()
                });
            }
            assert!(
                shown[0].to_string().contains(&ada.to_string()),
                "kept as sent: {}",
                shown[0]
            );
            assert_eq!(
                shown[0].to_string().replace(&ada.to_string(), "<id>"),
                shown[1].to_string().replace(&missing.to_string(), "<id>"),
                "{method} {path}: another tenant's user is kept unlike a missing id"
            );
        }
        // Removing A's user from B's group removes the reference, nothing else.
        let r = two
            .as_b(
                Method::PATCH,
                &group_path,
                Some(patch(
                    json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    })
    .await;
    let written = two.last_outbox_id().await;
    let naming_ada = tests::scalar::<i64>(
        &two.db,
        &format!(
            "select count(*) as n from scim.outbox where id > {mark} and id <= {written} and payload::text like '%{ada}%'"
        ),
        "n",
    )
    .await;
    assert_eq!(naming_ada, 0, "a change message names another tenant's user");
    let r = two.as_b(Method::GET, &group_path, None).await;
    let members = member_ids(&r.body);
    assert!(!members.contains(&ada.to_string()), "{}", r.body);
    assert!(members.contains(&carol.to_string()), "{}", r.body);
    // A's user shows only A's group.
    let r = two.as_a(Method::GET, &format!("/Users/{ada}"), None).await;
    let groups: Vec<&str> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    assert_eq!(groups, vec![two.a.group.to_string()]);
}
