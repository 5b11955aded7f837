//! Finding 8 (Host): without SCIM_PUBLIC_URL, resource locations followed the request's `Host`
//! header, so a forged one put another origin into `meta.location`.

use reqwest::StatusCode;
use tests::okta_user;

use crate::World;

async fn create_with_host(w: &World, host: &str) -> (StatusCode, serde_json::Value) {
    let r = w
        .env
        .http
        .post(format!("{}/scim/v2/Users", w.api.base))
        .bearer_auth(&w.token)
        .header("Host", host)
        .header("Content-Type", "application/scim+json")
        .body(
            okta_user(
                &format!("u{}@acme.test", uuid::Uuid::new_v4().simple()),
                "U",
                "Ser",
            )
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_forged_host_is_refused_without_a_public_url() {
    let w = World::with_api(&[]).await;
    let (status, body) = create_with_host(&w, "evil.example").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("SCIM_PUBLIC_URL"),
        "{body}"
    );
    assert!(!body.to_string().contains("evil.example"));
    let (status, body) = create_with_host(&w, "localhost:8080").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:8080/scim/v2/Users/")
    );
}

#[tokio::test]
async fn with_a_public_url_the_host_header_does_not_matter() {
    let w = World::with_api(&[("SCIM_PUBLIC_URL", "https://scim.acme.example")]).await;
    let (status, body) = create_with_host(&w, "evil.example").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["meta"]["location"]
            .as_str()
            .unwrap()
            .starts_with("https://scim.acme.example/scim/v2/Users/")
    );
}

#[tokio::test]
async fn listed_hosts_are_allowed() {
    let w = World::with_api(&[("SCIM_ALLOWED_HOSTS", "scim.internal:8080")]).await;
    let (status, _) = create_with_host(&w, "scim.internal:8080").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = create_with_host(&w, "localhost").await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}
