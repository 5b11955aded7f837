//! Tokens on every endpoint: none, an unknown one or a revoked one opens nothing, and what is
//! open without a token (health, readiness, metrics) names no tenant's data.

use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::Two;
use crate::routes::{PUBLIC_ROUTES, TENANT_ROUTES, is_discovery, is_search, names_a_definition, request};

async fn assert_refused(two: &Two, token: Option<&str>, user: Uuid, group: Uuid, what: &str) {
    for (method, template) in TENANT_ROUTES {
        let (method, path, body) = request(method, template, user, group);
        let r = two
            .env
            .request(&two.api, method.clone(), &path, token, body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {method} {path}: {}",
            r.body
        );
        tests::assert_scim_error(&r);
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{what}: {method} {path}: no Bearer challenge"
        );
    }
}

/// Every GET route and every search answers the owner: the refusals above are about the
/// token, not the route.
async fn assert_open_for(two: &Two, token: &str, user: Uuid, group: Uuid) {
    for (method, template) in TENANT_ROUTES.iter().filter(|(m, t)| *m == "GET" || is_search(t)) {
        let (method, path, body) = request(method, template, user, group);
        let r = two
            .env
            .request(&two.api, method.clone(), &path, Some(token), body)
            .await;
        let want = if names_a_definition(template) {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, want, "{method} {path}: {}", r.body);
    }
}

#[tokio::test]
async fn every_scim_endpoint_refuses_a_missing_or_unknown_token() {
    let two = Two::new().await;
    let (ada, group) = (two.a.ada, two.a.group);
    let unknown = format!("scimr_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    two.writes_nothing(async {
        assert_refused(&two, None, ada, group, "no token").await;
        assert_refused(&two, Some(&unknown), ada, group, "unknown token").await;
        // A's token with one character changed: close is not good enough.
        let mut near = two.a.token.clone().into_bytes();
        let last = near.len() - 1;
        near[last] = if near[last] == b'0' { b'1' } else { b'0' };
        let near = String::from_utf8(near).unwrap();
        assert_refused(&two, Some(&near), ada, group, "near token").await;
    })
    .await;
    assert_open_for(&two, &two.a.token, ada, group).await;
}

#[tokio::test]
async fn a_revoked_token_opens_no_endpoint_and_other_tenants_keep_working() {
    let two = Two::new().await;
    let revoked = two
        .env
        .cli(&["token", "revoke", "--tenant", &two.b.tenant.to_string()])
        .unwrap();
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    let b_before = two.state_of(two.b.tenant).await;
    two.writes_nothing(async {
        let token = Some(two.b.token.as_str());
        assert_refused(&two, token, two.b.carol, two.b.group, "revoked, own resources").await;
        assert_refused(&two, token, two.a.ada, two.a.group, "revoked, A's resources").await;
    })
    .await;
    assert_eq!(two.state_of(two.b.tenant).await, b_before);
    assert_open_for(&two, &two.a.token, two.a.ada, two.a.group).await;
}

#[tokio::test]
async fn what_is_open_without_a_token_names_no_tenant_data() {
    let two = Two::new().await;
    // Some traffic of both tenants first, errors included, so the metrics have seen it all.
    for token in [&two.a.token, &two.b.token] {
        two.call(token, Method::GET, "/Users?filter=userName%20eq%20%22x%22", None)
            .await;
        two.call(token, Method::GET, &format!("/Users/{}", two.a.ada), None)
            .await;
    }
    let secrets = two.identifying();
    for (_, path) in PUBLIC_ROUTES {
        let r = two
            .env
            .http
            .get(format!("{}{path}", two.api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let text = r.text().await.unwrap();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{path} shows {s}");
        }
    }
    // Metrics carry no tenant id at all (a label per tenant grows with the tenants, and names
    // them to whoever can scrape).
    let metrics = two.api.scrape(&two.env.http).await;
    for s in secrets
        .iter()
        .chain([&two.a.tenant.to_string(), &two.b.tenant.to_string()])
    {
        assert!(!metrics.contains(s.as_str()), "/metrics shows {s}");
    }
    // Discovery answers every tenant alike, with nothing of any tenant in it.
    for (method, template) in TENANT_ROUTES.iter().filter(|(_, p)| is_discovery(p)) {
        let (method, path, _) = request(method, template, Uuid::nil(), Uuid::nil());
        let a = two
            .env
            .request(&two.api, method.clone(), &path, Some(&two.a.token), None)
            .await;
        let b = two
            .env
            .request(&two.api, method, &path, Some(&two.b.token), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.body, b.body, "{path}");
        for s in &secrets {
            assert!(!a.body.to_string().contains(s.as_str()), "{path} shows {s}");
        }
    }
}
