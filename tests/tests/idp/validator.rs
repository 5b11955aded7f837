//! The Microsoft Entra SCIM Validator (scimvalidator.microsoft.com), check by check.
//!
//! Microsoft publishes no list of the validator's checks. The list and the requests below are
//! taken from raw result exports of the validator, with groups enabled:
//! miiitch/EzSCIM@c0517857f3397fb586f478fac04c7c102b153599:docs/scim-test-results/scim-results-0[1-7].json
//! (each test's `Description` is a check name here; its `InitialRequestBodies` and `RequestBody`
//! are the requests; run 07 has all 21 mandatory checks and the 7 preview checks). The three
//! manager checks appear only when the schema has the enterprise `manager`; they are not in those
//! exports, so their names and bodies come from third-party write-ups of validator output
//! (pranems/SCIMServer: docs/SCIM_VALIDATION_GAP_ANALYSIS.md, docs/MANAGER_PATCH_STRING_COERCION.md).
//!
//! Each check creates what it needs, as the validator does, and asserts what the validator
//! asserts (its result messages are quoted where they say more than the status). Every
//! assertion's message starts with the check's name. The validator reads only over SCIM; these
//! tests also follow a created and a disabled user to the product row.
//!
//! The exports record the headers the validator sends (`Host` and
//! `Content-Type: application/scim+json; charset=utf-8`) and no `User-Agent`, and no other
//! source names one: [`UA`] is therefore a neutral name, not Entra's provisioning service's.
//! Queries are sent in the validator's form: `filter=userName+eq+"a%40b.com"`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::Response;
use uuid::Uuid;

use super::{ENTERPRISE, GROUP_SCHEMA, Idp, USER_SCHEMA, patch};

/// Not the validator's (it is not recorded anywhere): a name that no IdP quirk answers to.
const UA: &str = "scim-relay validator replay";
const CONTENT_TYPE: &str = "application/scim+json; charset=utf-8";

/// The mandatory user checks (Category 0). The exports list checks by outcome (passed, then
/// failed); these lists put them in lifecycle order: create, filter, patch, delete.
pub const USER_CHECKS: &[&str] = &[
    "Create a new User",
    "Create a duplicate User",
    "Filter for an existing user",
    "Filter for a non-existing user",
    "Filter for an existing user with a different case",
    // Run 01 names it "Patch User - Replace Attributes Verbose Request".
    "Patch User - Replace Attributes",
    "Update User userName",
    "Patch User - Disable User",
    "Delete a User",
];

/// The mandatory group checks ("Enable Group Tests").
pub const GROUP_CHECKS: &[&str] = &[
    "Create a new Group",
    "Create a duplicate Group",
    "Filter for an existing group",
    "Filter for a non-existing group",
    "Filter for an existing group with a different case",
    "Filter for an existing group by displayName excluding members",
    "Get group by id excluding members",
    "Patch Group - Replace Attributes",
    "Update Group displayName",
    "Patch Group - Add Member",
    "Patch Group - Remove Member",
    "Delete a Group",
];

/// The mandatory checks added when the schema has the enterprise `manager` (third-party names).
pub const MANAGER_CHECKS: &[&str] = &[
    "Patch User - Add Manager",
    "Patch User - Replace Manager",
    "Patch User - Remove Manager",
];

/// The preview checks (Category 1): reported apart, they do not fail compliance.
pub const PREVIEW_CHECKS: &[&str] = &[
    "Patch User - Multiple Operations on different attributes",
    "Patch User - Multiple Operations on same attribute",
    "Delete a non-existent User",
    "Delete the same User twice",
    "Patch Group - Multiple Operations on same attribute",
    "Delete a non-existent Group",
    "Delete the same Group twice",
];

const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[test]
fn the_lists_hold_the_validators_21_mandatory_and_7_preview_checks() {
    assert_eq!(USER_CHECKS.len() + GROUP_CHECKS.len(), 21);
    assert_eq!(PREVIEW_CHECKS.len(), 7);
    let mut all: Vec<&str> = [USER_CHECKS, GROUP_CHECKS, MANAGER_CHECKS, PREVIEW_CHECKS].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 21 + 3 + 7, "a check is listed twice");
}

#[tokio::test]
async fn mandatory_user_checks() {
    let mut v = Validator::start().await;

    let c = v.check("Create a new User");
    let name = random_user_name();
    let sent = validator_user(&name);
    let created = v
        .expect(c, Method::POST, "/Users", Some(sent.clone()), StatusCode::CREATED)
        .await;
    let id = created.id();
    // The validator sends `"primary": "true"`; it fails a server that echoes the string back.
    for attr in ["emails", "phoneNumbers", "addresses"] {
        assert_eq!(
            created.body[attr][0]["primary"],
            json!(true),
            "{c}: {attr}: {}",
            created.body
        );
    }
    assert_holds(c, &created.body, &sent);
    let found = v.filter(c, "Users", "userName", &name, 1).await;
    assert_eq!(found[0]["id"], json!(id.to_string()), "{c}: {found:?}");
    let row = v.idp.product_user(id, |u| u.user_name == name).await;
    assert!(row.active, "{c}: the product row is inactive");
    assert_eq!(row.first_name.as_deref(), Some("Hyman"), "{c}: {row:?}");
    assert_eq!(row.last_name.as_deref(), Some("Emily"), "{c}: {row:?}");
    assert_eq!(row.email, Some(email_of(&name)), "{c}: {row:?}");

    let c = v.check("Create a duplicate User");
    let name = random_user_name();
    v.create_user(c, &name).await;
    // Another user (its own externalId and email) with the same userName.
    let r = v
        .expect(
            c,
            Method::POST,
            "/Users",
            Some(validator_user(&name)),
            StatusCode::CONFLICT,
        )
        .await;
    assert_error(c, &r);

    let c = v.check("Filter for an existing user");
    let name = random_user_name();
    let created = v.create_user(c, &name).await;
    let found = v.filter(c, "Users", "userName", &name, 1).await;
    // "The response should match the created resource".
    assert_eq!(without_meta(&found[0]), without_meta(&created), "{c}");

    let c = v.check("Filter for a non-existing user");
    let absent = format!("nonexistent{}_{}", hex(12), random_user_name());
    v.filter(c, "Users", "userName", &absent, 0).await;

    let c = v.check("Filter for an existing user with a different case");
    let name = random_user_name();
    let id = v.create_user(c, &name).await["id"].clone();
    let found = v.filter(c, "Users", "userName", &name.to_uppercase(), 1).await;
    assert_eq!(found[0]["id"], id, "{c}");

    let c = v.check("Patch User - Replace Attributes");
    let id = v.create_user(c, &random_user_name()).await["id"].clone();
    let path = format!("/Users/{}", id.as_str().unwrap_or_default());
    let new = Replacement::random();
    v.patch_ok(c, &path, new.operations(), &[StatusCode::OK]).await;
    let got = v.get(c, &path).await;
    new.assert_read_back(c, &got);

    let c = v.check("Update User userName");
    let id = v.create_user(c, &random_user_name()).await["id"].clone();
    let path = format!("/Users/{}", id.as_str().unwrap_or_default());
    let renamed = random_user_name();
    let ops = json!([{"op": "replace", "value": {"userName": renamed}}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    assert_eq!(v.get(c, &path).await["userName"], json!(renamed), "{c}");
    let found = v.filter(c, "Users", "userName", &renamed, 1).await;
    assert_eq!(found[0]["id"], id, "{c}");

    let c = v.check("Patch User - Disable User");
    let created = v.create_user(c, &random_user_name()).await;
    let id = parse_id(c, &created);
    let path = format!("/Users/{id}");
    let ops = json!([{"op": "replace", "path": "active", "value": false}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    assert_eq!(v.get(c, &path).await["active"], json!(false), "{c}");
    v.idp.product_user(id, |u| !u.active).await;

    let c = v.check("Delete a User");
    let id = v.create_user(c, &random_user_name()).await["id"].clone();
    let path = format!("/Users/{}", id.as_str().unwrap_or_default());
    v.expect(c, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let r = v.expect(c, Method::GET, &path, None, StatusCode::NOT_FOUND).await;
    assert_error(c, &r);

    v.finish(USER_CHECKS);
}

#[tokio::test]
async fn mandatory_group_checks() {
    let mut v = Validator::start().await;

    let c = v.check("Create a new Group");
    let name = random_display_name();
    let sent = validator_group(&name);
    let created = v
        .expect(
            c,
            Method::POST,
            "/Groups",
            Some(sent.clone()),
            StatusCode::CREATED,
        )
        .await;
    assert_holds(c, &created.body, &sent);
    v.idp.product_group_exists(created.id(), true).await;

    let c = v.check("Create a duplicate Group");
    let name = random_display_name();
    v.create_group(c, &name).await;
    let r = v
        .expect(
            c,
            Method::POST,
            "/Groups",
            Some(validator_group(&name)),
            StatusCode::CONFLICT,
        )
        .await;
    assert_error(c, &r);

    let c = v.check("Filter for an existing group");
    let name = random_display_name();
    let sent = validator_group(&name);
    let created = v
        .expect(
            c,
            Method::POST,
            "/Groups",
            Some(sent.clone()),
            StatusCode::CREATED,
        )
        .await;
    let found = v.filter(c, "Groups", "displayName", &name, 1).await;
    // "The response should match the created resource": lists leave `members` out unless asked
    // (the validator's own passing server did the same), so the match is on what was sent.
    assert_eq!(found[0]["id"], created.body["id"], "{c}");
    assert_holds(c, &found[0], &sent);

    let c = v.check("Filter for a non-existing group");
    let absent = format!("nonexistent{}_{}", hex(12), random_display_name());
    v.filter(c, "Groups", "displayName", &absent, 0).await;

    let c = v.check("Filter for an existing group with a different case");
    let name = random_display_name();
    let id = v.create_group(c, &name).await["id"].clone();
    let found = v
        .filter(c, "Groups", "displayName", &name.to_lowercase(), 1)
        .await;
    assert_eq!(found[0]["id"], id, "{c}");

    // The validator's groups here have no members; one member makes the exclusion observable.
    let c = v.check("Filter for an existing group by displayName excluding members");
    let name = random_display_name();
    let group = v.group_with_a_member(c, &name).await;
    let query = format!(
        "excludedAttributes=members&filter={}",
        validator_eq("displayName", &name)
    );
    let found = v.list(c, "Groups", &query, 1).await;
    assert_eq!(found[0]["id"], json!(group), "{c}");
    assert!(
        found[0].get("members").is_none(),
        "{c}: The response should exclude the attribute: members: {}",
        found[0]
    );

    let c = v.check("Get group by id excluding members");
    let group = v.group_with_a_member(c, &random_display_name()).await;
    let got = v
        .get(c, &format!("/Groups/{group}?excludedAttributes=members"))
        .await;
    assert_eq!(got["id"], json!(group), "{c}");
    assert!(
        got.get("members").is_none(),
        "{c}: The response should exclude the attribute: members: {got}"
    );

    let c = v.check("Patch Group - Replace Attributes");
    let path = format!("/Groups/{}", v.create_group_id(c).await);
    let external_id = Uuid::new_v4().to_string();
    let ops = json!([{"op": "replace", "value": {"externalId": external_id}}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    assert_eq!(v.get(c, &path).await["externalId"], json!(external_id), "{c}");

    let c = v.check("Update Group displayName");
    let path = format!("/Groups/{}", v.create_group_id(c).await);
    let renamed = random_display_name();
    let ops = json!([{"op": "replace", "value": {"displayName": renamed}}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    assert_eq!(v.get(c, &path).await["displayName"], json!(renamed), "{c}");

    let c = v.check("Patch Group - Add Member");
    let group = v.create_group_id(c).await;
    let user = v.create_user_id(c).await;
    let path = format!("/Groups/{group}");
    // Run 07 sends the member as a `replace` of `members`, not an `add`.
    let ops = json!([{"op": "replace", "path": "members", "value": [{"value": user}]}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    assert_eq!(member_ids(c, &v.get(c, &path).await), vec![user], "{c}");
    v.idp.product_members_become(group, &[user]).await;

    let c = v.check("Patch Group - Remove Member");
    let group = v.create_group_id(c).await;
    let (gone, stays) = (v.create_user_id(c).await, v.create_user_id(c).await);
    let path = format!("/Groups/{group}");
    let ops = json!([{"op": "replace", "path": "members", "value": [{"value": gone}, {"value": stays}]}]);
    // The export records 200 for this set-up PATCH; a 204 passes the checks themselves.
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    let ops = json!([{"op": "remove", "path": format!("members[value eq \"{gone}\"]")}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    assert_eq!(member_ids(c, &v.get(c, &path).await), vec![stays], "{c}");
    v.idp.product_members_become(group, &[stays]).await;

    let c = v.check("Delete a Group");
    let path = format!("/Groups/{}", v.create_group_id(c).await);
    v.expect(c, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let r = v.expect(c, Method::GET, &path, None, StatusCode::NOT_FOUND).await;
    assert_error(c, &r);

    v.finish(GROUP_CHECKS);
}

#[tokio::test]
async fn manager_checks() {
    let mut v = Validator::start().await;
    let manager_path = format!("{ENTERPRISE}:manager");

    let c = v.check("Patch User - Add Manager");
    let (user, boss) = (v.create_user_id(c).await, v.create_user_id(c).await);
    let path = format!("/Users/{user}");
    // One run logged the value as `{"value": id}`.
    let ops = json!([{"op": "add", "path": manager_path, "value": {"value": boss}}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    let got = v.get(c, &path).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], json!(boss), "{c}: {got}");

    let c = v.check("Patch User - Replace Manager");
    let new_boss = v.create_user_id(c).await;
    // Another project reports the value as a bare id string.
    let ops = json!([{"op": "replace", "path": manager_path, "value": new_boss}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    let got = v.get(c, &path).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], json!(new_boss), "{c}: {got}");

    let c = v.check("Patch User - Remove Manager");
    // Reported with `"value": ""`.
    let ops = json!([{"op": "remove", "path": manager_path, "value": ""}]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    let got = v.get(c, &path).await;
    assert!(
        got.get(ENTERPRISE).and_then(|e| e.get("manager")).is_none(),
        "{c}: the manager is still there: {got}"
    );

    v.finish(MANAGER_CHECKS);
}

#[tokio::test]
async fn preview_checks() {
    let mut v = Validator::start().await;

    let c = v.check("Patch User - Multiple Operations on different attributes");
    let path = format!("/Users/{}", v.create_user_id(c).await);
    let (external_id, display_name) = (Uuid::new_v4().to_string(), random_display_name());
    let ops = json!([
        {"op": "remove", "path": "nickName"},
        {"op": "add", "value": {"externalId": external_id}},
        {"op": "replace", "value": {"displayName": display_name}},
    ]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    let got = v.get(c, &path).await;
    assert!(
        got.get("nickName").is_none(),
        "{c}: nickName was not removed: {got}"
    );
    assert_eq!(got["externalId"], json!(external_id), "{c}");
    assert_eq!(got["displayName"], json!(display_name), "{c}");

    let c = v.check("Patch User - Multiple Operations on same attribute");
    let path = format!("/Users/{}", v.create_user_id(c).await);
    let (first, last) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let ops = json!([
        {"op": "remove", "path": "externalId"},
        {"op": "add", "value": {"externalId": first}},
        {"op": "replace", "value": {"externalId": last}},
    ]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK]).await;
    assert_eq!(
        v.get(c, &path).await["externalId"],
        json!(last),
        "{c}: applied out of order"
    );

    let c = v.check("Delete a non-existent User");
    let path = format!("/Users/{}", Uuid::new_v4());
    let r = v
        .expect(c, Method::DELETE, &path, None, StatusCode::NOT_FOUND)
        .await;
    assert_error(c, &r);

    let c = v.check("Delete the same User twice");
    let path = format!("/Users/{}", v.create_user_id(c).await);
    v.expect(c, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let r = v
        .expect(c, Method::DELETE, &path, None, StatusCode::NOT_FOUND)
        .await;
    assert_error(c, &r);

    let c = v.check("Patch Group - Multiple Operations on same attribute");
    let path = format!("/Groups/{}", v.create_group_id(c).await);
    let user = v.create_user_id(c).await;
    let ops = json!([
        {"op": "add", "path": "members", "value": [{"value": user}]},
        {"op": "remove", "path": format!("members[value eq \"{user}\"]")},
    ]);
    v.patch_ok(c, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
        .await;
    assert_eq!(member_ids(c, &v.get(c, &path).await), Vec::<Uuid>::new(), "{c}");

    let c = v.check("Delete a non-existent Group");
    let path = format!("/Groups/{}", Uuid::new_v4());
    let r = v
        .expect(c, Method::DELETE, &path, None, StatusCode::NOT_FOUND)
        .await;
    assert_error(c, &r);

    let c = v.check("Delete the same Group twice");
    let path = format!("/Groups/{}", v.create_group_id(c).await);
    v.expect(c, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
        .await;
    let r = v
        .expect(c, Method::DELETE, &path, None, StatusCode::NOT_FOUND)
        .await;
    assert_error(c, &r);

    v.finish(PREVIEW_CHECKS);
}

/// One validator run against a fresh api: the client and the checks it has run, in order.
struct Validator {
    idp: Idp,
    ran: Vec<&'static str>,
}

impl Validator {
    async fn start() -> Self {
        Self {
            idp: Idp::with_content_type(UA, CONTENT_TYPE).await,
            ran: Vec::new(),
        }
    }

    /// Starts the check `name`, which must be one of the lists above.
    fn check(&mut self, name: &'static str) -> &'static str {
        let known = [USER_CHECKS, GROUP_CHECKS, MANAGER_CHECKS, PREVIEW_CHECKS].concat();
        assert!(known.contains(&name), "{name:?} is not a listed check");
        self.ran.push(name);
        name
    }

    /// The run went through exactly the checks of `list`, in its order.
    fn finish(&self, list: &[&str]) {
        assert_eq!(self.ran, list, "the run did not go through its list");
    }

    async fn expect(
        &self,
        check: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Response {
        self.idp.expect(check, method, path, body, status).await
    }

    async fn get(&self, check: &str, path: &str) -> Value {
        self.expect(check, Method::GET, path, None, StatusCode::OK)
            .await
            .body
    }

    /// A PatchOp of `ops` answered with one of `statuses`.
    async fn patch_ok(&self, check: &str, path: &str, ops: Value, statuses: &[StatusCode]) -> Response {
        let r = self.idp.send(Method::PATCH, path, Some(patch(ops))).await;
        assert!(
            statuses.contains(&r.status),
            "{check}: PATCH {path} answered {} {}",
            r.status,
            r.body
        );
        r
    }

    /// `GET /{resource}?filter={attr}+eq+"{value}"`, checked as the validator checks a list.
    async fn filter(&self, check: &str, resource: &str, attr: &str, value: &str, total: u64) -> Vec<Value> {
        self.list(
            check,
            resource,
            &format!("filter={}", validator_eq(attr, value)),
            total,
        )
        .await
    }

    /// `GET /{resource}?{query}`: a ListResponse of `total` resources, all of them in the page.
    async fn list(&self, check: &str, resource: &str, query: &str, total: u64) -> Vec<Value> {
        let body = self.get(check, &format!("/{resource}?{query}")).await;
        // "The response should contain the required attributes for a list response, i.e.
        // schemas and totalResults" and "the correct schema URI for a list response".
        assert_eq!(body["schemas"], json!([LIST_RESPONSE]), "{check}: {body}");
        assert_eq!(body["totalResults"], json!(total), "{check}: {body}");
        let resources = body["Resources"].as_array().cloned().unwrap_or_default();
        // "The response should contain the Resources attribute when totalResults is non-zero".
        assert_eq!(resources.len() as u64, total, "{check}: {body}");
        resources
    }

    /// A user as the validator creates one for a check's setup (201); its rendering.
    async fn create_user(&self, check: &str, user_name: &str) -> Value {
        let body = Some(validator_user(user_name));
        self.expect(check, Method::POST, "/Users", body, StatusCode::CREATED)
            .await
            .body
    }

    async fn create_user_id(&self, check: &str) -> Uuid {
        let created = self.create_user(check, &random_user_name()).await;
        parse_id(check, &created)
    }

    async fn create_group(&self, check: &str, display_name: &str) -> Value {
        let body = Some(validator_group(display_name));
        self.expect(check, Method::POST, "/Groups", body, StatusCode::CREATED)
            .await
            .body
    }

    async fn create_group_id(&self, check: &str) -> Uuid {
        let created = self.create_group(check, &random_display_name()).await;
        parse_id(check, &created)
    }

    /// A group named `display_name` with one member, the member shown on a plain read.
    async fn group_with_a_member(&self, check: &str, display_name: &str) -> Uuid {
        let group = parse_id(check, &self.create_group(check, display_name).await);
        let user = self.create_user_id(check).await;
        let path = format!("/Groups/{group}");
        let ops = json!([{"op": "add", "path": "members", "value": [{"value": user}]}]);
        self.patch_ok(check, &path, ops, &[StatusCode::OK, StatusCode::NO_CONTENT])
            .await;
        assert_eq!(
            member_ids(check, &self.get(check, &path).await),
            vec![user],
            "{check}"
        );
        group
    }
}

/// What "Patch User - Replace Attributes" sends (run 07, failed test `$id` 72): filtered
/// paths into the primary email, phone number and address, then one no-path `replace` whose
/// value names sub-attributes with dotted keys (`"name.givenName"`).
struct Replacement {
    email: String,
    phone: String,
    address: Value,
    rest: Value,
}

impl Replacement {
    fn random() -> Self {
        Self {
            email: email_of(&random_user_name()),
            phone: format!("15-{}-{}", digits(3), digits(4)),
            address: json!({
                "formatted": random_display_name(),
                "streetAddress": "5603 Gusikowski Overpass",
                "locality": random_display_name(),
                "region": random_display_name(),
                "postalCode": "ad39 0tr",
                "country": "Bahrain",
            }),
            rest: json!({
                "externalId": Uuid::new_v4().to_string(),
                "name.formatted": "Theresa",
                "name.familyName": "Mateo",
                "name.givenName": "Leanne",
                "name.middleName": "Keyshawn",
                "name.honorificPrefix": "Petra",
                "name.honorificSuffix": "Donald",
                "displayName": random_display_name(),
                "nickName": random_display_name(),
                "profileUrl": random_display_name(),
                "title": random_display_name(),
                "userType": random_display_name(),
                "preferredLanguage": "en-SC",
                "locale": random_display_name(),
                "timezone": "Africa/Lubumbashi",
                "active": true,
            }),
        }
    }

    fn operations(&self) -> Value {
        let mut ops = vec![
            json!({"op": "replace", "path": "emails[primary eq true].value", "value": self.email}),
            json!({"op": "replace", "path": "phoneNumbers[primary eq true].value", "value": self.phone}),
        ];
        for (sub, value) in self.address.as_object().into_iter().flatten() {
            let path = format!("addresses[primary eq true].{sub}");
            ops.push(json!({"op": "replace", "path": path, "value": value}));
        }
        ops.push(json!({"op": "replace", "value": self.rest}));
        Value::Array(ops)
    }

    /// "The value of emails[primary eq true].value is Missing from the fetched Resource", "The
    /// value of timezone should be X instead of Y": every value sent is read back.
    fn assert_read_back(&self, check: &str, got: &Value) {
        let primary = |attr: &str| -> Value {
            let all = got[attr].as_array().cloned().unwrap_or_default();
            let primaries: Vec<Value> = all.into_iter().filter(|v| v["primary"] == json!(true)).collect();
            assert_eq!(primaries.len(), 1, "{check}: one primary {attr}: {got}");
            primaries[0].clone()
        };
        assert_eq!(
            primary("emails")["value"],
            json!(self.email),
            "{check}: emails[primary eq true].value"
        );
        assert_eq!(
            primary("phoneNumbers")["value"],
            json!(self.phone),
            "{check}: phoneNumbers[primary eq true].value"
        );
        let address = primary("addresses");
        for (sub, value) in self.address.as_object().into_iter().flatten() {
            assert_eq!(
                &address[sub], value,
                "{check}: addresses[primary eq true].{sub}: {got}"
            );
        }
        for (key, value) in self.rest.as_object().into_iter().flatten() {
            let read = key.split('.').fold(got, |v, part| &v[part]);
            assert_eq!(
                read, value,
                "{check}: The value of {key} should be {value} instead of {read}"
            );
        }
    }
}

/// The user every validator check creates: the full core User, `primary` as the string "true"
/// (run 07, `InitialRequestBodies`), with fresh values.
fn validator_user(user_name: &str) -> Value {
    json!({
        "externalId": Uuid::new_v4().to_string(),
        "name": {
            "formatted": "Jewell",
            "familyName": "Emily",
            "givenName": "Hyman",
            "middleName": "Jerad",
            "honorificPrefix": "Burnice",
            "honorificSuffix": "Coleman",
        },
        "displayName": random_display_name(),
        "nickName": random_display_name(),
        "profileUrl": random_display_name(),
        "title": random_display_name(),
        "userType": random_display_name(),
        "preferredLanguage": "shi-Latn-MA",
        "locale": random_display_name(),
        "timezone": "America/Detroit",
        "active": true,
        "emails": [{"primary": "true", "value": email_of(user_name)}],
        "phoneNumbers": [{"primary": "true", "value": format!("61-{}-{}", digits(3), digits(4))}],
        "addresses": [{
            "primary": "true",
            "formatted": random_display_name(),
            "streetAddress": "36774 Junior Fort",
            "locality": random_display_name(),
            "region": random_display_name(),
            "postalCode": "dq96 3ia",
            "country": "Estonia",
        }],
        "userName": user_name,
        "schemas": [USER_SCHEMA],
    })
}

/// `{"externalId", "displayName", "schemas"}`: the whole group the validator creates.
fn validator_group(display_name: &str) -> Value {
    json!({
        "externalId": Uuid::new_v4().to_string(),
        "displayName": display_name,
        "schemas": [GROUP_SCHEMA],
    })
}

/// `attr+eq+"value"` as the validator writes a filter into a query: `+` for the spaces, the
/// quotes as they are, the value percent-encoded (`@` as `%40`).
fn validator_eq(attr: &str, value: &str) -> String {
    format!("{attr}+eq+\"{}\"", tests::urlencode(value))
}

/// Every value `sent` holds is in `resource`, `primary: "true"` read back as `true`.
fn assert_holds(check: &str, resource: &Value, sent: &Value) {
    match sent {
        Value::Object(fields) => {
            for (k, v) in fields {
                assert_holds(check, &resource[k], v);
            }
        }
        Value::Array(items) if items.iter().all(Value::is_object) => {
            for (i, v) in items.iter().enumerate() {
                assert_holds(check, &resource[i], v);
            }
        }
        Value::String(s) if s == "true" && resource == &json!(true) => {}
        _ => assert_eq!(
            resource, sent,
            "{check}: The response should match the created resource"
        ),
    }
}

/// An error body: the Error schema and the status (the validator reads only the status; the
/// RFC's string form is what the rest of the suite asserts).
fn assert_error(check: &str, r: &Response) {
    let schemas = r.body["schemas"].as_array().cloned().unwrap_or_default();
    assert!(
        schemas.contains(&json!("urn:ietf:params:scim:api:messages:2.0:Error")),
        "{check}: not a SCIM error: {} {}",
        r.status,
        r.body
    );
    assert_eq!(r.body["status"], json!(r.status.as_str()), "{check}: {}", r.body);
}

fn without_meta(resource: &Value) -> Value {
    let mut r = resource.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("meta");
    }
    r
}

fn member_ids(check: &str, group: &Value) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = group["members"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| parse_id(check, &json!({"id": m["value"]})))
        .collect();
    ids.sort();
    ids
}

fn parse_id(check: &str, resource: &Value) -> Uuid {
    resource["id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("{check}: no id in {resource}"))
}

/// A userName like the validator's (`adrianna_jenkins@jewessupton.com`), unique per call.
fn random_user_name() -> String {
    format!("user_{}@validator{}.example", hex(8), hex(4))
}

fn email_of(user_name: &str) -> String {
    format!("mail.{user_name}")
}

/// Twelve upper-case letters, like the validator's `RGTTAFGXEIAX`.
fn random_display_name() -> String {
    Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(12)
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

fn hex(n: usize) -> String {
    Uuid::new_v4().simple().to_string()[..n].to_owned()
}

fn digits(n: usize) -> String {
    Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(n)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}
