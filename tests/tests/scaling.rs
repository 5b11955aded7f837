//! Scaling past one machine (issue 21): the api and the workers through a transaction-pooling
//! PgBouncer, and the product schema in a database on another Postgres server.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tests::servers::{Alias, PgBouncer, PrivatePostgres};
use tests::urn::GROUP_SCHEMA;
use tests::{TestEnv, World, eventually, okta_user, product_members, scalar};
use uuid::Uuid;

const USERS: usize = 30;

/// What each binary would set itself on a direct connection; through PgBouncer its database
/// entry's `connect_query` sets it on every server connection of that entry.
const API_SETTINGS: &str = "set statement_timeout = 20000; set jit = off";
const WORKER_SETTINGS: &str = "set jit = off";

/// A PgBouncer with an entry for the api and one for the workers, both standing for the test's
/// database, with `pool_size` server connections each.
fn pgbouncer_for(env: &TestEnv, pool_size: u32, max_prepared_statements: u32) -> PgBouncer {
    PgBouncer::start(
        &[
            Alias {
                name: &format!("{}_api", env.name),
                dbname: &env.name,
                connect_query: Some(API_SETTINGS),
            },
            Alias {
                name: &format!("{}_worker", env.name),
                dbname: &env.name,
                connect_query: Some(WORKER_SETTINGS),
            },
        ],
        pool_size,
        max_prepared_statements,
    )
}

fn through(pgb: &PgBouncer, env: &TestEnv, who: &str) -> Vec<(String, String)> {
    vec![
        ("DATABASE_POOLER".into(), "pgbouncer".into()),
        ("DATABASE_URL".into(), pgb.url(&format!("{}_{who}", env.name))),
        ("DATABASE_DIRECT_URL".into(), env.db_url.clone()),
    ]
}

fn borrowed(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect()
}

/// Posts `USERS` users at once (many client connections on the pooler's few server
/// connections), then a group of all of them; returns (user ids, group id).
async fn provision(w: &World) -> (Vec<Uuid>, Uuid) {
    let posts = (0..USERS).map(|i| {
        w.post_user(okta_user(
            &format!("user{i}@acme.test"),
            "Pat",
            &format!("Lee{i}"),
        ))
    });
    let mut users = Vec::new();
    for r in join_all(posts).await {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        users.push(r.id());
    }
    let members: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
    let group = w
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": members})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    (users, group.id())
}

async fn in_product(env: &TestEnv, product: &DatabaseConnection, users: &[Uuid], group: Uuid) {
    for id in users {
        env.product_user_where(product, *id, |u| u.active).await;
    }
    let mut expected = users.to_vec();
    expected.sort();
    eventually("the group's members reach product.group_members", || async {
        product_members(product, group).await == expected
    })
    .await;
}

#[tokio::test]
async fn the_api_and_a_worker_work_through_pgbouncer_in_transaction_pooling_mode() {
    let env = TestEnv::new().await;
    // Two server connections per entry for the api's and the worker's pools, listeners and
    // background tasks: every server connection serves many clients in turn.
    let pgb = pgbouncer_for(&env, 2, 200);
    let api_env = through(&pgb, &env, "api");
    let worker_env = through(&pgb, &env, "worker");
    let api = env.spawn_api_with(&borrowed(&api_env)).await;
    let worker = env.spawn_worker_with(&borrowed(&worker_env));
    let w = World::from_parts(env, api, vec![worker]).await;

    let (users, group) = provision(&w).await;
    // A read through the pooler: filters run in a transaction with a local statement_timeout.
    assert_eq!(w.user_ids("filter=userName%20sw%20%22user1%22").await.len(), 11);
    in_product(&w.env, &w.db, &users, group).await;

    // A change after the first ones: statements prepared earlier are used again, on whichever
    // server connection the pooler hands out.
    let r = w
        .call(
            Method::PATCH,
            &format!("/Users/{}", users[0]),
            Some(json!({"schemas": [tests::urn::PATCH_OP],
                        "Operations": [{"op": "replace", "path": "active", "value": false}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    w.env.product_user_where(&w.db, users[0], |u| !u.active).await;

    let (ok, lines) = w.env.worker_cli_with(&borrowed(&worker_env), &["verify"]);
    assert!(ok, "verify through pgbouncer: {lines:?}");
    assert_eq!(lines.last().unwrap()["differences"], 0);

    // The auth cache listens on DATABASE_DIRECT_URL, so it turns on although the pool goes
    // through the pooler, where a LISTEN would never hear anything.
    let metrics = w.api.metrics.clone().expect("metrics address");
    eventually("the api's auth cache listens", || async {
        let text = w
            .env
            .http
            .get(format!("{metrics}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().any(|l| l == "scim_auth_cache_listening 1")
    })
    .await;
    // Each binary found the settings its pooler entry gives it.
    for log in [w.api.log(), w.worker.as_ref().unwrap().log()] {
        assert!(!log.contains("are not what this binary would set"), "{log}");
    }
    // And the clients did go through the pooler.
    let log = pgb.log();
    for who in ["api", "worker"] {
        assert!(
            log.contains(&format!("login attempt: db={}_{who} ", w.env.name)),
            "{log}"
        );
    }
    drop(pgb);
}

#[tokio::test]
async fn without_max_prepared_statements_pgbouncer_runs_sqlx_statements_on_the_wrong_connection() {
    // PgBouncer before 1.21, or with max_prepared_statements = 0, passes sqlx's named prepared
    // statements through as they are: a statement prepared by one client on a server
    // connection is unknown on the next one, or already exists there under another client's
    // statement of the same name. Concurrent requests over one server connection show it.
    let env = TestEnv::new().await;
    let pgb = pgbouncer_for(&env, 1, 0);
    let api_env = through(&pgb, &env, "api");
    let api = env.spawn_api_with(&borrowed(&api_env)).await;
    let w = World::from_parts(env, api, Vec::new()).await;
    let posts = (0..USERS).map(|i| {
        w.post_user(okta_user(
            &format!("user{i}@acme.test"),
            "Pat",
            &format!("Lee{i}"),
        ))
    });
    let statuses: Vec<StatusCode> = join_all(posts).await.iter().map(|r| r.status).collect();
    let failed = statuses.iter().filter(|s| s.is_server_error()).count();
    let log = w.api.log();
    assert!(
        failed > 0 && (log.contains("does not exist") || log.contains("already exists")),
        "expected prepared-statement errors without max_prepared_statements; statuses {statuses:?}"
    );
}

#[tokio::test]
async fn changes_reach_a_product_database_on_another_postgres_server() {
    let pg = PrivatePostgres::start();
    let admin = Database::connect(pg.url("postgres")).await.unwrap();
    admin.execute_unprepared("create database product").await.unwrap();
    admin.close().await.unwrap();
    let product_url = pg.url("product");
    let separate = [("PRODUCT_DATABASE_URL", product_url.as_str())];

    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let worker = env.spawn_worker_with(&separate);
    let w = World::from_parts(env, api, vec![worker]).await;
    let product = Database::connect(&product_url).await.unwrap();

    let (users, group) = provision(&w).await;
    in_product(&w.env, &product, &users, group).await;
    // Nothing of the product in the directory's database.
    let here: bool = scalar(
        &w.db,
        "select to_regnamespace('product') is not null as here",
        "here",
    )
    .await;
    assert!(
        !here,
        "the product schema was created in the directory's database"
    );

    let (ok, lines) = w.env.worker_cli_with(&separate, &["verify"]);
    assert!(ok, "verify against the separate product database: {lines:?}");
    assert_eq!(lines.last().unwrap()["users"], USERS);

    // A product row gone wrong (a restore, a bug): verify finds it, reconcile puts it back.
    product
        .execute_unprepared(&format!(
            "update product.users set last_name = 'Wrong' where id = '{}'",
            users[1]
        ))
        .await
        .unwrap();
    let (ok, _) = w.env.worker_cli_with(&separate, &["verify"]);
    assert!(!ok, "verify must see the damaged product rows");
    let (ok, lines) = w.env.worker_cli_with(&separate, &["reconcile"]);
    assert!(ok, "reconcile: {lines:?}");
    let (ok, lines) = w.env.worker_cli_with(&separate, &["verify"]);
    assert!(ok, "verify after reconcile: {lines:?}");
    let fixed = w.env.product_user_where(&product, users[1], |_| true).await;
    assert_eq!(fixed.last_name.as_deref(), Some("Lee1"));
    product.close().await.unwrap();
}

/// The depth of one of the test's queues.
async fn depth(env: &TestEnv, queue: &str) -> shared::dlq::QueueDepth {
    let cfg = shared::config::AmqpConfig::new(env.services.amqp_url.clone());
    let conn = shared::amqp::connect(&cfg, "test-depth").await.expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let d = shared::dlq::queue_depth(&ch, queue).await.expect("queue depth");
    let _ = conn.close(200, "bye".into()).await;
    d
}

async fn post_users(env: &TestEnv, api: &tests::Api, token: &str, prefix: &str, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        ids.extend(
            join_all(chunk.iter().map(|i| {
                let user = okta_user(&format!("{prefix}{i}@fair.test"), "Fair", &format!("{i}"));
                env.create_user(api, token, user)
            }))
            .await,
        );
    }
    ids
}

async fn outbox_drained(db: &DatabaseConnection) {
    eventually("every change is published", || async {
        scalar::<i64>(
            db,
            "select count(*) as n from scim.outbox where published_at is null",
            "n",
        )
        .await
            == 0
    })
    .await;
}

/// A tenant past its interactive share (here 10 changes at once, then 1 a second) has the rest
/// of its changes sent to the bulk lane, so a quiet tenant's change waits behind at most the
/// noisy one's share, not behind its whole backlog; a worker consumes both lanes, and changes
/// of one user split across the lanes (an older one in the bulk lane, a newer one in the main
/// queue) still end in the product as the directory has them.
#[tokio::test]
async fn a_noisy_tenants_backlog_goes_to_the_bulk_lane_and_a_quiet_tenants_change_stays_ahead_of_it() {
    const NOISY: usize = 200;
    let env = TestEnv::new().await;
    let api = env
        .spawn_api_with(&[
            ("SCIM_INTERACTIVE_CHANGES", "1"),
            ("SCIM_INTERACTIVE_BURST", "10"),
        ])
        .await;
    let db = env.db().await;
    let (_, noisy) = env.create_tenant("noisy");
    let (_, quiet) = env.create_tenant("quiet");

    // No worker yet: the queues hold what was published.
    let started = std::time::Instant::now();
    let noisy_users = post_users(&env, &api, &noisy, "noisy", NOISY).await;
    outbox_drained(&db).await;
    let refilled = started.elapsed().as_secs() as u32 + 1;
    let main = depth(&env, &env.queue).await.messages;
    let bulk = depth(&env, &format!("{}.bulk", env.queue)).await.messages;
    assert_eq!(
        main + bulk,
        NOISY as u32,
        "every change is in one lane or the other"
    );
    assert!(
        main <= 10 + refilled,
        "the main queue holds the noisy tenant's share only: {main} of {NOISY} in {refilled} s"
    );

    let quiet_user = post_users(&env, &api, &quiet, "quiet", 1).await[0];
    outbox_drained(&db).await;
    assert_eq!(
        depth(&env, &env.queue).await.messages,
        main + 1,
        "the quiet tenant's change is in the main queue, behind {main} changes, not {NOISY}"
    );

    // Newer changes of users whose creation waits in the bulk lane: after the share refills,
    // they go to the main queue and can be applied before the creation they follow.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let renamed = &noisy_users[NOISY - 3..];
    for id in renamed {
        let r = env
            .request(
                &api,
                Method::PATCH,
                &format!("/scim/v2/Users/{id}"),
                Some(&noisy),
                Some(json!({"schemas": [tests::urn::PATCH_OP],
                            "Operations": [{"op": "replace", "path": "title", "value": "Renamed"}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    outbox_drained(&db).await;
    assert!(
        depth(&env, &env.queue).await.messages > main + 1,
        "the renames went to the main queue"
    );

    let _worker = env.spawn_worker();
    env.product_user_where(&db, quiet_user, |_| true).await;
    for id in renamed {
        env.product_user_where(&db, *id, |u| u.job_title.as_deref() == Some("Renamed"))
            .await;
    }
    eventually("every noisy user reaches the product", || async {
        scalar::<i64>(&db, "select count(*) as n from product.users", "n").await == NOISY as i64 + 1
    })
    .await;
    for lane in [env.queue.clone(), format!("{}.bulk", env.queue)] {
        assert_eq!(
            depth(&env, &lane).await.consumers,
            1,
            "the worker consumes {lane}"
        );
    }
    let (ok, lines) = env.worker_cli(&["verify"]);
    assert!(ok, "verify: {lines:?}");
    assert_eq!(lines.last().unwrap()["differences"], 0);
    assert_eq!(depth(&env, &format!("{}.dead", env.queue)).await.messages, 0);
}
