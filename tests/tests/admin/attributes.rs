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
