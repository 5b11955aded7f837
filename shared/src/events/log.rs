//! `scim.events` (and its per-tenant counter, `scim.event_sequences`): a change's event row is
//! written in the change's own transaction, for tenants that have an event stream (a tenant
//! without one pays a single index probe, no row); the sequencer numbers committed rows; polls
//! and deliverers read them by number.

use std::time::Duration;

use crate::db::{interval, stmt};
use crate::entity::scim_event::{self, Column, Entity};
use crate::entity::{scim_event_sequence, scim_event_stream};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait, Value,
};
use serde_json::Value as Json;
use uuid::Uuid;

/// The Postgres notification channel on which the sequencer announces numbered events (the
/// payload is the tenant id).
pub const CHANNEL: &str = "scim_events";

/// Rows numbered per statement.
const BATCH: i64 = 1000;
/// Event rows purged per run.
const PURGE_LIMIT: u64 = 10_000;

/// A committed change as its SETs will tell it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// RFC 9967 `txn`: the request's change.
    pub txn: Uuid,
    /// `User` or `Group`.
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    pub external_id: Option<String>,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// `Some(true)` when `active` turned true, `Some(false)` when it turned false.
    pub activation: Option<bool>,
    /// The attribute paths the change touched.
    pub attributes: Vec<String>,
    /// The `data` of full payloads; none for a delete.
    pub data: Option<Json>,
    /// The resource's ETag after the change; none for a delete.
    pub version: Option<String>,
}

const COLUMNS: [Column; 10] = [
    Column::TenantId,
    Column::Txn,
    Column::ResourceType,
    Column::ResourceId,
    Column::ExternalId,
    Column::Method,
    Column::Activation,
    Column::Attributes,
    Column::Data,
    Column::Version,
];

impl Recorded {
    fn values(&self, tenant: Uuid) -> [Value; 10] {
        [
            tenant.into(),
            self.txn.into(),
            self.resource_type.into(),
            self.resource_id.into(),
            self.external_id.clone().into(),
            self.method.into(),
            self.activation.into(),
            self.attributes.clone().into(),
            self.data.clone().into(),
            self.version.clone().into(),
        ]
    }
}

/// Whether the tenant has a stream, as a condition of the statement that writes the row: the
/// check and the write are one statement, one round trip.
fn tenant_has_streams(tenant: Uuid) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(scim_event_stream::Entity.table_ref())
            .and_where(Expr::col(scim_event_stream::Column::TenantId).eq(tenant))
            .take(),
    )
}

/// Writes the event row of a change, inside its transaction, when the tenant has a stream;
/// whether it did.
pub async fn record(db: &impl ConnectionTrait, tenant: Uuid, ev: &Recorded) -> Result<bool, DbErr> {
    let row = Query::select()
        .exprs(ev.values(tenant).into_iter().map(Expr::val))
        .and_where(tenant_has_streams(tenant))
        .take();
    let insert = Query::insert()
        .into_table(Entity.table_ref())
        .columns(COLUMNS)
        .select_from(row)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    Ok(db.execute(&insert).await?.rows_affected() > 0)
}

/// The same write as a part of a data-modifying `with` (for a write that is one statement):
/// `e as (insert ... select $n, ... where exists (...) returning 1)`, its values numbered from
/// `first`, the tenant being parameter `$tenant_param` of the whole statement. The event is
/// written only if the CTE `of` returned a row: an update that found its row moved on writes
/// nothing, and no event may tell of it.
pub fn cte(name: &str, first: usize, tenant_param: usize, of: &str) -> String {
    let params: Vec<String> = (first..first + COLUMNS.len()).map(|n| format!("${n}")).collect();
    format!(
        "{name} as (insert into scim.events ({}) select {} where exists (select 1 from {of}) \
         and exists (select 1 from scim.event_streams s where s.tenant_id = ${tenant_param}) returning 1)",
        column_list(),
        params.join(", ")
    )
}

/// The event of one of many writes made by one statement, as an element of the JSON array the
/// statement takes (see [`RECORD_TYPE`]).
pub fn json(tenant: Uuid, ev: &Recorded) -> Json {
    serde_json::json!({
        "tenant_id": tenant,
        "txn": ev.txn,
        "resource_type": ev.resource_type,
        "resource_id": ev.resource_id,
        "external_id": ev.external_id,
        "method": ev.method,
        "activation": ev.activation,
        "attributes": ev.attributes,
        "data": ev.data,
        "version": ev.version,
    })
}

/// The columns of an event row and their types, as `jsonb_to_record(…) as ev(RECORD_TYPE)` reads
/// an element of [`json`]; in the order of [`COLUMNS`], so that `ev.*` is what an insert of
/// them takes.
pub const RECORD_TYPE: &str = "tenant_id uuid, txn uuid, resource_type text, resource_id uuid, \
     external_id text, method text, activation boolean, attributes text[], data jsonb, version text";

/// The column names of an event row, in the order of [`RECORD_TYPE`].
pub fn column_list() -> String {
    COLUMNS
        .iter()
        .map(|c| sea_orm::IdenStatic::as_str(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values of [`cte`]'s parameters, in order.
pub fn cte_values(tenant: Uuid, ev: &Recorded) -> [Value; 10] {
    ev.values(tenant)
}

/// The attributes whose values differ between two documents (top-level names, and the
/// enterprise extension's attributes as `urn:…:User:attr`), for notice payloads.
pub fn changed(
    before: Option<&serde_json::Map<String, Json>>,
    after: &serde_json::Map<String, Json>,
) -> Vec<String> {
    let empty = serde_json::Map::new();
    let before = before.unwrap_or(&empty);
    let mut names: Vec<String> = Vec::new();
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        match (before.get(k), after.get(k)) {
            (Some(Json::Object(b)), Some(Json::Object(a))) if k.starts_with("urn:") => {
                for sub in changed(Some(b), a) {
                    names.push(format!("{k}:{sub}"));
                }
            }
            (b, a) if b != a => names.push(k.clone()),
            _ => {}
        }
    }
    names
}

/// Numbers every committed, unnumbered row; returns how many.
pub async fn number_committed(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let tenants: Vec<Uuid> = Entity::find()
        .select_only()
        .column(Column::TenantId)
        .distinct()
        .filter(Column::Sequence.is_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut total = 0;
    for tenant in tenants {
        loop {
            let n = number(db, tenant).await?;
            total += n;
            if n < BATCH as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// Numbers up to [`BATCH`] rows of one tenant in one transaction.
async fn number(db: &DatabaseConnection, tenant: Uuid) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    let counter = scim_event_sequence::ActiveModel {
        tenant_id: Set(tenant),
        last: Set(0),
    };
    scim_event_sequence::Entity::insert(counter)
        .on_conflict_do_nothing_on([scim_event_sequence::Column::TenantId])
        .exec_without_returning(&txn)
        .await?;
    // The counter's row lock is the tenant's sequencing lock, held to commit.
    let last: i64 = scim_event_sequence::Entity::find_by_id(tenant)
        .select_only()
        .column(scim_event_sequence::Column::Last)
        .lock_exclusive()
        .into_tuple()
        .one(&txn)
        .await?
        .ok_or(DbErr::RecordNotFound("event sequence counter".into()))?;
    // Raw: numbering rows by a window function in an `update ... from` is one set-based
    // statement; sea-query has no `update ... from`.
    let numbered = txn
        .execute_raw(stmt(
            "with batch as (
                 select id, row_number() over (order by id) as n from scim.events
                 where tenant_id = $1 and sequence is null order by id limit $3)
             update scim.events e set sequence = $2 + b.n, sequenced_at = now()
             from batch b where e.id = b.id",
            [tenant.into(), last.into(), BATCH.into()],
        ))
        .await?
        .rows_affected();
    if numbered > 0 {
        scim_event_sequence::Entity::update_many()
            .col_expr(
                scim_event_sequence::Column::Last,
                Expr::col(scim_event_sequence::Column::Last).add(numbered as i64),
            )
            .filter(scim_event_sequence::Column::TenantId.eq(tenant))
            .exec(&txn)
            .await?;
        // Other processes (push deliverers) hear of it on commit.
        txn.execute_raw(stmt(
            "select pg_notify('scim_events', $1)",
            [tenant.to_string().into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(numbered)
}

/// Deletes up to [`PURGE_LIMIT`] events older than `retention`.
pub async fn purge(db: &DatabaseConnection, retention: Duration) -> Result<u64, DbErr> {
    let expired = Query::select()
        .column(Column::Id)
        .from(Entity.table_ref())
        .and_where(Expr::col(Column::CreatedAt).lt(Expr::current_timestamp().sub(interval(retention))))
        .limit(PURGE_LIMIT)
        .take();
    let res = Entity::delete_many()
        .filter(Column::Id.in_subquery(expired))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Announcements of numbered events, heard on a connection of its own (`LISTEN`). Lost
/// announcements cost only latency: listeners also look on a timer.
pub struct Announcements {
    url: String,
    listener: Option<sea_orm::sqlx::postgres::PgListener>,
}

impl Announcements {
    pub async fn listen(url: &str) -> Self {
        let mut a = Self {
            url: url.to_owned(),
            listener: None,
        };
        a.connect().await;
        a
    }

    async fn connect(&mut self) {
        use sea_orm::sqlx::postgres::PgListener;
        match PgListener::connect(&self.url).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => self.listener = Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "could not listen for event announcements; looking on a timer")
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not listen for event announcements; looking on a timer")
            }
        }
    }

    /// Resolves at the next announcement, or after `timeout`.
    pub async fn next(&mut self, timeout: std::time::Duration) {
        if self.listener.is_none() {
            self.connect().await;
        }
        match &mut self.listener {
            Some(l) => {
                if let Ok(Err(e)) = tokio::time::timeout(timeout, l.recv()).await {
                    tracing::debug!(error = %e, "event announcements lost; listening again");
                    self.listener = None;
                }
            }
            None => tokio::time::sleep(timeout).await,
        }
    }
}

/// Up to `limit` numbered events of a tenant after `position`, in order.
pub async fn after(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    position: i64,
    limit: u64,
) -> Result<Vec<scim_event::Model>, DbErr> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Sequence.gt(position))
        .order_by_asc(Column::Sequence)
        .limit(limit)
        .all(db)
        .await
}

/// The events of a tenant with these numbers, in order.
pub async fn numbered(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    sequences: &[i64],
) -> Result<Vec<scim_event::Model>, DbErr> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Sequence.is_in(sequences.iter().copied()))
        .order_by_asc(Column::Sequence)
        .all(db)
        .await
}

/// The position a stream replaying from `from` starts after: just before the first event
/// recorded at or after `from`, or the tenant's last number when there is none.
pub async fn position_before(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    from: chrono::DateTime<chrono::Utc>,
) -> Result<i64, DbErr> {
    let first: Option<Option<i64>> = Entity::find()
        .select_only()
        .expr(Expr::col(Column::Sequence).min())
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Sequence.is_not_null())
        .filter(Column::CreatedAt.gte(from))
        .into_tuple()
        .one(db)
        .await?;
    match first.flatten() {
        Some(n) => Ok(n - 1),
        None => last_number(db, tenant).await,
    }
}

/// The last number given in a tenant (0 before the first).
pub async fn last_number(db: &impl ConnectionTrait, tenant: Uuid) -> Result<i64, DbErr> {
    Ok(scim_event_sequence::Entity::find_by_id(tenant)
        .one(db)
        .await?
        .map_or(0, |c| c.last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Json) -> serde_json::Map<String, Json> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn changed_names_top_level_and_extension_attributes() {
        let before = doc(json!({"userName": "a", "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x", "division": "d"}}));
        let after = doc(json!({"userName": "a", "active": false, "title": "t",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "y", "division": "d"}}));
        assert_eq!(
            changed(Some(&before), &after),
            [
                "active",
                "title",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
            ]
        );
        assert_eq!(changed(None, &doc(json!({"userName": "a"}))), ["userName"]);
    }

    #[test]
    fn the_json_record_names_the_columns_in_order() {
        let names: Vec<&str> = RECORD_TYPE
            .split(',')
            .map(|c| c.split_whitespace().next().unwrap_or_default())
            .collect();
        assert_eq!(names.join(", "), column_list());
        let ev = Recorded {
            txn: Uuid::nil(),
            resource_type: "User",
            resource_id: Uuid::nil(),
            external_id: None,
            method: "POST",
            activation: None,
            attributes: vec!["userName".into()],
            data: None,
            version: Some("W/\"1\"".into()),
        };
        let j = json(Uuid::nil(), &ev);
        let keys: Vec<&str> = j
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, sorted);
    }

    #[test]
    fn the_cte_numbers_its_parameters_from_first() {
        let sql = cte("e", 12, 1, "u");
        assert!(
            sql.starts_with("e as (insert into scim.events (tenant_id, txn, "),
            "{sql}"
        );
        assert!(
            sql.contains(
                "select $12, $13, $14, $15, $16, $17, $18, $19, $20, $21 where exists (select 1 from u) and"
            ),
            "{sql}"
        );
        assert!(sql.ends_with("s.tenant_id = $1) returning 1)"), "{sql}");
    }
}
