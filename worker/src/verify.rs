//! `scim-worker verify`: compares every tenant's directory with `product.*` field by field and
//! prints each difference; any difference makes the command fail.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

use crate::expected::{self, ExpectedUser};

#[derive(Debug, Serialize)]
pub struct Difference {
    pub tenant_id: Uuid,
    /// The user, group or `group/user` pair the difference is about.
    pub resource: String,
    pub field: &'static str,
    pub directory: String,
    pub product: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tenants: usize,
    pub users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub differences: Vec<Difference>,
}

pub async fn run(
    directory: &impl ConnectionTrait,
    product: &impl ConnectionTrait,
    only: Option<Uuid>,
) -> Result<Report, DbErr> {
    let mut report = Report::default();
    for tenant in expected::tenants(directory, only).await? {
        report.tenants += 1;
        let expected = expected::users(directory, tenant).await?;
        report.users += expected.len();
        let mut actual = product_users(product, tenant).await?;
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
        compare_groups(directory, product, tenant, &mut report).await?;
    }
    Ok(report)
}

async fn compare_groups(
    directory: &impl ConnectionTrait,
    product: &impl ConnectionTrait,
    tenant: Uuid,
    report: &mut Report,
) -> Result<(), DbErr> {
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
    let rows = product
        .query_all_raw(stmt(
            "select id, name, version from product.groups where tenant_id = $1",
            [tenant.into()],
        ))
        .await?;
    let mut actual: HashMap<Uuid, (String, i64)> = HashMap::new();
    for r in &rows {
        actual.insert(
            r.try_get("", "id")?,
            (r.try_get("", "name")?, r.try_get("", "version")?),
        );
    }
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
    let rows = product
        .query_all_raw(stmt(
            "select m.group_id, m.user_id from product.group_members m
             join product.groups g on g.id = m.group_id where g.tenant_id = $1",
            [tenant.into()],
        ))
        .await?;
    let expected_count = want.len();
    for r in &rows {
        let pair: (Uuid, Uuid) = (r.try_get("", "group_id")?, r.try_get("", "user_id")?);
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
    report.groups += live;
    report.memberships += expected_count;
    Ok(())
}

#[derive(Debug)]
pub struct ProductUser {
    pub user_name: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub manager_id: Option<Uuid>,
    pub active: bool,
    pub version: i64,
}

pub async fn product_users(
    product: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<HashMap<Uuid, ProductUser>, DbErr> {
    let rows = product
        .query_all_raw(stmt(
            "select id, user_name, email, first_name, last_name, department, job_title, manager_id, active, version
             from product.users where tenant_id = $1",
            [tenant.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                ProductUser {
                    user_name: r.try_get("", "user_name")?,
                    email: r.try_get("", "email")?,
                    first_name: r.try_get("", "first_name")?,
                    last_name: r.try_get("", "last_name")?,
                    department: r.try_get("", "department")?,
                    job_title: r.try_get("", "job_title")?,
                    manager_id: r.try_get("", "manager_id")?,
                    active: r.try_get("", "active")?,
                    version: r.try_get("", "version")?,
                },
            ))
        })
        .collect()
}

fn compare(tenant: Uuid, e: &ExpectedUser, a: &ProductUser, out: &mut Vec<Difference>) {
    let s = &e.snapshot;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "null".into());
    let show_id = |v: &Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_else(|| "null".into());
    let fields: [(&'static str, String, String); 9] = [
        ("user_name", s.user_name.clone(), a.user_name.clone()),
        ("email", show(&s.email), show(&a.email)),
        ("first_name", show(&s.given_name), show(&a.first_name)),
        ("last_name", show(&s.family_name), show(&a.last_name)),
        ("department", show(&s.department), show(&a.department)),
        ("job_title", show(&s.title), show(&a.job_title)),
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
