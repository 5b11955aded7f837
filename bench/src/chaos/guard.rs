//! The deprovisioning guard under chaos: a policy tight enough that the run's deactivations and
//! deletes trip it (so held changes live through the api's and workers' `kill -9`, the broker's
//! and Postgres's outages), then, once the load is over, an approval that must bring every held
//! change to the product (verify then finds nothing held and no difference).

use anyhow::Context;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::events::ADMIN_KEY;

/// Deprovisionings beyond 20 and 5% of the active users within the hour are held.
const POLICY: &str = r#"{"min_count": 20, "max_fraction": 0.05, "window_minutes": 60}"#;

async fn call(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}/admin/api/tenants/{path}"))
        .bearer_auth(ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.context("admin api")?;
    anyhow::ensure!(r.status().is_success(), "admin api {path}: {}", r.status());
    Ok(r.json().await?)
}

pub async fn tighten(base: &str, tenant: Uuid) -> anyhow::Result<()> {
    let policy: Value = serde_json::from_str(POLICY)?;
    call(
        base,
        reqwest::Method::PUT,
        &format!("{tenant}/deprovisioning-guard"),
        Some(policy),
    )
    .await?;
    Ok(())
}

/// What the guard did.
pub struct Outcome {
    /// Held when the load ended, and approved then.
    pub held: u64,
    /// Deprovisionings counted through at once.
    pub counted: u64,
}

impl Outcome {
    pub fn line(&self) -> String {
        format!(
            "guard: {} deprovisionings passed within the threshold, {} held until approved after the load",
            self.counted, self.held
        )
    }

    pub fn json(&self) -> Value {
        json!({"held_then_approved": self.held, "passed": self.counted, "policy": serde_json::from_str::<Value>(POLICY).unwrap_or_default()})
    }
}

pub async fn approve(base: &str, tenant: Uuid) -> anyhow::Result<Outcome> {
    let status = call(
        base,
        reqwest::Method::GET,
        &format!("{tenant}/deprovisioning-guard"),
        None,
    )
    .await?;
    let decided = call(
        base,
        reqwest::Method::POST,
        &format!("{tenant}/deprovisioning-guard/approve"),
        None,
    )
    .await?;
    let held = decided["count"].as_u64().unwrap_or_default();
    eprintln!(
        "chaos: guard: {} held when the load ended, {held} approved",
        status["held"]["count"]
    );
    Ok(Outcome {
        held,
        counted: status["window"]["counted"].as_u64().unwrap_or_default(),
    })
}
