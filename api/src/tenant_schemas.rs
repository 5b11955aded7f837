//! `scim.tenant_schemas`: the schema extensions a tenant defined for its users, and the User
//! schemas in force for each request. Every SCIM request learns its tenant's `schemas_version`
//! with its token (one statement); a process reloads a tenant's definitions only when that
//! version moved, so a definition change reaches every api process on the tenant's next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use shared::entity::scim_tenant_schema::{ActiveModel, Column, Entity, Model};
use shared::entity::{scim_tenant, scim_user};
use uuid::Uuid;

use crate::scim::extension::{self, Extension};
use crate::scim::schema::{Attr, ENTERPRISE_USER, ENTERPRISE_USER_SCHEMA, ResourceSchema, USER_RESOURCE};
use shared::domain::mapping::{self, Mapping};

/// A tenant's definitions, by URN (case-insensitive), in the order they were defined.
pub async fn list(db: &impl ConnectionTrait, tenant: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Urn)
        .all(db)
        .await
}

fn same_urn(urn: &str) -> sea_orm::sea_query::SimpleExpr {
    sea_orm::sea_query::Func::lower(Expr::col(Column::Urn)).eq(urn.to_lowercase())
}

pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, urn: &str) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .filter(same_urn(urn))
        .one(db)
        .await
}

/// Bumps the tenant's `schemas_version`, so that every process reloads its definitions.
async fn bump(db: &impl ConnectionTrait, tenant: Uuid) -> Result<(), DbErr> {
    scim_tenant::Entity::update_many()
        .col_expr(
            scim_tenant::Column::SchemasVersion,
            Expr::col(scim_tenant::Column::SchemasVersion).add(1),
        )
        .filter(scim_tenant::Column::Id.eq(tenant))
        .exec(db)
        .await
        .map(|_| ())
}

/// Defines or redefines an extension; whether it is new. The URN keeps the spelling it was
/// first defined with.
pub async fn put(db: &sea_orm::DatabaseConnection, tenant: Uuid, ext: &Extension) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let existing = get(&txn, tenant, &ext.urn).await?;
    let created = existing.is_none();
    match existing {
        Some(row) => {
            Entity::update_many()
                .col_expr(Column::Document, Expr::val(ext.document.clone()))
                .col_expr(Column::UpdatedAt, Expr::current_timestamp())
                .filter(Column::TenantId.eq(tenant))
                .filter(Column::Urn.eq(row.urn))
                .exec(&txn)
                .await?;
        }
        None => {
            Entity::insert(ActiveModel {
                tenant_id: Set(tenant),
                urn: Set(ext.urn.clone()),
                document: Set(ext.document.clone()),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
        }
    }
    bump(&txn, tenant).await?;
    txn.commit().await?;
    Ok(created)
}

/// Whether any live user of the tenant holds a value of the extension `urn` (stored under the
/// URN's defined spelling).
pub async fn holds_values(db: &impl ConnectionTrait, tenant: Uuid, urn: &str) -> Result<bool, DbErr> {
    let found = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::Id)
        .filter(scim_user::Column::TenantId.eq(tenant))
        .filter(scim_user::Column::DeletedAt.is_null())
        .filter(Expr::cust_with_values("resource ? $1", [urn.to_owned()]))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The first stored value that does not fit `ext` (a redefinition that changed a type, say): the
/// user and why. Users are read in pages, by id.
pub async fn first_misfit(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    ext: &Extension,
) -> Result<Option<(Uuid, String)>, DbErr> {
    const PAGE: u64 = 1000;
    let mut after = Uuid::nil();
    loop {
        let rows: Vec<(Uuid, Option<serde_json::Value>)> = scim_user::Entity::find()
            .select_only()
            .column(scim_user::Column::Id)
            .expr(Expr::cust_with_values("resource -> $1", [ext.urn.clone()]))
            .filter(scim_user::Column::TenantId.eq(tenant))
            .filter(scim_user::Column::DeletedAt.is_null())
            .filter(scim_user::Column::Id.gt(after))
            .filter(Expr::cust_with_values("resource ? $1", [ext.urn.clone()]))
            .order_by_asc(scim_user::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        for (id, value) in &rows {
            if let Some(v) = value
                && let Err(e) = crate::scim::resource::check_extension(ext.attrs, v, &ext.urn)
            {
                return Ok(Some((*id, e.detail)));
            }
        }
        match rows.last() {
            Some((id, _)) if rows.len() as u64 == PAGE => after = *id,
            _ => return Ok(None),
        }
    }
}

/// Deletes a definition (its values stay in the users' documents, unseen, and come back if the
/// URN is defined again); whether there was one.
pub async fn delete(db: &sea_orm::DatabaseConnection, tenant: Uuid, urn: &str) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let gone = Entity::delete_many()
        .filter(Column::TenantId.eq(tenant))
        .filter(same_urn(urn))
        .exec(&txn)
        .await?
        .rows_affected;
    if gone > 0 {
        bump(&txn, tenant).await?;
    }
    txn.commit().await?;
    Ok(gone > 0)
}

/// A tenant's extensions and mapping as loaded for one `schemas_version`.
#[derive(Debug)]
pub struct InForce {
    pub version: i64,
    pub user: &'static ResourceSchema,
    pub extensions: Vec<Extension>,
    pub mapping: Arc<Mapping>,
}

tokio::task_local! {
    /// The mapping of attributes in force for the request being served.
    static MAPPING: Arc<Mapping>;
}

/// Runs a SCIM request with its tenant's schemas and mapping in force.
pub async fn scoped<F: std::future::Future>(in_force: Arc<InForce>, request: F) -> F::Output {
    let user = in_force.user;
    let mapping = in_force.mapping.clone();
    crate::scim::schema::with_user_resource(user, MAPPING.scope(mapping, request)).await
}

/// The current request's tenant's mapping of attributes into the product (none outside a
/// request, or when the tenant has none).
pub fn mapping() -> Arc<Mapping> {
    MAPPING.try_with(Arc::clone).unwrap_or_default()
}

/// The User schemas in force per tenant, as last loaded by this process.
#[derive(Default)]
pub struct Cache {
    loaded: Mutex<HashMap<Uuid, Arc<InForce>>>,
}

impl Cache {
    /// The tenant's schemas at `version`: the standard ones for a tenant that never defined any,
    /// without a query.
    pub async fn in_force(
        &self,
        db: &impl ConnectionTrait,
        tenant: Uuid,
        version: i64,
    ) -> Result<Arc<InForce>, DbErr> {
        if version == 0 {
            // The common case, on every request: shared, not built anew.
            static STANDARD: OnceLock<Arc<InForce>> = OnceLock::new();
            return Ok(STANDARD
                .get_or_init(|| {
                    Arc::new(InForce {
                        version: 0,
                        user: &USER_RESOURCE,
                        extensions: Vec::new(),
                        mapping: Arc::default(),
                    })
                })
                .clone());
        }
        if let Some(hit) = self.lock().get(&tenant).filter(|c| c.version == version) {
            return Ok(hit.clone());
        }
        let mut extensions = Vec::new();
        for row in list(db, tenant).await? {
            match extension::parse(&row.urn, &row.document) {
                Ok(e) => extensions.push(e),
                // Stored documents were checked when written; one this build refuses (a rule
                // made stricter since) is left out rather than failing every request.
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, urn = %row.urn, error = %e.0, "stored schema extension refused; left out")
                }
            }
        }
        let loaded = Arc::new(InForce {
            version,
            user: user_resource_with(&extensions),
            extensions,
            mapping: Arc::new(mapping::of_tenant(db, tenant).await?),
        });
        self.lock().insert(tenant, loaded.clone());
        Ok(loaded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<InForce>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The User resource type with these extensions beside the enterprise one, made once per
/// distinct set (the definitions are interned, see `scim::extension`).
fn user_resource_with(extensions: &[Extension]) -> &'static ResourceSchema {
    type Key = Vec<(String, usize)>;
    static MADE: OnceLock<Mutex<HashMap<Key, &'static ResourceSchema>>> = OnceLock::new();
    if extensions.is_empty() {
        return &USER_RESOURCE;
    }
    let key: Key = extensions
        .iter()
        .map(|e| (e.urn.clone(), e.attrs.as_ptr() as usize))
        .collect();
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = made.get(&key) {
        return s;
    }
    let mut list: Vec<(&'static str, &'static [Attr])> = vec![(ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER)];
    for e in extensions {
        let urn: &'static str = Box::leak(e.urn.clone().into_boxed_str());
        list.push((urn, e.attrs));
    }
    let schema: &'static ResourceSchema = Box::leak(Box::new(ResourceSchema {
        extensions: Box::leak(list.into_boxed_slice()),
        ..USER_RESOURCE
    }));
    made.insert(key, schema);
    schema
}
