//! Finding 1: the HTTP method became a Prometheus label without a bound, so requests with long
//! invented methods, without any token, grew the api's memory for good and made one scrape of
//! /metrics hundreds of megabytes.

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};

use crate::World;

#[tokio::test]
async fn invented_methods_are_refused_and_add_nothing_to_metrics() {
    let w = World::with_api(&[]).await;
    // Some ordinary traffic first, so the series it makes exist before the baseline.
    w.call(Method::GET, "/Users", None).await;
    w.env
        .http
        .get(format!("{}/healthz", w.api.base))
        .send()
        .await
        .unwrap();
    let before = w.api.scrape(&w.env.http).await;

    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..2_000)
        .map(|i| {
            let http = w.env.http.clone();
            let url = format!("{}/scim/v2/Users", w.api.base);
            async move {
                let name = format!("X{i:05}{}", "M".repeat(994));
                let method = Method::from_bytes(name.as_bytes()).expect("a valid method token");
                http.request(method, url).send().await.expect("answered").status()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::METHOD_NOT_ALLOWED),
        "every invented method is refused: {:?}",
        statuses.iter().find(|s| **s != StatusCode::METHOD_NOT_ALLOWED)
    );

    let after = w.api.scrape(&w.env.http).await;
    assert!(!after.contains("MMMMMMMM"), "an invented method became a label");
    assert!(
        after.len() < before.len() + 4_096,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
}

#[tokio::test]
async fn known_methods_on_unknown_routes_share_one_label() {
    let w = World::with_api(&[]).await;
    for i in 0..50 {
        let r = w
            .env
            .http
            .get(format!("{}/nothing-here-{i}", w.api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let metrics = w.api.scrape(&w.env.http).await;
    assert!(!metrics.contains("nothing-here"), "a path became a label");
    assert!(metrics.contains("route=\"unmatched\""), "{metrics}");
}
