//! The operator's admin page (`/admin`) and its JSON twin (`/admin/api`, described by
//! `/admin/api/openapi.json`): tenants and their SCIM tokens, each tenant's recent provisioning
//! activity, sync lag and dead letters with a Retry button. Off (404) unless `ADMIN_TOKEN` is set.
//!
//! Security model: the operator signs in with `ADMIN_TOKEN` (compared in constant time) and gets
//! a server-side session in an HttpOnly, SameSite=Strict cookie (Secure behind https); every
//! state-changing request of a session carries its CSRF token. Scripts send
//! `Authorization: Bearer <ADMIN_TOKEN>` instead and need no CSRF token. SCIM tokens are shown
//! once, when issued; only their hashes are stored. Responses are never cached or framed.

mod api;
mod broker;
mod csrf;
mod error;
mod guard;
mod html;
mod key;
mod pages;
mod session;
mod sync;
mod tenants;
pub mod throttle;
mod views;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};

pub use key::{AdminKey, KeyFile};

use crate::state::AppState;

#[derive(Clone)]
pub struct Admin(Arc<Inner>);

pub struct Inner {
    app: AppState,
    key: AdminKey,
    sessions: session::Sessions,
    broker: broker::Broker,
    throttle: throttle::Throttle,
}

impl std::ops::Deref for Admin {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Refuses to start with an admin key too weak to protect the page, or with two of them.
/// The admin page's settings, part of `scim-api serve`'s.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Operator key for the admin page (/admin) and /admin/api; both are off (404) when unset.
    /// Only from the environment variable ADMIN_TOKEN (or a file, below), never a flag: a
    /// command line is shown to anyone on the host who can list processes.
    #[arg(skip = AdminKey::from_env())]
    pub admin_token: Option<AdminKey>,

    /// A file holding the admin key instead of ADMIN_TOKEN (e.g. a mounted secret); a trailing
    /// newline is ignored. A file that cannot be read, or is empty, stops the start.
    #[arg(long, env = "ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<KeyFile>,

    /// Failed admin key attempts (sign-in form or `/admin/api` bearer) one client may make in
    /// a burst; then one more per ADMIN_FAILURE_WINDOW_SECS / this number. 0: no per-client limit.
    #[arg(long, env = "ADMIN_MAX_FAILURES_PER_CLIENT", default_value_t = 5)]
    pub admin_max_failures_per_client: u32,

    /// The same for all clients together, so that guessing from many addresses is slowed down
    /// too. 0: no total limit.
    #[arg(long, env = "ADMIN_MAX_FAILURES_TOTAL", default_value_t = 30)]
    pub admin_max_failures_total: u32,

    /// The window both failure budgets refill over.
    #[arg(long, env = "ADMIN_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub admin_failure_window_secs: u64,

    /// Count admin key failures by the last X-Forwarded-For address instead of the peer
    /// address. Only behind a proxy that sets it: otherwise any client can pick its own.
    #[arg(long, env = "ADMIN_TRUST_X_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub admin_trust_x_forwarded_for: bool,
}

impl AdminArgs {
    pub fn limits(&self) -> throttle::Limits {
        throttle::Limits {
            per_client: self.admin_max_failures_per_client,
            total: self.admin_max_failures_total,
            window: std::time::Duration::from_secs(self.admin_failure_window_secs.max(1)),
            trust_forwarded_for: self.admin_trust_x_forwarded_for,
        }
    }
}

pub fn check(args: &AdminArgs) -> Result<(), key::KeyError> {
    if given_in_env(args).is_some() && args.admin_token_file.is_some() {
        return Err(key::KeyError::TwoSources);
    }
    configured(args).map_or(Ok(()), |k| k.check())
}

/// The admin key, if one is set (from ADMIN_TOKEN or ADMIN_TOKEN_FILE; [`check`] refuses both).
fn configured(args: &AdminArgs) -> Option<AdminKey> {
    given_in_env(args).or_else(|| args.admin_token_file.as_ref().map(|f| f.key().clone()))
}

/// An empty `ADMIN_TOKEN` (as `${ADMIN_TOKEN:-}` in a compose file gives) means unset.
fn given_in_env(args: &AdminArgs) -> Option<AdminKey> {
    args.admin_token.clone().filter(|k| !k.is_empty())
}

/// The admin routes, or none when no admin token is configured (then `/admin` is a 404 like
/// any unknown path).
pub fn router(state: AppState, args: &AdminArgs) -> Router<AppState> {
    let Some(key) = configured(args) else {
        return Router::new();
    };
    let secure = state
        .public_url
        .as_deref()
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
    let admin = Admin(Arc::new(Inner {
        broker: broker::Broker::new(state.publisher.config().clone()),
        app: state,
        key,
        sessions: session::Sessions::new(secure),
        throttle: throttle::Throttle::new(args.limits()),
    }));
    let guarded = Router::new()
        .route("/admin", get(pages::index))
        .route("/admin/logout", post(pages::logout))
        .route("/admin/tenants", post(pages::create_tenant))
        .route("/admin/tenants/{id}", get(pages::tenant))
        .route("/admin/tenants/{id}/token", post(pages::rotate_token))
        .route("/admin/tenants/{id}/token/revoke", post(pages::revoke_token))
        .route(
            "/admin/tenants/{id}/deprovisioning-guard/{decision}",
            post(pages::decide_deprovisioning),
        )
        .route(
            "/admin/tenants/{id}/dead-letters/{letter}/retry",
            post(pages::retry_dead_letter),
        )
        .merge(api::router())
        .route_layer(middleware::from_fn_with_state(
            admin.clone(),
            guard::require_admin,
        ));
    // Sign-in and files that hold nothing secret are open.
    let open = Router::new()
        .route("/admin/login", get(pages::login_form).post(pages::login))
        .route("/admin/api/openapi.json", get(api::openapi))
        .route("/admin/assets/admin.css", get(pages::stylesheet))
        .route("/admin/assets/admin.js", get(pages::script));
    guarded
        .merge(open)
        .layer(middleware::map_response(security_headers))
        .with_state(admin)
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let mut set = |name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    // Pages show tokens once; no cache may keep a copy.
    set(header::CACHE_CONTROL, "no-store");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    resp
}

impl Inner {
    /// Whether `candidate` is the admin key, throttled per client and in total (see
    /// [`throttle`]): a throttled attempt is refused without looking at the key.
    fn check_key(&self, client: throttle::Client, candidate: &str) -> Result<(), error::AdminError> {
        let attempt = self.throttle.attempt(client).map_err(|t| {
            metrics::counter!("scim_admin_refused_total", "reason" => "throttled").increment(1);
            tracing::warn!(%client, wait_s = t.retry_after_secs(), "admin key attempt throttled: {t}");
            error::AdminError::Throttled(t)
        })?;
        if self.key.matches(candidate) {
            self.throttle.succeeded(attempt);
            Ok(())
        } else {
            Err(error::AdminError::WrongKey)
        }
    }
}

/// `https://host/scim/v2` as the IdP must be configured with (same rules as resource locations).
pub struct ScimBaseUrl(pub String);

impl FromRequestParts<Admin> for ScimBaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, admin: &Admin) -> Result<Self, Infallible> {
        let url = crate::extract::BaseUrl::from_request_parts(parts, &admin.app)
            .await
            .map(|b| b.0)
            .unwrap_or_else(|_| "/scim/v2".into());
        Ok(Self(url))
    }
}
