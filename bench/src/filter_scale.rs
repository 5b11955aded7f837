//! `GET /Users?filter=userName eq "x"` in a tenant of 100,000 users: the lookup Okta makes before
//! every create, which must stay an index lookup however large the tenant grows.

use std::time::Instant;

use futures_util::StreamExt;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tests::{Api, TestEnv};

use crate::groups::bulk_users;
use crate::stats::Samples;

pub struct FilterFigures {
    pub users: usize,
    /// One at a time.
    pub lookups: Samples,
    /// Lookups per second with `concurrency` in flight, and that concurrency.
    pub per_s: f64,
    /// The same through an api that looks each token up in Postgres (`SCIM_AUTH_CACHE=false`).
    pub per_s_uncached: f64,
    pub concurrency: usize,
}

pub async fn measure(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    users: usize,
    lookups: usize,
    concurrency: usize,
) -> FilterFigures {
    let (tenant, token) = env.create_tenant("bench-filter");
    let token = token.as_str();
    bulk_users(db, tenant, users, "f").await;
    // Vacuumed, with fresh statistics, as autovacuum leaves a tenant that grew over time (and
    // not vacuuming 100,000 new rows in the middle of the measurement).
    db.execute_unprepared("vacuum analyze scim.users")
        .await
        .expect("vacuum analyze");
    // And with the seeding's dirty pages written out: measured right after 1,000,000 inserts,
    // the checkpoint that follows them ran beside the lookups (1475 lookups/s, p50 1.3 ms, where
    // the same tenant answered 3402/s and 0.9 ms on its own).
    db.execute_unprepared("checkpoint").await.expect("checkpoint");
    let lookup_on = |api, n| lookup(env, api, token, users, n);
    let mut samples = Samples::default();
    // The first lookups on each pooled connection also prepare their statements: warm up first.
    const WARM_UP: usize = 200;
    for n in 0..WARM_UP + lookups {
        let t = Instant::now();
        lookup_on(api, n).await;
        if n >= WARM_UP {
            samples.push(t.elapsed());
        }
    }
    // Then as IdPs and `wrk -c16` send them: `concurrency` in flight.
    let started = Instant::now();
    futures_util::stream::iter(0..lookups)
        .map(|n| lookup_on(api, n))
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let per_s = crate::stats::rate(lookups, started.elapsed());
    let uncached = env.spawn_api_with(&[("SCIM_AUTH_CACHE", "false")]).await;
    for n in 0..WARM_UP {
        lookup_on(&uncached, n).await;
    }
    let started = Instant::now();
    futures_util::stream::iter(0..lookups)
        .map(|n| lookup_on(&uncached, n))
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let per_s_uncached = crate::stats::rate(lookups, started.elapsed());
    FilterFigures {
        users,
        lookups: samples,
        per_s,
        per_s_uncached,
        concurrency,
    }
}

/// One lookup of the `n`th user, spread over the whole tenant and in varying case (userName is
/// caseExact=false).
async fn lookup(env: &TestEnv, api: &Api, token: &str, users: usize, n: usize) {
    let i = (n * 7919) % users + 1;
    let name = if n.is_multiple_of(2) {
        format!("f{i}@bench.test")
    } else {
        format!("F{i}@BENCH.TEST")
    };
    let path = format!(
        "/scim/v2/Users?filter={}",
        tests::urlencode(&format!("userName eq \"{name}\""))
    );
    let r = env.request(api, Method::GET, &path, Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1, "{name}");
}
