//! Rules the worker's row writes share. A single-row upsert (a group and its ledger entry, a
//! user written by reconcile) only ever overwrites a row within its own tenant, so a change can
//! never move a row to another tenant, whatever it claims; reconcile's sweeps select a tenant's
//! rows other than the ones the directory knows.

use sea_orm::sea_query::{Alias, BinOper, Expr, ExprTrait, IntoColumnRef, OnConflict, PgFunc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait};
use shared::entity::{product_group, product_group_version, product_user};
use uuid::Uuid;

/// When an existing row is overwritten.
#[derive(Debug, Clone, Copy)]
pub enum Overwrite {
    /// Never: only missing rows are created.
    Never,
    /// Always (within the tenant).
    Always,
    /// When the new version is newer.
    Older,
    /// When any of the overwritten columns differs (reconcile: unchanged rows are not touched).
    Different,
}

/// A table written by [`upsert`]: the columns it needs to know beyond the ones it overwrites.
pub trait TenantRow: EntityTrait {
    const ID: Self::Column;
    const TENANT: Self::Column;
    const VERSION: Self::Column;
    /// Set to the current time whenever a row is overwritten.
    const TOUCHED: Option<Self::Column>;
}

impl TenantRow for product_user::Entity {
    const ID: Self::Column = product_user::Column::Id;
    const TENANT: Self::Column = product_user::Column::TenantId;
    const VERSION: Self::Column = product_user::Column::Version;
    const TOUCHED: Option<Self::Column> = Some(product_user::Column::UpdatedAt);
}

impl TenantRow for product_group::Entity {
    const ID: Self::Column = product_group::Column::Id;
    const TENANT: Self::Column = product_group::Column::TenantId;
    const VERSION: Self::Column = product_group::Column::Version;
    const TOUCHED: Option<Self::Column> = Some(product_group::Column::UpdatedAt);
}

impl TenantRow for product_group_version::Entity {
    const ID: Self::Column = product_group_version::Column::Id;
    const TENANT: Self::Column = product_group_version::Column::TenantId;
    const VERSION: Self::Column = product_group_version::Column::Version;
    const TOUCHED: Option<Self::Column> = None;
}

/// Inserts `row`, or overwrites the existing row's `set` columns as `how` says; returns how
/// many rows changed (0 or 1).
pub async fn upsert<A>(
    db: &impl ConnectionTrait,
    row: A,
    set: &[<A::Entity as EntityTrait>::Column],
    how: Overwrite,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait,
    A::Entity: TenantRow,
{
    A::Entity::insert(row)
        .on_conflict(on_conflict::<A::Entity>(set, how))
        .exec_without_returning(db)
        .await
}

/// The rows whose `column` is none of `ids`, as one array parameter whatever the tenant's size
/// (a list would bind one parameter per row, and Postgres takes at most 65,535).
pub fn other_than(column: impl IntoColumnRef, ids: Vec<Uuid>) -> Expr {
    Expr::col(column).eq(PgFunc::any(ids)).not()
}

/// `ON CONFLICT (id)` for entity `E`: overwrite `set` from the proposed row as `how` says.
fn on_conflict<E: TenantRow>(set: &[E::Column], how: Overwrite) -> OnConflict {
    let mut rule = OnConflict::column(E::ID);
    if let Overwrite::Never = how {
        return rule.do_nothing().to_owned();
    }
    rule.update_columns(set.iter().copied());
    if let Some(touched) = E::TOUCHED {
        rule.value(touched, Expr::current_timestamp());
    }
    let row = |c: E::Column| Expr::col((E::default(), c));
    let proposed = |c: E::Column| Expr::col((Alias::new("excluded"), c));
    let same_tenant = row(E::TENANT).eq(proposed(E::TENANT));
    let when = match how {
        Overwrite::Never | Overwrite::Always => same_tenant,
        Overwrite::Older => row(E::VERSION).lt(proposed(E::VERSION)).and(same_tenant),
        Overwrite::Different => same_tenant.and(Expr::tuple(set.iter().map(|&c| row(c))).binary(
            BinOper::Custom("IS DISTINCT FROM"),
            Expr::tuple(set.iter().map(|&c| proposed(c))),
        )),
    };
    rule.action_and_where(when).to_owned()
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{PostgresQueryBuilder, Query};
    use shared::entity::product_group_version::{Column as C, Entity};

    use super::*;

    fn sql(how: Overwrite) -> String {
        Query::insert()
            .into_table(Entity)
            .columns([C::Id])
            .values_panic([1.into()])
            .on_conflict(on_conflict::<Entity>(&[C::Version, C::Deleted], how))
            .to_string(PostgresQueryBuilder)
    }

    #[test]
    fn an_older_row_is_overwritten_only_within_its_tenant() {
        assert!(sql(Overwrite::Older).ends_with(
            r#"WHERE "group_versions"."version" < "excluded"."version" AND "group_versions"."tenant_id" = "excluded"."tenant_id""#
        ));
    }

    #[test]
    fn reconcile_overwrites_only_rows_that_differ() {
        assert!(sql(Overwrite::Different).ends_with(
            r#"WHERE "group_versions"."tenant_id" = "excluded"."tenant_id" AND (("group_versions"."version", "group_versions"."deleted") IS DISTINCT FROM ("excluded"."version", "excluded"."deleted"))"#
        ));
        assert!(sql(Overwrite::Never).ends_with("DO NOTHING"));
    }
}
