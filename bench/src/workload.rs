//! The Okta-like workload: per user a `GET filter=userName eq` then a `POST`, managers in a tree
//! with forward references; then drains, and a steady rate for end-to-end lag.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;
use tests::{Api, TestEnv, scalar};

use tokio::sync::mpsc;

use crate::stats::Samples;
use crate::visibility;

pub struct Import {
    pub elapsed: Duration,
    pub requests: usize,
    pub get: Samples,
    pub post: Samples,
}

pub fn user(n: usize, i: usize, tag: &str) -> serde_json::Value {
    // Manager: another user of the tenant, often created later (forward reference), named by
    // login as Okta admins usually map it.
    let manager = (i * 7 + 3) % n.max(1);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": format!("{tag}{i}@bench.test"),
        "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{i}")},
        "emails": [{"primary": true, "value": format!("{tag}{i}@bench.test"), "type": "work"}],
        "displayName": format!("Given{i} Family{i}"),
        "title": "Engineer",
        "externalId": format!("00u{tag}{i}"),
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": format!("Dept{}", i % 20),
            "manager": {"value": format!("{tag}{manager}@bench.test")}
        }
    })
}

/// Imports `per_tenant` users into each tenant with `concurrency` users in flight: each a
/// `GET filter=userName eq` then a `POST` as Okta does, or with `lookup` false the `POST` alone.
pub async fn import(
    env: &TestEnv,
    api: &Api,
    tokens: &[String],
    per_tenant: usize,
    concurrency: usize,
    lookup: bool,
) -> Import {
    import_with(env, api, tokens, per_tenant, concurrency, lookup, &|_, _| {}).await
}

/// [`import`] with each user's body completed by `decorate` (given the user's number).
pub async fn import_with(
    env: &TestEnv,
    api: &Api,
    tokens: &[String],
    per_tenant: usize,
    concurrency: usize,
    lookup: bool,
    decorate: &(dyn Fn(usize, &mut serde_json::Value) + Sync),
) -> Import {
    let get = Mutex::new(Samples::default());
    let post = Mutex::new(Samples::default());
    let jobs: Vec<(usize, usize)> = (0..per_tenant)
        .flat_map(|i| (0..tokens.len()).map(move |t| (t, i)))
        .collect();
    let started = Instant::now();
    futures_util::stream::iter(jobs)
        .for_each_concurrent(concurrency, |(t, i)| {
            let (get, post) = (&get, &post);
            async move {
                let mut body = user(per_tenant, i, if lookup { "u" } else { "c" });
                decorate(i, &mut body);
                if lookup {
                    lookup_user(env, api, &tokens[t], &body, get).await;
                }
                let t1 = Instant::now();
                let r = env
                    .request(api, Method::POST, "/scim/v2/Users", Some(&tokens[t]), Some(body))
                    .await;
                post.lock().map(|mut s| s.push(t1.elapsed())).ok();
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            }
        })
        .await;
    Import {
        elapsed: started.elapsed(),
        requests: per_tenant * tokens.len() * if lookup { 2 } else { 1 },
        get: get.into_inner().unwrap_or_default(),
        post: post.into_inner().unwrap_or_default(),
    }
}

async fn lookup_user(env: &TestEnv, api: &Api, token: &str, body: &serde_json::Value, get: &Mutex<Samples>) {
    let filter = format!(
        "userName eq \"{}\"",
        body["userName"].as_str().unwrap_or_default()
    );
    let t0 = Instant::now();
    let r = env
        .request(
            api,
            Method::GET,
            &format!(
                "/scim/v2/Users?filter={}&startIndex=1&count=100",
                tests::urlencode(&filter)
            ),
            Some(token),
            None,
        )
        .await;
    get.lock().map(|mut s| s.push(t0.elapsed())).ok();
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// POSTs `count` new users at `rate` per second (open loop: each request leaves at its due time
/// whether or not earlier ones have been answered), telling `accepted` about each answer.
pub async fn steady(
    env: &TestEnv,
    api: &Api,
    token: &str,
    rate: f64,
    count: usize,
    accepted: mpsc::UnboundedSender<visibility::Accepted>,
) -> Duration {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let started = tokio::time::Instant::now();
    futures_util::stream::iter(0..count)
        .for_each_concurrent(None, |i| {
            let accepted = accepted.clone();
            async move {
                tokio::time::sleep_until(started + interval * i as u32).await;
                let r = env
                    .request(
                        api,
                        Method::POST,
                        "/scim/v2/Users",
                        Some(token),
                        Some(user(count, i, "steady")),
                    )
                    .await;
                let answered = Instant::now();
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
                let _ = accepted.send((r.id(), answered));
            }
        })
        .await;
    started.elapsed()
}

pub async fn wait_for(
    db: &DatabaseConnection,
    what: &str,
    sql: &str,
    want: i64,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let n: i64 = scalar(db, sql, "n").await;
        if n >= want {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: {n} of {want} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Empties the product and puts every committed change back on the queue, so a drain can be
/// measured again with another number of workers.
pub async fn refill(env: &TestEnv, db: &DatabaseConnection) {
    db.execute_unprepared(
        "truncate product.users cascade; truncate product.group_versions; truncate product.membership_versions",
    )
    .await
    .expect("truncate product");
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "select routing_key, payload::text as p from scim.outbox order by id",
        ))
        .await
        .expect("outbox");
    let conn = lapin::Connection::connect(tests::AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(Default::default()).await.expect("confirms");
    for chunk in rows.chunks(256) {
        let mut confirms = Vec::new();
        for r in chunk {
            let key: String = r.try_get("", "routing_key").expect("key");
            let payload: String = r.try_get("", "p").expect("payload");
            confirms.push(
                ch.basic_publish(
                    env.exchange.as_str().into(),
                    key.as_str().into(),
                    Default::default(),
                    payload.as_bytes(),
                    lapin::BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .expect("publish"),
            );
        }
        for c in confirms {
            c.await.expect("confirm");
        }
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Removes every trace of a tenant used only to measure the api: its directory rows and outbox
/// rows, and (once the outbox has been published) its messages from the queue, so the workers
/// measured later never see them.
pub async fn discard_tenant(env: &TestEnv, db: &DatabaseConnection, tenant: uuid::Uuid) {
    wait_for(
        db,
        "outbox drained",
        "select (count(*) = 0)::int::int8 as n from scim.outbox where published_at is null",
        1,
        Duration::from_secs(120),
    )
    .await;
    let conn = lapin::Connection::connect(tests::AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let ch = conn.create_channel().await.expect("channel");
    // Both lanes: a tenant above its interactive share sent most of its changes to the bulk
    // one, where a drain would later apply them and count them as the import's.
    for queue in [env.queue.clone(), format!("{}.bulk", env.queue)] {
        ch.queue_purge(queue.as_str().into(), Default::default())
            .await
            .expect("purge the queue");
    }
    let _ = conn.close(200, "bye".into()).await;
    for table in ["scim.outbox", "scim.users"] {
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            format!("delete from {table} where tenant_id = $1"),
            [tenant.into()],
        ))
        .await
        .expect("delete the tenant's rows");
    }
}
