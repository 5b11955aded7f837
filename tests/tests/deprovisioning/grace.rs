//! The grace period: deactivations and deletes reach the product only after it, and a
//! reactivation within it leaves the product untouched.

use serde_json::json;

use super::*;

/// Makes the tenant's grace periods end now (the test's stand-in for waiting minutes).
async fn end_grace(w: &World) {
    use sea_orm::ConnectionTrait;
    w.db.execute_unprepared(&format!(
        "update scim.deprovisions set release_at = now() where tenant_id = '{}' and state = 'grace'",
        w.tenant
    ))
    .await
    .expect("end the grace period");
}

#[tokio::test]
async fn deprovisioning_waits_out_the_grace_period_and_a_reactivation_within_it_cancels_it() {
    let w = world().await;
    let ids = create_users(&w, "grace", 3).await;
    for id in &ids {
        w.env.product_user_where(&w.db, *id, |u| u.active).await;
    }
    let v = set_policy(&w, json!({"grace_minutes": 30})).await;
    assert_eq!(v["policy"]["grace_minutes"], 30);
    deactivate(&w, &ids[..2]).await;
    delete(&w, &ids[2..]).await;
    let v = status(&w).await;
    assert_eq!(v["grace"]["count"], 3, "{v}");
    assert!(v["grace"]["sample"][0]["release_at"].is_string());
    assert_eq!(v["held"]["count"], 0, "three are far below the threshold");
    // Nothing reached the product; verify says why.
    assert_eq!(product_counts(&w).await, (3, 0));
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["in_grace"], 3);

    // Reactivated within the grace period: the product never sees the deactivation.
    set_active(&w, &ids[..1], true).await;
    assert_eq!(status(&w).await["grace"]["count"], 2);
    end_grace(&w).await;
    product_settles_at(&w, 2).await;
    assert_eq!(product_active(&w, ids[0]).await, Some(true));
    assert_eq!(status(&w).await["grace"]["count"], 0);
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["in_grace"], 0);
}
