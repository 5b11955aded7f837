//! Mass deprovisioning: a burst beyond the threshold is held from the product, survives the
//! api's `kill -9`, and reaches the product only when approved; a rejection keeps the product as
//! it was until the IdP changes those users again; held deletes keep their memberships.

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::{World, seed};

use super::*;

/// `n` users seeded in the directory and brought into the product by `scim-worker reconcile`
/// (20,000 POSTs would test the api's create path, not the guard).
async fn seeded(w: &World, prefix: &str, n: usize) -> Vec<Uuid> {
    let ids = seed::users(&w.db, w.tenant, prefix, n).await;
    let tenant = w.tenant.to_string();
    let (ok, out) = w.env.worker_cli(&["reconcile", "--tenant", &tenant]);
    assert!(ok, "{out:?}");
    assert_eq!(product_counts(w).await, (n as i64, 0));
    ids
}

/// What `/metrics` says `name` is (a line `name value`).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn a_thirty_percent_wave_in_a_20000_user_tenant_applies_the_threshold_and_holds_the_rest_until_approved()
 {
    let mut w = world().await;
    let ids = seeded(&w, "wave", 20_000).await;

    deactivate(&w, &ids[..6_000]).await;
    // 10% of the 20,000 active users reach the product; the other 4,000 are held.
    product_settles_at(&w, 2_000).await;
    let v = status(&w).await;
    assert_eq!(v["held"]["count"], 4_000, "{v}");
    assert_eq!(v["window"]["allowed"], 2_000, "{v}");
    assert_eq!(v["window"]["counted"], 2_000, "{v}");
    assert_eq!(v["held"]["sample"].as_array().unwrap().len(), 20);
    assert_eq!(v["held"]["sample"][0]["kind"], "deactivate");
    // The directory says what the IdP said.
    let r = w.get("/Users?filter=active%20eq%20false&count=1").await;
    assert_eq!(r.body["totalResults"], 6_000);

    // Seen in /metrics and, once, as a warning in the log.
    let metrics = w.api.scrape(&w.env.http).await;
    assert_eq!(
        metric(&metrics, "scim_deprovisioning_held_total{kind=\"deactivate\"}"),
        Some(4_000.0),
        "{metrics}"
    );
    tests::eventually("the held gauge counts the hold", || async {
        metric(&w.api.scrape(&w.env.http).await, "scim_deprovisioning_held") == Some(4_000.0)
    })
    .await;
    let log = w.api.log();
    let trips = tests::log_events(
        &log,
        "deprovisioning guard tripped: this and every further deactivation or delete is held from the product until the tenant's admin approves or rejects them",
    );
    assert_eq!(trips.len(), 1, "one warning when the guard trips");
    assert_eq!(trips[0]["level"], "WARN");
    assert_eq!(trips[0]["fields"]["allowed"], 2_000);

    // verify reports the held users as such, not as drift.
    let (ok, summary, guarded) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["differences"], 0);
    assert_eq!(summary["held"], 4_000);
    assert_eq!(guarded.len(), 4_000);
    assert!(guarded.iter().all(|g| g["guard"] == "held"));

    // Held changes live in Postgres: the api's kill -9 loses none of them.
    w.api.kill();
    w.api = w.env.spawn_api_with(&[("ADMIN_TOKEN", ADMIN_KEY)]).await;
    assert_eq!(decide(&w, "approve").await, 4_000);
    product_settles_at(&w, 6_000).await;
    assert_eq!(decide(&w, "approve").await, 0, "approving again changes nothing");
    assert_eq!(status(&w).await["held"]["count"], 0);
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(
        (summary["differences"].clone(), summary["held"].clone()),
        (json!(0), json!(0))
    );
}

#[tokio::test]
async fn a_rejected_wave_leaves_the_product_as_it_was_until_the_idp_changes_those_users_again() {
    let w = world().await;
    let ids = seeded(&w, "rej", 300).await;
    // 100 of 300: 10% is 30, above min_count 25; 70 are held.
    deactivate(&w, &ids[..100]).await;
    product_settles_at(&w, 30).await;
    assert_eq!(status(&w).await["held"]["count"], 70);
    assert_eq!(decide(&w, "reject").await, 70);
    assert_eq!(decide(&w, "reject").await, 0, "rejecting again changes nothing");
    let v = status(&w).await;
    assert_eq!(
        (v["held"]["count"].clone(), v["rejected"].clone()),
        (json!(0), json!(70))
    );
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["rejected"], 70);
    assert_eq!(
        product_counts(&w).await,
        (270, 30),
        "the product keeps the rejected users active"
    );

    // A later change of a rejected user is the IdP's new word: it reaches the product as sent.
    let later = ids[99];
    set_title(&w, later, "Left").await;
    w.env
        .product_user_where(&w.db, later, |u| {
            !u.active && u.job_title.as_deref() == Some("Left")
        })
        .await;
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["rejected"], 69);
}

#[tokio::test]
async fn a_held_delete_keeps_the_user_and_its_memberships_until_approved() {
    let w = world().await;
    let ids = seeded(&w, "del", 100).await;
    let members: Vec<_> = ids[..5].iter().map(|id| json!({"value": id})).collect();
    let r = w
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Engineering", "members": members})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let group = r.id();
    let product_members = || async {
        tests::scalar::<i64>(
            &w.db,
            &format!("select count(*) as n from product.group_members where group_id = '{group}'"),
            "n",
        )
        .await
    };
    tests::eventually("the group reaches the product", || async {
        product_members().await == 5
    })
    .await;
    // With min_count 0 and 1% of 100, the second deprovisioning is held.
    set_policy(&w, json!({"min_count": 0, "max_fraction": 0.01})).await;
    delete(&w, &ids[..5]).await;
    product_settles_at(&w, 1).await;
    let v = status(&w).await;
    assert_eq!(v["held"]["count"], 4, "{v}");
    assert_eq!(v["held"]["sample"][0]["kind"], "delete");
    assert_eq!(product_members().await, 4, "held deletes keep their memberships");
    let r = w.get(&format!("/Groups/{group}")).await;
    let left = r
        .body
        .get("members")
        .and_then(|m| m.as_array())
        .map_or(0, Vec::len);
    assert_eq!(left, 0, "the directory's group lost them: {}", r.body);
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
    assert_eq!(summary["held"], 4);

    assert_eq!(decide(&w, "approve").await, 4);
    product_settles_at(&w, 5).await;
    tests::eventually("the memberships leave with the approval", || async {
        product_members().await == 0
    })
    .await;
    let (ok, summary, _) = verify(&w);
    assert!(ok, "{summary}");
}

#[tokio::test]
async fn a_reactivation_cancels_a_hold_and_guard_events_reach_the_tenants_streams() {
    let w = world().await;
    let ids = create_users(&w, "ev", 4).await;
    let (status_code, s) = w
        .admin(
            ADMIN_KEY,
            Method::POST,
            &format!("/admin/api/tenants/{}/event-streams", w.tenant),
            Some(json!({"delivery": "poll", "payload": "notice"})),
        )
        .await;
    assert_eq!(status_code, StatusCode::CREATED, "{s}");
    set_policy(&w, json!({"min_count": 1, "max_fraction": 0.01})).await;
    deactivate(&w, &ids[..1]).await;
    product_settles_at(&w, 1).await;
    deactivate(&w, &ids[1..3]).await;
    assert_eq!(status(&w).await["held"]["count"], 2);
    // The IdP reactivates one held user: its hold is cancelled, the product never saw it go.
    set_active(&w, &ids[2..3], true).await;
    assert_eq!(status(&w).await["held"]["count"], 1);
    assert_eq!(decide(&w, "approve").await, 1);
    product_settles_at(&w, 2).await;
    assert_eq!(product_active(&w, ids[2]).await, Some(true));

    // The stream tells the product's other consumers: two held, one approved.
    let url = s["poll_url"].as_str().unwrap();
    let path = format!("/events/{}", url.split("/events/").nth(1).unwrap());
    let token = s["token"].as_str().unwrap();
    let deadline = std::time::Instant::now() + tests::EVENTUALLY;
    let uris = loop {
        let r = w
            .env
            .http
            .post(format!("{}{path}", w.api.base))
            .bearer_auth(token)
            .json(&json!({"maxEvents": 100, "returnImmediately": true}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let uris: Vec<(String, Value)> = v["sets"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|jws| {
                use base64::Engine;
                let claims = jws.as_str().unwrap().split('.').nth(1).unwrap().to_owned();
                let claims: Value = serde_json::from_slice(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(claims)
                        .unwrap(),
                )
                .unwrap();
                claims["events"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if uris.iter().any(|(u, _)| u.ends_with(":deprovisioning:approved")) {
            break uris;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no approval event: {uris:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let held: Vec<_> = uris
        .iter()
        .filter(|(u, _)| u.ends_with(":deprovisioning:held"))
        .collect();
    assert_eq!(held.len(), 2, "{uris:?}");
    assert_eq!(held[0].1, json!({"kind": "deactivate"}));
    let deactivations = uris
        .iter()
        .filter(|(u, _)| u.ends_with("prov:deactivate"))
        .count();
    assert_eq!(
        deactivations, 3,
        "the directory's own events say what the IdP did"
    );
}
