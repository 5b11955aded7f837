//! A throwaway Postgres database per test: created on the local server, migrated like the api
//! migrates at start-up, and dropped when the guard goes out of scope, panics included. Names
//! start with `scimtest_`, so `scripts/test` sweeps leftovers of runs that were killed.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use shared::config::DatabaseConfig;
use uuid::Uuid;

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";

pub struct TestDb {
    pub name: String,
    pub db: DatabaseConnection,
}

impl TestDb {
    /// `purpose` becomes part of the name (`scimtest_<purpose>_<uuid>`).
    pub async fn create(purpose: &str) -> Self {
        let name = format!("scimtest_{purpose}_{}", Uuid::new_v4().simple());
        let admin = Database::connect(ADMIN_URL)
            .await
            .expect("postgres admin connection (is Postgres up on 127.0.0.1:5432?)");
        admin
            .execute_unprepared(&format!("create database {name}"))
            .await
            .expect("create database");
        let _ = admin.close().await;
        // From here on the guard exists, so a failure below still drops the database.
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}?sslmode=disable");
        let mut cfg = DatabaseConfig::new(url);
        cfg.database_max_connections = 4;
        let mut guard = DropOnPanic(Some(name.clone()));
        let db = shared::db::connect(&cfg)
            .await
            .expect("connect to the test database");
        shared::migration::migrate_directory(&db)
            .await
            .expect("migrate the directory schema");
        guard.0 = None;
        Self { name, db }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

/// Drops the database if connecting or migrating panics, before a `TestDb` exists to do it.
struct DropOnPanic(Option<String>);

impl Drop for DropOnPanic {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            drop_database(&name);
        }
    }
}

fn drop_database(name: &str) {
    let name = name.to_owned();
    // Drop may run inside a runtime, or while unwinding: clean up on a thread of our own.
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            if let Ok(admin) = Database::connect(ADMIN_URL).await {
                let _ = admin
                    .execute_unprepared(&format!("drop database if exists {name} with (force)"))
                    .await;
                let _ = admin.close().await;
            }
        });
    })
    .join();
}
