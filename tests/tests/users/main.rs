//! Users pipeline, end to end: HTTP request → directory + outbox → RabbitMQ → worker →
//! `product.users`, with real processes, Postgres and RabbitMQ.

mod auth;
mod errors;
mod hostile;
mod lifecycle;
mod outages;
mod outbox;
mod reads;
mod secrets;
mod tracing;
mod worker;

use reqwest::Method;
use serde_json::Value;
use tests::{Api, Response, TestEnv, Worker};

/// A test's world: its env, an api, a worker and one tenant.
pub struct World {
    pub env: TestEnv,
    pub api: Api,
    pub worker: Option<Worker>,
    pub token: String,
    pub tenant: uuid::Uuid,
}

impl World {
    pub async fn new() -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api().await;
        let worker = Some(env.spawn_worker());
        let (tenant, token) = env.create_tenant("Acme");
        Self {
            env,
            api,
            worker,
            token,
            tenant,
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.env
            .request(
                &self.api,
                method,
                &format!("/scim/v2{path}"),
                Some(&self.token),
                body,
            )
            .await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }

    pub async fn post_user(&self, body: Value) -> Response {
        self.call(Method::POST, "/Users", Some(body)).await
    }
}
