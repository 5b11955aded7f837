//! The migrators: what a fresh database records, how a database of the hand-written runner is
//! adopted (rows intact, same schema as a fresh one), replicas starting together, and the
//! transaction, lock and timeout a migration runs under.

use std::time::Duration;

use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, NotSet, Set, Statement,
    TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use serde_json::json;
use shared::entity::*;
use shared::migration::{
    Legacy, NoTransactionMigration, SchemaMigrator, SqlMigration, directory, migrate, migrate_directory,
    migrate_product, product,
};
use uuid::Uuid;

use crate::testdb::TestDb;

fn sql(s: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, s)
}

async fn strings(db: &DatabaseConnection, query: &str) -> Vec<String> {
    db.query_all_raw(sql(query))
        .await
        .expect(query)
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).expect(query))
        .collect()
}

async fn migrate_both(db: &DatabaseConnection) {
    migrate_directory(db).await.expect("migrate the directory schema");
    migrate_product(db).await.expect("migrate the product schema");
}

fn names<M: MigratorTrait>() -> Vec<String> {
    M::migrations().iter().map(|m| m.name().to_owned()).collect()
}

/// The names a bookkeeping table records, oldest first.
async fn recorded<M: SchemaMigrator>(db: &DatabaseConnection) -> Vec<String> {
    strings(
        db,
        &format!(
            "select version from {}.seaql_migrations order by version",
            M::SCHEMA
        ),
    )
    .await
}

async fn exists(db: &DatabaseConnection, table: &str) -> bool {
    let r = db
        .query_one_raw(sql(&format!("select to_regclass('{table}') is not null as e")))
        .await
        .unwrap()
        .unwrap();
    r.try_get("", "e").unwrap()
}

/// What the hand-written runner did until issue 14, reproduced as it was released: in one
/// transaction, under a transaction-scoped advisory lock, every version above the recorded
/// maximum, each followed by its `(version, name)` row in `<schema>._migrations`.
async fn migrate_the_old_way(db: &DatabaseConnection, schema: &str, legacy: &[Legacy]) {
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("set local statement_timeout = 0")
        .await
        .unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "select pg_advisory_xact_lock(hashtext($1))",
        [format!("scim-relay migrations {schema}").into()],
    ))
    .await
    .unwrap();
    txn.execute_unprepared(&format!(
        "create schema if not exists {schema};
         create table if not exists {schema}._migrations (
             version integer primary key,
             name text not null,
             applied_at timestamptz not null default now())"
    ))
    .await
    .unwrap();
    let current: i32 = txn
        .query_one_raw(sql(&format!(
            "select coalesce(max(version), 0) as v from {schema}._migrations"
        )))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "v")
        .unwrap();
    for m in legacy.iter().filter(|m| m.version > current) {
        txn.execute_unprepared(m.migration.sql).await.unwrap();
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("insert into {schema}._migrations (version, name) values ($1, $2)"),
            [m.version.into(), m.name.into()],
        ))
        .await
        .unwrap();
    }
    txn.commit().await.unwrap();
}

/// Columns, indexes and constraints of `scim` and `product`, without the hand-written runner's
/// own table (kept on adopted databases only).
async fn schema(db: &DatabaseConnection) -> Vec<String> {
    let mut out = strings(
        db,
        "select concat_ws(' | ', table_schema, table_name, ordinal_position, column_name, data_type,
                          udt_name, is_nullable, column_default, is_identity, identity_generation)
         from information_schema.columns
         where table_schema in ('scim', 'product') and table_name <> '_migrations'
         order by table_schema, table_name, ordinal_position",
    )
    .await;
    out.extend(
        strings(
            db,
            "select concat_ws(' | ', schemaname, tablename, indexname, indexdef) from pg_indexes
             where schemaname in ('scim', 'product') and tablename <> '_migrations'
             order by schemaname, tablename, indexname",
        )
        .await,
    );
    out.extend(
        strings(
            db,
            "select concat_ws(' | ', n.nspname, c.conrelid::regclass::text, c.conname,
                              pg_get_constraintdef(c.oid))
             from pg_constraint c join pg_namespace n on n.oid = c.connamespace
             where n.nspname in ('scim', 'product') and c.conrelid::regclass::text not like '%._migrations'
             order by 1",
        )
        .await,
    );
    out
}

/// The tables of `scim` and `product` but the bookkeeping.
async fn data_tables(db: &DatabaseConnection) -> Vec<String> {
    strings(
        db,
        "select table_schema || '.' || table_name from information_schema.tables
         where table_schema in ('scim', 'product') and table_type = 'BASE TABLE'
           and table_name not in ('_migrations', 'seaql_migrations')
         order by 1",
    )
    .await
}

/// Every row of `tables`, as JSON, table by table; each must hold one at least (the test fills
/// every table the old runner made).
/// Every row of `tables` as text, by the columns the tables have now: a later migration may add
/// columns (with defaults), and `every_row_of` then still reads the old ones alone.
async fn every_row(db: &DatabaseConnection, tables: &[String]) -> (Vec<String>, Vec<(String, String)>) {
    let mut columns = Vec::new();
    for t in tables {
        let (schema, table) = t.split_once('.').expect("schema.table");
        for c in strings(
            db,
            &format!(
                "select column_name::text from information_schema.columns \
                 where table_schema = '{schema}' and table_name = '{table}' order by column_name"
            ),
        )
        .await
        {
            columns.push((t.clone(), c));
        }
    }
    (every_row_of(db, tables, &columns).await, columns)
}

async fn every_row_of(
    db: &DatabaseConnection,
    tables: &[String],
    columns: &[(String, String)],
) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        let names: Vec<String> = columns
            .iter()
            .filter(|(table, _)| table == t)
            .map(|(_, c)| format!("'{c}'"))
            .collect();
        let rows = strings(
            db,
            &format!(
                "select (select jsonb_object_agg(key, value) from jsonb_each(to_jsonb(r)) \
                 where key in ({})) ::text as row from {t} r order by 1",
                names.join(", ")
            ),
        )
        .await;
        assert!(
            !rows.is_empty(),
            "{t} holds no row: the test should fill every table"
        );
        out.extend(rows.into_iter().map(|r| format!("{t}: {r}")));
    }
    out
}

fn at(s: &str) -> DateTimeWithTimeZone {
    DateTimeWithTimeZone::parse_from_rfc3339(s).unwrap()
}

/// The rows the adoption test writes, as the entities read them back.
struct Written {
    tenant: scim_tenant::Model,
    users: Vec<scim_user::Model>,
    group: scim_group::Model,
    outbox: Vec<scim_outbox::Model>,
    product_users: Vec<product_user::Model>,
}

/// A tenant, a token, users (one deleted), a group with a member and a removed one, outbox rows
/// (one published), an audit row, an admin session and the product's rows, through the entities.
async fn write_rows(db: &DatabaseConnection) -> Written {
    let t0 = at("2025-03-04T05:06:07.123456+00:00");
    // Written with the columns the old runner's schema has; read back as the migrated table
    // shows it (later columns at their defaults).
    let id = Uuid::new_v4();
    scim_tenant::Entity::insert(scim_tenant::ActiveModel {
        id: Set(id),
        name: Set("Acme".into()),
        created_at: NotSet,
        schemas_version: NotSet,
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    let created_at = strings(
        db,
        &format!("select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') from scim.tenants where id = '{id}'"),
    )
    .await;
    let tenant = scim_tenant::Model {
        id,
        name: "Acme".into(),
        created_at: at(&created_at[0]),
        schemas_version: 0,
    };
    scim_api_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.id),
        token_hash: Set(vec![7; 32]),
        created_at: Set(t0),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let mut users = Vec::new();
    for (name, deleted_at) in [("Ada", None), ("Bob", Some(t0))] {
        let user = scim_user::ActiveModel {
            id: Set(Uuid::new_v4()),
            tenant_id: Set(tenant.id),
            user_name: Set(name.into()),
            user_name_key: Set(name.to_lowercase()),
            external_id: Set(Some(format!("ext-{name}"))),
            active: Set(true),
            resource: Set(json!({"userName": name, "emails": [{"value": format!("{name}@acme.test")}]})),
            version: Set(3),
            created_at: Set(t0),
            updated_at: Set(t0),
            deleted_at: Set(deleted_at),
        }
        .insert(db)
        .await
        .unwrap();
        users.push(user);
    }
    let group = scim_group::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.id),
        display_name: Set("Engineering".into()),
        display_name_key: Set("engineering".into()),
        external_id: Set(None),
        resource: Set(json!({"displayName": "Engineering"})),
        version: Set(2),
        created_at: Set(t0),
        updated_at: Set(t0),
        deleted_at: Set(None),
        revision: Set(5),
    }
    .insert(db)
    .await
    .unwrap();
    for (user, member) in users.iter().zip([true, false]) {
        scim_group_member::ActiveModel {
            group_id: Set(group.id),
            user_id: Set(user.id),
            tenant_id: Set(tenant.id),
            member: Set(member),
            version: Set(4),
            updated_at: Set(t0),
        }
        .insert(db)
        .await
        .unwrap();
    }
    let mut outbox = Vec::new();
    for published_at in [Some(t0), None] {
        let row = scim_outbox::ActiveModel {
            id: NotSet,
            message_id: Set(Uuid::new_v4()),
            tenant_id: Set(tenant.id),
            routing_key: Set("user.upserted".into()),
            payload: Set(json!({"v": 1, "id": users[0].id})),
            created_at: Set(t0),
            published_at: Set(published_at),
        }
        .insert(db)
        .await
        .unwrap();
        outbox.push(row);
    }
    scim_audit::ActiveModel {
        id: NotSet,
        at: Set(t0),
        tenant_id: Set(tenant.id),
        method: Set("POST".into()),
        route: Set("/Users".into()),
        resource_type: Set(Some("User".into())),
        resource_id: Set(Some(users[0].id)),
        status: Set(201),
        latency_ms: Set(12),
        outcome: Set("created".into()),
        client: Set(Some("okta".into())),
        trace_id: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    scim_admin_session::ActiveModel {
        id_hash: Set(vec![1; 32]),
        key_fingerprint: Set(vec![2; 32]),
        csrf_hash: Set(vec![3; 32]),
        created_at: Set(t0),
        expires_at: Set(t0),
    }
    .insert(db)
    .await
    .unwrap();

    let mut product_users = Vec::new();
    for (user, manager) in [(&users[0], None), (&users[1], Some(users[0].id))] {
        // What the row reads as once migrated: the later columns hold their defaults.
        let row = product_user::Model {
            id: user.id,
            tenant_id: tenant.id,
            user_name: user.user_name.clone(),
            email: Some(format!("{}@acme.test", user.user_name)),
            first_name: Some(user.user_name.clone()),
            last_name: None,
            department: Some("R&D".into()),
            job_title: None,
            manager_id: manager,
            active: true,
            version: 3,
            updated_at: t0,
            external_id: user.external_id.clone(),
            employee_number: Some("42".into()),
            emails: vec![format!("{}@acme.test", user.user_name), "alias@acme.test".into()],
            manager_ref: manager.map(|m| m.to_string()),
            cost_center: None,
            organization: None,
            division: None,
            attributes: serde_json::json!({}),
            idp_roles: Vec::new(),
            idp_primary_role: None,
        };
        // Written with the columns the old runner's schema has.
        let mut old = product_user::ActiveModel::from(row.clone());
        old.cost_center = NotSet;
        old.organization = NotSet;
        old.division = NotSet;
        old.attributes = NotSet;
        old.idp_roles = NotSet;
        old.idp_primary_role = NotSet;
        product_user::Entity::insert(old)
            .exec_without_returning(db)
            .await
            .unwrap();
        product_users.push(row);
    }
    product_group::ActiveModel {
        id: Set(group.id),
        tenant_id: Set(tenant.id),
        name: Set(group.display_name.clone()),
        version: Set(2),
        updated_at: Set(t0),
    }
    .insert(db)
    .await
    .unwrap();
    product_group_member::ActiveModel {
        group_id: Set(group.id),
        user_id: Set(users[0].id),
    }
    .insert(db)
    .await
    .unwrap();
    product_group_version::ActiveModel {
        id: Set(group.id),
        tenant_id: Set(tenant.id),
        version: Set(2),
        deleted: Set(false),
    }
    .insert(db)
    .await
    .unwrap();
    product_membership_version::ActiveModel {
        group_id: Set(group.id),
        user_id: Set(users[1].id),
        tenant_id: Set(tenant.id),
        version: Set(4),
        member: Set(false),
    }
    .insert(db)
    .await
    .unwrap();
    Written {
        tenant,
        users,
        group,
        outbox,
        product_users,
    }
}

#[tokio::test]
async fn an_empty_database_is_migrated_and_every_migration_recorded_once() {
    let db = TestDb::create().await;
    let conn = db.connect().await;
    migrate_both(&conn).await;
    assert_eq!(
        recorded::<directory::Migrator>(&conn).await,
        names::<directory::Migrator>()
    );
    assert_eq!(
        recorded::<product::Migrator>(&conn).await,
        names::<product::Migrator>()
    );
    // Each schema keeps its own history, and nothing lands in `public`.
    assert_eq!(
        strings(
            &conn,
            "select table_schema || '.' || table_name from information_schema.tables
             where table_name like '%migrations' order by 1"
        )
        .await,
        ["product.seaql_migrations", "scim.seaql_migrations"]
    );
    let stamps = strings(
        &conn,
        "select (min(applied_at) > extract(epoch from now() - interval '1 hour'))::text
         from (select applied_at from scim.seaql_migrations
               union all select applied_at from product.seaql_migrations) a",
    )
    .await;
    assert_eq!(stamps, ["true"], "applied_at is the time of this run");
    // A fresh database never had the hand-written runner's table, and gets none.
    assert!(!exists(&conn, "scim._migrations").await);
    assert!(!exists(&conn, "product._migrations").await);

    // The next start finds nothing to do.
    let before = schema(&conn).await;
    migrate_both(&conn).await;
    assert_eq!(
        recorded::<directory::Migrator>(&conn).await,
        names::<directory::Migrator>()
    );
    assert_eq!(
        recorded::<product::Migrator>(&conn).await,
        names::<product::Migrator>()
    );
    assert_eq!(schema(&conn).await, before);
}

#[tokio::test]
async fn a_database_of_the_hand_written_runner_is_adopted_with_every_row_intact() {
    let old = TestDb::create().await;
    let conn = old.connect().await;
    migrate_the_old_way(&conn, "scim", directory::Migrator::LEGACY).await;
    migrate_the_old_way(&conn, "product", product::Migrator::LEGACY).await;
    let written = write_rows(&conn).await;
    // Tables of later migrations are made empty by them; these are the old runner's.
    let old_tables = data_tables(&conn).await;
    let (rows_before, old_columns) = every_row(&conn, &old_tables).await;
    let old_stamps = strings(
        &conn,
        "select extract(epoch from applied_at)::bigint::text from scim._migrations order by version",
    )
    .await;

    migrate_both(&conn).await;

    // Recorded as applied, at the time the old runner applied them; nothing ran again (it would
    // have failed: `create table` of an existing table).
    assert_eq!(
        recorded::<directory::Migrator>(&conn).await,
        names::<directory::Migrator>()
    );
    assert_eq!(
        recorded::<product::Migrator>(&conn).await,
        names::<product::Migrator>()
    );
    // Those the old runner applied keep its times; later migrations ran now.
    let mut stamps = strings(
        &conn,
        "select applied_at::text from scim.seaql_migrations order by version",
    )
    .await;
    stamps.truncate(old_stamps.len());
    assert_eq!(stamps, old_stamps);
    // The old table stays as it was, for binaries of the previous release.
    assert_eq!(
        strings(
            &conn,
            "select version || ' ' || name from scim._migrations order by version"
        )
        .await,
        directory::Migrator::LEGACY
            .iter()
            .map(|l| format!("{} {}", l.version, l.name))
            .collect::<Vec<_>>()
    );
    assert!(exists(&conn, "product._migrations").await);

    assert_eq!(every_row_of(&conn, &old_tables, &old_columns).await, rows_before);
    assert_eq!(
        scim_tenant::Entity::find_by_id(written.tenant.id)
            .one(&conn)
            .await
            .unwrap(),
        Some(written.tenant.clone())
    );
    assert_eq!(scim_user::Entity::find().all(&conn).await.unwrap().len(), 2);
    for user in &written.users {
        assert_eq!(
            scim_user::Entity::find_by_id(user.id)
                .one(&conn)
                .await
                .unwrap()
                .as_ref(),
            Some(user)
        );
    }
    assert_eq!(
        scim_group::Entity::find_by_id(written.group.id)
            .one(&conn)
            .await
            .unwrap(),
        Some(written.group.clone())
    );
    assert_eq!(
        scim_group_member::Entity::find().all(&conn).await.unwrap().len(),
        2,
        "group members"
    );
    for row in &written.outbox {
        assert_eq!(
            scim_outbox::Entity::find_by_id(row.id)
                .one(&conn)
                .await
                .unwrap()
                .as_ref(),
            Some(row)
        );
    }
    for row in &written.product_users {
        assert_eq!(
            product_user::Entity::find_by_id(row.id)
                .one(&conn)
                .await
                .unwrap()
                .as_ref(),
            Some(row)
        );
    }

    // Same schema as a database the new migrators built from nothing.
    let (_fresh, fresh) = TestDb::migrated().await;
    assert_eq!(schema(&conn).await, schema(&fresh).await);

    // And the next start finds nothing to do.
    migrate_both(&conn).await;
    assert_eq!(every_row_of(&conn, &old_tables, &old_columns).await, rows_before);
}

#[tokio::test]
async fn a_database_the_old_runner_left_behind_gets_only_the_later_migrations() {
    let old = TestDb::create().await;
    let conn = old.connect().await;
    migrate_the_old_way(&conn, "scim", &directory::Migrator::LEGACY[..3]).await;
    migrate_the_old_way(&conn, "product", &product::Migrator::LEGACY[..1]).await;
    migrate_both(&conn).await;
    assert_eq!(
        recorded::<directory::Migrator>(&conn).await,
        names::<directory::Migrator>()
    );
    assert_eq!(
        recorded::<product::Migrator>(&conn).await,
        names::<product::Migrator>()
    );
    let (_fresh, fresh) = TestDb::migrated().await;
    assert_eq!(schema(&conn).await, schema(&fresh).await);
}

#[tokio::test]
async fn a_version_this_binary_does_not_know_stops_the_migration() {
    let old = TestDb::create().await;
    let conn = old.connect().await;
    migrate_the_old_way(&conn, "scim", directory::Migrator::LEGACY).await;
    conn.execute_unprepared("insert into scim._migrations (version, name) values (99, 'from the future')")
        .await
        .unwrap();
    let err = migrate_directory(&conn)
        .await
        .expect_err("an unknown version must not be skipped");
    assert!(err.to_string().contains("version 99"), "{err}");
    // Nothing was recorded: the next binary adopts from scratch.
    assert!(recorded::<directory::Migrator>(&conn).await.is_empty());
}

#[tokio::test]
async fn replicas_starting_together_apply_each_migration_once() {
    let db = TestDb::create().await;
    let mut replicas = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let conn = db.connect().await;
        replicas.spawn(async move {
            migrate_directory(&conn).await?;
            migrate_product(&conn).await
        });
    }
    while let Some(done) = replicas.join_next().await {
        done.unwrap().expect("every replica starts");
    }
    let conn = db.connect().await;
    assert_eq!(
        recorded::<directory::Migrator>(&conn).await,
        names::<directory::Migrator>()
    );
    assert_eq!(
        recorded::<product::Migrator>(&conn).await,
        names::<product::Migrator>()
    );
}

/// A migrator of a scratch schema with migrations of both kinds. The last two write down the
/// advisory locks and statement timeout of the session they run on.
struct Scratch;

macro_rules! look {
    ($step:literal) => {
        concat!(
            "insert into scratch.seen select '",
            $step,
            "', (select count(*) from pg_locks
                 where locktype = 'advisory' and pid = pg_backend_pid() and granted),
               current_setting('statement_timeout')"
        )
    };
}

impl MigratorTrait for Scratch {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SqlMigration {
                name: "m0001_items",
                sql: "create table scratch.items (id bigint primary key, name text not null);
                      insert into scratch.items select g, 'item ' || g from generate_series(1, 10000) g;
                      create table scratch.seen (step text, advisory_locks bigint, statement_timeout text);
                      select pg_sleep(0.3);",
            }),
            Box::new(NoTransactionMigration {
                name: "m0002_items_name",
                statements: &[
                    "drop index concurrently if exists scratch.items_name",
                    "create index concurrently items_name on scratch.items (name)",
                    "select pg_sleep(0.3)",
                ],
            }),
            Box::new(SqlMigration {
                name: "m0003_look_in_a_transaction",
                sql: look!("in a transaction"),
            }),
            Box::new(NoTransactionMigration {
                name: "m0004_look_outside",
                statements: &[look!("outside")],
            }),
        ]
    }
}

impl SchemaMigrator for Scratch {
    const SCHEMA: &'static str = "scratch";
    const LEGACY: &'static [Legacy] = &[];
}

#[tokio::test]
async fn a_migration_outside_a_transaction_builds_an_index_concurrently_under_the_lock() {
    let db = TestDb::create().await;
    // The pool bounds statements as the api's does; migrations must not be cut by it.
    let conn = db.connect_with_timeout(Some(Duration::from_millis(100))).await;
    conn.execute_unprepared("select pg_sleep(0.3)")
        .await
        .expect_err("the pool's statements are bounded");
    migrate::<Scratch>(&conn)
        .await
        .expect("migrate the scratch schema");
    assert_eq!(recorded::<Scratch>(&conn).await, names::<Scratch>());
    let valid = strings(
        &conn,
        "select indisvalid::text from pg_index where indexrelid = 'scratch.items_name'::regclass",
    )
    .await;
    assert_eq!(valid, ["true"], "the concurrent build completed");
    // In and outside a transaction, migrations ran on the session holding the lock, unbounded.
    assert_eq!(
        strings(
            &conn,
            "select step || ' ' || advisory_locks || ' ' || statement_timeout from scratch.seen order by step"
        )
        .await,
        ["in a transaction 1 0", "outside 1 0"]
    );
    // The lock went with the migration connection: another session takes it at once.
    let free = strings(
        &conn,
        "select pg_try_advisory_lock(hashtext('scim-relay migrations scratch'))::text",
    )
    .await;
    assert_eq!(free, ["true"]);
}
