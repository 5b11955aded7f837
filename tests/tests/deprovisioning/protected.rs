//! Protected accounts: never deactivated or deleted in the product by SCIM, every attempt
//! logged and shown, their other changes applied as usual.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_protected_account_stays_active_in_the_product_through_deactivation_and_delete() {
    let w = world().await;
    let ids = create_users(&w, "staff", 1).await;
    let r = w
        .post_user(tests::okta_user("Break.Glass@acme.test", "Break", "Glass"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let admin = r.id();
    set_policy(&w, json!({"protected": ["break.glass@ACME.test"]})).await;
    w.env.product_user_where(&w.db, admin, |u| u.active).await;

    deactivate(&w, &[admin, ids[0]]).await;
    // The ordinary user goes; the break-glass admin stays, and its profile still follows the IdP.
    w.env.product_user_where(&w.db, ids[0], |u| !u.active).await;
    let r = set_title(&w, admin, "Root").await;
    assert_eq!(r["active"], false, "the directory keeps what the IdP said");
    w.env
        .product_user_where(&w.db, admin, |u| {
            u.active && u.job_title.as_deref() == Some("Root")
        })
        .await;
    delete(&w, &[admin]).await;
    let (ok, summary, guarded) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["protected"], 1);
    assert_eq!(guarded[0]["resource"], admin.to_string());
    assert_eq!(product_active(&w, admin).await, Some(true));

    // Every attempt is shown and logged.
    let v = status(&w).await;
    let attempts = v["protected_attempts"].as_array().unwrap();
    let kinds: Vec<_> = attempts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["delete", "deactivate"], "most recent first: {v}");
    assert_eq!(attempts[0]["userName"], "Break.Glass@acme.test");
    let warnings = tests::log_events(
        &w.api.log(),
        "deprovisioning of a protected account refused: the product keeps it active",
    );
    assert_eq!(warnings.len(), 2);
    assert_eq!(warnings[0]["fields"]["scim_id"], admin.to_string());
}
