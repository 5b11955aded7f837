//! Production connectivity (issue 22): Postgres over TLS up to `verify-full` with client
//! certificates, RabbitMQ over `amqps://` with a private CA and client certificates, the api's own
//! https listener with certificate reload, and secret settings read from files.
//!
//! The TLS servers are private instances started by each test (a Postgres cluster that accepts
//! only `hostssl`, a RabbitMQ node with only a TLS listener), with a CA made for the test, on free
//! ports in a temporary folder removed afterwards; the machine's own services are untouched.
//! Every refusal is a real handshake failing.

mod https;
mod pki;
mod postgres;
mod rabbitmq;
mod secret_files;

/// Whether this process runs as root: the private servers then run as their own users
/// (`postgres`, `rabbitmq`), which must be able to read their certificate files.
pub fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A tenant, an api and a worker on `env`, and `user` POSTed through that api until the worker
/// has applied it to the product: the whole path works over whatever `env`'s URLs say.
pub async fn user_reaches_product(
    env: &tests::TestEnv,
    user: serde_json::Value,
) -> (tests::Api, tests::Worker, sea_orm::DatabaseConnection) {
    let (_, token) = env.create_tenant("tls");
    let api = env.spawn_api().await;
    let worker = env.spawn_worker();
    env.worker_consuming().await;
    let id = env.create_user(&api, &token, user).await;
    let db = env.db().await;
    tests::eventually("the worker applies the user", || async {
        env.product_user(&db, id).await.is_some()
    })
    .await;
    (api, worker, db)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The error chain of `e` as one line, for assertions on what a refusal says.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
