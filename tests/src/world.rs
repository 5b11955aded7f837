//! The one test world of the end-to-end suite: an isolated environment, a running api, workers
//! as a test asks for them, and one tenant with its token. Test binaries add the steps of their
//! area as extension traits (`groups::Steps`, ...), not as Worlds of their own.

use reqwest::Method;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

use crate::{Api, Response, TestEnv, Worker};

pub struct World {
    pub env: TestEnv,
    pub api: Api,
    /// The worker most tests have; tests that stop or replace it take it.
    pub worker: Option<Worker>,
    /// Further workers, for tests that need several.
    pub more_workers: Vec<Worker>,
    pub tenant: Uuid,
    pub token: String,
    /// A connection to the test's database, for what tests check there.
    pub db: DatabaseConnection,
}

impl World {
    /// An api, one worker and the tenant "Acme".
    pub async fn new() -> Self {
        Self::with_workers(1, &[]).await
    }

    /// An api and the tenant "Acme", no worker: for what the api alone answers.
    pub async fn without_worker() -> Self {
        Self::with_workers(0, &[]).await
    }

    /// An api with extra settings, no worker.
    pub async fn with_api(api_env: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api_with(api_env).await;
        Self::from_parts(env, api, Vec::new()).await
    }

    /// An api and `n` workers started with `worker_env`.
    pub async fn with_workers(n: usize, worker_env: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api().await;
        let workers = (0..n).map(|_| env.spawn_worker_with(worker_env)).collect();
        Self::from_parts(env, api, workers).await
    }

    /// A world around processes a test started itself; creates the tenant "Acme".
    pub async fn from_parts(env: TestEnv, api: Api, workers: Vec<Worker>) -> Self {
        let (tenant, token) = env.create_tenant("Acme");
        let db = env.db().await;
        let mut workers = workers.into_iter();
        Self {
            worker: workers.next(),
            more_workers: workers.collect(),
            env,
            api,
            tenant,
            token,
            db,
        }
    }

    /// Another tenant of the same api: (id, token).
    pub fn other_tenant(&self, name: &str) -> (Uuid, String) {
        self.env.create_tenant(name)
    }

    /// A request under `/scim/v2` with the tenant's token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call_as(&self.token, method, path, body).await
    }

    /// A request under `/scim/v2` with another token.
    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
        self.send(token, method, path, body, &[]).await
    }

    /// A request under `/scim/v2` with the tenant's token and extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.send(&self.token, method, path, body, headers).await
    }

    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.env
            .request_with(
                &self.api,
                method,
                &format!("/scim/v2{path}"),
                Some(token),
                body,
                headers,
            )
            .await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }

    pub async fn post_user(&self, body: Value) -> Response {
        self.call(Method::POST, "/Users", Some(body)).await
    }

    /// The ids of the users a list (`/Users?{query}`) answers, in its order; the list must
    /// answer 200.
    pub async fn user_ids(&self, query: &str) -> Vec<Uuid> {
        let r = self.get(&format!("/Users?{query}")).await;
        assert_eq!(r.status, reqwest::StatusCode::OK, "{query}: {}", r.body);
        r.body["Resources"]
            .as_array()
            .expect("a list response")
            .iter()
            .map(|u| Uuid::parse_str(u["id"].as_str().expect("id")).expect("a uuid"))
            .collect()
    }

    /// A call to `/admin/api` with the admin key `key`: (status, JSON body or null).
    pub async fn admin(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut req = self
            .env
            .http
            .request(method, format!("{}{path}", self.api.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("admin request");
        let status = r.status();
        let text = r.text().await.expect("admin answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
