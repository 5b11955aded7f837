//! A tenant's mapping of attributes into `product.users`: a dry run that counts and changes
//! nothing, then a real change that new writes use at once and a backfill brings to every user.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tests::World;
use uuid::Uuid;

use crate::admin;
use crate::extensions::{ACME, acme_user, define, patch};

async fn put_mapping(w: &World, rules: Value, dry_run: bool) -> (StatusCode, Value) {
    admin(
        w,
        Method::PUT,
        &format!("/admin/api/tenants/{}/mapping", w.tenant),
        Some(json!({"mappings": rules, "dry_run": dry_run})),
    )
    .await
}

async fn get_mapping(w: &World) -> (StatusCode, Value) {
    admin(
        w,
        Method::GET,
        &format!("/admin/api/tenants/{}/mapping", w.tenant),
        None,
    )
    .await
}

async fn product_attributes(w: &World, id: Uuid, want: Value) -> shared::entity::product_user::Model {
    w.env
        .product_user_where(&w.db, id, |u| u.attributes == want)
        .await
}

#[tokio::test]
async fn an_okta_custom_attribute_reaches_the_product_through_a_dry_run_and_a_backfill() {
    let w = crate::world().await;
    let (status, v) = define(&w, w.tenant).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let ada = w
        .post_user(acme_user(
            "ada@acme.test",
            json!({"location": "Berlin", "badge": 1000}),
        ))
        .await
        .id();
    let alan = w
        .post_user(acme_user("alan@acme.test", json!({"location": "Bletchley"})))
        .await
        .id();
    let grace = w
        .post_user(tests::okta_user("grace@acme.test", "Grace", "Hopper"))
        .await
        .id();
    for id in [ada, alan, grace] {
        product_attributes(&w, id, json!({})).await;
    }
    let rules = json!([
        {"from": format!("{ACME}:LOCATION"), "to": "attributes.location"},
        {"from": format!("{ACME}:badge"), "to": "employee_number"},
    ]);

    // A dry run counts and shows, and changes nothing.
    let (status, v) = put_mapping(&w, rules.clone(), true).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["users"], 3);
    assert_eq!(v["changed"], 2, "{v}");
    assert_eq!(
        v["mappings"][0]["from"],
        format!("{ACME}:location"),
        "canonical name"
    );
    let sample = v["sample"].as_array().unwrap();
    let of_ada = sample
        .iter()
        .find(|s| s["id"] == json!(ada))
        .expect("ada in the sample");
    assert_eq!(of_ada["before"]["attributes"], json!({}));
    assert_eq!(of_ada["after"]["attributes"], json!({"location": "Berlin"}));
    assert_eq!(of_ada["after"]["employee_number"], "1000");
    let (_, now) = get_mapping(&w).await;
    assert_eq!(now["mappings"], json!([]), "{now}");
    assert_eq!(now["backfill"], Value::Null);

    // The real change: a backfill brings every existing user there.
    let (status, v) = put_mapping(&w, rules, false).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["backfill"]["total"], 3);
    let u = product_attributes(&w, ada, json!({"location": "Berlin"})).await;
    assert_eq!(u.employee_number.as_deref(), Some("1000"));
    product_attributes(&w, alan, json!({"location": "Bletchley"})).await;
    let mut progress = Value::Null;
    for _ in 0..200 {
        let (_, v) = get_mapping(&w).await;
        progress = v["backfill"].clone();
        if progress["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(progress["running"], false, "{progress}");
    assert_eq!(progress["done"], 3, "{progress}");

    // New writes use it at once: a create, and Entra ID's PATCH (`Add`, a URN path).
    let eve = w
        .post_user(acme_user("eve@acme.test", json!({"location": "Lisbon"})))
        .await
        .id();
    product_attributes(&w, eve, json!({"location": "Lisbon"})).await;
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(
                json!([{"op": "Add", "path": format!("{ACME}:location"), "value": "Oslo"}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    product_attributes(&w, ada, json!({"location": "Oslo"})).await;
    // Entra ID with its fixed PATCH behaviour: a no-path replace keyed by full attribute paths,
    // numbers as strings.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{alan}"),
            Some(patch(json!([{"op": "replace", "value": {
                format!("{ACME}:location"): "Manchester",
                format!("{ACME}:badge"): "7",
            }}]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let u = product_attributes(&w, alan, json!({"location": "Manchester"})).await;
    assert_eq!(u.employee_number.as_deref(), Some("7"));
    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(ok, "verify takes the mapping into account: {lines:?}");

    // A product row that lost its mapped values is found by verify and repaired by reconcile.
    w.db.execute_unprepared(&format!(
        "update product.users set attributes = '{{}}' where id = '{ada}'"
    ))
    .await
    .unwrap();
    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(!ok, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l["field"] == "attributes" && l["resource"] == json!(ada.to_string())),
        "{lines:?}"
    );
    let (ok, lines) = w.env.worker_cli(&["reconcile"]);
    assert!(ok, "{lines:?}");
    product_attributes(&w, ada, json!({"location": "Oslo"})).await;
    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(ok, "{lines:?}");

    // Rules that cannot work are refused, and nothing changes.
    for (rules, says) in [
        (
            json!([{"from": format!("{ACME}:shoeSize"), "to": "attributes.x"}]),
            "not an attribute",
        ),
        (
            json!([{"from": "title", "to": "user_name"}]),
            "not a product column",
        ),
        (
            json!([{"from": "title", "to": "attributes.a b"}]),
            "not a product column",
        ),
        (
            json!([{"from": "title", "to": "department"}, {"from": "nickName", "to": "department"}]),
            "two rules",
        ),
        (json!([{"from": "password", "to": "attributes.p"}]), "not stored"),
    ] {
        let (status, v) = put_mapping(&w, rules.clone(), false).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{rules}: {v}");
        assert!(v["detail"].as_str().unwrap().contains(says), "{rules}: {v}");
    }
    let (_, now) = get_mapping(&w).await;
    assert_eq!(now["mappings"].as_array().unwrap().len(), 2, "{now}");
}
