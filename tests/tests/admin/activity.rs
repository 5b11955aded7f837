//! The activity log: every SCIM request a tenant's token authenticated appears on the tenant's
//! page and in the API with its operation, resource, result and latency, and nothing of its
//! body or query; old rows are purged; the sync figures show an outbox backlog.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tests::{eventually, okta_user, scalar};

use crate::{AdminWorld, As};

async fn activity(w: &AdminWorld, tenant: uuid::Uuid) -> Vec<Value> {
    let v = w
        .api(
            Method::GET,
            &format!("/admin/api/tenants/{tenant}/activity?limit=100"),
            None,
        )
        .await;
    v["activity"].as_array().unwrap().clone()
}

#[tokio::test]
async fn scim_requests_are_logged_with_operation_resource_result_and_latency() {
    let w = AdminWorld::new().await;
    let (tenant, token) = w.tenant("Acme").await;
    let (other, _) = w.tenant("Globex").await;
    let user = okta_user("ada@acme.test", "Ada", "Lovelace");
    let created = w
        .env
        .request(
            &w.api,
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            Some(user.clone()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.id();
    let dup = w
        .env
        .request(&w.api, Method::POST, "/scim/v2/Users", Some(&token), Some(user))
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let read = w
        .env
        .request(
            &w.api,
            Method::GET,
            &format!("/scim/v2/Users/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let filtered = w
        .env
        .request(
            &w.api,
            Method::GET,
            "/scim/v2/Users?filter=userName%20eq%20%22ada%40acme.test%22",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(filtered.status, StatusCode::OK);
    // Not attributable to a tenant, so not logged.
    let refused = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Users", Some("scimr_wrong"), None)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    eventually("four activity rows", || async {
        activity(&w, tenant).await.len() == 4
    })
    .await;
    let rows = activity(&w, tenant).await;
    // Newest first.
    let (list, get, conflict, create) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    assert_eq!(create["operation"], "create");
    assert_eq!(create["method"], "POST");
    assert_eq!(create["route"], "/Users");
    assert_eq!(create["resource_type"], "User");
    assert_eq!(create["resource_id"], id.to_string(), "from the Location header");
    assert_eq!(create["status"], 201);
    assert!(create["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(create["client"], tests::OKTA_UA);
    assert_eq!(create["idp"], "Okta", "the IdP its User-Agent names");
    assert_eq!(conflict["status"], 409);
    assert_eq!(conflict["outcome"], "uniqueness", "the SCIM error type");
    assert_eq!(get["operation"], "read");
    assert_eq!(get["route"], "/Users/{id}");
    assert_eq!(get["resource_id"], id.to_string(), "from the path");
    assert_eq!(list["operation"], "list");
    // The create's trace id is the one its change message carries to the worker.
    let trace = create["trace_id"].as_str().expect("a trace id");
    assert_eq!(trace.len(), 32);
    let db = w.env.db().await;
    let stamped: String = tests::scalar(
        &db,
        &format!(
            "select payload->>'traceparent' as t from scim.outbox where payload->>'resource_id' = '{id}'"
        ),
        "t",
    )
    .await;
    assert!(
        stamped.starts_with(&format!("00-{trace}-")),
        "{stamped} vs {trace}"
    );
    assert_ne!(get["trace_id"], create["trace_id"], "each request its own trace");
    assert!(
        activity(&w, other).await.is_empty(),
        "another tenant sees none of it"
    );

    // No body, filter or password reaches the table. Searched for strings that cannot occur in
    // the hex of an id or trace id ("ada" alone can, and made this test fail now and then).
    let db = w.env.db().await;
    let leaked: i64 = scalar(
        &db,
        "select count(*) as n from scim.audit a where a::text ilike '%ada@acme%' or a::text ilike '%ada%40acme%' or a::text ilike '%lovelace%' or a::text ilike '%Okta-Generated%'",
        "n",
    )
    .await;
    assert_eq!(leaked, 0);

    let s = w.sign_in().await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("User Provisioning"));
    assert_eq!(page.text.matches(r#"<tr class="activity">"#).count(), 4);
    assert!(page.text.contains(&id.to_string()));
    assert!(page.text.contains("409 uniqueness"));
}

#[tokio::test]
async fn activity_older_than_the_retention_is_purged() {
    let w = AdminWorld::with(&[("AUDIT_RETENTION_DAYS", "1"), ("AUDIT_PURGE_INTERVAL_SECS", "1")]).await;
    let (tenant, token) = w.tenant("Acme").await;
    let db = w.env.db().await;
    db.execute_unprepared(&format!(
        "insert into scim.audit (at, tenant_id, method, route, status, latency_ms, outcome)
         values (now() - interval '2 days', '{tenant}', 'GET', '/Users', 200, 1, 'ok'),
                (now() - interval '23 hours', '{tenant}', 'GET', '/Users', 200, 1, 'ok')"
    ))
    .await
    .unwrap();
    assert_eq!(w.scim_status(&token).await, StatusCode::OK);
    eventually("the old row is purged and the new ones stay", || async {
        let old: i64 = scalar(
            &db,
            "select count(*) as n from scim.audit where at < now() - interval '1 day'",
            "n",
        )
        .await;
        let recent: i64 = scalar(&db, "select count(*) as n from scim.audit", "n").await;
        old == 0 && recent == 2
    })
    .await;
}

#[tokio::test]
async fn sync_shows_the_outbox_backlog_while_rabbitmq_is_down() {
    let w = AdminWorld::with(&[("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")]).await;
    let (tenant, token) = w.tenant("Acme").await;
    let r = w
        .env
        .request(
            &w.api,
            Method::POST,
            "/scim/v2/Users",
            Some(&token),
            Some(okta_user("ada@acme.test", "Ada", "Lovelace")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let sync = w
        .api(Method::GET, &format!("/admin/api/tenants/{tenant}/sync"), None)
        .await;
    assert_eq!(sync["outbox"]["pending"], 1, "{sync}");
    assert!(sync["outbox"]["oldest_pending_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(sync["broker"]["reachable"], false);
    let s = w.sign_in().await;
    let page = w.get(&format!("/admin/tenants/{tenant}"), As::Cookie(&s)).await;
    assert_eq!(page.status, StatusCode::OK, "the page works without RabbitMQ");
    assert!(page.text.contains("not reachable"));
    let dead = w
        .send(
            Method::GET,
            &format!("/admin/api/tenants/{tenant}/dead-letters"),
            As::Bearer(crate::ADMIN_KEY),
            crate::Body::None,
        )
        .await;
    assert_eq!(dead.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(dead.json()["error"], "broker_unavailable");
}
