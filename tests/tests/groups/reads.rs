//! Reading groups: filters in the forms IdPs use, paging, members only where they are cheap or
//! asked for, the users' read-only `groups`, and discovery.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{GROUP_SCHEMA, Steps, World, member_ids, refs};

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn display_name_filters_match_case_insensitively() {
    let w = World::new().await;
    let gid = w.group("Platform Team").await;
    w.group("Platform Ops").await;
    w.group("Design").await;
    let r = w
        .get(&format!(
            "/Groups?filter={}",
            enc("displayName eq \"platform team\"")
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], gid.to_string());
    assert_eq!(r.body["Resources"][0]["displayName"], "Platform Team");
    let r = w
        .get(&format!("/Groups?filter={}", enc("displayName sw \"PLATFORM\"")))
        .await;
    assert_eq!(r.body["totalResults"], 2);
    let r = w
        .get(&format!("/Groups?filter={}", enc(&format!("id eq \"{gid}\""))))
        .await;
    assert_eq!(r.body["totalResults"], 1);
}

#[tokio::test]
async fn lists_page_in_a_stable_order_and_leave_members_out_unless_asked() {
    let w = World::new().await;
    let u = w.user("lister@acme.test").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(w.post_group(&format!("G{i}"), &[u]).await.id());
    }
    let page = w.get("/Groups?startIndex=2&count=2").await;
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    let got: Vec<String> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, vec![ids[1].to_string(), ids[2].to_string()]);
    assert!(page.body["Resources"][0].get("members").is_none());

    let page = w.get("/Groups?count=10&attributes=members").await;
    for g in page.body["Resources"].as_array().unwrap() {
        assert_eq!(member_ids(g), vec![u]);
        assert!(
            g.get("displayName").is_none(),
            "only what was asked for, and id/meta"
        );
        assert!(g.get("id").is_some() && g.get("meta").is_some());
    }
    let page = w.get("/Groups?count=10&attributes=displayName,members").await;
    assert_eq!(page.body["Resources"][4]["displayName"], "G4");
    assert_eq!(member_ids(&page.body["Resources"][4]), vec![u]);
}

#[tokio::test]
async fn a_members_value_filter_finds_the_groups_of_a_user() {
    let w = World::new().await;
    let users = w.users("mf", 2).await;
    let a = w.post_group("A", &users).await.id();
    let b = w.post_group("B", &users[1..]).await.id();
    w.group("C").await;
    for f in [
        format!("members[value eq \"{}\"]", users[0]),
        format!("members.value eq \"{}\"", users[0]),
    ] {
        let r = w.get(&format!("/Groups?filter={}", enc(&f))).await;
        assert_eq!(r.status, StatusCode::OK, "{f}: {}", r.body);
        assert_eq!(r.body["totalResults"], 1, "{f}");
        assert_eq!(r.body["Resources"][0]["id"], a.to_string());
    }
    let f = format!("displayName eq \"B\" and members[value eq \"{}\"]", users[1]);
    let r = w.get(&format!("/Groups?filter={}", enc(&f))).await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"][0]["id"], b.to_string());
    // A removed member no longer matches.
    w.patch_ok(
        a,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", users[0])}]),
    )
    .await;
    let f = format!("members[value eq \"{}\"]", users[0]);
    let r = w.get(&format!("/Groups?filter={}", enc(&f))).await;
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn excluded_members_are_left_out_and_attributes_select() {
    let w = World::new().await;
    let u = w.user("ex@acme.test").await;
    let gid = w.post_group("Excluded", &[u]).await.id();
    let r = w.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Excluded");
    let r = w.get(&format!("/Groups/{gid}?attributes=displayName")).await;
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Excluded");
    let r = w.get(&format!("/Groups/{gid}?attributes=members.value")).await;
    assert_eq!(r.body["members"], json!([{"value": u.to_string()}]));
}

#[tokio::test]
async fn users_show_the_groups_they_are_members_of() {
    let w = World::new().await;
    let users = w.users("ug", 2).await;
    let eng = w.post_group("Eng", &users[..1]).await.id();
    let all = w.post_group("All", &users).await.id();

    let r = w.get(&format!("/Users/{}", users[0])).await;
    let groups = r.body["groups"].as_array().expect("groups").clone();
    assert_eq!(groups.len(), 2);
    // By displayName: All, then Eng.
    assert_eq!(groups[0]["value"], all.to_string());
    assert_eq!(groups[0]["display"], "All");
    assert_eq!(groups[0]["type"], "direct");
    assert_eq!(groups[0]["$ref"], format!("{}/scim/v2/Groups/{all}", w.api.base));
    assert_eq!(groups[1]["value"], eng.to_string());

    let list = w.get("/Users?count=10").await;
    let by_id = |id: uuid::Uuid| {
        list.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id.to_string())
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id(users[0])["groups"].as_array().unwrap().len(), 2);
    // A page further on (startIndex > 1) reads its users' groups apart: the same answer.
    for start in [1, 2] {
        let page = w.get(&format!("/Users?startIndex={start}&count=1")).await;
        let user = &page.body["Resources"][0];
        let id = user["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(*user, by_id(id), "startIndex={start}");
    }
    assert_eq!(
        by_id(users[1])["groups"],
        json!([{
            "value": all.to_string(), "display": "All", "type": "direct",
            "$ref": format!("{}/scim/v2/Groups/{all}", w.api.base)
        }])
    );

    // A user in no group has no `groups`; a deleted group disappears from its members.
    w.patch_ok(
        all,
        json!([{"op": "remove", "path": "members", "value": refs(&users[1..])}]),
    )
    .await;
    let r = w.get(&format!("/Users/{}", users[1])).await;
    assert!(r.body.get("groups").is_none(), "{}", r.body);
    w.call(Method::DELETE, &format!("/Groups/{eng}"), None).await;
    let r = w.get(&format!("/Users/{}", users[0])).await;
    assert_eq!(r.body["groups"].as_array().map(Vec::len), Some(1));
    let r = w
        .get(&format!("/Users/{}?excludedAttributes=groups", users[0]))
        .await;
    assert!(r.body.get("groups").is_none());
    // `groups` is read-only: sending it changes nothing.
    let mut body = r.body.clone();
    body["groups"] = json!([{"value": eng.to_string()}]);
    let put = w
        .call(Method::PUT, &format!("/Users/{}", users[0]), Some(body))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["groups"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn discovery_describes_the_group_resource_type_and_schema() {
    let w = World::new().await;
    let r = w.get("/ResourceTypes").await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User", "Group", "Role", "Entitlement"]);
    let r = w.get("/ResourceTypes/Group").await;
    assert_eq!(r.body["endpoint"], "/Groups");
    assert_eq!(r.body["schema"], GROUP_SCHEMA);
    let r = w.get(&format!("/Schemas/{GROUP_SCHEMA}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let attrs: Vec<&str> = r.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(
        attrs.contains(&"displayName") && attrs.contains(&"members"),
        "{attrs:?}"
    );
    let members = r.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "members")
        .unwrap();
    assert_eq!(members["multiValued"], true);
}
