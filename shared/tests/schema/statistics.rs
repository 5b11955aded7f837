//! The statistics keeper (`shared::statistics`) against real Postgres: which tables it analyses,
//! that a replica holding a table's turn is left to it, and that its analyse replaces a generic
//! plan a pooled session had kept from when the table was small.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use shared::db::stmt;
use shared::statistics::analyze_stale;

use crate::testdb::TestDb;

const FRACTION: f64 = 0.1;

async fn table_with_rows(db: &DatabaseConnection, rows: i64) {
    db.execute_unprepared(
        "create schema keeper;
         create table keeper.items (id bigserial primary key, name text not null unique)",
    )
    .await
    .unwrap();
    add_rows(db, rows).await;
    // An ANALYZE before the server counts the inserts would reset a count they then add to.
    wait_until_counted(db, rows).await;
    db.execute_unprepared("analyze keeper.items").await.unwrap();
}

/// Waits until the server counts at least `changes` since the table's last analyse: a backend
/// publishes its counts up to a second after its commit.
async fn wait_until_counted(db: &DatabaseConnection, changes: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counted = db
            .query_one_raw(stmt(
                "select coalesce(max(n_mod_since_analyze), 0) as n
                   from pg_stat_user_tables where relid = 'keeper.items'::regclass",
                [],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "{counted} of {changes} changes counted after 20 s"
        );
        if counted >= changes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_rows(db: &DatabaseConnection, rows: i64) {
    db.execute_raw(stmt(
        "insert into keeper.items (name)
         select 'n' || (coalesce((select max(id) from keeper.items), 0) + g)
           from generate_series(1, $1) g",
        [rows.into()],
    ))
    .await
    .unwrap();
}

/// The tables the keeper analyses once the server's counters show the changes: a backend
/// publishes them within about a second of its transaction, so the first rounds may see none.
async fn analysed_once_counted(db: &DatabaseConnection) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let analysed = analyze_stale(db, "keeper", FRACTION).await.unwrap();
        if !analysed.is_empty() || Instant::now() > deadline {
            return analysed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_table_is_analysed_once_its_changes_pass_the_threshold_and_then_not_again() {
    let testdb = TestDb::create().await;
    let db = testdb.connect().await;
    table_with_rows(&db, 1000).await;

    // 60 changes on 1,000 analysed rows: under 50 + 10%.
    add_rows(&db, 60).await;
    wait_until_counted(&db, 60).await;
    assert_eq!(
        analyze_stale(&db, "keeper", FRACTION).await.unwrap(),
        Vec::<String>::new()
    );

    // 200 more: past it.
    add_rows(&db, 200).await;
    assert_eq!(analysed_once_counted(&db).await, ["items"]);
    assert_eq!(
        analyze_stale(&db, "keeper", FRACTION).await.unwrap(),
        Vec::<String>::new()
    );
    let row = db
        .query_one_raw(stmt(
            "select reltuples::bigint as n from pg_class where oid = 'keeper.items'::regclass",
            [],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1260);
}

#[tokio::test]
async fn a_table_another_replica_is_analysing_is_left_to_it() {
    let testdb = TestDb::create().await;
    let db = testdb.connect().await;
    table_with_rows(&db, 10).await;
    add_rows(&db, 500).await;

    let other = db.begin().await.unwrap();
    other
        .execute_raw(stmt(
            "select pg_advisory_xact_lock(hashtextextended('scim-relay analyze keeper.items', 0))",
            [],
        ))
        .await
        .unwrap();
    wait_until_counted(&db, 500).await;
    assert_eq!(
        analyze_stale(&db, "keeper", FRACTION).await.unwrap(),
        Vec::<String>::new()
    );
    other.rollback().await.unwrap();

    assert_eq!(analysed_once_counted(&db).await, ["items"]);
}

async fn plan(session: &DatabaseConnection) -> String {
    session
        .query_all_raw(stmt("explain execute lookup('n7')", []))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_analyse_replaces_the_generic_plan_a_session_kept_from_a_small_table() {
    let testdb = TestDb::create().await;
    let db = testdb.connect().await;
    table_with_rows(&db, 10).await;

    // One pooled session, as the binaries' are, with a statement prepared and run past the
    // five custom plans after which Postgres keeps a generic one.
    let mut cfg = testdb.config();
    cfg.database_max_connections = 1;
    let session = shared::db::connect(&cfg).await.unwrap();
    session
        .execute_unprepared("prepare lookup(text) as select id from keeper.items where name = $1")
        .await
        .unwrap();
    for _ in 0..6 {
        session.execute_unprepared("execute lookup('n7')").await.unwrap();
    }
    let small = plan(&session).await;
    assert!(small.contains("Seq Scan") && small.contains("$1"), "{small}");

    add_rows(&db, 100_000).await;
    assert!(
        plan(&session).await.contains("Seq Scan"),
        "nothing replaces the plan by itself"
    );

    assert_eq!(analysed_once_counted(&db).await, ["items"]);
    // Replanned with the table's size: generic or custom, an index scan.
    let grown = plan(&session).await;
    assert!(grown.contains("Index Scan"), "{grown}");
}
