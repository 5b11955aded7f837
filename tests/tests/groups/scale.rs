//! The cost of a membership change does not grow with the group: in a 20,000-member group, adding
//! or removing one member writes one membership row and one small outbox message, and never
//! the group's whole membership.

use std::collections::HashMap;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::{Steps, World, last_outbox_id, message_version, outbox_after, refs};

const MEMBERS: usize = 20_000;
const BATCH: usize = 100;

fn sql(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}

/// Users written straight into the directory: what is under test is the group PATCH, and
/// 20,000 POSTs would only slow the suite down.
async fn insert_users(db: &DatabaseConnection, tenant: Uuid, n: usize) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(sql(
            "insert into scim.users (id, tenant_id, user_name, user_name_key, active, resource, version, created_at, updated_at)
             select gen_random_uuid(), $1, 'bulk-' || i || '@acme.test', 'bulk-' || i || '@acme.test', true,
                    jsonb_build_object('userName', 'bulk-' || i || '@acme.test', 'active', true), 1, now(), now()
             from generate_series(1, $2) as i
             returning id",
            [tenant.into(), (n as i32).into()],
        ))
        .await
        .expect("insert users");
    rows.iter().map(|r| r.try_get("", "id").expect("id")).collect()
}

/// The group's membership rows: user → (version, member).
async fn pairs(db: &DatabaseConnection, group: Uuid) -> HashMap<Uuid, (i64, bool)> {
    let rows = db
        .query_all_raw(sql(
            "select user_id, version, member from scim.group_members where group_id = $1",
            [group.into()],
        ))
        .await
        .expect("pairs");
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "user_id").expect("user_id"),
                (
                    r.try_get("", "version").expect("version"),
                    r.try_get("", "member").expect("member"),
                ),
            )
        })
        .collect()
}

fn changed(before: &HashMap<Uuid, (i64, bool)>, after: &HashMap<Uuid, (i64, bool)>) -> usize {
    after.iter().filter(|(k, v)| before.get(k) != Some(v)).count()
        + before.keys().filter(|k| !after.contains_key(k)).count()
}

#[tokio::test]
async fn one_member_changes_to_a_twenty_thousand_member_group_write_one_row_and_one_small_message() {
    let w = World::new().await;
    let db = w.env.db().await;
    let gid = w.group("Everyone").await;
    let users = insert_users(&db, w.tenant, MEMBERS + 1).await;
    for batch in users[..MEMBERS].chunks(BATCH) {
        w.patch_ok(
            gid,
            json!([{"op": "add", "path": "members", "value": refs(batch)}]),
        )
        .await;
    }
    let before = pairs(&db, gid).await;
    assert_eq!(before.values().filter(|(_, m)| *m).count(), MEMBERS);

    // Add one.
    let newcomer = users[MEMBERS];
    let mark = last_outbox_id(&db).await;
    w.patch_ok(
        gid,
        json!([{"op": "add", "path": "members", "value": refs(&[newcomer])}]),
    )
    .await;
    let written = outbox_after(&db, mark).await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].routing_key, "membership.created");
    assert_eq!(written[0].payload["snapshot"]["user_id"], newcomer.to_string());
    assert!(written[0].bytes < 1024, "{} bytes", written[0].bytes);
    let after = pairs(&db, gid).await;
    assert_eq!(changed(&before, &after), 1);

    // Remove one, the way Okta does.
    let leaver = users[0];
    let mark = last_outbox_id(&db).await;
    w.patch_ok(
        gid,
        json!([{"op": "remove", "path": format!("members[value eq \"{leaver}\"]")}]),
    )
    .await;
    let written = outbox_after(&db, mark).await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].routing_key, "membership.deleted");
    assert_eq!(written[0].payload["snapshot"]["member"], false);
    assert!(written[0].bytes < 1024, "{} bytes", written[0].bytes);
    let last = pairs(&db, gid).await;
    assert_eq!(changed(&after, &last), 1);

    // The group itself did not change, and reads the whole membership back.
    let r = w.get(&format!("/Groups/{gid}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(message_version(&w, gid).await, 1);
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(MEMBERS));
    let r = w.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert!(r.body.get("members").is_none());
}
