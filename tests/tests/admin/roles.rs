//! The tenant page shows the role mapping, where its re-derivation stands, and how many roles
//! and entitlements the tenant defines.

use reqwest::Method;
use serde_json::json;

use crate::{AdminWorld, As};

#[tokio::test]
async fn the_tenant_page_shows_the_role_mapping_and_its_rederivation() {
    let w = AdminWorld::new().await;
    let (tenant, _) = w.tenant("Acme").await;
    let s = w.sign_in().await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    assert!(page.text.contains("Roles from groups"), "{}", page.text);
    assert!(page.text.contains("0 roles, 0 entitlements"), "{}", page.text);

    w.api(
        Method::PUT,
        &format!("/admin/api/tenants/{tenant}/role-mapping"),
        Some(json!({"rules": [{"group": "Admins", "role": "admin", "priority": 100}]})),
    )
    .await;
    w.api(
        Method::PUT,
        &format!("/admin/api/tenants/{tenant}/entitlements"),
        Some(json!({"entitlements": [{"value": "lic-1"}]})),
    )
    .await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    let text = &page.text;
    assert!(
        text.contains("group <code>Admins</code> → role <code>admin</code> (priority 100)"),
        "{text}"
    );
    // No worker runs here: the new version waits in the queue.
    assert!(text.contains("version 1 queued for the workers"), "{text}");
    assert!(text.contains("1 roles, 1 entitlements"), "{text}");
}
