//! authentik's SCIM provider, from its source (goauthentik/authentik `authentik/providers/scim`,
//! files and commits in docs/idp-sources.md §6): `/ServiceProviderConfig` read first and obeyed,
//! the default property mapping's POST, the lookup after a 409 with the userName **unquoted**,
//! every update a full PUT (deactivation included), groups created without members and then
//! patched one operation per member, chunked by `bulk.maxOperations`, members removed by a
//! `path: "members"` value array, a group rename as a no-path replace of the whole group.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// `authentik/lib/utils/http.py`: `f"authentik@{get_full_version()}"`.
const UA: &str = "authentik@2025.2.1";

/// The default mapping (`blueprints/system/providers-scim.yaml`) for a user named `name`.
fn mapped(username: &str, name: &str, active: bool) -> Value {
    let (given, family) = name.split_once(' ').unwrap_or((name, ""));
    json!({
        "schemas": [USER_SCHEMA],
        "userName": username,
        "name": {"formatted": name, "givenName": given, "familyName": family},
        "displayName": name,
        "locale": "en",
        "active": active,
        "emails": [{"value": format!("{username}@acme.test"), "type": "other", "primary": true}],
        "externalId": format!("authentik-uid-{username}"),
    })
}

#[tokio::test]
async fn authentik_syncs_users_and_groups_as_its_provider_does() {
    let ak = Idp::new(UA).await;

    // The client's first request; its answer decides PATCH, filters and the chunk size.
    let config = ak
        .expect(
            "ServiceProviderConfig",
            Method::GET,
            "/ServiceProviderConfig",
            None,
            StatusCode::OK,
        )
        .await
        .body;
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["filter"]["supported"], true);
    let chunk = config["bulk"]["maxOperations"].as_u64().expect("a number") as usize;
    assert!(
        chunk >= 1,
        "0 would make authentik send every membership in one PATCH"
    );

    let id = ak
        .expect(
            "create",
            Method::POST,
            "/Users",
            Some(mapped("alice", "Alice Liddell", true)),
            StatusCode::CREATED,
        )
        .await
        .id();
    ak.product_user(id, |u| {
        u.first_name.as_deref() == Some("Alice") && u.email.as_deref() == Some("alice@acme.test")
    })
    .await;

    // A user that already exists (a second provider, a re-run): 409, then the lookup authentik
    // builds with `urlencode({'filter': f'userName eq {scim_user.userName}'})`.
    let again = ak
        .send(
            Method::POST,
            "/Users",
            Some(mapped("alice", "Alice Liddell", true)),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let found = ak
        .expect(
            "lookup after 409",
            Method::GET,
            "/Users?filter=userName+eq+alice",
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], id.to_string());

    // Every update is a PUT of the mapped user with its id, deactivation included.
    let path = format!("/Users/{id}");
    let put = |name: &str, active: bool| {
        let mut body = mapped("alice", name, active);
        body["id"] = json!(id.to_string());
        body
    };
    ak.expect(
        "rename",
        Method::PUT,
        &path,
        Some(put("Alice Pleasance", true)),
        StatusCode::OK,
    )
    .await;
    ak.product_user(id, |u| u.last_name.as_deref() == Some("Pleasance"))
        .await;
    ak.expect(
        "deactivate",
        Method::PUT,
        &path,
        Some(put("Alice Pleasance", false)),
        StatusCode::OK,
    )
    .await;
    ak.product_user(id, |u| !u.active).await;
    ak.expect(
        "reactivate",
        Method::PUT,
        &path,
        Some(put("Alice Pleasance", true)),
        StatusCode::OK,
    )
    .await;
    ak.product_user(id, |u| u.active).await;

    // Group discovery pages by startIndex alone, without `count`.
    let listed = ak
        .expect("list groups", Method::GET, "/Groups", None, StatusCode::OK)
        .await;
    assert_eq!(listed.body["totalResults"], 0);

    // A group of more members than one PATCH may carry: created without members, then one op
    // per member in chunks of `bulk.maxOperations`.
    let members: Vec<Uuid> = std::iter::once(id).chain(more_users(&ak, chunk).await).collect();
    let group = ak
        .expect(
            "create group",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Wonderland", "externalId": "authentik-group-pk-7"})),
            StatusCode::CREATED,
        )
        .await
        .id();
    let gpath = format!("/Groups/{group}");
    let ops: Vec<Value> = members
        .iter()
        .map(|m| json!({"op": "add", "path": "members", "value": [{"value": m.to_string()}]}))
        .collect();
    assert!(ops.len() > chunk);
    for part in ops.chunks(chunk) {
        let r = ak.send(Method::PATCH, &gpath, Some(patch(json!(part)))).await;
        assert!(r.status.is_success(), "{}", r.body);
    }
    ak.product_members_become(group, &members).await;

    // Before patching again authentik reads the group and diffs the members.
    ak.expect("read group", Method::GET, &gpath, None, StatusCode::OK)
        .await;
    let remove = json!([{"op": "remove", "path": "members", "value": [{"value": id.to_string()}]}]);
    let r = ak.send(Method::PATCH, &gpath, Some(patch(remove))).await;
    assert!(r.status.is_success(), "{}", r.body);
    ak.product_members_become(group, &members[1..]).await;

    // A rename: one replace without a path whose value is the whole group.
    let whole = json!([{"op": "replace", "value": {
        "schemas": [GROUP_SCHEMA], "displayName": "Looking-Glass", "externalId": "authentik-group-pk-7"
    }}]);
    let r = ak.send(Method::PATCH, &gpath, Some(patch(whole))).await;
    assert!(r.status.is_success(), "{}", r.body);
    let read = ak
        .expect(
            "read renamed",
            Method::GET,
            &format!("{gpath}?excludedAttributes=members"),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(read.body["displayName"], "Looking-Glass");

    ak.expect("delete user", Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    ak.product_user(id, |u| !u.active).await;
    ak.expect(
        "delete group",
        Method::DELETE,
        &gpath,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    ak.product_group_exists(group, false).await;

    ak.activity_names(Some("authentik"), 12).await;
}

/// `n` more users, created the way authentik creates them.
async fn more_users(ak: &Idp, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = mapped(&format!("member{i}"), "Member Of Wonderland", true);
        ids.push(
            ak.expect(
                "create member",
                Method::POST,
                "/Users",
                Some(body),
                StatusCode::CREATED,
            )
            .await
            .id(),
        );
    }
    ids
}
