use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use tests::proxy::TcpProxy;
use tests::{TestEnv, okta_user};

use crate::World;

async fn unpublished(db: &sea_orm::DatabaseConnection) -> i64 {
    tests::scalar(
        db,
        "select count(*) as n from scim.outbox where published_at is null",
        "n",
    )
    .await
}

/// The window between commit and publish, made deterministic: the api's only way to the
/// broker is a proxy the test cuts, so every change commits with its outbox row and none is
/// published; then the api is killed with SIGKILL and a fresh one (the only relay left)
/// delivers the backlog.
#[tokio::test]
async fn changes_committed_but_unpublished_when_the_api_is_killed_are_delivered_once_by_the_next_api() {
    killed_with_a_backlog(BrokerCut::AfterConnecting).await;
}

/// The same when the api never reached the broker at all: it starts, serves and commits anyway.
#[tokio::test]
async fn an_api_that_never_reached_the_broker_keeps_its_changes_for_the_next_api() {
    killed_with_a_backlog(BrokerCut::FromTheStart).await;
}

enum BrokerCut {
    AfterConnecting,
    FromTheStart,
}

async fn killed_with_a_backlog(cut: BrokerCut) {
    let env = TestEnv::new().await;
    let worker = env.spawn_worker_with(&[("RUST_LOG", "info,scim_worker=debug")]);
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    if let BrokerCut::FromTheStart = cut {
        proxy.down().await;
    }
    let amqp = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let api = env.spawn_api_with(&[("AMQP_URL", amqp.as_str())]).await;
    let mut w = World::from_parts(env, api, vec![worker]).await;
    let db = w.env.db().await;
    if let BrokerCut::AfterConnecting = cut {
        // Through the proxy while it is up: the path works.
        let early = w.post_user(okta_user("early@acme.test", "Ear", "Ly")).await.id();
        w.env.product_user_where(&db, early, |_| true).await;
        proxy.down().await;
    }
    let mark = last_outbox_id(&db).await;

    let kept = w.post_user(okta_user("kept@acme.test", "Ke", "Pt")).await;
    assert_eq!(kept.status, StatusCode::CREATED, "{}", kept.body);
    let kept = kept.id();
    let edited = w
        .post_user(okta_user("edited@acme.test", "Ed", "Ited"))
        .await
        .id();
    let path = format!("/Users/{edited}");
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "Patched"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut put = okta_user("edited@acme.test", "Edith", "Final");
    put["title"] = "Put".into();
    assert_eq!(w.call(Method::PUT, &path, Some(put)).await.status, StatusCode::OK);
    let gone = w.post_user(okta_user("gone@acme.test", "Go", "Ne")).await.id();
    assert_eq!(
        w.call(Method::DELETE, &format!("/Users/{gone}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let group = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Offline", "members": [{"value": kept.to_string()}, {"value": edited.to_string()}]});
    let r = w.call(Method::POST, "/Groups", Some(group)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let read = w.get(&format!("/Users/{kept}")).await;
    assert_eq!(read.status, StatusCode::OK, "reads are served from the directory");
    let ready = w
        .env
        .http
        .get(format!("{}/readyz", w.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    let backlog = outbox_after(&db, mark).await;
    // kept, edited ×3, gone ×2, the group and its two memberships.
    assert_eq!(backlog.len(), 9, "{backlog:?}");
    assert!(backlog.iter().all(|(_, published)| !published), "{backlog:?}");
    w.api.kill();
    assert_eq!(
        outbox_after(&db, mark).await,
        backlog,
        "nothing left the killed api"
    );
    for id in [kept, edited, gone] {
        assert!(w.env.product_user(&db, id).await.is_none());
    }

    w.api = w.env.spawn_api().await;
    tests::eventually("the new api's relay drains the outbox", || async {
        unpublished(&db).await == 0
    })
    .await;
    w.env.product_user_where(&db, kept, |_| true).await;
    let e = w.env.product_user_where(&db, edited, |p| p.version == 3).await;
    assert_eq!(
        (
            e.first_name.as_deref(),
            e.last_name.as_deref(),
            e.job_title.as_deref()
        ),
        (Some("Edith"), Some("Final"), Some("Put"))
    );
    let g = w.env.product_user_where(&db, gone, |p| p.version == 2).await;
    assert!(!g.active);
    let (ok, report) = w.env.worker_cli(&["verify"]);
    assert!(ok, "directory and product differ: {report:?}");
    assert_eq!(report.last().unwrap()["memberships"], 2, "{report:?}");
    // Exactly once: each backlog message reached the worker one time, none twice.
    let worker = w.worker.as_ref().unwrap();
    tests::eventually("the worker handled every backlog message", || async {
        let handled = handled_message_ids(&worker.log());
        backlog.iter().all(|(id, _)| handled.contains(id))
    })
    .await;
    let handled = handled_message_ids(&worker.log());
    for (id, _) in &backlog {
        assert_eq!(
            handled.iter().filter(|h| *h == id).count(),
            1,
            "message {id} handled more than once"
        );
    }
}

/// Message ids of the outbox rows after `after`, with whether each is marked published.
async fn outbox_after(db: &sea_orm::DatabaseConnection, after: i64) -> Vec<(String, bool)> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select message_id::text as m, published_at is not null as p from scim.outbox where id > $1 order by id",
            [after.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get("", "m").unwrap(), r.try_get("", "p").unwrap()))
        .collect()
}

async fn last_outbox_id(db: &sea_orm::DatabaseConnection) -> i64 {
    tests::scalar(db, "select coalesce(max(id), 0) as n from scim.outbox", "n").await
}

/// The message id of every "change handled" event the worker logged (at debug level).
fn handled_message_ids(log: &str) -> Vec<String> {
    tests::log_events(log, "change handled")
        .iter()
        .filter_map(|e| e["span"]["message_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_change_writes_one_outbox_row_with_the_new_version() {
    let w = World::new().await;
    let id = w.post_user(okta_user("ob@acme.test", "O", "B")).await.id();
    let patch = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch.clone()))
        .await;
    w.call(Method::PATCH, &format!("/Users/{id}"), Some(patch)).await; // no change: no row
    w.call(Method::DELETE, &format!("/Users/{id}"), None).await;
    let db = w.env.db().await;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "select routing_key, (payload->>'version')::bigint as v from scim.outbox order by id",
        ))
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r.try_get("", "routing_key").unwrap(), r.try_get("", "v").unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("user.created".into(), 1),
            ("user.updated".into(), 2),
            ("user.deleted".into(), 3)
        ]
    );
}
