//! A tenant's mapping of SCIM attributes into `product.users` (`scim.tenant_mappings`): checking
//! rules against the tenant's schemas, the dry run that counts what a new mapping would change,
//! and the backfill that sends every user to the workers again after a change, in pages, from
//! a background task that a restarted api resumes.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Map, Value, json};
use shared::domain::mapping::{self, Mapping, Rule};
use shared::domain::user::snapshot_mapped;
use shared::entity::scim_tenant_mapping::{ActiveModel, Column, Entity, Model};
use shared::entity::{scim_tenant, scim_user};
use shared::messages::{ChangeMessage, Operation, Resource, UserSnapshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::outbox::{self, dispatch::Dispatcher};
use crate::scim::filter::parse_attr_path;
use crate::scim::schema::{Mutability, ResourceSchema};

/// Users read (dry run) or sent (backfill) per page.
const PAGE: u64 = 500;
/// How long a backfill is held by the process working on it (renewed with every page).
const LEASE: Duration = Duration::from_secs(30);
/// Users shown before and after in a dry run.
const SAMPLE: usize = 5;

/// Checks rules against the tenant's User schemas; returns them with canonical attribute names.
pub fn check(schema: &ResourceSchema, rules: &[Rule]) -> Result<Vec<Rule>, String> {
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for r in rules {
        let to = r.to.trim();
        let rule = Rule {
            from: canonical(schema, &r.from)?,
            to: to.to_owned(),
        };
        if rule.target().is_none() {
            return Err(format!(
                "'{to}' is not a product column a mapping may fill ({}) nor attributes.<key> (letters, digits, '_', '-')",
                mapping::COLUMNS.join(", ")
            ));
        }
        if out.iter().any(|o| o.to == rule.to) {
            return Err(format!("two rules fill '{to}'"));
        }
        out.push(rule);
    }
    Ok(out)
}

/// The canonical spelling of a SCIM attribute path the tenant's users can hold.
fn canonical(schema: &ResourceSchema, from: &str) -> Result<String, String> {
    let path = parse_attr_path(from).map_err(|e| e.detail)?;
    let unknown = || format!("'{from}' is not an attribute of this tenant's users");
    let (prefix, attr) = match &path.urn {
        Some(urn) if !schema.is_core_urn(urn) => {
            let (urn, attrs) = schema.extension(urn).ok_or_else(unknown)?;
            let attr = crate::scim::schema::find(attrs, &path.attr).ok_or_else(unknown)?;
            (format!("{urn}:"), attr)
        }
        _ => (String::new(), schema.core_attr(&path.attr).ok_or_else(unknown)?),
    };
    if attr.mutability == Mutability::WriteOnly || ["id", "meta", "groups"].contains(&attr.name) {
        return Err(format!(
            "'{from}' is not stored with the user, so it cannot be mapped"
        ));
    }
    let mut out = format!("{prefix}{}", attr.name);
    if let Some(sub) = &path.sub {
        let sub = attr.sub_attr(sub).ok_or_else(unknown)?;
        out.push('.');
        out.push_str(sub.name);
    }
    Ok(out)
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(tenant).one(db).await
}

/// The product-facing part of a snapshot, as a dry run shows it.
fn product_row(s: &UserSnapshot) -> Value {
    json!({
        "department": s.department,
        "job_title": s.title,
        "employee_number": s.employee_number,
        "cost_center": s.cost_center,
        "organization": s.organization,
        "division": s.division,
        "attributes": s.attributes.clone().unwrap_or_default(),
    })
}

/// What a new mapping would change, from the directory (the product is assumed in step with it,
/// which `scim-worker verify` checks).
#[derive(Debug, Default)]
pub struct DryRun {
    pub users: u64,
    pub changed: u64,
    pub sample: Vec<Value>,
}

pub async fn dry_run(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    old: &Mapping,
    new: &Mapping,
) -> Result<DryRun, DbErr> {
    let mut out = DryRun::default();
    let mut after = Uuid::nil();
    loop {
        let page = users_after(db, tenant, after).await?;
        for (id, doc, _, deleted) in &page {
            out.users += 1;
            let before = product_row(&snapshot_mapped(doc, *deleted, old));
            let then = product_row(&snapshot_mapped(doc, *deleted, new));
            if before != then {
                out.changed += 1;
                if out.sample.len() < SAMPLE {
                    out.sample
                        .push(json!({"id": id, "before": before, "after": then}));
                }
            }
        }
        match page.last() {
            Some((id, ..)) if page.len() as u64 == PAGE => after = *id,
            _ => return Ok(out),
        }
    }
}

/// A page of the tenant's users (tombstones too: the product keeps them), in id order.
async fn users_after(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    after: Uuid,
) -> Result<Vec<(Uuid, Map<String, Value>, i64, bool)>, DbErr> {
    let rows: Vec<(Uuid, Value, i64, Option<chrono::DateTime<chrono::FixedOffset>>)> =
        scim_user::Entity::find()
            .select_only()
            .columns([
                scim_user::Column::Id,
                scim_user::Column::Resource,
                scim_user::Column::Version,
                scim_user::Column::DeletedAt,
            ])
            .filter(scim_user::Column::TenantId.eq(tenant))
            .filter(scim_user::Column::Id.gt(after))
            .order_by_asc(scim_user::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, doc, version, deleted_at)| {
            let doc = match doc {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            (id, doc, version, deleted_at.is_some())
        })
        .collect())
}

/// Stores a new mapping and starts its backfill over `users` users; bumps the tenant's
/// `schemas_version`, so that new changes use the mapping at once.
pub async fn put(db: &DatabaseConnection, tenant: Uuid, rules: &[Rule], users: u64) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let row = ActiveModel {
        tenant_id: Set(tenant),
        rules: Set(serde_json::to_value(rules).unwrap_or_default()),
        updated_at: Set(Utc::now().into()),
        backfill_total: Set(users as i64),
        backfill_done: Set(0),
        backfill_after: Set(None),
        backfill_started_at: Set(Some(Utc::now().into())),
        backfill_finished_at: Set(None),
        lease_until: Set(None),
    };
    Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::TenantId)
                .update_columns([
                    Column::Rules,
                    Column::UpdatedAt,
                    Column::BackfillTotal,
                    Column::BackfillDone,
                    Column::BackfillAfter,
                    Column::BackfillStartedAt,
                    Column::BackfillFinishedAt,
                    Column::LeaseUntil,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    scim_tenant::Entity::update_many()
        .col_expr(
            scim_tenant::Column::SchemasVersion,
            Expr::col(scim_tenant::Column::SchemasVersion).add(1),
        )
        .filter(scim_tenant::Column::Id.eq(tenant))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// Runs backfills until shutdown: claims one that is unfinished and not held, sends its next
/// page of users, and so on.
pub fn spawn(
    db: DatabaseConnection,
    dispatcher: Dispatcher,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let worked = match claim(&db).await {
                Ok(Some(m)) => match backfill(&db, &dispatcher, m, &shutdown).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "mapping backfill interrupted; it resumes where it stopped");
                        false
                    }
                },
                Ok(None) => false,
                Err(e) => {
                    tracing::debug!(error = %e, "could not look for mapping backfills");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    })
}

/// Takes an unfinished backfill nobody holds.
async fn claim(db: &DatabaseConnection) -> Result<Option<Model>, DbErr> {
    use sea_orm::sea_query::{LockBehavior, LockType};
    let txn = db.begin().await?;
    let found = Entity::find()
        .filter(Column::BackfillStartedAt.is_not_null())
        .filter(Column::BackfillFinishedAt.is_null())
        .filter(
            Expr::col(Column::LeaseUntil)
                .is_null()
                .or(Expr::col(Column::LeaseUntil).lt(Expr::current_timestamp())),
        )
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .one(&txn)
        .await?;
    let Some(m) = found else {
        return Ok(None);
    };
    let until = Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default();
    Entity::update_many()
        .col_expr(Column::LeaseUntil, Expr::val(until))
        .filter(Column::TenantId.eq(m.tenant_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(m))
}

/// Sends the claimed backfill's users page by page. Each page (its outbox rows and the cursor)
/// is one transaction, written only while the backfill is still the one claimed (a newer
/// mapping restarts it; this one then stops).
async fn backfill(
    db: &DatabaseConnection,
    dispatcher: &Dispatcher,
    claimed: Model,
    shutdown: &CancellationToken,
) -> Result<(), DbErr> {
    let tenant = claimed.tenant_id;
    let started = claimed.backfill_started_at;
    let rules: Vec<Rule> = serde_json::from_value(claimed.rules).unwrap_or_default();
    let mapping = Mapping { rules };
    let mut after = claimed.backfill_after.unwrap_or_else(Uuid::nil);
    let mut done = claimed.backfill_done;
    tracing::info!(tenant_id = %tenant, done, total = claimed.backfill_total, "mapping backfill running");
    loop {
        if shutdown.is_cancelled() {
            release(db, tenant).await?;
            return Ok(());
        }
        let page = users_after(db, tenant, after).await?;
        let txn = db.begin().await?;
        let msgs: Vec<ChangeMessage> = page
            .iter()
            .map(|(id, doc, version, deleted)| ChangeMessage {
                reapply: true,
                ..ChangeMessage::new(
                    tenant,
                    *id,
                    *version,
                    Operation::Updated,
                    Utc::now(),
                    Resource::User(snapshot_mapped(doc, *deleted, &mapping)),
                )
            })
            .collect();
        let msgs = crate::deprovisioning::backfilled(&txn, tenant, msgs).await?;
        let out = outbox::enqueue_many(&txn, &msgs).await?;
        let last = page.last().map(|(id, ..)| *id);
        let finished = (page.len() as u64) < PAGE;
        done += page.len() as i64;
        // Held for another lease while there is more; let go when finished.
        let until = (!finished).then(|| Utc::now() + chrono::Duration::from_std(LEASE).unwrap_or_default());
        let mut update = Entity::update_many()
            .col_expr(Column::BackfillDone, Expr::val(done))
            .col_expr(Column::BackfillAfter, Expr::val(last.or(Some(after))))
            .col_expr(Column::LeaseUntil, Expr::val(until))
            .filter(Column::TenantId.eq(tenant))
            .filter(Column::BackfillStartedAt.eq(started));
        if finished {
            update = update.col_expr(Column::BackfillFinishedAt, Expr::current_timestamp());
        }
        if update.exec(&txn).await?.rows_affected == 0 {
            // A newer mapping restarted the backfill: this page is not sent.
            txn.rollback().await?;
            tracing::info!(tenant_id = %tenant, "mapping changed during its backfill; the new one takes over");
            return Ok(());
        }
        txn.commit().await?;
        metrics::counter!("scim_mapping_backfill_users_total").increment(out.len() as u64);
        dispatcher.send(out);
        match last {
            Some(id) if !finished => after = id,
            _ => {
                tracing::info!(tenant_id = %tenant, users = done, "mapping backfill finished");
                return Ok(());
            }
        }
    }
}

async fn release(db: &DatabaseConnection, tenant: Uuid) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(
            Column::LeaseUntil,
            Expr::val(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(Column::TenantId.eq(tenant))
        .exec(db)
        .await
        .map(|_| ())
}

/// The rules of a stored mapping.
pub fn rules_of(m: &Model) -> Vec<Rule> {
    serde_json::from_value(m.rules.clone()).unwrap_or_default()
}
