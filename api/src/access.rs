//! What a tenant grants beyond groups: the roles and entitlements its admin defines
//! (`scim.tenant_access`, listed by `/Roles` and `/Entitlements`, and what users' `roles` and
//! `entitlements` are checked against), and its group→role rules (`scim.tenant_role_mappings`),
//! whose every change travels to the workers as one `RoleMapping` message that re-derives the
//! tenant's users there (see the worker's `roles`).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use shared::domain::roles::{Kind, RoleRule};
use shared::domain::user::Doc;
use shared::entity::scim_tenant_access::{self as access, Model as Definition};
use shared::entity::scim_tenant_role_mapping as role_mapping;
use shared::messages::{ChangeMessage, Operation, Resource, RoleMappingSnapshot};
use uuid::Uuid;

use crate::error::ScimError;
use crate::outbox::{self, Enqueued};
use crate::scim::Kind as ErrorKind;

/// Longest value, display, type or description accepted.
pub const MAX_TEXT: usize = 1024;
/// Most definitions of one kind, and most rules, a tenant may have.
pub const MAX_ITEMS: usize = 10_000;

/// One definition as an admin sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDefinition {
    pub value: String,
    pub display: Option<String>,
    pub kind_type: Option<String>,
    pub description: Option<String>,
}

/// Checks a set of definitions: values present, unique, printable, not too long.
pub fn check_definitions(kind: Kind, defs: &[NewDefinition]) -> Result<(), String> {
    if defs.len() > MAX_ITEMS {
        return Err(format!("at most {MAX_ITEMS} {}", kind.attribute()));
    }
    let mut seen = HashSet::new();
    for d in defs {
        check_text("value", &d.value)?;
        for (name, v) in [
            ("display", &d.display),
            ("type", &d.kind_type),
            ("description", &d.description),
        ] {
            if let Some(v) = v
                && v.chars().count() > MAX_TEXT
            {
                return Err(format!(
                    "{name} of '{}' is longer than {MAX_TEXT} characters",
                    d.value
                ));
            }
        }
        if !seen.insert(d.value.as_str()) {
            return Err(format!("'{}' is defined twice", d.value));
        }
    }
    Ok(())
}

/// Checks rules: a group and a role in each, no rule twice.
pub fn check_rules(rules: &[RoleRule]) -> Result<(), String> {
    if rules.len() > MAX_ITEMS {
        return Err(format!("at most {MAX_ITEMS} rules"));
    }
    let mut seen = HashSet::new();
    for r in rules {
        check_text("group", &r.group)?;
        check_text("role", &r.role)?;
        if !seen.insert((r.group.to_lowercase(), r.role.as_str())) {
            return Err(format!("the rule '{}' → '{}' is there twice", r.group, r.role));
        }
    }
    Ok(())
}

fn check_text(name: &str, v: &str) -> Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("a {name} must not be empty"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(format!("a {name} is longer than {MAX_TEXT} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!(
            "the {name} '{}' holds a control character",
            v.escape_default()
        ));
    }
    Ok(())
}

/// The tenant's definitions of `kind`, by value; roles also count every role its rules name
/// (with no display, type or description unless defined).
pub async fn definitions(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    kind: Kind,
) -> Result<Vec<Definition>, DbErr> {
    let mut defs = access::Entity::find()
        .filter(access::Column::TenantId.eq(tenant))
        .filter(access::Column::Kind.eq(kind.as_str()))
        .order_by_asc(access::Column::Value)
        .all(db)
        .await?;
    if kind == Kind::Role {
        let known: HashSet<String> = defs.iter().map(|d| d.value.clone()).collect();
        let mut named: Vec<String> = shared::domain::roles::of_tenant(db, tenant)
            .await?
            .into_iter()
            .map(|r| r.role)
            .filter(|r| !known.contains(r))
            .collect();
        named.sort();
        named.dedup();
        defs.extend(named.into_iter().map(|value| Definition {
            tenant_id: tenant,
            kind: kind.as_str().into(),
            value,
            display: None,
            r#type: None,
            description: None,
        }));
        defs.sort_by(|a, b| a.value.cmp(&b.value));
    }
    Ok(defs)
}

/// Replaces the tenant's definitions of `kind` (checked by [`check_definitions`]). Users that
/// hold a value no longer defined keep it; only values a write adds are checked.
pub async fn put_definitions(
    db: &DatabaseConnection,
    tenant: Uuid,
    kind: Kind,
    defs: &[NewDefinition],
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    access::Entity::delete_many()
        .filter(access::Column::TenantId.eq(tenant))
        .filter(access::Column::Kind.eq(kind.as_str()))
        .exec(&txn)
        .await?;
    for chunk in defs.chunks(1000) {
        let rows = chunk.iter().map(|d| access::ActiveModel {
            tenant_id: Set(tenant),
            kind: Set(kind.as_str().into()),
            value: Set(d.value.clone()),
            display: Set(d.display.clone()),
            r#type: Set(d.kind_type.clone()),
            description: Set(d.description.clone()),
        });
        access::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await
}

/// A user's `roles` and `entitlements` must name values the tenant defined; values the user
/// already had (`current`) pass even if their definition went since. 400 `invalidValue` names
/// the first unknown value.
pub async fn check_user(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    doc: &Doc,
    current: Option<&Doc>,
) -> Result<(), ScimError> {
    for kind in [Kind::Role, Kind::Entitlement] {
        let attr = kind.attribute();
        let had = current
            .map(|c| shared::domain::roles::values(c, attr))
            .unwrap_or_default();
        let added: Vec<String> = shared::domain::roles::values(doc, attr)
            .into_iter()
            .filter(|v| !had.contains(v))
            .collect();
        if added.is_empty() {
            continue;
        }
        let defined: HashSet<String> = definitions(db, tenant, kind)
            .await?
            .into_iter()
            .map(|d| d.value)
            .collect();
        if let Some(unknown) = added.iter().find(|v| !defined.contains(*v)) {
            let endpoint = if kind == Kind::Role {
                "/Roles"
            } else {
                "/Entitlements"
            };
            return Err(ScimError::invalid(
                ErrorKind::InvalidValue,
                format!(
                    "{attr}: '{unknown}' is not a {} this tenant defined (see {endpoint})",
                    kind.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The tenant's rules and their progress, if it ever had rules.
pub async fn role_mapping(
    db: &impl ConnectionTrait,
    tenant: Uuid,
) -> Result<Option<role_mapping::Model>, DbErr> {
    role_mapping::Entity::find_by_id(tenant).one(db).await
}

/// Stores new rules under the next version and, in the same transaction, the message that
/// takes them to the workers; returns the version and the message to dispatch after commit.
pub async fn put_role_mapping(
    db: &DatabaseConnection,
    tenant: Uuid,
    rules: &[RoleRule],
) -> Result<(i64, Enqueued), DbErr> {
    use role_mapping::Column as C;
    let txn = db.begin().await?;
    let version = role_mapping::Entity::find_by_id(tenant)
        .lock_exclusive()
        .one(&txn)
        .await?
        .map_or(1, |m| m.version + 1);
    let row = role_mapping::ActiveModel {
        tenant_id: Set(tenant),
        rules: Set(serde_json::to_value(rules).unwrap_or_default()),
        version: Set(version),
        updated_at: Set(Utc::now().into()),
        users_total: Set(0),
        derived_version: Set(0),
        derived_done: Set(0),
        derived_at: Set(None),
    };
    role_mapping::Entity::insert(row)
        .on_conflict(
            OnConflict::column(C::TenantId)
                .update_columns([C::Rules, C::Version, C::UpdatedAt, C::DerivedDone, C::DerivedAt])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    let msg = ChangeMessage::new(
        tenant,
        tenant,
        version,
        Operation::Updated,
        Utc::now(),
        Resource::RoleMapping(RoleMappingSnapshot {
            rules: rules.to_vec(),
        }),
    );
    let queued = outbox::enqueue(&txn, &msg).await?;
    txn.commit().await?;
    Ok((version, queued))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(value: &str) -> NewDefinition {
        NewDefinition {
            value: value.into(),
            display: None,
            kind_type: None,
            description: None,
        }
    }

    #[test]
    fn definitions_need_a_value_each_once() {
        assert!(check_definitions(Kind::Role, &[def("admin"), def("viewer")]).is_ok());
        assert!(
            check_definitions(Kind::Role, &[def(" ")])
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            check_definitions(Kind::Role, &[def("a"), def("a")])
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            check_definitions(Kind::Entitlement, &[def("a\u{0}b")])
                .unwrap_err()
                .contains("control")
        );
    }

    #[test]
    fn a_rule_twice_is_refused_whatever_the_group_case() {
        let rule = |group: &str| RoleRule {
            group: group.into(),
            role: "admin".into(),
            priority: 1,
        };
        assert!(check_rules(&[rule("Admins")]).is_ok());
        assert!(
            check_rules(&[rule("Admins"), rule("ADMINS")])
                .unwrap_err()
                .contains("twice")
        );
    }
}
