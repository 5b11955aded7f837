//! The admin page and `/admin/api`, end to end against a real `scim-api` (and worker where
//! changes must flow): authentication on every route, CSRF, show-once tokens, the activity log,
//! sync figures, dead letters, throttled key guesses, and the whole operator flow in headless
//! Chromium.

mod activity;
mod attributes;
mod auth;
mod browser;
mod csrf;
mod dead_letters;
mod roles;
mod throttle;
mod tokens;

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tests::{Api, TestEnv};
use uuid::Uuid;

pub const ADMIN_KEY: &str = "test-admin-key-7f3a9c2e51d04b68";

/// An api with the admin page on, and a client that never follows redirects (the tests look at
/// them).
pub struct AdminWorld {
    pub env: TestEnv,
    pub api: Api,
    pub http: reqwest::Client,
}

/// A signed-in browser session, as cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// A response's parts the tests look at.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a request authenticates.
pub enum As<'a> {
    Nobody,
    Bearer(&'a str),
    Cookie(&'a Session),
}

impl AdminWorld {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    pub async fn with(extra: &[(&str, &str)]) -> Self {
        let env = TestEnv::new().await;
        let mut vars = vec![("ADMIN_TOKEN", ADMIN_KEY)];
        vars.extend_from_slice(extra);
        let api = env.spawn_api_with(&vars).await;
        Self {
            env,
            api,
            http: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.base)
    }

    /// Sends a request; `form` bodies are url-encoded, `json` bodies JSON.
    pub async fn send(&self, method: Method, path: &str, who: As<'_>, body: Body<'_>) -> Reply {
        send(&self.http, method, &self.url(path), who, body).await
    }

    pub async fn get(&self, path: &str, who: As<'_>) -> Reply {
        self.send(Method::GET, path, who, Body::None).await
    }

    /// Calls `/admin/api` with the bearer admin key and expects success.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let body = match &body {
            Some(v) => Body::Json(v),
            None => Body::None,
        };
        let r = self.send(method, path, As::Bearer(ADMIN_KEY), body).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.text);
        r.json()
    }

    /// Signs in through the form, as a browser does.
    pub async fn sign_in(&self) -> Session {
        let r = self
            .send(
                Method::POST,
                "/admin/login",
                As::Nobody,
                Body::Form(&[("token", ADMIN_KEY)]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let set = r.header("set-cookie").expect("a session cookie");
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = self
            .get(
                "/admin",
                As::Cookie(&Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                }),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = hidden_csrf(&page.text).expect("the page carries a CSRF token");
        Session { cookie, csrf }
    }

    /// Creates a tenant through the API; returns its id and first token.
    pub async fn tenant(&self, name: &str) -> (Uuid, String) {
        let v = self
            .api(
                Method::POST,
                "/admin/api/tenants",
                Some(serde_json::json!({"name": name})),
            )
            .await;
        let id = Uuid::parse_str(v["tenant_id"].as_str().unwrap()).unwrap();
        (id, v["token"].as_str().unwrap().to_owned())
    }

    /// Status of an authenticated SCIM request with `token`.
    pub async fn scim_status(&self, token: &str) -> StatusCode {
        self.env
            .request(
                &self.api,
                Method::GET,
                "/scim/v2/Users?count=1",
                Some(token),
                None,
            )
            .await
            .status
    }
}

pub enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    Json(&'a Value),
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn send(http: &reqwest::Client, method: Method, url: &str, who: As<'_>, body: Body<'_>) -> Reply {
    let mut req = http.request(method, url);
    match who {
        As::Nobody => {}
        As::Bearer(t) => req = req.bearer_auth(t),
        As::Cookie(s) => req = req.header(COOKIE, &s.cookie),
    }
    match body {
        Body::None => {}
        Body::Form(fields) => {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form(fields))
        }
        Body::Json(v) => req = req.header(CONTENT_TYPE, "application/json").body(v.to_string()),
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        text,
    }
}

/// A url-encoded form body.
pub fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSRF token of a page's forms.
pub fn hidden_csrf(html: &str) -> Option<String> {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The `Set-Cookie` headers of a reply.
pub fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}
