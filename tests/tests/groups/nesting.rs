//! Nested groups end to end: a group of the tenant sent as a member becomes a child group; the
//! product keeps `product.group_members` direct and `product.group_effective_members` as the
//! transitive closure, maintained incrementally (each edge change writes only the rows that
//! change, counted here from Postgres's own row statistics); `scim-worker verify` checks the
//! closure against one computed from the directory.

use reqwest::Method;
use serde_json::{Value, json};
use tests::{eventually, scalar, seed};
use uuid::Uuid;

use crate::{Steps, World, refs};

const USERS: usize = 20_000;
const LEVELS: usize = 5;

fn child(id: Uuid) -> Value {
    json!([{"op": "add", "path": "members", "value": [{"value": id.to_string(), "type": "Group", "display": "ignored"}]}])
}

fn unchild(id: Uuid) -> Value {
    json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])
}

async fn effective(w: &World, group: Uuid) -> i64 {
    scalar(
        &w.db,
        &format!("select count(*) as n from product.group_effective_members where group_id = '{group}'"),
        "n",
    )
    .await
}

async fn effective_total(w: &World) -> i64 {
    scalar(
        &w.db,
        "select count(*) as n from product.group_effective_members",
        "n",
    )
    .await
}

/// Where the closure stands before a step: the next transaction id and the rows held.
#[derive(Clone, Copy)]
struct Mark {
    xid: i64,
    rows: i64,
}

async fn mark(w: &World) -> Mark {
    Mark {
        xid: scalar(&w.db, "select (txid_current() & 4294967295)::bigint as n", "n").await,
        rows: effective_total(w).await,
    }
}

/// Waits for the closure to hold `want` rows; returns the rows the step inserted and deleted.
/// A row written since the mark carries a newer `xmin`, so a rewrite of rows that did not
/// change (a delete and insert of the whole closure) shows as inserts; deletes are what the
/// total lost beyond them. This test's database has no other writer.
async fn settles(w: &World, want: i64, before: Mark) -> (i64, i64) {
    let mut reached = false;
    for _ in 0..100 {
        if effective_total(w).await == want {
            reached = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    if !reached {
        for q in [
            "select string_agg(group_id || '>' || child_id || ' v' || version || ' ' || member, ', ') as n from product.nesting_versions",
            "select string_agg(group_id || '>' || child_id, ', ') as n from product.group_children",
            "select string_agg(group_id || ':' || n, ', ') as n from (select group_id, count(*) n from product.group_effective_members group by 1) x",
            "select string_agg(group_id || '>' || child_id || ' v' || version || ' ' || member, ', ') as n from scim.group_children",
        ] {
            let v: Option<String> = scalar(&w.db, q, "n").await;
            eprintln!("DEBUG {q}: {v:?}");
        }
        panic!("the closure never held {want} rows: {}", effective_total(w).await);
    }
    let inserted: i64 = scalar(
        &w.db,
        &format!(
            "select count(*) as n from product.group_effective_members where xmin::text::bigint > {}",
            before.xid
        ),
        "n",
    )
    .await;
    (inserted, before.rows + inserted - want)
}

/// `scim-worker verify`'s summary once the worker has applied everything.
async fn verify(w: &World) -> Value {
    let tenant = w.tenant.to_string();
    eventually("verify finds no difference", || async {
        w.env.worker_cli(&["verify", "--tenant", &tenant]).0
    })
    .await;
    let (_, out) = w.env.worker_cli(&["verify", "--tenant", &tenant]);
    out.last().cloned().expect("summary")
}

use sea_orm::ConnectionTrait;

#[tokio::test]
async fn five_levels_over_20000_users_keep_the_closure_writing_only_the_rows_that_change() {
    let w = World::new().await;
    let users = seed::users(&w.db, w.tenant, "nest", USERS).await;
    // The worker applies them into its schema (migrated by the command first).
    let (ok, out) = w
        .env
        .worker_cli(&["reconcile", "--tenant", &w.tenant.to_string()]);
    assert!(ok, "{out:?}");
    // L0 ⊃ L1 ⊃ … ⊃ L4, each with 4,000 direct members of its own.
    let per = USERS / LEVELS;
    let mut levels = Vec::new();
    for l in 0..LEVELS {
        let g = w.group(&format!("Level {l}")).await;
        for chunk in users[l * per..(l + 1) * per].chunks(1_000) {
            w.patch_ok(g, json!([{"op": "add", "path": "members", "value": refs(chunk)}]))
                .await;
        }
        levels.push(g);
    }
    let flat = settles(&w, USERS as i64, Mark { xid: 0, rows: 0 }).await;
    assert_eq!(flat, (USERS as i64, 0), "direct members only");
    // Nest them, bottom up: L3 ∋ L4 brings L4's 4,000 into L3, L2 ∋ L3 brings those 8,000 into
    // L2, and so on.
    let mut before = mark(&w).await;
    let mut total = USERS as i64;
    for l in (0..LEVELS - 1).rev() {
        w.patch_ok(levels[l], child(levels[l + 1])).await;
        // Built bottom up, the new parent has no ancestor yet: it alone gains the child's
        // effective members.
        let below = ((LEVELS - 1 - l) * per) as i64;
        total += below;
        let writes = settles(&w, total, before).await;
        assert_eq!(writes, (below, 0), "nesting level {}", l + 1);
        before = mark(&w).await;
    }
    // 4,000 × (5 + 4 + 3 + 2 + 1)
    assert_eq!(total, 60_000);
    assert_eq!(effective(&w, levels[0]).await, USERS as i64);
    assert_eq!(effective(&w, levels[4]).await, per as i64);
    // The group lists its child with type and $ref; the deepest user's groups are one direct
    // and four indirect.
    let g = w.get(&format!("/Groups/{}", levels[3])).await;
    let kid = g.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "Group")
        .cloned()
        .expect("child listed");
    assert_eq!(kid["value"], levels[4].to_string());
    assert_eq!(kid["display"], "Level 4");
    assert!(
        kid["$ref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Groups/{}", levels[4]))
    );
    let deep = w.get(&format!("/Users/{}", users[USERS - 1])).await;
    let types: Vec<(String, String)> = deep.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["display"].as_str().unwrap().to_owned(),
                g["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(types.len(), 5, "{types:?}");
    assert!(types.contains(&("Level 4".into(), "direct".into())));
    assert!(types.contains(&("Level 0".into(), "indirect".into())));
    // A list reads the groups with the users (one statement): the same five, in the same order.
    let name = deep.body["userName"].as_str().unwrap();
    let found = w
        .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
        .await;
    assert_eq!(found.body["Resources"][0]["groups"], deep.body["groups"]);

    // Cutting L2 ∌ L3 takes L3's and L4's 8,000 out of L2, L1 and L0: 24,000 deletes, nothing
    // else written.
    w.patch_ok(levels[2], unchild(levels[3])).await;
    let writes = settles(&w, 60_000 - 24_000, before).await;
    assert_eq!(writes, (0, 24_000), "cutting an edge at depth 3");
    before = mark(&w).await;
    // And back.
    w.patch_ok(levels[2], child(levels[3])).await;
    let writes = settles(&w, 60_000, before).await;
    assert_eq!(writes, (24_000, 0), "restoring it");
    before = mark(&w).await;

    // One user joining the deepest group: five closure rows (its group and four ancestors).
    let extra = w.user("extra@acme.test").await;
    w.patch_ok(
        levels[4],
        json!([{"op": "add", "path": "members", "value": refs(&[extra])}]),
    )
    .await;
    let writes = settles(&w, 60_005, before).await;
    assert_eq!(writes, (5, 0), "one member at depth 5");
    before = mark(&w).await;
    // A user of L0 also joining L4 is already in L0: four new rows; leaving L4 again removes
    // them and keeps L0, which holds it directly.
    let top_user = users[0];
    w.patch_ok(
        levels[4],
        json!([{"op": "add", "path": "members", "value": refs(&[top_user])}]),
    )
    .await;
    let writes = settles(&w, 60_009, before).await;
    assert_eq!(writes, (4, 0));
    before = mark(&w).await;
    w.patch_ok(levels[4], unchild(top_user)).await;
    let writes = settles(&w, 60_005, before).await;
    assert_eq!(writes, (0, 4), "kept where held directly");
    let in_top = scalar::<i64>(
        &w.db,
        &format!(
            "select count(*) as n from product.group_effective_members where group_id = '{}' and user_id = '{top_user}'",
            levels[0]
        ),
        "n",
    )
    .await;
    assert_eq!(in_top, 1);

    let summary = verify(&w).await;
    assert_eq!(summary["child_groups"], 4, "{summary}");
    assert_eq!(summary["effective_memberships"], 60_005, "{summary}");
    assert_eq!(summary["differences"], 0, "{summary}");

    // Deleting a middle group: its parents lose what came through it (its own members, L3's,
    // L4's and the extra user: 12,001 users in L0 and in L1), and its own rows go with it.
    before = mark(&w).await;
    let r = w
        .call(Method::DELETE, &format!("/Groups/{}", levels[2]), None)
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let l2_rows = 12_001;
    let want = 60_005 - 3 * l2_rows;
    let writes = settles(&w, want, before).await;
    assert_eq!(writes, (0, 3 * l2_rows));
    let summary = verify(&w).await;
    assert_eq!(summary["differences"], 0, "{summary}");
    assert_eq!(summary["child_groups"], 2, "{summary}");
    // Reconcile finds nothing to do.
    let (ok, out) = w
        .env
        .worker_cli(&["reconcile", "--tenant", &w.tenant.to_string()]);
    assert!(ok, "{out:?}");
    assert_eq!(out.last().unwrap()["rows_written"], 0, "{out:?}");
}

/// A child group can arrive in the product before or after the edge naming it, and an edge can
/// be removed and added again: whatever the order, the closure ends right. Reconcile rebuilds a
/// closure that was damaged.
#[tokio::test]
async fn reconcile_repairs_a_damaged_closure_and_verify_names_the_difference() {
    let w = World::new().await;
    w.env.worker_consuming().await;
    let (ada, bob) = (w.user("ada@acme.test").await, w.user("bob@acme.test").await);
    let parent = w.group("Parent").await;
    let kid = w.group("Kid").await;
    w.patch_ok(
        kid,
        json!([{"op": "add", "path": "members", "value": refs(&[ada])}]),
    )
    .await;
    w.patch_ok(
        parent,
        json!([{"op": "add", "path": "members", "value": refs(&[bob])}]),
    )
    .await;
    w.patch_ok(parent, child(kid)).await;
    eventually("ada reaches the parent", || async {
        effective(&w, parent).await == 2
    })
    .await;
    w.db.execute_unprepared(&format!(
        "delete from product.group_effective_members where group_id = '{parent}' and user_id = '{ada}'"
    ))
    .await
    .expect("damage");
    let (ok, out) = w.env.worker_cli(&["verify", "--tenant", &w.tenant.to_string()]);
    assert!(!ok);
    assert!(
        out.iter()
            .any(|l| l["field"] == "effective_membership" && l["resource"] == format!("{parent}/{ada}")),
        "{out:?}"
    );
    let (ok, out) = w
        .env
        .worker_cli(&["reconcile", "--tenant", &w.tenant.to_string()]);
    assert!(ok, "{out:?}");
    assert_eq!(verify(&w).await["differences"], 0);
    assert_eq!(effective(&w, parent).await, 2);
}

/// Entra ID adds a child group as a plain member id, with `"$ref": null` and no `type`
/// (Microsoft's documented member PATCH): the id names a group of the tenant, so it is a child
/// group, listed with its type, and the product's closure follows.
#[tokio::test]
async fn entra_sends_a_child_group_as_a_plain_member_id() {
    let w = World::new().await;
    w.env.worker_consuming().await;
    let ada = w.user("ada@acme.test").await;
    let (sales, emea) = (w.group("Sales").await, w.group("Sales EMEA").await);
    w.patch_ok(
        emea,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": ada.to_string()}]}]),
    )
    .await;
    w.patch_ok(
        sales,
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": emea.to_string()}]}]),
    )
    .await;
    let members = w.members_raw(sales).await;
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["type"], "Group");
    assert_eq!(members[0]["display"], "Sales EMEA");
    eventually("ada is an effective member of Sales", || async {
        effective(&w, sales).await == 1
    })
    .await;
    // Entra's removal form takes the edge away again.
    w.patch_ok(
        sales,
        json!([{"op": "Remove", "path": "members", "value": [{"value": emea.to_string()}]}]),
    )
    .await;
    assert!(w.members_raw(sales).await.is_empty());
    eventually("Sales holds nobody", || async { effective(&w, sales).await == 0 }).await;
    assert_eq!(verify(&w).await["differences"], 0);
}
