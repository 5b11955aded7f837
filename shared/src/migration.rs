//! Schema migrations, as plain SQL applied in order and recorded per schema.
//!
//! Both binaries migrate what they use on start, possibly several replicas at once, so each run
//! holds a transaction-scoped advisory lock: the first replica migrates, the others wait and then
//! find nothing to do. Postgres DDL is transactional, so a failed migration leaves no trace.

mod directory;
mod product;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};

use crate::db::stmt;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The SCIM directory (`scim` schema): tenants, tokens, users, groups, outbox, audit log and
/// admin sessions. Owned by the api.
pub async fn migrate_directory(db: &DatabaseConnection) -> Result<(), DbErr> {
    run(db, "scim", directory::MIGRATIONS).await
}

/// What the rest of the product reads (`product` schema). Owned by the worker.
pub async fn migrate_product(db: &DatabaseConnection) -> Result<(), DbErr> {
    run(db, "product", product::MIGRATIONS).await
}

async fn run(db: &DatabaseConnection, schema: &str, migrations: &[Migration]) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    // Index builds on a large table may outlast the pool's statement limit; migrations have none.
    txn.execute_unprepared("set local statement_timeout = 0").await?;
    txn.execute_raw(stmt(
        "select pg_advisory_xact_lock(hashtext($1))",
        [format!("scim-relay migrations {schema}").into()],
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "create schema if not exists {schema};
         create table if not exists {schema}._migrations (
             version integer primary key,
             name text not null,
             applied_at timestamptz not null default now())"
    ))
    .await?;
    let row = txn
        .query_one_raw(stmt(
            &format!("select coalesce(max(version), 0) as v from {schema}._migrations"),
            [],
        ))
        .await?;
    let current: i32 = match row {
        Some(r) => r.try_get("", "v")?,
        None => 0,
    };
    for m in migrations.iter().filter(|m| m.version > current) {
        tracing::info!(schema, version = m.version, name = m.name, "applying migration");
        txn.execute_unprepared(m.sql).await?;
        txn.execute_raw(stmt(
            &format!("insert into {schema}._migrations (version, name) values ($1, $2)"),
            [m.version.into(), m.name.into()],
        ))
        .await?;
    }
    txn.commit().await
}
