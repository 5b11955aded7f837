//! Roles and entitlements end to end: `product.user_roles` derived from effective membership
//! (nested groups included) by the tenant's role mapping, re-derived through the queue when the
//! mapping changes (progress on `/admin/api`) and when a group is renamed, cut from its parent
//! or deleted; the IdP's own `roles` and `entitlements` checked against the tenant's
//! definitions and carried to the product; `/Roles` and `/Entitlements` as Okta Identity
//! Governance discovers them; `scim-worker verify` clean throughout.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::{eventually, seed};
use uuid::Uuid;

use crate::{Steps, World, refs};

const ADMIN_KEY: &str = "roles-admin-key-5c1e8a0f3b7d2946";
const ROLE_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Role";
const ENTITLEMENT_SCHEMA: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";

/// An api with the admin API on, one worker, and the tenant "Acme".
async fn world() -> World {
    let env = tests::TestEnv::new().await;
    let api = env.spawn_api_with(&[("ADMIN_TOKEN", ADMIN_KEY)]).await;
    let worker = env.spawn_worker();
    // The worker migrates the product schema before it consumes.
    env.worker_consuming().await;
    World::from_parts(env, api, vec![worker]).await
}

async fn admin(w: &World, method: Method, what: &str, body: Option<Value>) -> Value {
    let path = format!("/admin/api/tenants/{}/{what}", w.tenant);
    let (status, v) = w.admin(ADMIN_KEY, method.clone(), &path, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {v}");
    v
}

async fn map_roles(w: &World, rules: Value) -> Value {
    admin(w, Method::PUT, "role-mapping", Some(json!({"rules": rules}))).await
}

/// The product's roles of the tenant's users: user → [(role, primary)], sorted.
async fn product_roles(w: &World) -> BTreeMap<Uuid, Vec<(String, bool)>> {
    use sea_orm::ConnectionTrait;
    let rows =
        w.db.query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select r.user_id, r.role, r.is_primary from product.user_roles r
             join product.users u on u.id = r.user_id where u.tenant_id = $1 order by 1, 2",
            [w.tenant.into()],
        ))
        .await
        .unwrap();
    let mut out: BTreeMap<Uuid, Vec<(String, bool)>> = BTreeMap::new();
    for r in rows {
        let (u, role, primary): (Uuid, String, bool) = r.try_get_many_by_index().unwrap();
        out.entry(u).or_default().push((role, primary));
    }
    out
}

async fn product_entitlements(w: &World, user: Uuid) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    w.db.query_all_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "select entitlement from product.user_entitlements where user_id = $1 order by 1",
        [user.into()],
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get_by_index(0).unwrap())
    .collect()
}

fn roles(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|&(r, p)| (r.to_owned(), p)).collect()
}

/// Waits until `user` has exactly `want` roles in the product.
async fn has_roles(w: &World, user: Uuid, want: &[(&str, bool)]) {
    let want = roles(want);
    eventually(&format!("{user} has roles {want:?}"), || async {
        product_roles(w).await.remove(&user).unwrap_or_default() == want
    })
    .await;
}

/// `scim-worker verify` finds no difference once the worker has applied everything.
async fn verify_clean(w: &World) -> Value {
    let tenant = w.tenant.to_string();
    eventually("verify finds no difference", || async {
        w.env.worker_cli(&["verify", "--tenant", &tenant]).0
    })
    .await;
    let (_, out) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    out.last().cloned().expect("summary")
}

fn add_members(ids: &[Uuid]) -> Value {
    json!([{"op": "add", "path": "members", "value": refs(ids)}])
}

#[tokio::test]
async fn roles_follow_effective_groups_through_nesting_renames_cuts_and_deletes() {
    let w = world().await;
    map_roles(
        &w,
        json!([
            {"group": "engineering", "role": "developer", "priority": 10},
            {"group": "Admins", "role": "admin", "priority": 100},
            {"group": "Everyone", "role": "viewer", "priority": 1},
            {"group": "On-call", "role": "operator", "priority": 10},
        ]),
    )
    .await;
    let (ada, bob) = (w.user("ada@acme.test").await, w.user("bob@acme.test").await);
    let everyone = w.group("Everyone").await;
    let engineering = w.group("Engineering").await;
    let admins = w.group("Admins").await;
    let on_call = w.group("On-call").await;
    // Everyone ∋ Engineering ∋ ada, bob; Admins ∋ bob; On-call ∋ ada.
    w.patch_ok(engineering, add_members(&[ada, bob])).await;
    w.patch_ok(admins, add_members(&[bob])).await;
    w.patch_ok(on_call, add_members(&[ada])).await;
    has_roles(&w, ada, &[("developer", true), ("operator", false)]).await;
    w.patch_ok(
        everyone,
        json!([{"op": "add", "path": "members", "value": [{"value": engineering.to_string(), "type": "Group"}]}]),
    )
    .await;
    // Through the nested group; equal priorities go to the first role name.
    has_roles(
        &w,
        ada,
        &[("developer", true), ("operator", false), ("viewer", false)],
    )
    .await;
    has_roles(
        &w,
        bob,
        &[("admin", true), ("developer", false), ("viewer", false)],
    )
    .await;

    // A rename takes the role away, a rename back (in another case) gives it again.
    w.patch_ok(
        admins,
        json!([{"op": "replace", "path": "displayName", "value": "Operators"}]),
    )
    .await;
    has_roles(&w, bob, &[("developer", true), ("viewer", false)]).await;
    w.patch_ok(
        admins,
        json!([{"op": "replace", "path": "displayName", "value": "ADMINS"}]),
    )
    .await;
    has_roles(
        &w,
        bob,
        &[("admin", true), ("developer", false), ("viewer", false)],
    )
    .await;

    // Cutting Engineering from Everyone: viewer goes from both.
    w.patch_ok(
        everyone,
        json!([{"op": "remove", "path": format!("members[value eq \"{engineering}\"]")}]),
    )
    .await;
    has_roles(&w, ada, &[("developer", true), ("operator", false)]).await;
    has_roles(&w, bob, &[("admin", true), ("developer", false)]).await;

    // Deleting Engineering: developer goes.
    let r = w
        .call(Method::DELETE, &format!("/Groups/{engineering}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    has_roles(&w, ada, &[("operator", true)]).await;
    has_roles(&w, bob, &[("admin", true)]).await;
    // A user leaving a group loses its role.
    w.patch_ok(
        on_call,
        json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
    )
    .await;
    has_roles(&w, ada, &[]).await;
    let summary = verify_clean(&w).await;
    assert_eq!(summary["roles"], 1, "{summary}");
}

#[tokio::test]
async fn a_mapping_change_rederives_2000_users_through_the_queue_with_progress() {
    const N: usize = 2_000;
    let w = world().await;
    let users = seed::users(&w.db, w.tenant, "staff", N).await;
    seed::group(&w.db, w.tenant, "Staff", &users).await;
    seed::group(&w.db, w.tenant, "Leads", &users[..10]).await;
    let (ok, out) = w
        .env
        .worker_cli(&["reconcile", "--tenant", &w.tenant.to_string()]);
    assert!(ok, "{out:?}");
    assert!(product_roles(&w).await.is_empty(), "no rules, no roles");

    let count = |role: &'static str, primary: bool| {
        let w = &w;
        async move {
            tests::scalar::<i64>(
                &w.db,
                &format!(
                    "select count(*) as n from product.user_roles where role = '{role}' and is_primary = {primary}"
                ),
                "n",
            )
            .await
        }
    };
    let put = map_roles(
        &w,
        json!([{"group": "staff", "role": "member", "priority": 1}, {"group": "Leads", "role": "lead", "priority": 5}]),
    )
    .await;
    assert_eq!(put["rederivation"]["version"], 1, "{put}");
    assert_eq!(put["rules"].as_array().map(Vec::len), Some(2));
    let finished = |version: i64| {
        let w = &w;
        async move {
            let v = admin(w, Method::GET, "role-mapping", None).await;
            let r = &v["rederivation"];
            r["derived_version"] == version && r["running"] == false && r["done"] == r["total"]
        }
    };
    eventually("the first mapping is derived", || finished(1)).await;
    let v = admin(&w, Method::GET, "role-mapping", None).await;
    assert_eq!(v["rederivation"]["total"], N as i64, "{v}");
    assert!(v["rederivation"]["finished_at"].is_string(), "{v}");
    assert_eq!(count("member", true).await, (N - 10) as i64);
    assert_eq!(count("member", false).await, 10);
    assert_eq!(count("lead", true).await, 10);

    // Another mapping: every user's role is replaced, through the queue again.
    map_roles(&w, json!([{"group": "Staff", "role": "employee", "priority": 1}])).await;
    eventually("the second mapping is derived", || finished(2)).await;
    assert_eq!(count("employee", true).await, N as i64);
    assert_eq!(count("member", true).await + count("member", false).await, 0);
    assert_eq!(count("lead", true).await, 0);
    // Roles named by rules are defined roles.
    let defined = admin(&w, Method::GET, "roles", None).await;
    assert_eq!(defined["roles"], json!([{"value": "employee"}]));
    let summary = verify_clean(&w).await;
    assert_eq!(summary["roles"], N as i64, "{summary}");
}

#[tokio::test]
async fn the_idps_roles_and_entitlements_are_checked_stored_and_its_primary_wins() {
    let w = world().await;
    admin(
        &w,
        Method::PUT,
        "roles",
        Some(json!({"roles": [{"value": "auditor", "display": "Auditor"}, {"value": "support"}]})),
    )
    .await;
    admin(
        &w,
        Method::PUT,
        "entitlements",
        Some(json!({"entitlements": [{"value": "lic-1", "display": "License 1", "type": "License"}]})),
    )
    .await;
    map_roles(&w, json!([{"group": "Admins", "role": "admin", "priority": 100}])).await;

    let mut body = tests::okta_user("ada@acme.test", "Ada", "Lovelace");
    body["roles"] = json!([{"value": "ghost"}]);
    let r = w.post_user(body.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(
        r.body["detail"].as_str().unwrap().contains("'ghost'"),
        "{}",
        r.body
    );
    body["roles"] = json!([{"value": "auditor", "primary": true}, {"value": "support"}]);
    body["entitlements"] = json!([{"value": "lic-9"}]);
    let r = w.post_user(body.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("'lic-9'"),
        "{}",
        r.body
    );
    // A role the mapping names is defined too.
    body["roles"] = json!([{"value": "auditor", "primary": true}, {"value": "support"}, {"value": "admin"}]);
    body["entitlements"] = json!([{"value": "lic-1", "display": "License 1", "type": "License"}]);
    let r = w.post_user(body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ada = r.id();
    assert_eq!(r.body["entitlements"][0]["value"], "lic-1");
    has_roles(
        &w,
        ada,
        &[("admin", false), ("auditor", true), ("support", false)],
    )
    .await;
    eventually("ada's entitlement reaches the product", || async {
        product_entitlements(&w, ada).await == ["lic-1"]
    })
    .await;

    // In Admins, with the IdP's primary gone: the mapped role is primary.
    let admins = w.group("Admins").await;
    w.patch_ok(admins, add_members(&[ada])).await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(crate::patch(
                json!([{"op": "replace", "path": "roles", "value": [{"value": "support"}]}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    has_roles(&w, ada, &[("admin", true), ("support", false)]).await;
    // PATCH adding an unknown one is refused, and changes nothing.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(crate::patch(
                json!([{"op": "add", "path": "entitlements", "value": [{"value": "nope"}]}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    // Okta's PUT of the whole user, without entitlements: they go.
    let mut put = tests::okta_user("ada@acme.test", "Ada", "Lovelace");
    put["roles"] = json!([{"value": "support", "primary": true}]);
    let r = w.call(Method::PUT, &format!("/Users/{ada}"), Some(put)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    has_roles(&w, ada, &[("admin", false), ("support", true)]).await;
    eventually("ada's entitlement leaves the product", || async {
        product_entitlements(&w, ada).await.is_empty()
    })
    .await;
    // A definition that goes does not lock its holders out of other changes.
    admin(&w, Method::PUT, "roles", Some(json!({"roles": []}))).await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(crate::patch(
                json!([{"op": "replace", "path": "title", "value": "Countess"}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let summary = verify_clean(&w).await;
    assert_eq!(summary["differences"], 0, "{summary}");
}

#[tokio::test]
async fn okta_discovers_roles_and_entitlements_by_resource_type_and_pages() {
    let w = world().await;
    admin(
        &w,
        Method::PUT,
        "roles",
        Some(json!({"roles": [
            {"value": "role-1", "display": "First Role", "description": "Sample text description of First Role"},
            {"value": "role-2", "display": "Second Role"},
            {"value": "role 3/x"},
        ]})),
    )
    .await;
    admin(
        &w,
        Method::PUT,
        "entitlements",
        Some(json!({"entitlements": [{"value": "lic-1", "display": "License 1"}, {"value": "ps-1", "type": "Permission set"}]})),
    )
    .await;
    map_roles(
        &w,
        json!([{"group": "Admins", "role": "from-rule", "priority": 1}]),
    )
    .await;

    // 1. /ResourceTypes: each with its endpoint and Okta's schema URN.
    let types = w.get("/ResourceTypes").await.body;
    let by_name = |name: &str| {
        types["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {types}"))
    };
    assert_eq!(by_name("Role")["endpoint"], "/Roles");
    assert_eq!(by_name("Role")["schema"], ROLE_SCHEMA);
    assert_eq!(by_name("Entitlement")["endpoint"], "/Entitlements");
    assert_eq!(by_name("Entitlement")["schema"], ENTITLEMENT_SCHEMA);
    assert_eq!(w.get("/ResourceTypes/Role").await.body, by_name("Role"));
    // 2. /Schemas (Okta knows these; they are there for other clients).
    for urn in [ROLE_SCHEMA, ENTITLEMENT_SCHEMA] {
        let s = w.get(&format!("/Schemas/{urn}")).await;
        assert_eq!(s.status, StatusCode::OK, "{urn}");
        assert_eq!(s.body["id"], urn);
    }
    // 3. Each endpoint, as Okta's OIN test asks it, then page by page.
    let first = w.get("/Roles?count=1&startIndex=1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(first.body["itemsPerPage"], 1);
    assert_eq!(first.body["startIndex"], 1);
    assert_eq!(first.body["totalResults"], 4);
    assert_eq!(
        first.body["Resources"][0],
        json!({
            "schemas": [ROLE_SCHEMA], "id": "from-rule", "displayName": "from-rule",
            "meta": {"resourceType": "Role", "location": first.body["Resources"][0]["meta"]["location"]}
        })
    );
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let page = w.get(&format!("/Roles?startIndex={start}&count=2")).await.body;
        let resources = page["Resources"].as_array().unwrap().clone();
        if resources.is_empty() {
            break;
        }
        seen.extend(resources.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        start += resources.len();
    }
    assert_eq!(seen, ["from-rule", "role 3/x", "role-1", "role-2"]);
    let one = w.get("/Roles/role-1").await.body;
    assert_eq!(one["displayName"], "First Role");
    assert_eq!(one["description"], "Sample text description of First Role");
    let odd = w.get("/Roles/role%203%2Fx").await;
    assert_eq!(odd.status, StatusCode::OK, "{}", odd.body);
    assert_eq!(
        odd.body["meta"]["location"]
            .as_str()
            .map(|l| l.ends_with("/Roles/role%203%2Fx")),
        Some(true)
    );
    let ents = w.get("/Entitlements").await.body;
    assert_eq!(ents["totalResults"], 2);
    assert_eq!(ents["Resources"][0]["type"], "Entitlement");
    assert_eq!(ents["Resources"][0]["displayName"], "License 1");
    assert_eq!(ents["Resources"][1]["type"], "Permission set");
    assert_eq!(ents["Resources"][1]["schemas"], json!([ENTITLEMENT_SCHEMA]));
    // 4. Users carry grants as Okta writes them: value = the resource's id.
    let mut body = tests::okta_user("okta@acme.test", "Ok", "Ta");
    body["roles"] = json!([{"value": "role-1", "display": "First Role"}]);
    body["entitlements"] = json!([{"value": "lic-1", "display": "License 1", "type": "Entitlement"}]);
    let r = w.post_user(body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Read-only; unknown ids and filters are errors; another tenant sees nothing.
    for (method, path) in [
        (Method::POST, "/Roles"),
        (Method::PUT, "/Roles/role-1"),
        (Method::DELETE, "/Entitlements/lic-1"),
    ] {
        let r = w.call(method.clone(), path, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        tests::assert_scim_error(&r);
    }
    assert_eq!(w.get("/Entitlements/nope").await.status, StatusCode::NOT_FOUND);
    let filtered = w.get("/Roles?filter=id%20eq%20%22role-1%22").await;
    assert_eq!(filtered.status, StatusCode::BAD_REQUEST, "{}", filtered.body);
    let (_, other) = w.other_tenant("Other");
    let theirs = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Roles", Some(&other), None)
        .await;
    assert_eq!(theirs.body["totalResults"], 0, "{}", theirs.body);
    let theirs = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Roles/role-1", Some(&other), None)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
}
