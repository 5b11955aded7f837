//! Wrong admin keys are throttled per client and in total, in the sign-in form and in
//! `/admin/api` alike; the operator gets in again once the window has passed.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::{ADMIN_KEY, AdminWorld, As, Body, Reply, set_cookies};

const WRONG: &str = "not-the-admin-key-0123456789";

async fn sign_in_with(w: &AdminWorld, key: &str) -> Reply {
    w.send(
        Method::POST,
        "/admin/login",
        As::Nobody,
        Body::Form(&[("token", key)]),
    )
    .await
}

fn retry_after(r: &Reply) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 says when to retry: {:?}", r.headers))
}

#[tokio::test]
async fn two_hundred_wrong_keys_in_a_row_get_five_answers_and_then_429s() {
    let w = AdminWorld::new().await;
    let started = Instant::now();
    let mut answered = 0;
    let mut throttled = 0;
    for _ in 0..200 {
        let r = sign_in_with(&w, WRONG).await;
        match r.status {
            StatusCode::UNAUTHORIZED => answered += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                throttled += 1;
                assert!((1..=12).contains(&retry_after(&r)), "{:?}", r.headers);
                assert!(set_cookies(&r).is_empty());
                assert!(
                    r.text
                        .contains("Too many failed sign-ins from your address; try again in"),
                    "a readable message on the page: {}",
                    r.text
                );
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    // Five per client per minute: a token comes back every 12 s, so a burst this fast gets at
    // most one more answer.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the burst was too slow to judge"
    );
    assert_eq!(answered, 5, "{answered} answered, {throttled} throttled");
    assert_eq!(throttled, 195);

    // The bearer key of /admin/api is a guess like any other, so it is throttled too, and a
    // throttled attempt is not checked at all, even with the right key.
    for key in [WRONG, ADMIN_KEY] {
        let r = w.get("/admin/api/tenants", As::Bearer(key)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
        assert_eq!(r.json()["error"], "too_many_failures");
        assert!(r.json()["detail"].as_str().unwrap().contains("from your address"));
        assert!(retry_after(&r) >= 1);
    }
    let r = sign_in_with(&w, ADMIN_KEY).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_operator_signs_in_once_the_window_has_passed_and_a_success_forgives_earlier_failures() {
    let w = AdminWorld::with(&[("ADMIN_FAILURE_WINDOW_SECS", "3")]).await;
    // Four typos, then the right key: the failures are forgiven...
    for _ in 0..4 {
        assert_eq!(sign_in_with(&w, WRONG).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(sign_in_with(&w, ADMIN_KEY).await.status, StatusCode::SEE_OTHER);
    // ...so five more wrong ones are answered before the sixth is throttled.
    for _ in 0..5 {
        assert_eq!(sign_in_with(&w, WRONG).await.status, StatusCode::UNAUTHORIZED);
    }
    let r = sign_in_with(&w, ADMIN_KEY).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    // Five per 3 s: one attempt comes back within a second.
    let wait = retry_after(&r);
    assert!(wait <= 1, "Retry-After {wait}");
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let r = sign_in_with(&w, ADMIN_KEY).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert!(!set_cookies(&r).is_empty(), "a session");
    // A session is no guess: it is never throttled.
    let s = w.sign_in().await;
    for _ in 0..10 {
        sign_in_with(&w, WRONG).await;
    }
    assert_eq!(w.get("/admin", As::Cookie(&s)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn guesses_from_many_addresses_are_capped_in_total() {
    // Behind a trusted proxy, clients are told apart by X-Forwarded-For.
    let w = AdminWorld::with(&[("ADMIN_TRUST_X_FORWARDED_FOR", "true")]).await;
    let mut statuses = Vec::new();
    for i in 0..40 {
        let r = w
            .http
            .post(w.url("/admin/api/tenants"))
            .bearer_auth(WRONG)
            .header("x-forwarded-for", format!("192.0.2.77, 198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("retry-after"));
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(
                body["detail"].as_str().unwrap().contains("all addresses"),
                "{body}"
            );
        }
    }
    let answered = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((answered, throttled), (30, 10), "{statuses:?}");
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_trusted() {
    let w = AdminWorld::new().await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = w
            .http
            .get(w.url("/admin/api/tenants"))
            .bearer_auth(WRONG)
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses,
        [
            [StatusCode::UNAUTHORIZED; 5].as_slice(),
            &[StatusCode::TOO_MANY_REQUESTS]
        ]
        .concat(),
        "a client cannot pick a new address per guess"
    );
}
