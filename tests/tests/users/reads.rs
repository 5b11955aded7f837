use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{okta_user, urlencode};

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
    // The create's answer shows the timestamps as stored (microseconds), not a finer clock's.
    assert_eq!(r.body["meta"]["created"], created.body["meta"]["created"]);
    assert_eq!(
        r.body["meta"]["lastModified"],
        created.body["meta"]["lastModified"]
    );
    assert_eq!(r.body, created.body, "a read returns what the create answered");
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

/// `userName eq` is answered by a dedicated key lookup (not the generic filter query): it must
/// still skip deleted users, honour paging and `count=0`, and combine with other conditions.
#[tokio::test]
async fn the_user_name_lookup_skips_deleted_users_and_pages_like_any_filter() {
    let w = World::new().await;
    let first = w.post_user(okta_user("again@acme.test", "A", "One")).await.id();
    let r = w.call(Method::DELETE, &format!("/Users/{first}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let lookup = |extra: &str| {
        format!(
            "/Users?filter={}{extra}",
            urlencode("userName eq \"AGAIN@acme.test\"")
        )
    };
    assert_eq!(w.get(&lookup("")).await.body["totalResults"], 0, "deleted");
    let second = w.post_user(okta_user("again@acme.test", "A", "Two")).await.id();
    let r = w.get(&lookup("")).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], second.to_string());
    let r = w.get(&lookup("&count=0")).await;
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["Resources"].clone()),
        (json!(1), json!([]))
    );
    let r = w.get(&lookup("&startIndex=2")).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"], json!([]));
    // Inside a larger filter the generic query answers, with the same result.
    let filter = "userName eq \"again@acme.test\" and name.familyName eq \"Two\"";
    let r = w.get(&format!("/Users?filter={}", urlencode(filter))).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], second.to_string());
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
    let r = w.get("/Users?startIndex=9&count=2").await;
    assert_eq!(r.body["totalResults"], 5, "past the end, still counted");
    assert_eq!(r.body["itemsPerPage"], 0);
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
