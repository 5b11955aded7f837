//! RFC 7643/7644 conformance of the request surface, end to end against the real `scim-api`:
//! sorting, searches, ETag preconditions, discovery, paging (by index, and by cursor as RFC 9865
//! adds) and attribute typing. Each test names the RFC section it checks. No worker runs:
//! nothing here reads the product.

mod cursor;
mod discovery;
mod etags;
mod paging;
mod search;
mod sorting;
mod typing;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::Response;
use uuid::Uuid;

pub use tests::World;

pub use tests::urn::ENTERPRISE;
pub use tests::urn::ERROR_SCHEMA;
pub use tests::urn::GROUP_SCHEMA;
pub use tests::urn::LIST_RESPONSE;
pub use tests::urn::PATCH_OP;
pub use tests::urn::SEARCH_REQUEST;
pub use tests::urn::USER_SCHEMA;

/// The steps of conformance tests, on the suite's one World.
#[allow(async_fn_in_trait)]
pub trait Steps {
    /// Creates a user from `body` (schemas added); returns its id.
    async fn user(&self, body: Value) -> Uuid;

    /// Creates a user with just a userName.
    async fn named(&self, user_name: &str) -> Uuid;

    async fn group(&self, display_name: &str) -> Uuid;

    /// `POST <path>/.search` with a SearchRequest made of `params`.
    async fn search(&self, path: &str, params: Value) -> Response;
}

impl Steps for World {
    /// Creates a user from `body` (schemas added); returns its id.
    async fn user(&self, mut body: Value) -> Uuid {
        body["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
        let r = self.call(Method::POST, "/Users", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    /// Creates a user with just a userName.
    async fn named(&self, user_name: &str) -> Uuid {
        self.user(json!({"userName": user_name})).await
    }

    async fn group(&self, display_name: &str) -> Uuid {
        let body = json!({"schemas": [GROUP_SCHEMA], "displayName": display_name});
        let r = self.call(Method::POST, "/Groups", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    /// `POST <path>/.search` with a SearchRequest made of `params`.
    async fn search(&self, path: &str, mut params: Value) -> Response {
        params["schemas"] = json!([SEARCH_REQUEST]);
        self.call(Method::POST, &format!("{path}/.search"), Some(params))
            .await
    }
}

pub fn patch(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// The ids of a ListResponse's resources, in order.
pub fn ids(list: &Value) -> Vec<Uuid> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list response: {list}"))
        .iter()
        .map(|r| Uuid::parse_str(r["id"].as_str().expect("id")).expect("uuid"))
        .collect()
}

/// Asserts a SCIM error response (RFC 7644 §3.12): the status, as a string in the body too,
/// and the scimType, if one is expected.
pub fn assert_error(r: &Response, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([ERROR_SCHEMA]), "{}", r.body);
    assert_eq!(r.body["status"], status.as_str(), "{}", r.body);
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.body);
    assert!(
        r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        r.body
    );
}
