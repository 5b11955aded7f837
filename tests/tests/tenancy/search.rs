//! Searches (`POST /Users/.search`, `POST /Groups/.search`, `POST /.search`), the root query
//! (`GET /scim/v2`) and sorted lists: with B's token a filter naming A's resources by any key
//! finds nothing, and a list of everything shows only B's own, whatever the sort. Each filter
//! finds A's resources for A, so an empty answer is isolation and not a filter that fails.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    A_GROUP_EXTERNAL_ID, A_GROUP_NAME, ADA_ALIAS, ADA_EMPLOYEE_NUMBER, ADA_EXTERNAL_ID, ADA_USER_NAME,
    ENTERPRISE, Two, listed_ids, search_request,
};

/// Where a query is sent: the three search endpoints and the root GET.
#[derive(Debug, Clone, Copy)]
enum Via {
    Search(&'static str),
    RootGet,
}

impl Via {
    /// Sends `params` (SearchRequest attributes) as this endpoint takes them: in a search body,
    /// or as the query string of the root GET.
    async fn send(self, two: &Two, token: &str, params: Value) -> tests::Response {
        match self {
            Via::Search(path) => {
                two.call(
                    token,
                    Method::POST,
                    &format!("{path}/.search"),
                    Some(search_request(params)),
                )
                .await
            }
            Via::RootGet => {
                let query: Vec<String> = params
                    .as_object()
                    .expect("params")
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            Value::Array(a) => a
                                .iter()
                                .map(|x| x.as_str().expect("string"))
                                .collect::<Vec<_>>()
                                .join(","),
                            other => other.to_string(),
                        };
                        format!("{k}={}", tests::urlencode(&v))
                    })
                    .collect();
                two.call(token, Method::GET, &format!("?{}", query.join("&")), None)
                    .await
            }
        }
    }
}

const USERS: Via = Via::Search("/Users");
const GROUPS: Via = Via::Search("/Groups");
const ROOT: Via = Via::Search("");

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn strings(ids: &[Uuid]) -> Vec<String> {
    sorted(ids.iter().map(Uuid::to_string).collect())
}

/// B's answer names none of A's resources, nor any of A's values.
fn assert_shows_nothing_of_a(two: &Two, what: &str, r: &tests::Response) {
    let text = r.body.to_string();
    for theirs in two.a_ids() {
        assert!(
            !text.contains(&theirs.to_string()),
            "{what} shows A's {theirs}: {text}"
        );
    }
    for value in [ADA_USER_NAME, ADA_EXTERNAL_ID, A_GROUP_NAME, A_GROUP_EXTERNAL_ID] {
        assert!(!text.contains(value), "{what} shows A's {value}: {text}");
    }
}

/// For each filter: B's query through `via` finds nothing, A's finds exactly `expected`.
async fn assert_filters_isolate(two: &Two, via: Via, filters: &[(String, Vec<Uuid>)]) {
    for (filter, expected) in filters {
        let what = format!("{via:?} {filter}");
        let params = json!({"filter": filter, "count": 1000});
        let theirs = via.send(two, &two.b.token, params.clone()).await;
        assert_eq!(theirs.status, StatusCode::OK, "{what}: {}", theirs.body);
        assert_eq!(theirs.body["totalResults"], 0, "{what}: {}", theirs.body);
        assert_eq!(theirs.body["Resources"], json!([]), "{what}: {}", theirs.body);
        assert_shows_nothing_of_a(two, &what, &theirs);
        let own = via.send(two, &two.a.token, params).await;
        assert_eq!(own.status, StatusCode::OK, "{what}: {}", own.body);
        assert_eq!(
            sorted(listed_ids(&own.body)),
            strings(expected),
            "{what} should find A's resources for A: {}",
            own.body
        );
    }
}

fn user_filters(two: &Two) -> Vec<(String, Vec<Uuid>)> {
    let (ada, bob) = (two.a.ada, two.a.bob);
    vec![
        (format!("userName eq \"{ADA_USER_NAME}\""), vec![ada]),
        (
            format!("userName eq \"{}\"", ADA_USER_NAME.to_uppercase()),
            vec![ada],
        ),
        (format!("externalId eq \"{ADA_EXTERNAL_ID}\""), vec![ada]),
        (format!("id eq \"{ada}\""), vec![ada]),
        (format!("id eq \"{ada}\" or id eq \"{bob}\""), vec![ada, bob]),
        (format!("emails[value eq \"{ADA_ALIAS}\"]"), vec![ada]),
        (
            format!("{ENTERPRISE}:employeeNumber eq \"{ADA_EMPLOYEE_NUMBER}\""),
            vec![ada],
        ),
        ("userName sw \"ada\"".to_owned(), vec![ada]),
        ("name.familyName eq \"Victim\"".to_owned(), vec![ada, bob]),
    ]
}

fn group_filters(two: &Two) -> Vec<(String, Vec<Uuid>)> {
    let (ada, bob, group) = (two.a.ada, two.a.bob, two.a.group);
    vec![
        (format!("displayName eq \"{A_GROUP_NAME}\""), vec![group]),
        (format!("externalId eq \"{A_GROUP_EXTERNAL_ID}\""), vec![group]),
        (format!("id eq \"{group}\""), vec![group]),
        (format!("members.value eq \"{ada}\""), vec![group]),
        (format!("members[value eq \"{bob}\"]"), vec![group]),
        ("displayName sw \"Eng\"".to_owned(), vec![group]),
    ]
}

/// Filters at the root, which span both types.
fn root_filters(two: &Two) -> Vec<(String, Vec<Uuid>)> {
    let (ada, bob, group) = (two.a.ada, two.a.bob, two.a.group);
    vec![
        (format!("userName eq \"{ADA_USER_NAME}\""), vec![ada]),
        (format!("externalId eq \"{ADA_EXTERNAL_ID}\""), vec![ada]),
        (format!("externalId eq \"{A_GROUP_EXTERNAL_ID}\""), vec![group]),
        (format!("id eq \"{ada}\""), vec![ada]),
        (format!("id eq \"{group}\""), vec![group]),
        (format!("id eq \"{bob}\" or id eq \"{group}\""), vec![bob, group]),
        (format!("members.value eq \"{ada}\""), vec![group]),
        (
            format!("members[value eq \"{bob}\"] or userName eq \"{ADA_USER_NAME}\""),
            vec![ada, group],
        ),
        (format!("displayName eq \"{A_GROUP_NAME}\""), vec![group]),
        ("displayName co \"Victim\"".to_owned(), vec![ada, bob]),
    ]
}

#[tokio::test]
async fn searches_by_any_key_never_find_another_tenants_users() {
    let two = Two::new().await;
    assert_filters_isolate(&two, USERS, &user_filters(&two)).await;
}

#[tokio::test]
async fn searches_by_any_key_never_find_another_tenants_groups() {
    let two = Two::new().await;
    assert_filters_isolate(&two, GROUPS, &group_filters(&two)).await;
}

#[tokio::test]
async fn root_searches_and_root_queries_never_find_another_tenants_resources() {
    let two = Two::new().await;
    let filters = root_filters(&two);
    assert_filters_isolate(&two, ROOT, &filters).await;
    assert_filters_isolate(&two, Via::RootGet, &filters).await;
}

/// Lists of everything, sorted and paged every way: B sees exactly its own resources (in
/// `Resources` and in `totalResults`), A exactly its own.
#[tokio::test]
async fn sorted_lists_and_searches_show_only_the_tenants_own_resources() {
    let two = Two::new().await;
    let a_users = strings(&[two.a.ada, two.a.bob]);
    let a_all = strings(&two.a_ids());
    let cases: Vec<(Via, &str, Vec<String>, Vec<String>)> = vec![
        (USERS, "userName", strings(&[two.b.carol]), a_users.clone()),
        (USERS, "name.familyName", strings(&[two.b.carol]), a_users.clone()),
        (USERS, "externalId", strings(&[two.b.carol]), a_users.clone()),
        (USERS, "meta.created", strings(&[two.b.carol]), a_users.clone()),
        (
            GROUPS,
            "displayName",
            strings(&[two.b.group]),
            strings(&[two.a.group]),
        ),
        (
            GROUPS,
            "meta.lastModified",
            strings(&[two.b.group]),
            strings(&[two.a.group]),
        ),
        (
            ROOT,
            "displayName",
            strings(&[two.b.carol, two.b.group]),
            a_all.clone(),
        ),
        (
            ROOT,
            "userName",
            strings(&[two.b.carol, two.b.group]),
            a_all.clone(),
        ),
        (ROOT, "id", strings(&[two.b.carol, two.b.group]), a_all.clone()),
        (
            Via::RootGet,
            "displayName",
            strings(&[two.b.carol, two.b.group]),
            a_all.clone(),
        ),
        (
            Via::RootGet,
            "externalId",
            strings(&[two.b.carol, two.b.group]),
            a_all.clone(),
        ),
    ];
    for (via, sort_by, b_own, a_own) in cases {
        for order in ["ascending", "descending"] {
            let what = format!("{via:?} sortBy={sort_by} {order}");
            let params = json!({"sortBy": sort_by, "sortOrder": order, "count": 1000});
            let r = via.send(&two, &two.b.token, params.clone()).await;
            assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
            assert_eq!(sorted(listed_ids(&r.body)), b_own, "{what}: {}", r.body);
            assert_eq!(r.body["totalResults"], b_own.len(), "{what}: {}", r.body);
            assert_shows_nothing_of_a(&two, &what, &r);
            // Paging past B's own resources reaches none of A's.
            let mut past = params.clone();
            past["startIndex"] = json!(b_own.len() + 1);
            let r = via.send(&two, &two.b.token, past).await;
            assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
            assert_eq!(r.body["Resources"], json!([]), "{what}, past the end: {}", r.body);
            assert_eq!(r.body["totalResults"], b_own.len(), "{what}: {}", r.body);
            let own = via.send(&two, &two.a.token, params).await;
            assert_eq!(sorted(listed_ids(&own.body)), a_own, "{what}, as A: {}", own.body);
        }
    }
    // Projections that ask for the references (members, a user's groups) show B's only.
    for (via, attributes) in [
        (GROUPS, json!(["members", "displayName"])),
        (USERS, json!(["groups", "userName"])),
    ] {
        let what = format!("{via:?} attributes={attributes}");
        let r = via
            .send(
                &two,
                &two.b.token,
                json!({"attributes": attributes, "sortBy": "id", "count": 1000}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.body);
        assert_shows_nothing_of_a(&two, &what, &r);
        assert!(
            r.body.to_string().contains(&two.b.carol.to_string()),
            "{what} shows B's own references: {}",
            r.body
        );
    }
}
