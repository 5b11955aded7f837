//! `scim-worker verify`: compares every tenant's directory with `product.*` field by field and
//! prints each difference; any difference makes the command fail.

use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use shared::domain::deprovisioning::Exception;
use uuid::Uuid;

use crate::expected::{self, ExpectedUser};
use crate::users::{self, ProductUser};
use crate::{groups, memberships, nesting, roles};

#[derive(Debug, Serialize)]
pub struct Difference {
    pub tenant_id: Uuid,
    /// The user, group or `group/user` pair the difference is about.
    pub resource: String,
    pub field: &'static str,
    pub directory: String,
    pub product: String,
}

/// A user the deprovisioning guard keeps in the product as it was, as it should.
#[derive(Debug, Serialize)]
pub struct Guarded {
    pub tenant_id: Uuid,
    pub resource: String,
    /// `held`, `grace`, `rejected` or `protected`.
    pub guard: Exception,
}

/// A member of a group that names neither a user nor a group of the tenant: the directory keeps
/// it as sent, the product never links it. Reported, not a difference.
#[derive(Debug, Serialize)]
pub struct Reference {
    pub tenant_id: Uuid,
    pub group_id: Uuid,
    pub reference: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tenants: usize,
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    /// Child groups (nested groups) and effective memberships (the closure) compared.
    pub child_groups: usize,
    pub effective_memberships: usize,
    /// Roles (IdP-set and mapped) and entitlements the users should have, compared.
    pub roles: usize,
    pub entitlements: usize,
    pub differences: Vec<Difference>,
    /// Group members the directory keeps as references (not users or groups of the tenant).
    pub references: Vec<Reference>,
    /// Users the product keeps as they were by the deprovisioning guard's decision: reported,
    /// not differences.
    pub guarded: Vec<Guarded>,
}

pub async fn run(
    directory: &impl ConnectionTrait,
    product: &impl ConnectionTrait,
    only: Option<Uuid>,
) -> Result<Report, DbErr> {
    let mut report = Report::default();
    for tenant in expected::tenants(directory, only).await? {
        report.tenants += 1;
        let guard = shared::domain::deprovisioning::exceptions(directory, tenant).await?;
        let (expected, kept) = expected::under_guard(expected::users(directory, tenant).await?, &guard);
        report.users += expected.len() + kept.len();
        let mut actual = users::of_tenant(product, tenant).await?;
        // Kept users must be there, active; their other fields are the product's older state.
        for k in &kept {
            let id = k.user.id;
            match actual.remove(&id) {
                Some(a) if a.active => report.guarded.push(Guarded {
                    tenant_id: tenant,
                    resource: id.to_string(),
                    guard: k.why,
                }),
                found => report.differences.push(Difference {
                    tenant_id: tenant,
                    resource: id.to_string(),
                    field: "active",
                    directory: format!("{} by the deprovisioning guard: kept active", k.why.as_str()),
                    product: if found.is_some() { "false" } else { "missing" }.into(),
                }),
            }
        }
        let kept_deleted: HashSet<Uuid> = kept
            .iter()
            .filter(|k| k.user.snapshot.deleted)
            .map(|k| k.user.id)
            .collect();
        for e in &expected {
            match actual.remove(&e.id) {
                None => report.differences.push(Difference {
                    tenant_id: tenant,
                    resource: e.id.to_string(),
                    field: "row",
                    directory: format!("version {}", e.version),
                    product: "missing".into(),
                }),
                Some(a) => compare(tenant, e, &a, &mut report.differences),
            }
        }
        // Rows the directory does not know; inactive ones are what reconcile leaves behind.
        for (id, a) in actual.into_iter().filter(|(_, a)| a.active) {
            report.differences.push(Difference {
                tenant_id: tenant,
                resource: id.to_string(),
                field: "row",
                directory: "missing".into(),
                product: format!("active, version {}", a.version),
            });
        }
        let effective = compare_groups(directory, product, tenant, &kept_deleted, &mut report).await?;
        compare_access(directory, product, tenant, &expected, &effective, &mut report).await?;
    }
    Ok(report)
}

/// Roles and entitlements of the users expected at their directory state: what the rule
/// (`shared::domain::roles::derive`) gives from the directory's roles, groups and the tenant's
/// rules, against `product.user_roles` and `product.user_entitlements`. `effective` is the
/// directory's closure: (group id, group name, user).
async fn compare_access(
    directory: &impl ConnectionTrait,
    product: &impl ConnectionTrait,
    tenant: Uuid,
    expected: &[ExpectedUser],
    effective: &[(Uuid, String, Uuid)],
    report: &mut Report,
) -> Result<(), DbErr> {
    let rules = shared::domain::roles::of_tenant(directory, tenant).await?;
    let mut groups_of: HashMap<Uuid, Vec<&str>> = HashMap::new();
    for (_, name, u) in effective {
        groups_of.entry(*u).or_default().push(name);
    }
    let mut roles: HashMap<Uuid, Vec<(String, bool)>> = HashMap::new();
    for (u, role, primary) in roles::of_tenant(product, tenant).await? {
        roles.entry(u).or_default().push((role, primary));
    }
    let mut entitlements: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (u, e) in roles::entitlements_of_tenant(product, tenant).await? {
        entitlements.entry(u).or_default().push(e);
    }
    let show = |roles: &[(String, bool)]| -> Vec<String> {
        roles
            .iter()
            .map(|(r, p)| if *p { format!("{r} (primary)") } else { r.clone() })
            .collect()
    };
    for e in expected {
        let s = &e.snapshot;
        let groups = groups_of.get(&e.id).map(Vec::as_slice).unwrap_or_default();
        let want = shared::domain::roles::derive(
            &s.roles,
            s.primary_role.as_deref(),
            groups.iter().copied(),
            &rules,
        );
        let mut have = roles.remove(&e.id).unwrap_or_default();
        have.sort();
        report.roles += want.len();
        report.entitlements += s.entitlements.len();
        let sides = [
            ("roles", show(&want), show(&have)),
            (
                "entitlements",
                s.entitlements.clone(),
                entitlements.remove(&e.id).unwrap_or_default(),
            ),
        ];
        for (field, mut want, mut have) in sides {
            want.sort();
            have.sort();
            if want != have {
                report.differences.push(Difference {
                    tenant_id: tenant,
                    resource: e.id.to_string(),
                    field,
                    directory: want.join(", "),
                    product: have.join(", "),
                });
            }
        }
    }
    Ok(())
}

/// `kept_deleted`: users deleted in the directory whose delete the guard keeps from the product,
/// with their memberships.
async fn compare_groups(
    directory: &impl ConnectionTrait,
    product: &impl ConnectionTrait,
    tenant: Uuid,
    kept_deleted: &HashSet<Uuid>,
    report: &mut Report,
) -> Result<Vec<(Uuid, String, Uuid)>, DbErr> {
    let mut diff = |resource: String, field: &'static str, directory: String, product: String| {
        report.differences.push(Difference {
            tenant_id: tenant,
            resource,
            field,
            directory,
            product,
        });
    };
    let expected = expected::groups(directory, tenant).await?;
    let mut actual: HashMap<Uuid, (String, i64)> = groups::of_tenant(product, tenant)
        .await?
        .into_iter()
        .map(|(id, name, version)| (id, (name, version)))
        .collect();
    let mut live = 0;
    for g in &expected {
        match (g.deleted, actual.remove(&g.id)) {
            (true, None) => {}
            (true, Some(_)) => diff(g.id.to_string(), "group", "deleted".into(), "present".into()),
            (false, None) => diff(
                g.id.to_string(),
                "group",
                format!("version {}", g.version),
                "missing".into(),
            ),
            (false, Some((name, version))) => {
                live += 1;
                if name != g.name {
                    diff(g.id.to_string(), "group_name", g.name.clone(), name);
                }
                if version != g.version {
                    diff(
                        g.id.to_string(),
                        "group_version",
                        g.version.to_string(),
                        version.to_string(),
                    );
                }
            }
        }
    }
    for id in actual.keys() {
        diff(id.to_string(), "group", "missing".into(), "present".into());
    }

    let deleted: std::collections::HashSet<Uuid> =
        expected.iter().filter(|g| g.deleted).map(|g| g.id).collect();
    let mut want: std::collections::HashSet<(Uuid, Uuid)> = expected::memberships(directory, tenant)
        .await?
        .into_iter()
        .filter(|m| m.member && !deleted.contains(&m.group_id))
        .map(|m| (m.group_id, m.user_id))
        .collect();
    let expected_count = want.len();
    let direct = want.clone();
    for pair in memberships::of_tenant(product, tenant).await? {
        if kept_deleted.contains(&pair.1) {
            continue;
        }
        if !want.remove(&pair) {
            diff(
                format!("{}/{}", pair.0, pair.1),
                "membership",
                "absent".into(),
                "present".into(),
            );
        }
    }
    for (g, u) in want {
        diff(
            format!("{g}/{u}"),
            "membership",
            "present".into(),
            "missing".into(),
        );
    }
    // Child groups: live edges between live groups.
    let edges: Vec<(Uuid, Uuid)> = expected::edges(directory, tenant)
        .await?
        .into_iter()
        .filter(|e| e.member && !deleted.contains(&e.group_id) && !deleted.contains(&e.child_id))
        .map(|e| (e.group_id, e.child_id))
        .collect();
    let mut want_edges: HashSet<(Uuid, Uuid)> = edges.iter().copied().collect();
    for (p, c) in nesting::edges_of_tenant(product, tenant).await? {
        if !want_edges.remove(&(p, c)) {
            diff(
                format!("{p}/{c}"),
                "child_group",
                "absent".into(),
                "present".into(),
            );
        }
    }
    for (p, c) in want_edges {
        diff(
            format!("{p}/{c}"),
            "child_group",
            "present".into(),
            "missing".into(),
        );
    }
    // Effective membership: the closure, computed here in memory from the directory.
    let mut want_effective = expected::closure(&direct, &edges);
    let effective_count = want_effective.len();
    let names: HashMap<Uuid, &String> = expected.iter().map(|g| (g.id, &g.name)).collect();
    let effective: Vec<(Uuid, String, Uuid)> = want_effective
        .iter()
        .filter_map(|&(g, u)| Some((g, names.get(&g)?.to_string(), u)))
        .collect();
    for (g, u) in nesting::effective_of_tenant(product, tenant).await? {
        if kept_deleted.contains(&u) {
            continue;
        }
        if !want_effective.remove(&(g, u)) {
            diff(
                format!("{g}/{u}"),
                "effective_membership",
                "absent".into(),
                "present".into(),
            );
        }
    }
    for (g, u) in want_effective {
        diff(
            format!("{g}/{u}"),
            "effective_membership",
            "present".into(),
            "missing".into(),
        );
    }
    for (group_id, reference) in expected::member_refs(directory, tenant).await? {
        report.references.push(Reference {
            tenant_id: tenant,
            group_id,
            reference,
        });
    }
    report.groups += live;
    report.memberships += expected_count;
    report.child_groups += edges.len();
    report.effective_memberships += effective_count;
    Ok(effective)
}

fn compare(tenant: Uuid, e: &ExpectedUser, a: &ProductUser, out: &mut Vec<Difference>) {
    let s = &e.snapshot;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
    let show_id = |v: &Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_else(|| "null".into());
    // Compared as JSON values: Postgres keeps a jsonb object's keys in an order of its own.
    let attributes = serde_json::Value::Object(s.attributes.clone().unwrap_or_default());
    let product_attributes = if attributes == a.attributes {
        attributes.to_string()
    } else {
        a.attributes.to_string()
    };
    let fields: [(&'static str, String, String); 14] = [
        ("user_name", s.user_name.clone(), a.user_name.clone()),
        ("email", show(&s.email), show(&a.email)),
        ("first_name", show(&s.given_name), show(&a.first_name)),
        ("last_name", show(&s.family_name), show(&a.last_name)),
        ("department", show(&s.department), show(&a.department)),
        ("job_title", show(&s.title), show(&a.job_title)),
        (
            "employee_number",
            show(&s.employee_number),
            show(&a.employee_number),
        ),
        ("cost_center", show(&s.cost_center), show(&a.cost_center)),
        ("organization", show(&s.organization), show(&a.organization)),
        ("division", show(&s.division), show(&a.division)),
        ("attributes", attributes.to_string(), product_attributes),
        ("active", s.active.to_string(), a.active.to_string()),
        ("version", e.version.to_string(), a.version.to_string()),
        ("manager_id", show_id(&e.manager_id), show_id(&a.manager_id)),
    ];
    for (field, directory, product) in fields {
        if directory != product {
            out.push(Difference {
                tenant_id: tenant,
                resource: e.id.to_string(),
                field,
                directory,
                product,
            });
        }
    }
}
