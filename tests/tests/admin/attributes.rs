//! The tenant page shows the tenant's own schema extensions, its mapping into the product and
//! where the backfill after the last mapping change stands.

use reqwest::Method;
use serde_json::json;

use crate::{AdminWorld, As};

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

#[tokio::test]
async fn the_tenant_page_shows_extensions_mapping_and_backfill() {
    let w = AdminWorld::new().await;
    let (tenant, _) = w.tenant("Acme").await;
    let s = w.sign_in().await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    assert!(page.text.contains("the default columns only"), "{}", page.text);

    w.api(
        Method::PUT,
        &format!("/admin/api/tenants/{tenant}/schemas/{ACME}"),
        Some(json!({"attributes": [{"name": "location", "type": "string"}]})),
    )
    .await;
    w.api(
        Method::PUT,
        &format!("/admin/api/tenants/{tenant}/mapping"),
        Some(json!({"mappings": [{"from": format!("{ACME}:location"), "to": "attributes.location"}]})),
    )
    .await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    let text = &page.text;
    assert!(text.contains(&format!("<code>{ACME}</code>")), "{text}");
    assert!(
        text.contains(&format!(
            "<code>{ACME}:location</code> → <code>attributes.location</code>"
        )),
        "{text}"
    );
    assert!(text.contains("users sent again"), "{text}");
}

/// Group members that name no user or group of the tenant are listed, with their group.
#[tokio::test]
async fn the_tenant_page_lists_group_members_the_directory_does_not_know() {
    let w = AdminWorld::new().await;
    let (tenant, token) = w.tenant("Acme").await;
    let s = w.sign_in().await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    assert!(
        page.text
            .contains("Every group member names a user or a group of this tenant."),
        "{}",
        page.text
    );
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Auditors",
                      "members": [{"value": "never-provisioned-7"}]});
    let r = w
        .env
        .request(&w.api, Method::POST, "/scim/v2/Groups", Some(&token), Some(body))
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    let text = &page.text;
    assert!(
        text.contains("naming no user or group of this tenant: 1."),
        "{text}"
    );
    assert!(
        text.contains("<td>Auditors</td><td><code>never-provisioned-7</code></td>"),
        "{text}"
    );
}
