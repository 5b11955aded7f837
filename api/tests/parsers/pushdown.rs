//! The SQL translation of filters (what `GET /Users` and `GET /Groups` run) checked against the
//! in-memory evaluator: the filter tables through `directory::{users,groups}::list` on the
//! fixtures loaded into Postgres, and random filters over random users (see `pushdown_props`).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use scim_api::directory::{Query, Scope};
use scim_api::directory::{groups, users};
use scim_api::scim::{Kind, filter};
use scim_api::tokens;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use shared::db::stmt;
use uuid::Uuid;

use super::filter_cases::{self, Expect};
use super::fixtures::{self, FixtureGroup, FixtureUser};
use super::testdb::TestDb;

pub async fn new_tenant(db: &DatabaseConnection) -> Uuid {
    tokens::create_tenant(db, "parsers")
        .await
        .expect("create tenant")
        .tenant_id
}

/// Stores a user document the way POST /Users does, then gives the row the id and timestamps
/// asked for (the fixtures have fixed ones; the insert draws new ones).
pub async fn insert_user(
    db: &DatabaseConnection,
    tenant: Uuid,
    doc: &serde_json::Map<String, serde_json::Value>,
    id: Option<Uuid>,
    created: DateTime<Utc>,
    last_modified: DateTime<Utc>,
) -> Uuid {
    let txn = db.begin().await.expect("begin");
    // The test tenant has no event stream, so the event is never written.
    let event = |s: &users::StoredUser| scim_api::events::Recorded {
        txn: Uuid::nil(),
        resource_type: "User",
        resource_id: s.meta.id,
        external_id: None,
        method: "POST",
        activation: None,
        attributes: Vec::new(),
        data: None,
        version: None,
    };
    let (stored, _, _) = users::insert(&txn, tenant, doc.clone(), event)
        .await
        .unwrap_or_else(|e| panic!("insert user: {e:?}"));
    let id = id.unwrap_or(stored.meta.id);
    txn.execute_raw(stmt(
        "update scim.users set id = $2, created_at = $3, updated_at = $4 where id = $1",
        [
            stored.meta.id.into(),
            id.into(),
            created.into(),
            last_modified.into(),
        ],
    ))
    .await
    .expect("set id and timestamps");
    txn.commit().await.expect("commit");
    id
}

async fn load_users(db: &DatabaseConnection, tenant: Uuid, users: &[FixtureUser]) {
    for u in users {
        insert_user(db, tenant, &u.doc, Some(u.id), u.created, u.last_modified).await;
    }
}

async fn load_groups(db: &DatabaseConnection, tenant: Uuid, users: &[FixtureUser], all: &[FixtureGroup]) {
    for g in all {
        let txn = db.begin().await.expect("begin");
        let (stored, _) = groups::insert(&txn, tenant, g.doc.clone())
            .await
            .unwrap_or_else(|e| panic!("insert group: {e:?}"));
        txn.execute_raw(stmt(
            "update scim.groups set id = $2, created_at = $3, updated_at = $4 where id = $1",
            [
                stored.meta.id.into(),
                g.id.into(),
                g.created.into(),
                g.last_modified.into(),
            ],
        ))
        .await
        .expect("set id and timestamps");
        let member_ids: Vec<Uuid> = g
            .members
            .iter()
            .map(|name| fixtures::user_named(users, name).id)
            .collect();
        scim_api::directory::pairs::add::<scim_api::directory::pairs::Users>(&txn, tenant, g.id, &member_ids)
            .await
            .expect("add members");
        txn.commit().await.expect("commit");
    }
}

/// The list endpoint's query for every resource of the tenant the filter selects, unsorted.
pub fn whole_tenant(filter: Option<&filter::Filter>) -> Query<'_> {
    Query {
        filter,
        sort: None,
        scope: Scope::OneType,
        offset: 0,
        limit: 10_000,
        seek: None,
    }
}

/// What the list endpoint answers: the ids selected, or the scimType of a 400.
pub async fn list_user_ids(
    db: &DatabaseConnection,
    tenant: Uuid,
    f: &filter::Filter,
) -> Result<BTreeSet<Uuid>, String> {
    match users::list(db, tenant, &whole_tenant(Some(f)), false).await {
        Ok(page) => {
            let ids: BTreeSet<Uuid> = page.users.iter().map(|u| u.meta.id).collect();
            assert_eq!(
                page.total as usize,
                ids.len(),
                "totalResults counts what the page holds"
            );
            Ok(ids)
        }
        Err(e) if e.status.as_u16() == 400 => Err(e.scim_type.map_or("none", Kind::scim_type).to_owned()),
        Err(e) => panic!(
            "{f}: the list failed with {} {:?}: {}",
            e.status, e.scim_type, e.detail
        ),
    }
}

async fn list_group_ids(
    db: &DatabaseConnection,
    tenant: Uuid,
    f: &filter::Filter,
) -> Result<BTreeSet<Uuid>, String> {
    match groups::list(db, tenant, &whole_tenant(Some(f))).await {
        Ok(page) => Ok(page.groups.iter().map(|g| g.meta.id).collect()),
        Err(e) if e.status.as_u16() == 400 => Err(e.scim_type.map_or("none", Kind::scim_type).to_owned()),
        Err(e) => panic!(
            "{f}: the list failed with {} {:?}: {}",
            e.status, e.scim_type, e.detail
        ),
    }
}

/// Runs a table through SQL; one line per case that did not go as the table says.
async fn run_in_sql<F, Fut>(
    cases: &[(&'static str, String, Expect)],
    names: &[(&'static str, Uuid)],
    list: F,
) -> Vec<String>
where
    F: Fn(filter::Filter) -> Fut,
    Fut: Future<Output = Result<BTreeSet<Uuid>, String>>,
{
    let name_of = |id: &Uuid| names.iter().find(|(_, i)| i == id).map_or("?", |(n, _)| *n);
    let ids_of = |want: &[&str]| -> BTreeSet<Uuid> {
        want.iter()
            .map(|w| {
                names
                    .iter()
                    .find(|(n, _)| n == w)
                    .map(|(_, id)| *id)
                    .expect("fixture name")
            })
            .collect()
    };
    let mut failures = Vec::new();
    for (section, text, expect) in cases {
        let Ok(f) = filter::parse(text) else { continue };
        let got = list(f).await;
        let outcome = match (got, expect) {
            (Ok(ids), Expect::Selects(want)) if ids == ids_of(want) => continue,
            (Err(t), Expect::SqlRefuses(_)) if t == Kind::InvalidFilter.scim_type() => continue,
            (Ok(ids), _) => format!(
                "selected {:?}, expected {expect:?}",
                ids.iter().map(name_of).collect::<Vec<_>>()
            ),
            (Err(t), _) => format!("refused ({t}), expected {expect:?}"),
        };
        failures.push(format!("[{section}] {text:.120}: {outcome}"));
    }
    failures
}

#[tokio::test]
async fn user_filter_table_holds_in_sql() {
    let t = TestDb::create("filters").await;
    let tenant = new_tenant(&t.db).await;
    let users = fixtures::users();
    load_users(&t.db, tenant, &users).await;
    // Another tenant's identical users must never show up.
    let other = new_tenant(&t.db).await;
    for u in &users {
        insert_user(&t.db, other, &u.doc, None, u.created, u.last_modified).await;
    }
    let names: Vec<_> = users.iter().map(|u| (u.name, u.id)).collect();
    let cases = filter_cases::all_user_cases();
    let failures = run_in_sql(&cases, &names, |f| {
        let db = &t.db;
        async move { list_user_ids(db, tenant, &f).await }
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn group_filter_table_holds_in_sql() {
    let t = TestDb::create("filters").await;
    let tenant = new_tenant(&t.db).await;
    let users = fixtures::users();
    load_users(&t.db, tenant, &users).await;
    let all = fixtures::groups();
    load_groups(&t.db, tenant, &users, &all).await;
    let names: Vec<_> = all.iter().map(|g| (g.name, g.id)).collect();
    let cases: Vec<_> = filter_cases::GROUP_CASES
        .iter()
        .map(|&(s, f, e)| (s, f.to_owned(), e))
        .collect();
    let failures = run_in_sql(&cases, &names, |f| {
        let db = &t.db;
        async move { list_group_ids(db, tenant, &f).await }
    })
    .await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A `userName eq` lookup's first page reads its users' groups in its own statement, the same
/// groups `groups_of` reads apart; any other list (a filter, a page further on) leaves them to
/// that second read.
#[tokio::test]
async fn a_lookup_reads_the_groups_in_its_own_statement_and_other_lists_do_not() {
    use scim_api::directory::memberships;
    let t = TestDb::create("attach").await;
    let tenant = new_tenant(&t.db).await;
    let users = fixtures::users();
    load_users(&t.db, tenant, &users).await;
    load_groups(&t.db, tenant, &users, &fixtures::groups()).await;
    let mut in_groups = 0;
    for u in &users {
        let name = u.doc["userName"].as_str().unwrap();
        let f = filter::parse(&format!("userName eq {}", serde_json::json!(name))).unwrap();
        let page = users::list(&t.db, tenant, &whole_tenant(Some(&f)), true)
            .await
            .unwrap();
        assert_eq!(page.users.len(), 1, "{name}");
        let read = page.groups.expect("a lookup reads the groups with the user");
        let apart = memberships::groups_of(&t.db, tenant, &[u.id]).await.unwrap();
        assert_eq!(read.get(&u.id), apart.get(&u.id), "{name}");
        in_groups += usize::from(apart.contains_key(&u.id));
    }
    assert!(in_groups > 0, "some fixture users are in groups");
    let active = filter::parse("active eq true").unwrap();
    let filtered = users::list(&t.db, tenant, &whole_tenant(Some(&active)), true)
        .await
        .unwrap();
    assert!(filtered.groups.is_none(), "a filter reads the groups apart");
    let name = users[0].doc["userName"].as_str().unwrap();
    let f = filter::parse(&format!("userName eq {}", serde_json::json!(name))).unwrap();
    let further = Query {
        offset: 1,
        ..whole_tenant(Some(&f))
    };
    let page = users::list(&t.db, tenant, &further, true).await.unwrap();
    assert!(page.groups.is_none(), "a page further on reads the groups apart");
}
