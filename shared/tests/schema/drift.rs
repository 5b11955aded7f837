//! Drift: every entity of `shared::entity` against the table the migrations build, column by
//! column (name, Postgres type, nullability) in both directions, with primary keys and identity
//! columns; and every table of the `scim` and `product` schemas has an entity.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{
    ColumnDef, ColumnTrait, ColumnType, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    IdenStatic, Iterable, PrimaryKeyToColumn, PrimaryKeyTrait, Statement,
};
use shared::entity::*;

use crate::testdb::TestDb;

/// What sea-orm knows of an entity's table.
struct Described {
    schema: String,
    table: String,
    columns: Vec<(String, ColumnDef)>,
    primary_key: Vec<String>,
    auto_increment: bool,
}

impl Described {
    fn of<E: EntityTrait>() -> Self {
        let e = E::default();
        Self {
            schema: e.schema_name().expect("every entity names its schema").to_owned(),
            table: e.table_name().to_owned(),
            columns: E::Column::iter()
                .map(|c| (c.as_str().to_owned(), c.def()))
                .collect(),
            primary_key: E::PrimaryKey::iter()
                .map(|k| k.into_column().as_str().to_owned())
                .collect(),
            auto_increment: <E::PrimaryKey as PrimaryKeyTrait>::auto_increment(),
        }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// Every entity. A new table's entity is added here; a table without one fails
/// `every_table_of_scim_and_product_has_an_entity`.
fn entities() -> Vec<Described> {
    vec![
        Described::of::<scim_tenant::Entity>(),
        Described::of::<scim_api_token::Entity>(),
        Described::of::<scim_auth_ack::Entity>(),
        Described::of::<scim_auth_listener::Entity>(),
        Described::of::<scim_user::Entity>(),
        Described::of::<scim_outbox::Entity>(),
        Described::of::<scim_group::Entity>(),
        Described::of::<scim_group_member::Entity>(),
        Described::of::<scim_group_child::Entity>(),
        Described::of::<scim_group_member_ref::Entity>(),
        Described::of::<scim_audit::Entity>(),
        Described::of::<scim_deprovision::Entity>(),
        Described::of::<scim_deprovisioning_guard::Entity>(),
        Described::of::<scim_admin_session::Entity>(),
        Described::of::<scim_event_stream::Entity>(),
        Described::of::<scim_event::Entity>(),
        Described::of::<scim_event_sequence::Entity>(),
        Described::of::<scim_event_pending::Entity>(),
        Described::of::<scim_event_error::Entity>(),
        Described::of::<scim_signing_key::Entity>(),
        Described::of::<scim_async_request::Entity>(),
        Described::of::<scim_async_request_part::Entity>(),
        Described::of::<scim_tenant_schema::Entity>(),
        Described::of::<scim_tenant_mapping::Entity>(),
        Described::of::<scim_tenant_access::Entity>(),
        Described::of::<scim_tenant_role_mapping::Entity>(),
        Described::of::<product_user::Entity>(),
        Described::of::<product_group::Entity>(),
        Described::of::<product_group_member::Entity>(),
        Described::of::<product_group_version::Entity>(),
        Described::of::<product_membership_version::Entity>(),
        Described::of::<product_group_child::Entity>(),
        Described::of::<product_nesting_version::Entity>(),
        Described::of::<product_group_effective_member::Entity>(),
        Described::of::<product_nested_tenant::Entity>(),
        Described::of::<product_user_role::Entity>(),
        Described::of::<product_user_entitlement::Entity>(),
        Described::of::<product_role_mapping::Entity>(),
    ]
}

/// Bookkeeping, not data: sea-orm-migration's, and the hand-written runner's (kept on the
/// databases it migrated).
const BOOKKEEPING: [&str; 2] = ["seaql_migrations", "_migrations"];

/// The Postgres type (`information_schema.columns.udt_name`) a sea-orm column type stands for,
/// as sea-query writes it for Postgres. `String` is `varchar`, not `text`: a `text` column's
/// field says `column_type = "Text"`.
fn pg_type(t: &ColumnType) -> String {
    match t {
        ColumnType::Text => "text".into(),
        ColumnType::String(_) => "varchar".into(),
        ColumnType::SmallInteger => "int2".into(),
        ColumnType::Integer => "int4".into(),
        ColumnType::BigInteger => "int8".into(),
        ColumnType::Boolean => "bool".into(),
        ColumnType::Double => "float8".into(),
        ColumnType::Uuid => "uuid".into(),
        ColumnType::TimestampWithTimeZone => "timestamptz".into(),
        ColumnType::Timestamp | ColumnType::DateTime => "timestamp".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Json => "json".into(),
        ColumnType::JsonBinary => "jsonb".into(),
        ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => "bytea".into(),
        ColumnType::Array(inner) => format!("_{}", pg_type(inner)),
        other => panic!("no Postgres type known for {other:?}: add it to pg_type"),
    }
}

struct Column {
    udt: String,
    nullable: bool,
    identity: bool,
}

type Tables = BTreeMap<String, BTreeMap<String, Column>>;

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect(sql)
}

/// The columns of every table of `scim` and `product`, by `schema.table`.
async fn tables(db: &DatabaseConnection) -> Tables {
    let mut tables = Tables::new();
    for r in rows(
        db,
        "select c.table_schema || '.' || c.table_name as t, c.column_name, c.udt_name,
                c.is_nullable = 'YES' as nullable, c.is_identity = 'YES' as identity
         from information_schema.columns c
         join information_schema.tables using (table_catalog, table_schema, table_name)
         where c.table_schema in ('scim', 'product') and table_type = 'BASE TABLE'",
    )
    .await
    {
        let table: String = r.try_get("", "t").unwrap();
        let column = Column {
            udt: r.try_get("", "udt_name").unwrap(),
            nullable: r.try_get("", "nullable").unwrap(),
            identity: r.try_get("", "identity").unwrap(),
        };
        tables
            .entry(table)
            .or_default()
            .insert(r.try_get("", "column_name").unwrap(), column);
    }
    tables
}

/// Primary key columns in key order, by `schema.table`.
async fn primary_keys(db: &DatabaseConnection) -> BTreeMap<String, Vec<String>> {
    let mut keys = BTreeMap::<String, Vec<String>>::new();
    for r in rows(
        db,
        "select tc.table_schema || '.' || tc.table_name as t, k.column_name
         from information_schema.table_constraints tc
         join information_schema.key_column_usage k using (constraint_schema, constraint_name)
         where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema in ('scim', 'product')
         order by t, k.ordinal_position",
    )
    .await
    {
        keys.entry(r.try_get("", "t").unwrap())
            .or_default()
            .push(r.try_get("", "column_name").unwrap());
    }
    keys
}

#[tokio::test]
async fn every_entity_matches_its_migrated_table_column_by_column() {
    let (_db, conn) = TestDb::migrated().await;
    let tables = tables(&conn).await;
    let keys = primary_keys(&conn).await;
    let mut problems = Vec::new();
    for e in entities() {
        let t = e.qualified();
        let Some(columns) = tables.get(&t) else {
            problems.push(format!("{t}: the entity's table does not exist"));
            continue;
        };
        for (name, def) in &e.columns {
            let Some(actual) = columns.get(name) else {
                problems.push(format!("{t}.{name}: in the entity, not in the table"));
                continue;
            };
            let want = pg_type(def.get_column_type());
            if actual.udt != want {
                problems.push(format!(
                    "{t}.{name}: the table has {}, the entity {want}",
                    actual.udt
                ));
            }
            if actual.nullable != def.is_null() {
                problems.push(format!(
                    "{t}.{name}: nullable in the table {}, in the entity {}",
                    actual.nullable,
                    def.is_null()
                ));
            }
        }
        for name in columns.keys() {
            if !e.columns.iter().any(|(n, _)| n == name) {
                problems.push(format!("{t}.{name}: in the table, not in the entity"));
            }
        }
        let key = keys.get(&t).cloned().unwrap_or_default();
        if key != e.primary_key {
            problems.push(format!(
                "{t}: primary key {key:?} in the table, {:?} in the entity",
                e.primary_key
            ));
        }
        // sea-orm leaves an auto-increment key out of inserts: only an identity column can be.
        let identity = key.len() == 1 && columns.get(&key[0]).is_some_and(|c| c.identity);
        if identity != e.auto_increment {
            problems.push(format!(
                "{t}: identity key in the table {identity}, auto_increment in the entity {}",
                e.auto_increment
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "entities and tables differ:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn every_table_of_scim_and_product_has_an_entity() {
    let (_db, conn) = TestDb::migrated().await;
    let described: Vec<String> = entities().iter().map(Described::qualified).collect();
    let with_entity: BTreeSet<String> = described.iter().cloned().collect();
    assert_eq!(
        with_entity.len(),
        described.len(),
        "an entity is listed twice: {described:?}"
    );
    let tables: BTreeSet<String> = tables(&conn)
        .await
        .into_keys()
        .filter(|t| !BOOKKEEPING.iter().any(|b| t.ends_with(&format!(".{b}"))))
        .collect();
    let without: Vec<_> = tables.difference(&with_entity).collect();
    assert!(
        without.is_empty(),
        "tables without an entity in shared::entity: {without:?}"
    );
    let missing: Vec<_> = with_entity.difference(&tables).collect();
    assert!(missing.is_empty(), "entities without a table: {missing:?}");
}
