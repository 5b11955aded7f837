//! Postgres over TLS: a private cluster that accepts only `hostssl` connections with a client
//! certificate (`clientcert=verify-full`: issued by the test CA, common name = user name), and a
//! server certificate for `localhost` only.

use std::path::{Path, PathBuf};
use std::process::Command;

use sea_orm::Database;
use tests::{AMQP_URL, Services, TestEnv, eventually, okta_user, scalar};

use crate::pki::{Issued, Pki};

struct PrivatePostgres {
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    bins.sort_by_key(|b| {
        b.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    bins.pop().expect("initdb")
}

/// Runs a server command, as `postgres` when the test runs as root (Postgres refuses root).
fn as_postgres(cmd: &str) {
    let status = if crate::running_as_root() {
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", cmd])
            .status()
    } else {
        Command::new("sh").args(["-c", cmd]).status()
    };
    assert!(status.is_ok_and(|s| s.success()), "failed: {cmd}");
}

impl PrivatePostgres {
    fn start(pki: &Pki) -> Self {
        let server = pki.issue("pg-server", &["localhost"]);
        let root = pki.dir.join("pg");
        std::fs::create_dir_all(&root).expect("pg dir");
        // The server's key and the cluster belong to the server's user.
        pki.give_to(&root, "postgres");
        pki.give_to(&server.key, "postgres");
        let bin = pg_bin();
        let data = root.join("data");
        as_postgres(&format!(
            "{}/initdb -D {} -A trust -U postgres >/dev/null",
            bin.display(),
            data.display()
        ));
        let port = crate::free_port();
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n\
             ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nssl_ca_file = '{ca}'\n\
             fsync = off\n",
            root = root.display(),
            cert = server.cert.display(),
            key = server.key.display(),
            ca = pki.ca.display(),
        );
        append(&data.join("postgresql.conf"), &conf);
        // TLS only, and only with a client certificate the CA issued to the user connecting.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-full\n",
        )
        .expect("pg_hba.conf");
        pki.give_to(&data, "postgres");
        as_postgres(&format!(
            "{}/pg_ctl -D {} -l {}/log -w start >/dev/null",
            bin.display(),
            data.display(),
            root.display()
        ));
        Self { data, bin, port }
    }

    /// A server URL (no database) for `host` with these TLS settings.
    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}?{query}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {} -m immediate stop >/dev/null 2>&1 || true",
            self.bin.display(),
            self.data.display()
        ));
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

fn tls_query(mode: &str, pki: &Pki, client: &Issued) -> String {
    format!(
        "sslmode={mode}&sslrootcert={}&sslcert={}&sslkey={}",
        pki.ca.display(),
        client.cert.display(),
        client.key.display()
    )
}

async fn refused(url: &str) -> String {
    match Database::connect(url).await {
        Ok(_) => panic!("connected to {url}, which should have been refused"),
        Err(e) => crate::chain(&e),
    }
}

#[tokio::test]
async fn the_api_and_a_worker_run_against_a_postgres_that_requires_tls() {
    let pki = Pki::new("pg");
    let pg = PrivatePostgres::start(&pki);
    let client = pki.issue("pg-client", &["postgres"]);
    let env = TestEnv::on(Services {
        postgres: pg.url("localhost", &tls_query("verify-full", &pki, &client)),
        amqp_url: AMQP_URL.into(),
    })
    .await;
    assert!(env.db_url.contains("sslmode=verify-full"), "{}", env.db_url);

    let (api, _worker, db) =
        crate::user_reaches_product(&env, okta_user("ada@example.com", "Ada", "Lovelace")).await;

    // The auth cache listens on a connection of its own (LISTEN, from DATABASE_URL): it could
    // only turn on because that connection got the same TLS settings.
    let http = reqwest::Client::new();
    eventually("the auth cache listens over TLS", || async {
        api.scrape(&http).await.contains("scim_auth_cache_listening 1")
    })
    .await;

    // Every connection of the api and the worker to this database is TLS with the client
    // certificate (pg_hba leaves no other way in; this says so from the server's side).
    let plain: i64 = scalar(
        &db,
        &format!(
            "select count(*) as n from pg_stat_activity a join pg_stat_ssl s using (pid)
             where a.datname = '{}' and a.pid <> pg_backend_pid()
               and (not s.ssl or s.client_dn is distinct from '/CN=postgres')",
            env.name
        ),
        "n",
    )
    .await;
    let tls: i64 = scalar(
        &db,
        &format!(
            "select count(*) as n from pg_stat_activity a join pg_stat_ssl s using (pid)
             where a.datname = '{}' and s.ssl",
            env.name
        ),
        "n",
    )
    .await;
    assert_eq!(plain, 0);
    assert!(tls > 2, "only {tls} TLS connections");
    let _ = db.close().await;
}

#[tokio::test]
async fn verify_full_refuses_a_server_certificate_for_another_host() {
    let pki = Pki::new("pg");
    let pg = PrivatePostgres::start(&pki);
    let client = pki.issue("pg-client", &["postgres"]);
    let db = |host: &str, query: String| format!("postgres://postgres@{host}:{}/postgres?{query}", pg.port);

    // 127.0.0.1 is the same server, but not a name its certificate (`localhost`) carries.
    let err = refused(&db("127.0.0.1", tls_query("verify-full", &pki, &client))).await;
    assert!(
        err.contains("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
        "{err}"
    );
    // verify-ca checks the chain only, and connects: what failed above was the name.
    let conn = Database::connect(db("127.0.0.1", tls_query("verify-ca", &pki, &client)))
        .await
        .expect("verify-ca connects");
    let _ = conn.close().await;
    // The name the certificate carries connects with verify-full.
    let conn = Database::connect(db("localhost", tls_query("verify-full", &pki, &client)))
        .await
        .expect("verify-full connects to localhost");
    let _ = conn.close().await;

    // Without sslrootcert only the system's CAs are trusted, and the test CA is not one of them.
    let err = refused(&db(
        "localhost",
        format!(
            "sslmode=verify-full&sslcert={}&sslkey={}",
            client.cert.display(),
            client.key.display()
        ),
    ))
    .await;
    assert!(
        err.contains("invalid peer certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    // The server refuses plain connections and TLS without a client certificate.
    let err = refused(&db("localhost", "sslmode=disable".into())).await;
    assert!(err.contains("no encryption"), "{err}");
    let err = refused(&db(
        "localhost",
        format!("sslmode=verify-full&sslrootcert={}", pki.ca.display()),
    ))
    .await;
    assert!(err.contains("certificate"), "{err}");
}
