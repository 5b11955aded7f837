//! `GET /Users?filter=userName eq "x"` in a tenant of 100,000 users: the lookup Okta makes before
//! every create, which must stay an index lookup however large the tenant grows.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tests::{Api, TestEnv};
use uuid::Uuid;

use crate::groups::bulk_users;
use crate::stats::Samples;

pub struct FilterFigures {
    pub users: usize,
    pub lookups: Samples,
}

pub async fn measure(
    env: &TestEnv,
    api: &Api,
    db: &DatabaseConnection,
    tenant: Uuid,
    token: &str,
    users: usize,
    lookups: usize,
) -> FilterFigures {
    bulk_users(db, tenant, users, "f").await;
    // Vacuumed, with fresh statistics, as autovacuum leaves a tenant that grew over time (and
    // not vacuuming 100,000 new rows in the middle of the measurement).
    db.execute_unprepared("vacuum analyze scim.users")
        .await
        .expect("vacuum analyze");
    let mut samples = Samples::default();
    // The first lookups on each pooled connection also prepare their statements: warm up first.
    const WARM_UP: usize = 200;
    for n in 0..WARM_UP + lookups {
        // Spread over the whole tenant, and in varying case: userName is caseExact=false.
        let i = (n * 7919) % users + 1;
        let name = if n % 2 == 0 {
            format!("f{i}@bench.test")
        } else {
            format!("F{i}@BENCH.TEST")
        };
        let path = format!(
            "/scim/v2/Users?filter={}",
            tests::urlencode(&format!("userName eq \"{name}\""))
        );
        let t = Instant::now();
        let r = env.request(api, Method::GET, &path, Some(token), None).await;
        if n >= WARM_UP {
            samples.push(t.elapsed());
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["totalResults"], 1, "{name}");
    }
    FilterFigures {
        users,
        lookups: samples,
    }
}
