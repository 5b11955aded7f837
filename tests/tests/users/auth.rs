use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;

use crate::World;

/// SHA-256 computed by Postgres, so the test does not reuse the api's hashing code.
async fn sha256_hex(db: &sea_orm::DatabaseConnection, token: &str) -> String {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select encode(sha256(convert_to($1, 'UTF8')), 'hex') as h",
            [token.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "h").unwrap()
}

#[tokio::test]
async fn okta_test_api_credentials_gets_a_list_response_with_integer_counters() {
    let w = World::new().await;
    let r = w.get("/Users?startIndex=1&count=2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/scim+json")
    );
    assert_eq!(
        r.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    for k in ["totalResults", "itemsPerPage", "startIndex"] {
        assert!(r.body[k].is_i64(), "{k} must be an integer: {}", r.body);
    }
    assert_eq!(r.body["startIndex"], 1);
}

#[tokio::test]
async fn missing_or_wrong_tokens_get_401_with_a_bearer_challenge() {
    let w = World::new().await;
    for token in [
        None,
        Some("scimr_0000000000000000000000000000000000000000000000000000000000000000"),
        Some("nope"),
    ] {
        let r = w
            .env
            .request(&w.api, Method::GET, "/scim/v2/Users", token, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert_eq!(r.body["status"], "401");
        assert_eq!(
            r.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
}

#[tokio::test]
async fn a_rotated_token_is_refused_at_once_and_the_new_one_works() {
    let w = World::new().await;
    let rotated = w
        .env
        .cli(&["token", "rotate", "--tenant", &w.tenant.to_string()])
        .unwrap();
    assert_eq!(rotated["tenant_id"], w.tenant.to_string());
    let new = rotated["token"].as_str().unwrap();
    assert_ne!(new, w.token);
    let old = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Users", Some(&w.token), None)
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let fresh = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Users", Some(new), None)
        .await;
    assert_eq!(fresh.status, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let w = World::new().await;
    w.env
        .cli(&["token", "revoke", "--tenant", &w.tenant.to_string()])
        .unwrap();
    assert_eq!(w.get("/Users").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rotating_an_unknown_tenant_fails_clearly() {
    let w = World::new().await;
    let err = w
        .env
        .cli(&["token", "rotate", "--tenant", &uuid::Uuid::new_v4().to_string()])
        .unwrap_err();
    assert!(err.contains("no tenant"), "{err}");
}

#[tokio::test]
async fn tokens_are_stored_only_as_their_sha256() {
    let w = World::new().await;
    let db = w.env.db().await;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "select encode(token_hash, 'hex') as h, (select string_agg(t::text, ' ') from scim.api_tokens t) as everything from scim.api_tokens",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let h: String = rows[0].try_get("", "h").unwrap();
    let everything: String = rows[0].try_get("", "everything").unwrap();
    assert_eq!(h, sha256_hex(&db, &w.token).await);
    assert!(
        !everything.contains(&w.token[6..]),
        "the token itself must not be stored"
    );
    assert_eq!(w.token.len(), 6 + 64, "256 random bits as hex behind the prefix");
}

/// Waits until `api` keeps tokens in memory (its listener for revocations is connected).
async fn cache_on(w: &World, api: &tests::Api, on: bool) {
    let want = format!("scim_auth_cache_listening {}", u8::from(on));
    tests::eventually(&format!("auth cache listening: {on}"), || async {
        api.scrape(&w.env.http).await.contains(&want)
    })
    .await;
}

async fn status(w: &World, api: &tests::Api, token: &str) -> StatusCode {
    w.env
        .request(api, Method::GET, "/scim/v2/Users?count=0", Some(token), None)
        .await
        .status
}

async fn sql(w: &World, statements: &str) {
    w.db.execute_unprepared(statements).await.expect(statements);
}

// Two api processes keep the live token in memory (no database round trip per request); a
// revocation through the CLI is refused by both at the very next request: Postgres announces it
// to every api (directory migration 14), and the CLI answers only once every api has
// acknowledged the marker it sent after the revocation (migration 15, api/src/auth_cache.rs).
// One by hand in psql is announced too, but nobody waits: it is refused once the notification
// has arrived.
#[tokio::test]
async fn every_api_refuses_a_revoked_token_at_the_next_request_though_it_keeps_tokens_in_memory() {
    let w = World::new().await;
    let other = w.env.spawn_api().await;
    for api in [&w.api, &other] {
        cache_on(&w, api, true).await;
        assert_eq!(status(&w, api, &w.token).await, StatusCode::OK);
    }
    let db = w.env.db().await;
    let listeners: i64 = tests::scalar(&db, "select count(*) as n from scim.auth_listeners", "n").await;
    assert_eq!(
        listeners, 2,
        "both apis wait to be asked before a revocation answers"
    );
    // The control: a revocation Postgres does not announce (triggers off for the session) is
    // not seen, which shows the answers above come from memory.
    let quietly = |revoked: &str| {
        format!(
            "begin; set local session_replication_role = replica; \
             update scim.api_tokens set revoked_at = {revoked}; commit;"
        )
    };
    sql(&w, &quietly("now()")).await;
    for api in [&w.api, &other] {
        assert_eq!(
            status(&w, api, &w.token).await,
            StatusCode::OK,
            "served from memory"
        );
    }
    sql(&w, &quietly("null")).await;

    // An announced revocation: refused everywhere at once.
    w.env
        .cli(&["token", "revoke", "--tenant", &w.tenant.to_string()])
        .unwrap();
    for api in [&w.api, &other] {
        assert_eq!(status(&w, api, &w.token).await, StatusCode::UNAUTHORIZED);
    }

    // By hand in psql: announced, not waited for.
    let rotated = w
        .env
        .cli(&["token", "rotate", "--tenant", &w.tenant.to_string()])
        .unwrap();
    let token = rotated["token"].as_str().unwrap().to_owned();
    for api in [&w.api, &other] {
        assert_eq!(status(&w, api, &token).await, StatusCode::OK);
    }
    sql(
        &w,
        "update scim.api_tokens set revoked_at = now() where revoked_at is null",
    )
    .await;
    for api in [&w.api, &other] {
        tests::eventually("a revocation by hand refused once announced", || async {
            status(&w, api, &token).await == StatusCode::UNAUTHORIZED
        })
        .await;
    }
}

// While an api cannot hear revocations it keeps nothing in memory: every request goes to the
// database, and it starts again from an empty cache once it hears again.
#[tokio::test]
async fn an_api_that_cannot_hear_revocations_asks_the_database_every_time() {
    let w = World::new().await;
    cache_on(&w, &w.api, true).await;
    assert_eq!(status(&w, &w.api, &w.token).await, StatusCode::OK);
    // Cut the listening connection and revoke without telling anyone: the api must not serve
    // the token from memory.
    sql(
        &w,
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and query ilike 'listen%scim_auth%'",
    )
    .await;
    cache_on(&w, &w.api, false).await;
    sql(
        &w,
        "begin; set local session_replication_role = replica; \
         update scim.api_tokens set revoked_at = now(); commit;",
    )
    .await;
    assert_eq!(status(&w, &w.api, &w.token).await, StatusCode::UNAUTHORIZED);
    // It listens again (within a second) and still refuses.
    cache_on(&w, &w.api, true).await;
    assert_eq!(status(&w, &w.api, &w.token).await, StatusCode::UNAUTHORIZED);
}
