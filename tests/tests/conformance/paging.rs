//! Paging (RFC 7644 §3.4.2.4): `startIndex` and `count`.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::{Steps, World, assert_error, ids};

// RFC 7644 §3.4.2.4: "A value of "0" indicates that no resource results are to be returned
// except for "totalResults"".
#[tokio::test]
async fn count_zero_returns_only_the_total() {
    let w = World::without_worker().await;
    for i in 0..3 {
        w.named(&format!("z{i}@acme.test")).await;
    }
    w.group("Zero").await;
    for r in [
        w.get("/Users?count=0").await,
        w.search("/Users", json!({"count": 0})).await,
    ] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["totalResults"], 3);
        assert_eq!(r.body["itemsPerPage"], 0);
        assert_eq!(r.body["Resources"], json!([]));
    }
    let r = w.get("/Groups?count=0&startIndex=1").await;
    assert_eq!(r.body["totalResults"], 1);
    assert_eq!(r.body["Resources"], json!([]));
    // A negative count is read as 0 (RFC 7644 §3.4.2.4: "SHALL be interpreted as "0"").
    let r = w.get("/Users?count=-5").await;
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["itemsPerPage"].clone()),
        (json!(3), json!(0))
    );
}

// RFC 7644 §3.4.2.4: "A value less than 1 SHALL be interpreted as 1"; past the end, a page is
// empty but still counts.
#[tokio::test]
async fn a_start_index_below_one_is_one_and_past_the_end_is_empty() {
    let w = World::without_worker().await;
    let first = w.named("first@acme.test").await;
    let second = w.named("second@acme.test").await;
    for q in ["startIndex=0", "startIndex=-7", "startindex=1"] {
        let r = w.get(&format!("/Users?{q}&count=1")).await;
        assert_eq!(r.body["startIndex"], 1, "{q}");
        assert_eq!(ids(&r.body), [first], "{q}");
    }
    let r = w.search("/Users", json!({"startIndex": -1, "count": 1})).await;
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(ids(&r.body), [first]);
    let r = w.get("/Users?startIndex=2").await;
    assert_eq!(ids(&r.body), [second]);
    let r = w.get("/Users?startIndex=3").await;
    assert_eq!(r.body["totalResults"], 2);
    assert_eq!(r.body["Resources"], json!([]));
    assert_eq!(r.body["startIndex"], 3);
}

// RFC 7644 §3.4.2.4 with RFC 7643 §5: a count above filter.maxResults is answered with
// maxResults resources, and the rest are reachable on the next page.
#[tokio::test]
async fn a_count_above_the_advertised_maximum_is_clamped_to_it() {
    let w = World::without_worker().await;
    let max = w.get("/ServiceProviderConfig").await.body["filter"]["maxResults"]
        .as_i64()
        .unwrap();
    // More users than a page holds, written straight into the test's database: creating them
    // one request at a time would only measure the api.
    let db = w.env.db().await;
    db.execute_unprepared(&format!(
        "insert into scim.users (tenant_id, id, user_name, user_name_key, active, resource, version, created_at, updated_at)
         select '{tenant}', gen_random_uuid(), 'bulk-' || i || '@acme.test', 'bulk-' || i || '@acme.test', true,
                jsonb_build_object('userName', 'bulk-' || i || '@acme.test'), 1,
                now() + i * interval '1 microsecond', now() + i * interval '1 microsecond'
         from generate_series(1, {n}) i",
        tenant = w.tenant,
        n = max + 1
    ))
    .await
    .unwrap();
    let r = w.get(&format!("/Users?count={}", max * 5)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], max + 1);
    assert_eq!(r.body["itemsPerPage"], max);
    assert_eq!(r.body["Resources"].as_array().unwrap().len() as i64, max);
    let r = w
        .search("/Users", json!({"startIndex": max + 1, "count": max * 5}))
        .await;
    assert_eq!(r.body["itemsPerPage"], 1);
    assert_eq!(
        r.body["Resources"][0]["userName"],
        format!("bulk-{}@acme.test", max + 1)
    );
}

// RFC 7644 §3.4.2.4 and §3.12: paging parameters that are not integers are invalidValue.
#[tokio::test]
async fn non_integer_paging_parameters_are_invalid_values() {
    let w = World::without_worker().await;
    for q in ["count=ten", "startIndex=1.5", "count=1e3"] {
        assert_error(
            &w.get(&format!("/Users?{q}")).await,
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
        );
    }
}
