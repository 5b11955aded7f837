//! `AdminError`: every failure of the admin page and `/admin/api`, mapped to a status here once.
//! The JSON API renders it as `{"status", "error", "detail"}`; the pages render the same status
//! with a small HTML page (`PageError`). A 5xx logs its cause chain and shows a generic detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::DbErr;
use serde::Serialize;
use shared::amqp::AmqpError;
use shared::retry::Transience;
use uuid::Uuid;

use super::throttle::Throttled;
use crate::error::chain;
use crate::tokens::TokenError;

/// The JSON body of every `/admin/api` error.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    status: u16,
    /// What went wrong, for a script to match on.
    #[schema(examples("unknown_tenant", "csrf", "wrong_admin_token", "too_many_failures"))]
    error: &'static str,
    /// What went wrong, for a person.
    detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("sign in with the admin token first")]
    Unauthenticated,
    #[error("the admin token is not valid")]
    WrongKey,
    #[error("the CSRF token is missing or wrong: reload the page and try again")]
    Csrf,
    #[error("{0}")]
    Throttled(Throttled),
    #[error("no tenant with id {0}")]
    UnknownTenant(Uuid),
    #[error("no dead letter '{0}' for this tenant (it may have been retried already)")]
    UnknownLetter(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but the current state refuses it (say so and how to proceed).
    #[error("{0}")]
    Conflict(String),
    #[error("rabbitmq is not reachable")]
    Broker(#[from] AmqpError),
    #[error("rabbitmq did not answer in time")]
    BrokerTimeout,
    #[error("database")]
    Db(#[from] DbErr),
}

impl From<TokenError> for AdminError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::UnknownTenant(id) => Self::UnknownTenant(id),
            TokenError::EmptyName | TokenError::ControlInName => Self::BadRequest(e.to_string()),
            TokenError::Db(db) => Self::Db(db),
        }
    }
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::WrongKey => StatusCode::UNAUTHORIZED,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnknownTenant(_) | Self::UnknownLetter(_) | Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Broker(_) | Self::BrokerTimeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::WrongKey => "wrong_admin_token",
            Self::Csrf => "csrf",
            Self::Throttled(_) => "too_many_failures",
            Self::UnknownTenant(_) => "unknown_tenant",
            Self::UnknownLetter(_) => "unknown_dead_letter",
            Self::NotFound => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::Broker(_) | Self::BrokerTimeout => "broker_unavailable",
            Self::Db(_) => "database",
        }
    }

    /// What the operator is told; server-side causes are logged, not shown.
    fn detail(&self) -> String {
        match self {
            Self::Broker(e) => {
                tracing::warn!(error = %chain(e), "admin: rabbitmq unavailable");
                "rabbitmq is not reachable; try again shortly".into()
            }
            Self::Db(e) if e.is_transient() => {
                tracing::warn!(error = %chain(e), "admin: database unavailable");
                "the database is temporarily unavailable; try again shortly".into()
            }
            Self::Db(e) => {
                tracing::error!(error = %chain(e), "admin: internal error");
                "internal server error".into()
            }
            other => other.to_string(),
        }
    }

    /// The same error as an HTML page, for the browser pages.
    pub fn page(self) -> Response {
        let status = self.status();
        let body = super::html::error_page(status, &self.detail());
        let mut resp = (status, body).into_response();
        self.decorate(&mut resp);
        resp
    }

    /// The headers that go with the status: a challenge with 401, when to retry with 429.
    fn decorate(&self, resp: &mut Response) {
        match self {
            Self::Unauthenticated | Self::WrongKey => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"scim-relay admin\""),
                );
            }
            Self::Throttled(t) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after_secs()));
            }
            _ => {}
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            status: status.as_u16(),
            error: self.code(),
            detail: self.detail(),
        };
        let mut resp = (status, Json(body)).into_response();
        self.decorate(&mut resp);
        resp
    }
}

/// The error type of the HTML page handlers: an `AdminError` shown as a page.
#[derive(Debug)]
pub struct PageError(pub AdminError);

impl<E> From<E> for PageError
where
    AdminError: From<E>,
{
    fn from(e: E) -> Self {
        Self(AdminError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.page()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_and_csrf_failures_have_distinct_statuses() {
        assert_eq!(AdminError::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(AdminError::WrongKey.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(AdminError::Csrf.status(), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn server_errors_do_not_show_their_cause() {
        let resp = AdminError::Db(DbErr::Custom("relation secret_table is broken".into())).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("secret_table"), "{text}");
    }

    #[test]
    fn unknown_tenants_from_token_commands_are_404s() {
        let id = Uuid::now_v7();
        assert_eq!(
            AdminError::from(TokenError::UnknownTenant(id)).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            AdminError::from(TokenError::EmptyName).status(),
            StatusCode::BAD_REQUEST
        );
    }
}
