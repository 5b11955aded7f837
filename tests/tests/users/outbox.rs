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

/// The enterprise attributes the concurrent PATCHes below set, one each.
const ENTERPRISE_EDITS: [&str; 5] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
];

/// PATCH and PUT store without a transaction when they can (read, then one statement that
/// applies only to the version read). Sixteen PATCHes of different attributes of one user at
/// once, and a deactivation among them (which takes the transaction and the row lock), must all
/// land: none lost to a race, each its own version with its own outbox row, in order.
#[tokio::test]
async fn concurrent_patches_of_one_user_all_land_each_with_its_own_version() {
    let w = World::new().await;
    let id = w.post_user(okta_user("race@acme.test", "R", "Ace")).await.id();
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let mut edits: Vec<(String, serde_json::Value)> = [
        "title",
        "nickName",
        "displayName",
        "profileUrl",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.middleName",
        "name.honorificPrefix",
    ]
    .iter()
    .map(|a| (a.to_string(), serde_json::json!(format!("v-{a}"))))
    .collect();
    for a in ENTERPRISE_EDITS {
        edits.push((format!("{enterprise}:{a}"), serde_json::json!(format!("v-{a}"))));
    }
    edits.push(("active".into(), serde_json::json!(false)));
    let path = format!("/Users/{id}");
    let answers = futures_util::future::join_all(edits.iter().map(|(attr, value)| {
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": attr, "value": value}]});
        w.call(Method::PATCH, &path, Some(body))
    }))
    .await;
    for (r, (attr, _)) in answers.iter().zip(&edits) {
        assert_eq!(r.status, StatusCode::OK, "{attr}: {}", r.body);
    }
    let n = edits.len() as i64;
    let now = w.get(&path).await.body;
    assert_eq!(now["meta"]["version"], format!("W/\"{}\"", n + 1), "{now}");
    assert_eq!(now["active"], false);
    assert_eq!(now["title"], "v-title");
    assert_eq!(now["name"]["middleName"], "v-name.middleName");
    assert_eq!(now["name"]["givenName"], "R", "untouched attributes stay");
    for a in ENTERPRISE_EDITS {
        assert_eq!(now[enterprise][a], format!("v-{a}"), "{now}");
    }
    let db = w.env.db().await;
    let versions: Vec<i64> = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select (payload->>'version')::bigint as v from scim.outbox where payload->>'resource_id' = $1 order by id",
            [id.to_string().into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get("", "v").unwrap())
        .collect();
    assert_eq!(
        versions,
        (1..=n + 1).collect::<Vec<_>>(),
        "one message per version, in commit order"
    );
    let p = w.env.product_user_where(&db, id, |p| p.version == n + 1).await;
    assert!(!p.active);
    assert_eq!(p.job_title.as_deref(), Some("v-title"));
    assert_eq!(p.department.as_deref(), Some("v-department"));
}

/// POSTs that arrive together are written by one statement (group commit), and one create's
/// failure never fails its neighbours: with one statement in flight at a time, forty creates at
/// once, ten of them a second POST of a userName among the thirty others (in another case),
/// give thirty 201s and ten 409s, one outbox row per 201, and every created user in the product;
/// a value no row can hold (a NUL) is a 400 of its own.
#[tokio::test]
async fn creates_arriving_together_share_a_statement_and_a_taken_user_name_fails_only_itself() {
    let env = TestEnv::new().await;
    let api = env.spawn_api_with(&[("SCIM_CREATE_STATEMENTS", "1")]).await;
    let worker = env.spawn_worker();
    let w = World::from_parts(env, api, vec![worker]).await;
    let names: Vec<String> = (0..30).map(|i| format!("batch{i}@acme.test")).collect();
    let mut bodies: Vec<serde_json::Value> = names.iter().map(|n| okta_user(n, "B", "Atch")).collect();
    for n in names.iter().step_by(3) {
        bodies.push(okta_user(&n.to_uppercase(), "Twice", "Sent"));
    }
    // A value Postgres cannot store: refused when the body is read, never in a statement.
    let mut nul = okta_user("nul@acme.test", "N", "Ul");
    nul["title"] = serde_json::json!("a\u{0}b");
    bodies.push(nul);
    let answers = futures_util::future::join_all(bodies.into_iter().map(|b| w.post_user(b))).await;
    let created: Vec<_> = answers
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    let conflicts = answers
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(
        (created.len(), conflicts, refused),
        (30, 10, 1),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status == StatusCode::CONFLICT) {
        assert_eq!(r.body["scimType"], "uniqueness", "{}", r.body);
    }
    let db = w.env.db().await;
    let outbox: i64 = tests::scalar(&db, "select count(*) as n from scim.outbox", "n").await;
    assert_eq!(outbox, 30, "one message per created user, none for a refused one");
    for r in &created {
        let id = r.id();
        let p = w.env.product_user_where(&db, id, |_| true).await;
        assert_eq!(p.user_name, r.body["userName"].as_str().unwrap_or_default());
    }
    let metrics = w.api.scrape(&reqwest::Client::new()).await;
    let count = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let (statements, creates) = (
        count("scim_create_statements_total "),
        count("scim_create_statement_creates_total "),
    );
    assert!(
        creates >= 30.0,
        "every create went through the group commit: {creates}"
    );
    assert!(
        statements < creates,
        "forty creates at once with one statement in flight: some were written together ({statements} statements for {creates} creates)"
    );
}
