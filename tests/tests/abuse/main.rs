//! Availability against hostile and noisy clients: what one client or tenant sends must not take
//! memory, the database pool or the api's concurrency from everyone else. Each test here failed
//! on the code before the fix it guards (issue 13).

mod fairness;
mod hosts;
mod lists;
mod methods;
mod removals;

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tests::{Api, Response, TestEnv};
use uuid::Uuid;

/// A test's world: its env, an api started with `extra` settings, and a tenant.
pub struct World {
    pub env: TestEnv,
    pub api: Api,
    pub tenant: Uuid,
    pub token: String,
}

impl World {
    pub async fn with(extra: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let api = env.spawn_api_with(extra).await;
        let (tenant, token) = env.create_tenant("Noisy");
        Self {
            env,
            api,
            tenant,
            token,
        }
    }

    /// Another tenant of the same api.
    pub fn tenant(&self, name: &str) -> (Uuid, String) {
        self.env.create_tenant(name)
    }

    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Response {
        self.env
            .request(&self.api, method, &format!("/scim/v2{path}"), Some(token), body)
            .await
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        self.call_as(&self.token, method, path, body).await
    }
}

/// The `q`-quantile of `samples` (sorted in place).
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i]
}

/// Current resident set size of a process, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|k| k.parse().ok())
        .expect("kib");
    kib / 1024.0
}
