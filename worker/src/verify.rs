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
    pub user_id: Uuid,
    pub field: &'static str,
    pub directory: String,
    pub product: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tenants: usize,
    pub users: usize,
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
                    user_id: e.id,
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
                user_id: id,
                field: "row",
                directory: "missing".into(),
                product: format!("active, version {}", a.version),
            });
        }
    }
    Ok(report)
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
                user_id: e.id,
                field,
                directory,
                product,
            });
        }
    }
}
