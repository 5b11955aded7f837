//! Manager references are resolved by the worker (`worker/src/managers.rs`) by SCIM id,
//! externalId, userName, email or employee number: none of these may reach another tenant's
//! user, whichever of the two arrives first.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::okta_user;
use uuid::Uuid;

use crate::{ADA_ALIAS, ADA_EMPLOYEE_NUMBER, ADA_EXTERNAL_ID, ADA_USER_NAME, ENTERPRISE, Two, patch};

/// Creates a user of B whose manager reference is `reference` (Okta's object form).
async fn report_of(two: &Two, name: &str, reference: &str) -> Uuid {
    let mut body = okta_user(&format!("{name}@b.test"), name, "Report");
    body[ENTERPRISE] = json!({"manager": {"value": reference}});
    two.created(&two.b.token, "/Users", body).await
}

async fn product_row(two: &Two, id: Uuid) -> shared::entity::product_user::Model {
    two.env.product_user_where(&two.db, id, |_| true).await
}

#[tokio::test]
async fn a_reference_naming_another_tenants_user_by_any_key_is_never_linked() {
    let two = Two::new().await;
    let ada = two.a.ada.to_string();
    let mut reports = Vec::new();
    two.leaves_a_untouched(async {
        for (name, reference) in [
            ("by-id", ada.as_str()),
            ("by-user-name", ADA_USER_NAME),
            ("by-external-id", ADA_EXTERNAL_ID),
            ("by-email", ADA_ALIAS),
            ("by-employee-number", ADA_EMPLOYEE_NUMBER),
        ] {
            reports.push((reference.to_owned(), report_of(&two, name, reference).await));
        }
        // Entra ID's form: a bare string by URN path, on an existing user.
        let entra = two
            .created(&two.b.token, "/Users", okta_user("entra@b.test", "En", "Tra"))
            .await;
        let r = two
            .as_b(
                Method::PATCH,
                &format!("/Users/{entra}"),
                Some(patch(
                    json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": ada}]),
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        reports.push((ada.clone(), entra));
    })
    .await;
    for (reference, id) in &reports {
        let p = product_row(&two, *id).await;
        assert_eq!(p.manager_id, None, "{reference} linked across tenants");
    }
    // The same mechanism links inside B: B's own user named by its login.
    let linked = report_of(&two, "control", "carol@b.test").await;
    two.env
        .product_user_where(&two.db, linked, |p| p.manager_id == Some(two.b.carol))
        .await;
    // B gets its own user with A's login and externalId: the reports naming those keys link to
    // it; the one naming A's SCIM id still links to nothing.
    let b_ada = two
        .created(&two.b.token, "/Users", {
            let mut u = okta_user(ADA_USER_NAME, "B's", "Ada");
            u["externalId"] = json!(ADA_EXTERNAL_ID);
            u
        })
        .await;
    for (_, id) in reports
        .iter()
        .filter(|(r, _)| r == ADA_USER_NAME || r == ADA_EXTERNAL_ID)
    {
        two.env
            .product_user_where(&two.db, *id, |p| p.manager_id == Some(b_ada))
            .await;
    }
    for (reference, id) in reports.iter().filter(|(r, _)| *r == ada) {
        assert_eq!(product_row(&two, *id).await.manager_id, None, "{reference}");
    }
}

/// B's reference is pending when A creates a user it names: applying A's user re-resolves
/// pending references of its own tenant only.
#[tokio::test]
async fn a_pending_reference_is_not_resolved_by_another_tenants_new_user() {
    let two = Two::new().await;
    let by_name = report_of(&two, "waits-by-name", "late@shared.test").await;
    let by_ext = report_of(&two, "waits-by-ext", "ext-late").await;
    for id in [by_name, by_ext] {
        let p = product_row(&two, id).await;
        assert_eq!(p.manager_id, None);
    }
    let mut late = okta_user("late@shared.test", "Late", "InA");
    late["externalId"] = json!("ext-late");
    let a_late = two.created(&two.a.token, "/Users", late.clone()).await;
    // A's apply (and the re-resolution it runs) has committed once its row is visible.
    product_row(&two, a_late).await;
    two.quiesce().await;
    for id in [by_name, by_ext] {
        assert_eq!(
            product_row(&two, id).await.manager_id,
            None,
            "linked to A's new user"
        );
    }
    let a_row = product_row(&two, a_late).await;
    assert_eq!(a_row.manager_id, None);
    // B's own user with those keys arrives: that is the manager.
    let b_late = two.created(&two.b.token, "/Users", late).await;
    for id in [by_name, by_ext] {
        two.env
            .product_user_where(&two.db, id, |p| p.manager_id == Some(b_late))
            .await;
    }
}
