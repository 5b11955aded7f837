//! One push (RFC 8935 §2): `POST` of the compact SET as `application/secevent+jwt`, and what
//! the answer means. The HTTP client follows no redirect, uses no proxy, and resolves names
//! through a resolver that refuses addresses inside this network (unless insecure endpoints are
//! allowed), so a name that resolves inward after the stream was created is still refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use shared::events::endpoint;

/// What a receiver's answer means for the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// 400 with an RFC 8935 error: this SET will never be taken.
    Refused {
        err: String,
        description: Option<String>,
    },
    /// Anything else: worth trying again later.
    Failed(String),
}

pub struct Receiver {
    http: reqwest::Client,
    insecure: bool,
}

/// Resolves with the system resolver and drops addresses inside this network; none left is an
/// error.
struct Outward;

impl Resolve for Outward {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !endpoint::internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    format!("{} resolves only to addresses inside this network", name.as_str()).into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl Receiver {
    pub fn new(timeout: Duration, insecure: bool) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("scim-relay/", env!("CARGO_PKG_VERSION")));
        if !insecure {
            builder = builder.dns_resolver(Arc::new(Outward));
        }
        Ok(Self {
            http: builder.build()?,
            insecure,
        })
    }

    pub async fn push(&self, endpoint: &str, authorization: Option<&str>, set: String) -> Answer {
        // An address in the URL itself is not resolved: check it here.
        if !self.insecure
            && let Err(e) = endpoint::check_literal(endpoint)
        {
            return Answer::Failed(e.to_string());
        }
        let mut req = self
            .http
            .post(endpoint)
            .header(CONTENT_TYPE, "application/secevent+jwt")
            .header(ACCEPT, "application/json")
            .body(set);
        if let Some(a) = authorization {
            req = req.header(AUTHORIZATION, a);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(describe(e)),
        };
        let status = res.status();
        if status.is_success() {
            return Answer::Accepted;
        }
        let body = res.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::BAD_REQUEST
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && let Some(err) = v["err"].as_str()
        {
            return Answer::Refused {
                err: err.chars().take(100).collect(),
                description: v["description"].as_str().map(|d| d.chars().take(500).collect()),
            };
        }
        Answer::Failed(format!("the receiver answered {status}"))
    }
}

/// A client error in a few words (never the URL's query or credentials).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "the receiver did not answer in time".into()
    } else if e.is_connect() {
        "could not connect to the receiver".into()
    } else {
        format!("the push failed: {}", e.without_url())
    }
}
