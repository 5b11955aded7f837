use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::okta_user;

use crate::World;

#[tokio::test]
async fn a_user_is_read_back_by_id_and_unknown_ids_are_404() {
    let w = World::new().await;
    let created = w.post_user(okta_user("read@acme.test", "Rea", "D")).await;
    let id = created.id();
    let r = w.get(&format!("/Users/{id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["userName"], "read@acme.test");
    assert_eq!(r.body["meta"]["version"], created.body["meta"]["version"]);
    for missing in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".into()] {
        let r = w.get(&format!("/Users/{missing}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["status"], "404");
    }
}

#[tokio::test]
async fn the_user_name_filter_is_case_insensitive_and_finds_inactive_users() {
    let w = World::new().await;
    let mut body = okta_user("Grace.Hopper@Acme.test", "Grace", "Hopper");
    body["active"] = json!(false);
    let id = w.post_user(body).await.id();
    for q in [
        "Grace.Hopper@Acme.test",
        "GRACE.HOPPER@ACME.TEST",
        "grace.hopper@acme.test",
    ] {
        let filter = format!("userName eq \"{q}\"");
        let r = w
            .get(&format!(
                "/Users?filter={}&startIndex=1&count=100",
                urlencode(&filter)
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["totalResults"], 1, "{q}");
        assert_eq!(r.body["Resources"][0]["id"], id.to_string());
        assert_eq!(r.body["Resources"][0]["active"], false);
    }
    let r = w
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"nobody@acme.test\"")
        ))
        .await;
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
}

#[tokio::test]
async fn pages_are_one_based_stable_and_counted() {
    let w = World::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            w.post_user(okta_user(&format!("p{i}@acme.test"), "P", &i.to_string()))
                .await
                .id()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let r = w.get(&format!("/Users?startIndex={start}&count=2")).await;
        assert_eq!(r.body["totalResults"], 5);
        assert_eq!(r.body["startIndex"], start);
        let page = r.body["Resources"].as_array().unwrap();
        assert_eq!(r.body["itemsPerPage"], page.len());
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen, ids, "pages cover every user once, in creation order");
    let r = w.get("/Users?count=0").await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["itemsPerPage"], 0);
    let r = w.get("/Users?startIndex=0&count=1").await;
    assert_eq!(r.body["startIndex"], 1);
}

#[tokio::test]
async fn an_invalid_filter_is_a_400_invalid_filter() {
    let w = World::new().await;
    let r = w
        .get(&format!("/Users?filter={}", urlencode("userName eq")))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["scimType"], "invalidFilter");
}

#[tokio::test]
async fn tenants_are_isolated_even_with_the_same_user_name() {
    let w = World::new().await;
    let (_, other) = w.env.create_tenant("Globex");
    let mine = w.post_user(okta_user("same@corp.test", "A", "One")).await;
    assert_eq!(mine.status, StatusCode::CREATED);
    let theirs = w
        .env
        .request(
            &w.api,
            Method::POST,
            "/scim/v2/Users",
            Some(&other),
            Some(okta_user("same@corp.test", "B", "Two")),
        )
        .await;
    assert_eq!(
        theirs.status,
        StatusCode::CREATED,
        "userName is unique per tenant, not globally"
    );
    let id = mine.id();
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(okta_user("same@corp.test", "X", "Y"))),
        (
            Method::PATCH,
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]}),
            ),
        ),
        (Method::DELETE, None),
    ] {
        let r = w
            .env
            .request(
                &w.api,
                method.clone(),
                &format!("/scim/v2/Users/{id}"),
                Some(&other),
                body,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} of another tenant's user"
        );
    }
    let listed = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Users", Some(&other), None)
        .await;
    assert_eq!(listed.body["totalResults"], 1);
    assert_eq!(listed.body["Resources"][0]["id"], theirs.id().to_string());
    let mine_again = w.get(&format!("/Users/{id}")).await;
    assert_eq!(
        mine_again.body["name"]["givenName"], "A",
        "untouched by the other tenant"
    );
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
