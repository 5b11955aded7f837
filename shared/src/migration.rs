//! Schema migrations with sea-orm-migration: one file per migration under `directory/` (schema
//! `scim`, the api's) and `product/` (schema `product`, the worker's), never edited once released.
//!
//! # How they run
//! Each binary migrates the schema it owns at start ([`migrate_directory`], [`migrate_product`]),
//! possibly several replicas at once. [`migrate`] works on a connection of its own, a pool of
//! exactly one opened with the caller's connect options, which
//! - holds a session-level advisory lock on the schema's key for the whole run: the first
//!   replica migrates, the others wait and then find nothing pending. The key is the one the
//!   hand-written runner took with `pg_advisory_xact_lock`, and transaction and session advisory
//!   locks on one key exclude each other, so an old and a new binary starting together do not
//!   race either. A session lock, because a migration may run outside any transaction (see
//!   below). Should that connection be lost, the pool refuses to open another one, which would
//!   not hold the lock: the run fails and the next start resumes.
//! - has `statement_timeout = 0`: the pool a binary serves with may bound its statements (the
//!   api's does), and a migration must not be cut by that.
//! - has the schema first on its `search_path`, for the bookkeeping (below).
//!
//! Both settings die with the connection, closed at the end of the run.
//!
//! # Bookkeeping
//! sea-orm-migration records each applied migration by name in its table, `seaql_migrations`,
//! here `scim.seaql_migrations` and `product.seaql_migrations`: the migration connection's
//! `search_path` is the schema, then `public`. (Its table name is one identifier, so a
//! schema-qualified name cannot be given; tables in `public` would need the CREATE privilege
//! there, which Postgres 15 no longer grants by default, where these need no more than the
//! hand-written runner did.) The released SQL names every object with its schema, so the path
//! changes nothing for it; a new migration should do the same. Run the migrators through
//! [`migrate`] only: on another connection `seaql_migrations` is some other table or none.
//!
//! Until issue 14 a hand-written runner applied the same SQL texts and recorded versions
//! 1..N in `scim._migrations` / `product._migrations`. Every run first adopts that history: each
//! version found there is recorded as applied under its migration's name ([`Legacy`]), with its
//! original time, so nothing runs twice. The old table is kept, read-only: a replica of the
//! previous release starting during a rolling deploy reads it, finds every version it knows
//! applied and starts; without it, that replica would re-create it empty and fail on its first
//! migration. A later migration may drop it once no such binary can run any more.
//!
//! # Writing a migration
//! Add the next file (`m0006_what_it_does.rs`) and append it to the schema's `migrations()`.
//! Its `name` is what gets recorded: the file's name (a unit test holds them together), and
//! never changed. A migration released under the hand-written runner, on a branch merged later,
//! becomes the next file in the same way and also goes into the schema's `LEGACY` list with its
//! old version and name, so that databases which ran it adopt it instead of running it again.
//! - Most migrations are one SQL text run in a transaction ([`SqlMigration`]): Postgres DDL is
//!   transactional, so a failed migration leaves no trace and runs again at the next start.
//! - An index on a table that may already be large (`scim.users`, `scim.groups`,
//!   `scim.group_members`, `scim.outbox`, `scim.audit`, `product.users`, ...) is built with
//!   `create index concurrently`, which does not block writes but cannot run in a transaction:
//!   use a [`NoTransactionMigration`], in a migration of its own.
//!
//!   ```ignore
//!   pub const MIGRATION: NoTransactionMigration = NoTransactionMigration {
//!       name: "m0006_users_external_id_key_first",
//!       statements: &[
//!           // A build that failed half-way leaves an invalid index behind: start afresh.
//!           "drop index concurrently if exists scim.users_external_id_tenant",
//!           "create index concurrently users_external_id_tenant
//!                on scim.users (external_id, tenant_id) where deleted_at is null",
//!           "drop index concurrently if exists scim.users_tenant_external_id",
//!       ],
//!   };
//!   ```
//!
//!   Each statement is sent alone (Postgres runs a multi-statement text as one implicit
//!   transaction, where `concurrently` is refused). The migration is recorded after its last
//!   statement only, so one that failed half-way runs again from its first statement: write
//!   every statement so that it can (`if exists`, `if not exists`, drop before create). Replace an
//!   index by creating the new one before dropping the old one, both concurrently. Migration 5 of
//!   `scim` built its indexes inside the transaction; it was released so, and stays so.

pub mod directory;
pub mod product;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::sqlx::{self, Executor, postgres::PgPoolOptions};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, SqlxPostgresConnector};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager, async_trait};

use crate::config::DatabaseConfig;
use crate::db::stmt;

/// The SCIM directory (`scim` schema): tenants, tokens, users, groups, outbox, audit log and
/// admin sessions. Owned by the api.
pub async fn migrate_directory(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate::<directory::Migrator>(db).await
}

/// What the rest of the product reads (`product` schema). Owned by the worker.
pub async fn migrate_product(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate::<product::Migrator>(db).await
}

/// [`migrate_directory`] over the configuration's direct URL when it has one: through a
/// transaction pooler the advisory lock would be taken on one server connection and left held
/// there, and a `concurrently` statement could land on any. `db` is used when there is no
/// direct URL (then it is already direct).
pub async fn migrate_directory_via(db: &DatabaseConnection, cfg: &DatabaseConfig) -> Result<(), DbErr> {
    let Some(direct) = direct(cfg).await? else {
        return migrate_directory(db).await;
    };
    let result = migrate_directory(&direct).await;
    result.and(direct.close().await)
}

/// [`migrate_product`] as [`migrate_directory_via`] does it.
pub async fn migrate_product_via(db: &DatabaseConnection, cfg: &DatabaseConfig) -> Result<(), DbErr> {
    let Some(direct) = direct(cfg).await? else {
        return migrate_product(db).await;
    };
    let result = migrate_product(&direct).await;
    result.and(direct.close().await)
}

async fn direct(cfg: &DatabaseConfig) -> Result<Option<DatabaseConnection>, DbErr> {
    if cfg.database_direct_url.is_none() {
        return Ok(None);
    }
    crate::db::connect_direct(cfg).await.map(Some)
}

/// A migrator for one schema, run by [`migrate`].
pub trait SchemaMigrator: MigratorTrait {
    /// The schema its migrations create and change; holds its bookkeeping and names the
    /// advisory lock.
    const SCHEMA: &'static str;
    /// What the hand-written runner recorded in `<SCHEMA>._migrations`: every version it could
    /// have applied, with the migration that is now that version. A migration released under
    /// that runner (on another branch) is listed here when it is ported.
    const LEGACY: &'static [Legacy];
}

/// A version of the hand-written runner's `_migrations` table and the migration it became.
pub struct Legacy {
    pub version: i32,
    /// The name that runner recorded beside the version.
    pub name: &'static str,
    pub migration: &'static SqlMigration,
}

/// Applies `M`'s pending migrations, one replica at a time, after adopting the history of the
/// hand-written runner (see the module documentation).
pub async fn migrate<M: SchemaMigrator>(db: &DatabaseConnection) -> Result<(), DbErr> {
    let conn = dedicated_connection(db);
    let result = run::<M>(&conn).await;
    // Ends the session, and with it the advisory lock, whatever happened above.
    let closed = conn.close().await;
    result.and(closed)
}

async fn run<M: SchemaMigrator>(conn: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = M::SCHEMA;
    let key = format!("scim-relay migrations {schema}");
    conn.execute_raw(stmt(
        "select pg_advisory_lock(hashtext($1))",
        [key.clone().into()],
    ))
    .await?;
    conn.execute_unprepared(&format!("create schema if not exists {schema}"))
        .await?;
    // Where sea-orm-migration's `seaql_migrations` resolves (see the module documentation).
    conn.execute_unprepared(&format!("set search_path to {schema}, public"))
        .await?;
    M::install(conn).await?;
    adopt::<M>(conn).await?;
    // sea-orm-migration logs each migration it applies, by name only.
    let pending = M::get_pending_migrations(conn).await?;
    if !pending.is_empty() {
        tracing::info!(schema, pending = pending.len(), "migrating");
    }
    M::up(conn, None).await?;
    conn.execute_raw(stmt("select pg_advisory_unlock(hashtext($1))", [key.into()]))
        .await?;
    Ok(())
}

/// Records every version found in `<SCHEMA>._migrations` as applied, under its migration's name
/// and with its original time. Idempotent; fails on a version or name this binary does not know
/// (a newer release migrated the database, or a mapping is wrong), rather than guess.
async fn adopt<M: SchemaMigrator>(conn: &DatabaseConnection) -> Result<(), DbErr> {
    let schema = M::SCHEMA;
    let exists = conn
        .query_one_raw(stmt(
            "select to_regclass($1) is not null as e",
            [format!("{schema}._migrations").into()],
        ))
        .await?
        .map(|r| r.try_get::<bool>("", "e"))
        .transpose()?
        .unwrap_or(false);
    if !exists {
        return Ok(());
    }
    let rows = conn
        .query_all_raw(stmt(
            &format!(
                "select version, name, extract(epoch from applied_at)::bigint as applied_at
                 from {schema}._migrations order by version"
            ),
            [],
        ))
        .await?;
    // Every version is checked before any is recorded: a refused history leaves no trace.
    let mut known = Vec::with_capacity(rows.len());
    for row in rows {
        let version: i32 = row.try_get("", "version")?;
        let name: String = row.try_get("", "name")?;
        let applied_at: i64 = row.try_get("", "applied_at")?;
        let Some(legacy) = M::LEGACY.iter().find(|l| l.version == version) else {
            return Err(DbErr::Migration(format!(
                "{schema}._migrations records version {version} ({name:?}), which this binary does not know"
            )));
        };
        if legacy.name != name {
            return Err(DbErr::Migration(format!(
                "{schema}._migrations records version {version} as {name:?}; this binary knows it as {:?}",
                legacy.name
            )));
        }
        known.push((legacy.migration.name, applied_at));
    }
    let mut adopted = 0;
    for (migration, applied_at) in known {
        let inserted = conn
            .execute_raw(stmt(
                &format!(
                    "insert into {schema}.seaql_migrations (version, applied_at) values ($1, $2)
                     on conflict (version) do nothing"
                ),
                [migration.into(), applied_at.into()],
            ))
            .await?;
        adopted += inserted.rows_affected();
    }
    if adopted > 0 {
        tracing::info!(
            schema,
            adopted,
            "recorded the hand-written runner's migrations as applied"
        );
    }
    Ok(())
}

/// A pool of one connection with the caller's connect options, no statement timeout and no
/// notices. The advisory lock belongs to that connection's session; a replacement would not hold
/// it, so the pool opens one connection in its life and refuses a second.
fn dedicated_connection(db: &DatabaseConnection) -> DatabaseConnection {
    let options = db
        .get_postgres_connection_pool()
        .connect_options()
        .as_ref()
        .clone();
    let opened = Arc::new(AtomicBool::new(false));
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        // Never retire the connection while it holds the lock, however long a migration runs.
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _| {
            let first = !opened.swap(true, Ordering::SeqCst);
            Box::pin(async move {
                if !first {
                    return Err(sqlx::Error::Configuration(
                        "the migration connection was lost, and its advisory lock with it".into(),
                    ));
                }
                conn.execute("set statement_timeout = 0").await?;
                // sea-orm-migration creates its table `if not exists` several times a run; the
                // server's notice that it exists would be logged each time.
                conn.execute("set client_min_messages = warning").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options);
    SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
}

/// A released SQL text, run in the migrator's transaction. Its statements may be many.
pub struct SqlMigration {
    /// The recorded name: the file's name.
    pub name: &'static str,
    pub sql: &'static str,
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared(self.sql).await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// Statements that cannot run in a transaction (`create index concurrently`), sent one by one
/// outside any. Each must be safe to run again: the migration is recorded after the last one.
pub struct NoTransactionMigration {
    /// The recorded name: the file's name.
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

impl MigrationName for NoTransactionMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NoTransactionMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for statement in self.statements {
            manager.get_connection().execute_unprepared(statement).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;

    fn names<M: MigratorTrait>() -> Vec<String> {
        M::migrations().iter().map(|m| m.name().to_owned()).collect()
    }

    fn check<M: SchemaMigrator>(dir: &str) {
        let names = names::<M>();
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{dir}: a name is used twice");
        // The recorded name is the file's name, and every file is listed, in order.
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/migration")
            .join(dir);
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("migration folder")
            .map(|e| {
                let path = e.expect("entry").path();
                path.file_stem().expect("stem").to_string_lossy().into_owned()
            })
            .collect();
        files.sort();
        assert_eq!(files, names, "{dir}: files and migrations()");
        assert_eq!(M::migration_table_name().to_string(), "seaql_migrations");
        // The hand-written runner's versions were 1..N in the order of the files.
        for (i, legacy) in M::LEGACY.iter().enumerate() {
            assert_eq!(legacy.version as usize, i + 1, "{dir}");
            assert_eq!(
                legacy.migration.name, names[i],
                "{dir}: version {}",
                legacy.version
            );
        }
    }

    #[test]
    fn directory_migrations_are_named_after_their_files_in_order() {
        check::<directory::Migrator>("directory");
    }

    #[test]
    fn product_migrations_are_named_after_their_files_in_order() {
        check::<product::Migrator>("product");
    }
}
