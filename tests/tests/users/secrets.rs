//! Secrets stay secret: a realistic run with debug logging on in both processes, then every
//! byte either wrote to its log and every row of every table in the test's database is searched
//! for the token, its SHA-256, a wrong token that was tried, and the passwords that were sent.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tests::{TestEnv, okta_user};
use uuid::Uuid;

use crate::World;

const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": ops})
}

/// SHA-256 computed by Postgres, so the test does not reuse the api's hashing code.
async fn sha256_hex(db: &DatabaseConnection, s: &str) -> String {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "select encode(sha256(convert_to($1, 'UTF8')), 'hex') as h",
            [s.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "h").unwrap()
}

/// Every row of every table of the database, as text (bytea as `\x` hex), one line per row,
/// prefixed with its table.
async fn dump_database(db: &DatabaseConnection) -> Vec<String> {
    let tables = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "select table_schema as s, table_name as t from information_schema.tables
             where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
             order by 1, 2",
        ))
        .await
        .unwrap();
    let mut lines = Vec::new();
    for t in &tables {
        let (schema, table): (String, String) = (t.try_get("", "s").unwrap(), t.try_get("", "t").unwrap());
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("select r::text as line from \"{schema}\".\"{table}\" r"),
            ))
            .await
            .unwrap();
        for r in rows {
            let line: String = r.try_get("", "line").unwrap();
            lines.push(format!("{schema}.{table} {line}"));
        }
    }
    lines
}

#[tokio::test]
async fn tokens_and_passwords_appear_in_no_log_and_no_table() {
    let env = TestEnv::new().await;
    let debug = [("RUST_LOG", "debug")];
    let api = env.spawn_api_with(&debug).await;
    let worker = env.spawn_worker_with(&debug);
    let mut w = World::from_parts(env, api, vec![worker]).await;
    let marker = format!("pw-{}", Uuid::new_v4().simple());
    let password = |n: u32| format!("{marker}-{n}");
    let wrong = format!("scimr_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());

    // A wrong token, as a misconfigured IdP would send it.
    let r = w
        .env
        .request(&w.api, Method::GET, "/scim/v2/Users", Some(&wrong), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Okta's lifecycle, with a password on every write that can carry one.
    let mut body = okta_user("secret.keeper@acme.test", "Secret", "Keeper");
    body["password"] = json!(password(1));
    let created = w.post_user(body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let path = format!("/Users/{id}");
    let mut answers = vec![created.body.to_string()];
    for (method, body) in [
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "path": "password", "value": password(2)}])),
        ),
        (
            Method::PATCH,
            patch(json!([{"op": "replace", "value": {"password": password(3), "title": "Keeper"}}])),
        ),
        (Method::PUT, {
            let mut b = body.clone();
            b["password"] = json!(password(4));
            b["title"] = json!("Chief Keeper");
            b
        }),
    ] {
        let r = w.call(method.clone(), &path, Some(body)).await;
        assert!(
            r.status == StatusCode::OK || r.status == StatusCode::BAD_REQUEST,
            "{method}: {} {}",
            r.status,
            r.body
        );
        answers.push(r.body.to_string());
    }
    // Refused requests that carry a password: the error must not quote it.
    let mut bad = okta_user("refused@acme.test", "Re", "Fused");
    bad["password"] = json!(password(5));
    bad["active"] = json!("maybe");
    let r = w.post_user(bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    answers.push(r.body.to_string());
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": password(6)}]),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    answers.push(r.body.to_string());
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Vault", "members": [{"value": id.to_string()}]});
    assert_eq!(
        w.call(Method::POST, "/Groups", Some(group)).await.status,
        StatusCode::CREATED
    );
    let r = w
        .call(
            Method::PATCH,
            &path,
            Some(patch(json!([{"op": "replace", "value": {"active": false}}]))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        w.call(Method::DELETE, &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    for a in &answers {
        assert!(!a.contains(&marker), "a response echoed a password: {a}");
    }

    let db = w.env.db().await;
    let last_version: i64 = tests::scalar(
        &db,
        &format!("select version from scim.users where id = '{id}'"),
        "version",
    )
    .await;
    w.env
        .product_user_where(&db, id, |p| p.version == last_version)
        .await;
    tests::eventually("the outbox is drained", || async {
        tests::scalar::<i64>(
            &db,
            "select count(*) as n from scim.outbox where published_at is null",
            "n",
        )
        .await
            == 0
    })
    .await;

    // Both processes stop cleanly, so their logs are complete.
    assert!(w.api.terminate().success());
    assert!(w.worker.as_mut().unwrap().terminate().success());
    let logs = [("api", w.api.log()), ("worker", w.worker.as_ref().unwrap().log())];
    let hash = sha256_hex(&db, &w.token).await;
    let wrong_hash = sha256_hex(&db, &wrong).await;
    let secrets = [
        ("the token", w.token.clone()),
        ("the token's random part", w.token["scimr_".len()..].to_owned()),
        ("the token's sha256", hash.clone()),
        ("the token's sha256 in capitals", hash.to_uppercase()),
        ("the wrong token", wrong.clone()),
        ("the wrong token's sha256", wrong_hash),
        ("a password", marker.clone()),
    ];
    for (process, log) in &logs {
        // The logs are real debug logs about this traffic, not empty files.
        assert!(
            log.contains("\"level\":\"DEBUG\""),
            "{process}: debug logging is off"
        );
        assert!(
            log.contains(&id.to_string()),
            "{process} never logged the user's id"
        );
        for (what, secret) in &secrets {
            assert!(!log.contains(secret.as_str()), "{process} logged {what}");
        }
    }
    assert!(logs[0].1.contains("user created") && logs[0].1.contains("user deleted"));

    let rows = dump_database(&db).await;
    assert!(
        rows.iter()
            .any(|r| r.starts_with("scim.outbox") && r.contains("secret.keeper@acme.test")),
        "the dump sees the outbox payloads"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("product.users") && r.contains("Chief Keeper")),
        "the dump sees the product"
    );
    for (what, secret) in &secrets {
        let hits: Vec<&String> = rows.iter().filter(|r| r.contains(secret.as_str())).collect();
        if *what == "the token's sha256" {
            assert!(
                !hits.is_empty() && hits.iter().all(|r| r.starts_with("scim.api_tokens ")),
                "the token's hash belongs in scim.api_tokens only: {hits:?}"
            );
        } else {
            assert!(hits.is_empty(), "{what} stored: {hits:?}");
        }
    }
}
