//! The conflict rule of the worker's single-row upserts (a group and its ledger entry, one user
//! written by reconcile): an existing row is only ever overwritten within its own tenant, so a
//! change can never move a row to another tenant, whatever it claims.

use sea_orm::EntityTrait;
use sea_orm::sea_query::{Alias, BinOper, Expr, ExprTrait, OnConflict};

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

/// The table's columns an upsert needs to know beyond the ones it overwrites.
pub struct Keys<C> {
    pub id: C,
    pub tenant: C,
    pub version: C,
    /// Set to the current time whenever the row is overwritten.
    pub touched: Option<C>,
}

/// `ON CONFLICT (id)` for entity `E`: overwrite `set` from the proposed row as `how` says.
pub fn on_conflict<E: EntityTrait>(keys: Keys<E::Column>, set: &[E::Column], how: Overwrite) -> OnConflict {
    let mut rule = OnConflict::column(keys.id);
    if let Overwrite::Never = how {
        return rule.do_nothing().to_owned();
    }
    rule.update_columns(set.iter().copied());
    if let Some(touched) = keys.touched {
        rule.value(touched, Expr::current_timestamp());
    }
    let row = |c: E::Column| Expr::col((E::default(), c));
    let proposed = |c: E::Column| Expr::col((Alias::new("excluded"), c));
    let same_tenant = row(keys.tenant).eq(proposed(keys.tenant));
    let when = match how {
        Overwrite::Never | Overwrite::Always => same_tenant,
        Overwrite::Older => row(keys.version).lt(proposed(keys.version)).and(same_tenant),
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
        let keys = Keys {
            id: C::Id,
            tenant: C::TenantId,
            version: C::Version,
            touched: None,
        };
        Query::insert()
            .into_table(Entity)
            .columns([C::Id])
            .values_panic([1.into()])
            .on_conflict(on_conflict::<Entity>(keys, &[C::Version, C::Deleted], how))
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
            r#"WHERE "group_versions"."tenant_id" = "excluded"."tenant_id" AND ("group_versions"."version", "group_versions"."deleted") IS DISTINCT FROM ("excluded"."version", "excluded"."deleted")"#
        ));
        assert!(sql(Overwrite::Never).ends_with("DO NOTHING"));
    }
}
