use reqwest::{Method, StatusCode};
use tests::okta_user;
use tests::proxy::TcpProxy;

use crate::World;

#[tokio::test]
async fn a_worker_rides_out_a_database_outage_without_dead_lettering() {
    let mut w = World::new().await;
    w.worker.take();
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let url = proxy.postgres_url(&w.env.name);
    w.worker = Some(w.env.spawn_worker_with(&[("PRODUCT_DATABASE_URL", url.as_str())]));
    let db = w.env.db().await;
    let before = w
        .post_user(okta_user("before@acme.test", "Be", "Fore"))
        .await
        .id();
    w.env.product_user_where(&db, before, |_| true).await;

    proxy.down().await;
    let during = w
        .post_user(okta_user("during@acme.test", "Dur", "Ing"))
        .await
        .id();
    let worker = w.worker.as_ref().unwrap();
    tests::eventually("the worker retries", || async {
        worker.log().contains("transient failure, retrying")
    })
    .await;
    assert!(w.env.product_user(&db, during).await.is_none());

    proxy.up();
    w.env.product_user_where(&db, during, |_| true).await;
    let logs = w.worker.as_ref().unwrap().log();
    assert!(
        !logs.contains("dead-lettered"),
        "a database outage must not dead-letter changes"
    );
}

#[tokio::test]
async fn the_api_answers_503_with_retry_after_while_its_database_is_down() {
    let w = World::new().await;
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let url = proxy.postgres_url(&w.env.name);
    let api = w
        .env
        .spawn_api_with(&[
            ("DATABASE_URL", url.as_str()),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        ])
        .await;
    let ok = w
        .env
        .request(&api, Method::GET, "/scim/v2/Users", Some(&w.token), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    proxy.down().await;
    let r = w
        .env
        .request(
            &api,
            Method::POST,
            "/scim/v2/Users",
            Some(&w.token),
            Some(okta_user("x@acme.test", "X", "Y")),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.body["status"], "503");
    assert!(r.header("retry-after").is_some());

    proxy.up();
    tests::eventually("the api recovers", || async {
        let r = w
            .env
            .request(
                &api,
                Method::POST,
                "/scim/v2/Users",
                Some(&w.token),
                Some(okta_user("x@acme.test", "X", "Y")),
            )
            .await;
        r.status == StatusCode::CREATED
    })
    .await;
}

#[tokio::test]
async fn api_and_worker_reconnect_by_themselves_after_a_broker_outage() {
    let w = World::new().await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let amqp = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let api = w.env.spawn_api_with(&[("AMQP_URL", amqp.as_str())]).await;
    let _worker = w.env.spawn_worker_with(&[("AMQP_URL", amqp.as_str())]);
    let db = w.env.db().await;
    let post = |name: &'static str| w.env.create_user(&api, &w.token, okta_user(name, "B", "Roker"));
    let before = post("before-outage@acme.test").await;
    w.env.product_user_where(&db, before, |_| true).await;

    proxy.down().await;
    let during = post("during-outage@acme.test").await;
    // The api learns of the cut from its connection (a heartbeat or a failed publish), a moment
    // after the proxy drops it: the readiness turns, it is not read before.
    let readyz = || async {
        let r = w
            .env
            .http
            .get(format!("{}/readyz", api.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    };
    tests::eventually("the api reports the broker down", || async {
        readyz().await.0 == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let (status, ready) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready["rabbitmq"], "down", "{ready}");
    let metrics = api.scrape(&w.env.http).await;
    assert!(
        metrics.contains("scim_outbox_backlog"),
        "the backlog is visible in /metrics"
    );

    proxy.up();
    // Only api and worker on the proxy: the change can only arrive through their reconnects.
    w.env.product_user_where(&db, during, |_| true).await;
    let after = post("after-outage@acme.test").await;
    w.env.product_user_where(&db, after, |_| true).await;
}

/// Every pooled connection of api and worker runs without JIT compilation, which cost 0.4-2 s
/// per statement once a table passed the planner's cost threshold.
#[tokio::test]
async fn pooled_connections_run_without_jit() {
    let env = tests::TestEnv::new().await;
    let db = shared::db::connect(&shared::config::DatabaseConfig::new(env.db_url.clone()))
        .await
        .expect("connect");
    let jit: String = tests::scalar(&db, "select current_setting('jit') as j", "j").await;
    assert_eq!(jit, "off");
}

/// AMQP_URL names two "nodes" (two proxies in front of the one real broker, so the test needs no
/// cluster of its own). Each node goes away in turn, so whichever one the api and the worker
/// started on (a random one), they have to move to the other at least once, and a change posted
/// after each cut must still reach the product. They are the only processes of this test's
/// queue, so every change that arrives went through them.
#[tokio::test]
async fn api_and_worker_move_to_another_node_when_theirs_goes_away() {
    let env = tests::TestEnv::new().await;
    let (first, second) = (
        TcpProxy::start("127.0.0.1:5672").await,
        TcpProxy::start("127.0.0.1:5672").await,
    );
    let amqp = format!(
        "amqp://guest:guest@{}/%2f,amqp://guest:guest@{}/%2f",
        first.addr, second.addr
    );
    let api = env.spawn_api_with(&[("AMQP_URL", amqp.as_str())]).await;
    let _worker = env.spawn_worker_with(&[("AMQP_URL", amqp.as_str())]);
    let (_, token) = env.create_tenant("Acme");
    let db = env.db().await;
    let post = |name: &'static str| env.create_user(&api, &token, okta_user(name, "Fail", "Over"));
    let both_up = post("both-up@acme.test").await;
    env.product_user_where(&db, both_up, |_| true).await;

    first.down().await;
    let on_second = post("on-second@acme.test").await;
    env.product_user_where(&db, on_second, |_| true).await;

    first.up();
    second.down().await;
    let on_first = post("on-first@acme.test").await;
    env.product_user_where(&db, on_first, |_| true).await;
    tests::eventually(
        "the api reports the broker ready through the first node",
        || async {
            env.http
                .get(format!("{}/readyz", api.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;
}
