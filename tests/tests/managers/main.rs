//! Manager links end to end: references in every form IdPs send, in any order, on any worker.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tests::okta_user;
use uuid::Uuid;

pub use tests::World;

use tests::urn::ENTERPRISE;
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The steps of manager-link tests, on the suite's one World.
#[allow(async_fn_in_trait)]
pub trait Steps {
    /// Creates a user; `manager` goes into the enterprise extension as Okta sends it.
    async fn user(&self, name: &str, extra: Value) -> Uuid;

    async fn patch(&self, id: Uuid, ops: Value);

    async fn manager_of(&self, id: Uuid, expected: Option<Uuid>);
}

impl Steps for World {
    /// Creates a user; `manager` goes into the enterprise extension as Okta sends it.
    async fn user(&self, name: &str, extra: Value) -> Uuid {
        let mut body = okta_user(&format!("{name}@acme.test"), name, "Test");
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let r = self.call(Method::POST, "/Users", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }

    async fn patch(&self, id: Uuid, ops: Value) {
        let r = self
            .call(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [PATCH], "Operations": ops})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    async fn manager_of(&self, id: Uuid, expected: Option<Uuid>) {
        self.env
            .product_user_where(&self.db, id, |u| u.manager_id == expected)
            .await;
    }
}

fn managed_by(value: &str) -> Value {
    json!({ENTERPRISE: {"department": "R&D", "manager": {"value": value}}})
}

#[tokio::test]
async fn a_manager_arriving_after_its_report_is_linked_when_it_arrives() {
    let w = World::new().await;
    let report = w.user("report", managed_by("boss@acme.test")).await;
    w.env.product_user_where(&w.db, report, |_| true).await;
    w.manager_of(report, None).await;
    let boss = w.user("boss", json!({})).await;
    w.manager_of(report, Some(boss)).await;
}

#[tokio::test]
async fn every_key_an_idp_sends_resolves() {
    let w = World::new().await;
    let boss = w
        .user(
            "chief",
            json!({"externalId": "00uCHIEF", ENTERPRISE: {"employeeNumber": "E-100"}}),
        )
        .await;
    let by_id = w.user("r1", managed_by(&boss.to_string())).await;
    let by_external = w.user("r2", managed_by("00uCHIEF")).await;
    let by_login = w.user("r3", managed_by("CHIEF@ACME.TEST")).await;
    let by_number = w.user("r4", managed_by("E-100")).await;
    for r in [by_id, by_external, by_login, by_number] {
        w.manager_of(r, Some(boss)).await;
    }
}

#[tokio::test]
async fn entra_sets_the_manager_with_a_bare_string_patch() {
    let w = World::new().await;
    let boss = w.user("eboss", json!({})).await;
    let report = w.user("ereport", json!({})).await;
    w.patch(
        report,
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": boss.to_string()}]),
    )
    .await;
    w.manager_of(report, Some(boss)).await;
}

#[tokio::test]
async fn a_changed_manager_moves_the_link_and_a_removed_one_clears_it() {
    let w = World::new().await;
    let a = w.user("ma", json!({})).await;
    let b = w.user("mb", json!({})).await;
    let report = w.user("mr", managed_by("ma@acme.test")).await;
    w.manager_of(report, Some(a)).await;
    w.patch(report, json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "mb@acme.test"}}])).await;
    w.manager_of(report, Some(b)).await;
    w.patch(
        report,
        json!([{"op": "remove", "path": format!("{ENTERPRISE}:manager")}]),
    )
    .await;
    w.manager_of(report, None).await;
    w.patch(report, json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": "ma@acme.test"}}])).await;
    w.manager_of(report, Some(a)).await;
    w.patch(
        report,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": ""}}]),
    )
    .await;
    w.manager_of(report, None).await;
    w.patch(
        report,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": "mb@acme.test"}]),
    )
    .await;
    w.manager_of(report, Some(b)).await;
    w.patch(
        report,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": null}]),
    )
    .await;
    w.manager_of(report, None).await;
}

#[tokio::test]
async fn a_deactivated_or_deleted_manager_keeps_its_reports_linked() {
    let w = World::new().await;
    let boss = w.user("leaving", json!({})).await;
    let report = w.user("staying", managed_by("leaving@acme.test")).await;
    w.manager_of(report, Some(boss)).await;
    w.patch(boss, json!([{"op": "replace", "value": {"active": false}}]))
        .await;
    w.env.product_user_where(&w.db, boss, |u| !u.active).await;
    w.manager_of(report, Some(boss)).await;
    let r = w.call(Method::DELETE, &format!("/Users/{boss}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    w.env.product_user_where(&w.db, boss, |u| u.version == 3).await;
    w.manager_of(report, Some(boss)).await;
}

#[tokio::test]
async fn a_self_reference_is_ignored_and_a_cycle_is_stored_as_given() {
    let w = World::new().await;
    let narcissus = w.user("narcissus", managed_by("narcissus@acme.test")).await;
    w.env.product_user_where(&w.db, narcissus, |_| true).await;
    w.manager_of(narcissus, None).await;
    let a = w.user("cyca", managed_by("cycb@acme.test")).await;
    let b = w.user("cycb", managed_by("cyca@acme.test")).await;
    w.manager_of(a, Some(b)).await;
    w.manager_of(b, Some(a)).await;
}

#[tokio::test]
async fn unresolvable_or_display_only_managers_never_fail_the_user() {
    let w = World::new().await;
    let ghost = w.user("ghostly", managed_by("nobody@nowhere.test")).await;
    let display_only = w
        .user(
            "display",
            json!({ENTERPRISE: {"manager": {"displayName": "Some Boss"}}}),
        )
        .await;
    for id in [ghost, display_only] {
        let p = w.env.product_user_where(&w.db, id, |_| true).await;
        assert_eq!(p.manager_id, None);
    }
}

/// Two workers apply a user and its manager at the same moment, each holding its transaction
/// open for a while: without the key locks both would miss each other's uncommitted row.
#[tokio::test]
async fn a_user_and_its_manager_applied_at_once_on_two_workers_still_link() {
    let w = World::with_workers(
        2,
        &[
            ("WORKER_PREFETCH", "1"),
            ("SCIM_FAULT_HOLD_BEFORE_COMMIT_MS", "400"),
        ],
    )
    .await;
    // Let both workers start consuming before the pair is sent.
    let warm = w.user("warmup", json!({})).await;
    w.env.product_user_where(&w.db, warm, |_| true).await;
    let (report, boss) = tokio::join!(
        w.user("race-report", managed_by("race-boss@acme.test")),
        w.user("race-boss", json!({}))
    );
    w.manager_of(report, Some(boss)).await;
}

#[tokio::test]
async fn verify_finds_drift_and_reconcile_repairs_it_idempotently() {
    use sea_orm::ConnectionTrait;
    let w = World::new().await;
    let boss = w.user("vboss", json!({"title": "Boss"})).await;
    let report = w.user("vreport", managed_by("vboss@acme.test")).await;
    let gone = w.user("vgone", json!({})).await;
    w.manager_of(report, Some(boss)).await;
    assert_eq!(
        w.call(Method::DELETE, &format!("/Users/{gone}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    w.env.product_user_where(&w.db, gone, |u| !u.active).await;

    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(ok, "{lines:?}");
    assert_eq!(lines.last().unwrap()["differences"], 0);
    assert_eq!(lines.last().unwrap()["users"], 3);

    // Drift: a wrong field, a lost link, a lost row, and a row the directory never had.
    let tenant: Uuid = w.env.product_user(&w.db, boss).await.unwrap().tenant_id;
    w.db.execute_unprepared(&format!(
        "update product.users set job_title = 'Janitor' where id = '{boss}';
         update product.users set manager_id = null where id = '{report}';
         delete from product.users where id = '{gone}';
         insert into product.users (id, tenant_id, user_name, active, version) values ('{}', '{tenant}', 'ghost', true, 1);",
        Uuid::new_v4()
    ))
    .await
    .unwrap();
    let (ok, lines) = w.env.worker_cli(&["verify", "--tenant", &tenant.to_string()]);
    assert!(!ok);
    let fields: Vec<&str> = lines.iter().filter_map(|l| l["field"].as_str()).collect();
    assert_eq!(lines.last().unwrap()["differences"], 4, "{lines:?}");
    for f in ["job_title", "manager_id", "row"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }

    let (ok, lines) = w.env.worker_cli(&["reconcile"]);
    assert!(ok, "{lines:?}");
    assert_eq!(lines[0]["rows_deactivated"], 1);
    let (ok, lines) = w.env.worker_cli(&["verify"]);
    assert!(ok, "{lines:?}");
    let (ok, lines) = w.env.worker_cli(&["reconcile"]);
    assert!(ok);
    assert_eq!(lines[0]["rows_written"], 0, "a second reconcile changes nothing");
    assert_eq!(lines[0]["rows_deactivated"], 0);
    assert_eq!(
        w.env.product_user(&w.db, report).await.unwrap().manager_id,
        Some(boss)
    );
}
