//! A throwaway Postgres database per test, created empty on the local server and dropped when the
//! guard goes out of scope, panics included. Names start with `scimtest_`, so `scripts/test`
//! sweeps leftovers of runs that were killed.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use shared::config::DatabaseConfig;
use uuid::Uuid;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// An empty database (no schema of ours).
    pub async fn create() -> Self {
        let name = format!("scimtest_{}", Uuid::new_v4().simple());
        let admin = Database::connect(format!("{SERVER}/postgres?sslmode=disable"))
            .await
            .expect("postgres admin connection (is Postgres up on 127.0.0.1:5432?)");
        admin
            .execute_unprepared(&format!("create database {name}"))
            .await
            .expect("create database");
        let _ = admin.close().await;
        Self { name }
    }

    pub fn config(&self) -> DatabaseConfig {
        let mut cfg = DatabaseConfig::new(format!("{SERVER}/{}?sslmode=disable", self.name));
        cfg.database_max_connections = 4;
        cfg
    }

    /// A pool as the binaries open it.
    pub async fn connect(&self) -> DatabaseConnection {
        self.connect_with_timeout(None).await
    }

    /// A pool whose statements are bounded, as the api's are.
    pub async fn connect_with_timeout(&self, limit: Option<Duration>) -> DatabaseConnection {
        shared::db::connect(&self.config().with_statement_timeout(limit))
            .await
            .expect("connect to the test database")
    }

    /// A database migrated by the functions the binaries call at start.
    pub async fn migrated() -> (Self, DatabaseConnection) {
        let db = Self::create().await;
        let conn = db.connect().await;
        shared::migration::migrate_directory(&conn)
            .await
            .expect("migrate the directory schema");
        shared::migration::migrate_product(&conn)
            .await
            .expect("migrate the product schema");
        (db, conn)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime, or while unwinding: clean up on a thread of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(format!("{SERVER}/postgres?sslmode=disable")).await {
                    let _ = admin
                        .execute_unprepared(&format!("drop database if exists {name} with (force)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
