//! The gate in front of every admin route except sign-in and the static files: the caller is
//! either the operator with `Authorization: Bearer <ADMIN_TOKEN>` (scripts) or a signed-in
//! browser session; a session's state-changing requests must also pass the CSRF check. Browsers
//! without a session are sent to the sign-in page; API callers get 401.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::error::AdminError;
use super::session::Session;
use super::throttle::Client;
use super::{Admin, csrf};

/// Who is acting, for handlers that need the session (its CSRF token, sign-out).
#[derive(Clone)]
pub enum Principal {
    /// The bearer admin token.
    Operator,
    Session(Session),
}

impl Principal {
    /// The token a page puts in its forms (none for bearer callers, who need none).
    pub fn csrf(&self) -> &str {
        match self {
            Principal::Operator => "",
            Principal::Session(s) => &s.csrf,
        }
    }
}

pub async fn require_admin(State(admin): State<Admin>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/admin/api/");
    match admit(&admin, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            if matches!(e, AdminError::WrongKey | AdminError::Csrf) {
                metrics::counter!("scim_admin_refused_total", "reason" => if matches!(e, AdminError::Csrf) { "csrf" } else { "key" })
                    .increment(1);
            }
            match e {
                AdminError::Unauthenticated if !api => Redirect::to("/admin/login").into_response(),
                e if api => e.into_response(),
                e => e.page(),
            }
        }
    }
}

async fn admit(admin: &Admin, mut req: Request) -> Result<Request, AdminError> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(crate::extract::bearer));
    let principal = match auth {
        // A wrong or malformed key is refused even if a session cookie comes along. Every key
        // is a guess to throttle, in the API as in the sign-in form.
        Some(token) => {
            let client = Client::from_request(
                req.headers(),
                req.extensions(),
                admin.throttle.limits().trust_forwarded_for,
            );
            if let Err(e) = admin.check_key(client, token.unwrap_or_default()) {
                if matches!(e, AdminError::WrongKey) {
                    tracing::warn!("admin request with a wrong admin token");
                }
                return Err(e);
            }
            Principal::Operator
        }
        None => match admin
            .sessions
            .find(&admin.app.db, &admin.key, req.headers())
            .await?
        {
            Some(s) => Principal::Session(s),
            None => return Err(AdminError::Unauthenticated),
        },
    };
    if csrf::changes_state(req.method())
        && let Principal::Session(s) = &principal
    {
        req = csrf::verify(&s.csrf_hash, req).await?;
    }
    req.extensions_mut().insert(principal);
    Ok(req)
}
