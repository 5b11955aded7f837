//! The whole enterprise extension (RFC 7643 §4.3): every attribute stored, returned, filtered and
//! sorted, PATCHed by URN path and by no-path value objects (Okta's and Entra ID's forms), and
//! in the product's own columns; the manager's `$ref` and `displayName` derived from the
//! manager the directory knows.

use reqwest::Method;
use serde_json::{Value, json};
use tests::{okta_user, urlencode};
use uuid::Uuid;

use crate::World;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn with_enterprise(user_name: &str, ext: Value) -> Value {
    let mut body = okta_user(user_name, "Ada", "Lovelace");
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENT]);
    body[ENT] = ext;
    body
}

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

async fn ids_where(w: &World, filter: &str, sort: Option<(&str, &str)>) -> Vec<Uuid> {
    let mut query = format!("filter={}", urlencode(filter));
    if let Some((by, order)) = sort {
        query.push_str(&format!("&sortBy={}&sortOrder={order}", urlencode(by)));
    }
    w.user_ids(&query).await
}

#[tokio::test]
async fn every_enterprise_attribute_is_kept_returned_searched_patched_and_in_the_product() {
    let w = World::new().await;
    let boss = w
        .post_user(okta_user("grace@acme.test", "Grace", "Hopper"))
        .await
        .id();
    let r = w
        .post_user(with_enterprise(
            "ada@acme.test",
            json!({"employeeNumber": "E-1", "costCenter": "CC-10", "organization": "Acme",
                   "division": "Labs", "department": "R&D", "manager": {"value": boss}}),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ada = r.id();
    let other = w
        .post_user(with_enterprise(
            "alan@acme.test",
            json!({"costCenter": "CC-20", "organization": "Acme", "division": "Bletchley"}),
        ))
        .await
        .id();

    // Returned whole, the manager completed from the directory.
    let got = w.get(&format!("/Users/{ada}")).await.body;
    let ext = &got[ENT];
    assert_eq!(ext["employeeNumber"], "E-1");
    assert_eq!(ext["costCenter"], "CC-10");
    assert_eq!(ext["organization"], "Acme");
    assert_eq!(ext["division"], "Labs");
    assert_eq!(ext["department"], "R&D");
    assert_eq!(ext["manager"]["value"], json!(boss));
    assert_eq!(ext["manager"]["displayName"], "Grace Hopper");
    assert!(
        ext["manager"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{boss}"))
    );
    assert!(got["schemas"].as_array().unwrap().contains(&json!(ENT)));

    // Filtered and sorted in SQL, by every attribute.
    assert_eq!(
        ids_where(&w, &format!("{ENT}:costCenter eq \"cc-10\""), None).await,
        [ada]
    );
    assert_eq!(
        ids_where(&w, &format!("{ENT}:employeeNumber eq \"E-1\""), None).await,
        [ada]
    );
    assert_eq!(
        ids_where(&w, &format!("{ENT}:division sw \"Bl\""), None).await,
        [other]
    );
    assert_eq!(
        ids_where(&w, &format!("{ENT}:manager.value eq \"{boss}\""), None).await,
        [ada]
    );
    assert_eq!(
        ids_where(
            &w,
            &format!("{ENT}:organization eq \"Acme\""),
            Some((&format!("{ENT}:division"), "descending"))
        )
        .await,
        [ada, other]
    );
    assert_eq!(
        ids_where(
            &w,
            &format!("{ENT}:organization pr"),
            Some((&format!("{ENT}:costCenter"), "ascending"))
        )
        .await,
        [ada, other]
    );

    let product = w
        .env
        .product_user_where(&w.db, ada, |u| u.manager_id == Some(boss))
        .await;
    assert_eq!(product.employee_number.as_deref(), Some("E-1"));
    assert_eq!(product.cost_center.as_deref(), Some("CC-10"));
    assert_eq!(product.organization.as_deref(), Some("Acme"));
    assert_eq!(product.division.as_deref(), Some("Labs"));
    assert_eq!(product.department.as_deref(), Some("R&D"));

    // Okta: a URN path, and a no-path value object keyed by the extension's URN.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(json!([
                {"op": "replace", "path": format!("{ENT}:costCenter"), "value": "CC-11"},
                {"op": "replace", "value": {ENT: {"division": "Engines"}}},
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Entra ID: `Add` with a URN path, and a no-path value object keyed by full attribute paths.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{ada}"),
            Some(patch(json!([
                {"op": "Add", "path": format!("{ENT}:organization"), "value": "Analytical"},
                {"op": "Replace", "value": {format!("{ENT}:employeeNumber"): "E-2"}},
                {"op": "Remove", "path": format!("{ENT}:department")},
            ]))),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ext = &r.body[ENT];
    assert_eq!(ext["costCenter"], "CC-11");
    assert_eq!(ext["division"], "Engines");
    assert_eq!(ext["organization"], "Analytical");
    assert_eq!(ext["employeeNumber"], "E-2");
    assert!(ext.get("department").is_none(), "{ext}");
    let product = w
        .env
        .product_user_where(&w.db, ada, |u| u.employee_number.as_deref() == Some("E-2"))
        .await;
    assert_eq!(product.cost_center.as_deref(), Some("CC-11"));
    assert_eq!(product.division.as_deref(), Some("Engines"));
    assert_eq!(product.organization.as_deref(), Some("Analytical"));
    assert_eq!(product.department, None);

    w.env.product_user_where(&w.db, other, |_| true).await;
    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(ok, "{lines:?}");
}
