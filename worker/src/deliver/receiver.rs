//! One push (RFC 8935 §2): `POST` of the compact SET as `application/secevent+jwt`, and what
//! the answer means. The HTTP client (hyper over rustls, the system's roots) follows no
//! redirect, uses no proxy, and resolves names through a resolver that refuses addresses inside
//! this network (unless insecure endpoints are allowed), so a name that resolves inward after
//! the stream was created is still refused.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
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

/// Resolves with the system resolver; unless `insecure`, drops addresses inside this network,
/// and none left is an error.
#[derive(Clone)]
struct Resolver {
    insecure: bool,
}

type Resolved = std::vec::IntoIter<SocketAddr>;

impl tower::Service<Name> for Resolver {
    type Response = Resolved;
    type Error = std::io::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Resolved, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), std::io::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let insecure = self.insecure;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| insecure || !endpoint::internal(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{} resolves only to addresses inside this network",
                    name.as_str()
                )));
            }
            Ok(addrs.into_iter())
        })
    }
}

type Body = Full<Bytes>;

pub struct Receiver {
    http: Client<HttpsConnector<HttpConnector<Resolver>>, Body>,
    timeout: Duration,
    insecure: bool,
}

/// The most of a receiver's answer that is read (an RFC 8935 error is a small JSON object).
const MAX_ANSWER: usize = 64 * 1024;

impl Receiver {
    pub fn new(timeout: Duration, insecure: bool) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new_with_resolver(Resolver { insecure });
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(5))));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(rustls::crypto::ring::default_provider())?;
        let tls = if insecure {
            tls.https_or_http()
        } else {
            tls.https_only()
        };
        let connector = tls.enable_http1().wrap_connector(http);
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            insecure,
        })
    }

    pub async fn push(&self, endpoint: &str, authorization: Option<&str>, set: String) -> Answer {
        // An address written in the URL is not resolved: check it here.
        if !self.insecure
            && let Err(e) = endpoint::check_literal(endpoint)
        {
            return Answer::Failed(e.to_string());
        }
        let mut req = Request::post(endpoint)
            .header(CONTENT_TYPE, "application/secevent+jwt")
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("scim-relay/", env!("CARGO_PKG_VERSION")));
        if let Some(a) = authorization.and_then(|a| HeaderValue::from_str(a).ok()) {
            req = req.header(AUTHORIZATION, a);
        }
        let req = match req.body(Full::new(Bytes::from(set))) {
            Ok(r) => r,
            Err(e) => return Answer::Failed(format!("the endpoint cannot be requested: {e}")),
        };
        let exchange = async {
            let res = self.http.request(req).await.map_err(|e| {
                if e.is_connect() {
                    "could not connect to the receiver".to_owned()
                } else {
                    format!("the push failed: {e}")
                }
            })?;
            let status = res.status();
            let body = Limited::new(res.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Answer::Failed("the receiver did not answer in time".into()),
            Ok(Err(why)) => return Answer::Failed(why),
            Ok(Ok(answer)) => answer,
        };
        if status.is_success() {
            return Answer::Accepted;
        }
        if status == hyper::StatusCode::BAD_REQUEST
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
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
