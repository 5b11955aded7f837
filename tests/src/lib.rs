//! End-to-end harness: each test gets its own Postgres database and its own RabbitMQ exchange and
//! queues, runs the real `scim-api` and `scim-worker` binaries against them, and removes it all
//! on drop. Leftovers of crashed runs are swept by `scripts/test` (names start with `scimtest_`).

pub mod proxy;
pub mod seed;
pub mod servers;

/// The SCIM schema and message URNs tests write into requests and look for in answers.
pub mod urn {
    pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
    pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
    pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
    pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
}
pub mod webdriver;
mod world;

pub use world::World;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use serde_json::Value;
use shared::entity::product_user;
use uuid::Uuid;

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const OKTA_UA: &str = "Okta SCIM Client 1.0.0";
/// Generous: the machine is shared and noisy; a healthy run converges in milliseconds.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SCIM_BIN_DIR") {
        return dir.into();
    }
    // A binary beside the binaries (scim-bench in target/<profile>), or a test binary in
    // target/<profile>/deps.
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("exe dir");
    if dir.join("scim-api").exists() {
        return dir.to_path_buf();
    }
    dir.parent().expect("target dir").to_path_buf()
}

fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: build it first (`cargo build --bins`, as scripts/test does)",
        p.display()
    );
    p
}

pub fn log_dir() -> PathBuf {
    let dir = bin_dir().join("test-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// Which Postgres server and RabbitMQ broker a [`TestEnv`] lives on.
#[derive(Debug, Clone)]
pub struct Services {
    /// A server URL without a database: `postgres://postgres@127.0.0.1:5432`, optionally with
    /// a query (`?sslmode=verify-full&sslrootcert=...`) that every database URL keeps.
    pub postgres: String,
    pub amqp_url: String,
}

impl Services {
    /// The machine's own services, which every test uses.
    pub fn local() -> Self {
        Self {
            // Loopback: no TLS to pay for (the TLS tests bring their own server).
            postgres: "postgres://postgres@127.0.0.1:5432?sslmode=disable".into(),
            amqp_url: AMQP_URL.into(),
        }
    }

    fn database_url(&self, db: &str) -> String {
        let (server, query) = match self.postgres.split_once('?') {
            Some((s, q)) => (s, format!("?{q}")),
            None => (self.postgres.as_str(), String::new()),
        };
        format!("{}/{db}{query}", server.trim_end_matches('/'))
    }
}

/// An isolated database + broker namespace.
pub struct TestEnv {
    pub name: String,
    pub db_url: String,
    pub exchange: String,
    pub queue: String,
    pub http: reqwest::Client,
    pub services: Services,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::on(Services::local()).await
    }

    /// An environment on other servers (the chaos run uses private ones it can stop).
    pub async fn on(services: Services) -> Self {
        let name = format!("scimtest_{}", Uuid::new_v4().simple());
        let admin = Database::connect(services.database_url("postgres"))
            .await
            .expect("postgres admin connection");
        admin
            .execute_unprepared(&format!("create database {name}"))
            .await
            .expect("create database");
        let _ = admin.close().await;
        Self {
            db_url: services.database_url(&name),
            exchange: format!("{name}.changes"),
            queue: format!("{name}.apply"),
            name,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            services,
        }
    }

    /// Environment shared by every process of this test.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", self.db_url.as_str()),
            ("AMQP_URL", self.services.amqp_url.as_str()),
            ("AMQP_EXCHANGE", self.exchange.as_str()),
            ("AMQP_QUEUE", self.queue.as_str()),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn command(&self, bin: &str, extra: &[(&str, &str)]) -> Command {
        let mut env = self.env();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        command_with(bin, &env)
    }

    pub fn log_path(&self, what: &str) -> PathBuf {
        log_dir().join(format!("{}-{what}.log", self.name))
    }

    /// The whole environment [`TestEnv::spawn_api_with`] starts the api with.
    pub fn api_env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        // No rate limit unless a test sets one: the suite sends bursts on purpose.
        let mut env = self.env();
        for (k, v) in [
            ("SCIM_TENANT_RATE_LIMIT", "0"),
            ("SCIM_BIND_ADDR", "127.0.0.1:0"),
            ("SCIM_METRICS_ADDR", "127.0.0.1:0"),
            ("OUTBOX_RELAY_INTERVAL_MS", "200"),
            ("OUTBOX_RELAY_GRACE_MS", "500"),
        ]
        .iter()
        .chain(extra)
        {
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        env
    }

    /// Starts `scim-api serve` on a free port, with extra environment.
    pub async fn spawn_api_with(&self, extra: &[(&str, &str)]) -> Api {
        self.spawn_api_env(&self.api_env(extra)).await
    }

    /// Starts `scim-api serve` with exactly this environment (see [`TestEnv::api_env`]).
    pub async fn spawn_api_env(&self, env: &[(String, String)]) -> Api {
        let log_path = self.log_path(&format!("api-{}", Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = command_with("scim-api", env)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn scim-api");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .expect("join")
        .expect("read api stdout");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "scim-api did not start: {:?}; log: {}",
                line,
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        });
        let addr = v["listening"].as_str().expect("listening address").to_owned();
        let metrics = v["metrics"].as_str().map(|m| format!("http://{m}"));
        let scheme = if v["tls"] == true { "https" } else { "http" };
        Api {
            child,
            base: format!("{scheme}://{addr}"),
            metrics,
            log_path,
        }
    }

    pub async fn spawn_api(&self) -> Api {
        self.spawn_api_with(&[]).await
    }

    pub fn spawn_worker_with(&self, extra: &[(&str, &str)]) -> Worker {
        if extra.iter().any(|(k, _)| k.starts_with("SCIM_FAULT_")) {
            assert_fault_injection();
        }
        let log_path = self.log_path(&format!("worker-{}", Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = self
            .command("scim-worker", extra)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn scim-worker");
        Worker { child, log_path }
    }

    /// Starts `scim-worker deliver` (pushes change events) with extra environment.
    pub fn spawn_deliverer_with(&self, extra: &[(&str, &str)]) -> Worker {
        let log_path = self.log_path(&format!("deliverer-{}", Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = self
            .command("scim-worker", extra)
            .arg("deliver")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn scim-worker deliver");
        Worker { child, log_path }
    }

    pub fn spawn_worker(&self) -> Worker {
        self.spawn_worker_with(&[])
    }

    /// Waits until a worker consumes this environment's queue: its topology is declared, so a
    /// message published now is routed and will be applied.
    pub async fn worker_consuming(&self) {
        let cfg = shared::config::AmqpConfig::new(self.services.amqp_url.clone())
            .with_names(&self.exchange, &self.queue);
        eventually("a worker consumes the queue", || async {
            // A missing queue closes the channel: a connection of its own per attempt.
            let Ok(conn) = shared::amqp::connect(&cfg, "test-ready-check").await else {
                return false;
            };
            let ready = match conn.create_channel().await {
                Ok(ch) => shared::dlq::queue_depth(&ch, &self.queue)
                    .await
                    .is_ok_and(|d| d.consumers > 0),
                Err(_) => false,
            };
            let _ = conn.close(200, "bye".into()).await;
            ready
        })
        .await;
    }

    /// Runs `scim-api <args>` and parses the JSON object it prints.
    pub fn cli(&self, args: &[&str]) -> Result<Value, String> {
        let out = self
            .command("scim-api", &[])
            .args(args)
            .output()
            .expect("run scim-api");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs `scim-worker <args>`; returns whether it succeeded and the JSON lines it printed.
    pub fn worker_cli(&self, args: &[&str]) -> (bool, Vec<Value>) {
        self.worker_cli_with(&[], args)
    }

    /// [`TestEnv::worker_cli`] with extra environment.
    pub fn worker_cli_with(&self, extra: &[(&str, &str)], args: &[&str]) -> (bool, Vec<Value>) {
        let out = self
            .command("scim-worker", extra)
            .args(args)
            .output()
            .expect("run scim-worker");
        let lines = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.to_owned())))
            .collect();
        (out.status.success(), lines)
    }

    /// Creates a tenant through the CLI; returns (tenant id, token).
    pub fn create_tenant(&self, name: &str) -> (Uuid, String) {
        let v = self
            .cli(&["tenant", "create", "--name", name])
            .expect("tenant create");
        let id = v["tenant_id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .expect("tenant_id");
        (id, v["token"].as_str().expect("token").to_owned())
    }

    pub async fn db(&self) -> DatabaseConnection {
        Database::connect(&self.db_url)
            .await
            .expect("connect test database")
    }

    /// The product row, or `None` while it (or the product schema, before the worker's first
    /// start-up migration) does not exist.
    pub async fn product_user(&self, db: &DatabaseConnection, id: Uuid) -> Option<product_user::Model> {
        match product_user::Entity::find_by_id(id).one(db).await {
            Ok(row) => row,
            Err(e) if e.to_string().contains("does not exist") => None,
            Err(e) => panic!("query product.users: {e}"),
        }
    }

    /// Waits until the product row for `id` satisfies `check`.
    pub async fn product_user_where(
        &self,
        db: &DatabaseConnection,
        id: Uuid,
        check: impl Fn(&product_user::Model) -> bool,
    ) -> product_user::Model {
        let deadline = Instant::now() + EVENTUALLY;
        loop {
            if let Some(u) = self.product_user(db, id).await
                && check(&u)
            {
                return u;
            }
            assert!(
                Instant::now() < deadline,
                "product.users row {id} did not reach the expected state in time"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// POSTs `user` through `api` with `token`; the create must succeed. Its id.
    pub async fn create_user(&self, api: &Api, token: &str, user: Value) -> Uuid {
        let r = self
            .request(api, Method::POST, "/scim/v2/Users", Some(token), Some(user))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    pub async fn request(
        &self,
        api: &Api,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.request_with(api, method, path, token, body, &[]).await
    }

    /// [`TestEnv::request`] with extra headers (`If-Match`, ...).
    pub async fn request_with(
        &self,
        api: &Api,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        // Defaults unless the test sends its own (a replayed IdP sends its User-Agent).
        let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut req = self.http.request(method, format!("{}{path}", api.base));
        for (name, value) in [("User-Agent", OKTA_UA), ("Accept", "application/scim+json")] {
            if !given(name) {
                req = req.header(name, value);
            }
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(t) = token
            && !given("Authorization")
        {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            if !given("Content-Type") {
                req = req.header("Content-Type", "application/scim+json");
            }
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("http request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Response {
            status,
            headers,
            body,
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let name = self.name.clone();
        let (exchange, queue) = (self.exchange.clone(), self.queue.clone());
        let services = self.services.clone();
        // Drop is synchronous and may run inside a runtime: clean up on a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(services.database_url("postgres")).await {
                    let _ = admin
                        .execute_unprepared(&format!("drop database if exists {name} with (force)"))
                        .await;
                    let _ = admin.close().await;
                }
                let _ = delete_topology_on(&services.amqp_url, &exchange, &queue).await;
            });
        })
        .join();
    }
}

/// A binary of the build under test with exactly this environment.
pub fn command_with(bin: &str, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(binary(bin));
    cmd.env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub async fn delete_topology(exchange: &str, queue: &str) -> Result<(), lapin::Error> {
    delete_topology_on(AMQP_URL, exchange, queue).await
}

async fn delete_topology_on(amqp_url: &str, exchange: &str, queue: &str) -> Result<(), lapin::Error> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    // Through shared::amqp, which knows the TLS settings of an amqps:// URL.
    let conn = match shared::amqp::connect(&shared::config::AmqpConfig::new(amqp_url), "test-cleanup").await {
        Ok(c) => c,
        Err(shared::amqp::AmqpError::Lapin(e)) => return Err(e),
        Err(e) => return Err(lapin::Error::from(std::io::Error::other(e.to_string()))),
    };
    let ch = conn.create_channel().await?;
    for q in [queue.to_owned(), format!("{queue}.bulk"), format!("{queue}.dead")] {
        let _ = ch
            .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
            .await;
    }
    for x in [
        exchange.to_owned(),
        format!("{exchange}.bulk"),
        format!("{exchange}.dlx"),
    ] {
        let _ = ch
            .exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default())
            .await;
    }
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

/// Fails the test at once, with the fix, when `scim-worker` was built without the test-only
/// `SCIM_FAULT_*` settings (a `cargo build -p worker` or the default members rebuild it so):
/// it would ignore them, and the test would time out for no visible reason.
fn assert_fault_injection() {
    let path = binary("scim-worker");
    let bytes = std::fs::read(&path).expect("read scim-worker");
    let needle = b"SCIM_FAULT_HOLD_BEFORE_ACK_MS";
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "{} has no fault injection: build it as the suite does, `cargo build --workspace \
         --all-targets` (the tests package turns on shared's fault-injection feature)",
        path.display()
    );
}

/// Polls `check` until it holds; fails the test with `what` after [`EVENTUALLY`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + EVENTUALLY;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs a query returning one row and reads column `col` from it.
pub async fn scalar<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str, col: &str) -> T {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .expect("query")
        .expect("one row");
    row.try_get("", col).expect("column")
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .expect("response has an id")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Api {
    child: Child,
    pub base: String,
    /// `http://host:port` of its `/metrics` listener (SCIM_METRICS_ADDR), if it has one.
    pub metrics: Option<String>,
    pub log_path: PathBuf,
}

impl Api {
    /// The api's `/metrics` text.
    pub async fn scrape(&self, http: &reqwest::Client) -> String {
        let base = self
            .metrics
            .as_deref()
            .expect("the api serves /metrics (SCIM_METRICS_ADDR)");
        http.get(format!("{base}/metrics"))
            .send()
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL: no chance to publish, flush or finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

/// SIGTERM, then waits for the exit; a process still running after a minute is a hang, which
/// fails the test (after a SIGKILL) instead of stalling the whole suite.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for process") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within 60 s of SIGTERM", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Worker {
    child: Child,
    pub log_path: PathBuf,
}

impl Worker {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }

    /// SIGKILL: no chance to finish or ack anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal Okta-style user body.
pub fn okta_user(user_name: &str, given: &str, family: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": format!("00u{}", &Uuid::new_v4().simple().to_string()[..12]),
        "groups": [],
        "password": "Okta-Generated-Secret-1!",
        "active": true
    })
}

/// Publishes one message with confirms and `mandatory` (panics if it is not routed).
pub async fn publish(exchange: &str, routing_key: &str, body: &[u8], props: lapin::BasicProperties) {
    let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(Default::default()).await.expect("confirms");
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            lapin::options::BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props.with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert!(
        confirm.take_message().is_none(),
        "message to {exchange}/{routing_key} was not routed"
    );
    let _ = conn.close(200, "bye".into()).await;
}

/// Peak resident set size of a process, in MiB (VmHWM), if it is still running.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The JSON log events of `log` (a process's stderr with `LOG_FORMAT=json`) whose message is
/// `message`.
pub fn log_events(log: &str, message: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["message"] == message)
        .collect()
}

/// An error answer in the RFC 7644 §3.12 shape: the SCIM content type, the error schema, and
/// `status` as a string equal to the HTTP status.
pub fn assert_scim_error(r: &Response) {
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/scim+json"),
        "{}: content type {ct:?}",
        r.status
    );
    let schemas = r.body["schemas"].as_array().cloned().unwrap_or_default();
    assert!(
        schemas.contains(&Value::from("urn:ietf:params:scim:api:messages:2.0:Error")),
        "{}: not a SCIM error: {}",
        r.status,
        r.body
    );
    assert_eq!(
        r.body["status"],
        Value::from(r.status.as_str()),
        "status must be the HTTP status as a string"
    );
}

/// The `q`-quantile of `samples` (sorted in place); zero without samples.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for filters in a query).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `product.group_members` of `group`, in user id order; empty while the product schema does
/// not exist yet.
pub async fn product_members(db: &DatabaseConnection, group: Uuid) -> Vec<Uuid> {
    let sql = sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "select user_id from product.group_members where group_id = $1 order by user_id",
        [group.into()],
    );
    match db.query_all_raw(sql).await {
        Ok(rows) => rows
            .iter()
            .map(|r| r.try_get("", "user_id").expect("user_id"))
            .collect(),
        Err(e) if e.to_string().contains("does not exist") => Vec::new(),
        Err(e) => panic!("query product.group_members: {e}"),
    }
}

/// POSTs a new user whose body (`len` bytes, over the api's limit) is only written once the api
/// has had time to answer from the head alone, and returns what the api sent: the client of a
/// lingering close (`api/src/connections.rs`), plain or TLS. Panics if a write fails, which is
/// what a reset of the connection with the body unread looks like.
pub async fn post_after_an_early_answer<S>(stream: &mut S, host: &str, token: &str, len: usize) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {len}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The api answers from the head alone; by now it has answered and closed its side.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..len.div_ceil(chunk.len()) {
        stream
            .write_all(&chunk)
            .await
            .expect("the api still reads what the client sends");
    }
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer).await {
        Ok(_) => {}
        // A TLS peer that closes without close_notify still sent the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("reading the answer, then the api's close: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}
