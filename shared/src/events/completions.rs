//! Asynchronous requests (RFC 9967 §3): a write answered `202 Accepted` is opened in its own
//! transaction with the ids of the change messages it produced; workers settle each message once
//! the product applied or dead-lettered it; when none is left the request is complete, and its
//! `misc:asyncresp` SET (the payload of one Bulk response operation, RFC 7644 §3.7.3) can be
//! fetched at the `Location` the 202 named.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::db::{interval, stmt};
use crate::entity::scim_async_request::{self, ActiveModel, Column, Entity, Model};
use crate::entity::scim_async_request_part;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// The event URI of a completion.
pub const ASYNC_RESPONSE: &str = "urn:ietf:params:scim:event:misc:asyncresp";

/// What the client of a failed request is told: the change is in the directory (a read shows
/// it), the product did not take it. The dead letter's own reason stays in the operators' logs.
const FAILED: &str = "the change was stored, but the product could not apply it; it is held for an \
                      operator to replay";

/// A write being answered asynchronously.
#[derive(Debug, Clone)]
pub struct Opened {
    /// Its `Set-Txn`, the `txn` of its SETs.
    pub txn: Uuid,
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// `User` or `Group`.
    pub resource_type: &'static str,
    pub resource_id: Uuid,
    /// The resource's ETag after the write; none for a delete.
    pub version: Option<String>,
    /// The change messages the write produced (none: it changed nothing, so it is complete).
    pub messages: Vec<Uuid>,
}

/// Records an asynchronous request inside the transaction of its write.
pub async fn open(db: &impl ConnectionTrait, tenant: Uuid, req: &Opened) -> Result<(), DbErr> {
    let row = ActiveModel {
        txn: Set(req.txn),
        tenant_id: Set(tenant),
        method: Set(req.method.to_owned()),
        resource_type: Set(req.resource_type.to_owned()),
        resource_id: Set(req.resource_id),
        version: Set(req.version.clone()),
        completed_at: Set(req.messages.is_empty().then(|| chrono::Utc::now().into())),
        ..Default::default()
    };
    Entity::insert(row).exec_without_returning(db).await?;
    if !req.messages.is_empty() {
        // Raw: one statement for any number of parts (a 20,000-member group write has as many
        // messages, more than a multi-row insert may bind).
        db.execute_raw(stmt(
            "insert into scim.async_request_parts (txn, message_id) select $1, unnest($2::uuid[])",
            [req.txn.into(), req.messages.clone().into()],
        ))
        .await?;
    }
    Ok(())
}

/// A change message of an asynchronous request that the product applied (`failure` none) or
/// dead-lettered.
#[derive(Debug, Clone)]
pub struct Settled {
    pub txn: Uuid,
    pub message_id: Uuid,
    pub failure: Option<String>,
}

/// Settles messages; a request whose last message is settled becomes complete. Idempotent: a
/// message applied twice (redelivered after a crash before its ack) is settled once.
pub async fn settle(db: &DatabaseConnection, settled: &[Settled]) -> Result<(), DbErr> {
    let mut by_txn: BTreeMap<Uuid, Vec<&Settled>> = BTreeMap::new();
    for s in settled {
        by_txn.entry(s.txn).or_default().push(s);
    }
    for (txn_id, parts) in by_txn {
        let txn = db.begin().await?;
        // The request's row lock orders the workers settling its messages, so that exactly the
        // last one sees no part left.
        let open = Entity::find_by_id(txn_id)
            .select_only()
            .column(Column::Txn)
            .lock_exclusive()
            .into_tuple::<Uuid>()
            .one(&txn)
            .await?;
        if open.is_none() {
            // Purged, or its tenant deleted: nobody can ask any more.
            continue;
        }
        let ids: Vec<Uuid> = parts.iter().map(|p| p.message_id).collect();
        let gone = scim_async_request_part::Entity::delete_many()
            .filter(scim_async_request_part::Column::Txn.eq(txn_id))
            .filter(scim_async_request_part::Column::MessageId.is_in(ids))
            .exec(&txn)
            .await?
            .rows_affected;
        let failure = parts.iter().find_map(|p| p.failure.clone());
        if gone > 0 {
            let left = scim_async_request_part::Entity::find()
                .filter(scim_async_request_part::Column::Txn.eq(txn_id))
                .limit(1)
                .one(&txn)
                .await?;
            let mut update = Entity::update_many().filter(Column::Txn.eq(txn_id));
            if let Some(f) = failure {
                update = update.col_expr(Column::Failure, Expr::col(Column::Failure).if_null(Expr::val(f)));
            }
            if left.is_none() {
                update = update.col_expr(Column::CompletedAt, Expr::current_timestamp());
            }
            update.exec(&txn).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

/// A tenant's asynchronous request.
pub async fn get(db: &impl ConnectionTrait, tenant: Uuid, txn: Uuid) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id(txn)
        .filter(Column::TenantId.eq(tenant))
        .one(db)
        .await
}

/// Deletes requests opened longer than `retention` ago (with their parts).
pub async fn purge(db: &impl ConnectionTrait, retention: Duration) -> Result<u64, DbErr> {
    let res = Entity::delete_many()
        .filter(Expr::col(Column::CreatedAt).lt(Expr::current_timestamp().sub(interval(retention))))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// The status the write would have answered synchronously.
fn success_status(method: &str) -> &'static str {
    match method {
        "POST" => "201",
        "DELETE" => "204",
        _ => "200",
    }
}

/// The claims of a complete request's `misc:asyncresp` SET. `issuer` is the SCIM base URL the
/// client calls; the SET is fetched over the client's own authenticated request, so it names no
/// audience (`aud` is optional, RFC 8417 §2.2).
pub fn claims(req: &scim_async_request::Model, issuer: &str, iat: i64) -> Value {
    let path = format!("/{}s/{}", req.resource_type, req.resource_id);
    let mut outcome = json!({"method": req.method});
    match &req.failure {
        None => {
            outcome["status"] = json!(success_status(&req.method));
            if req.method != "DELETE" {
                outcome["location"] = json!(format!("{issuer}{path}"));
                outcome["version"] = json!(req.version);
            }
        }
        Some(_) => {
            outcome["status"] = json!("500");
            outcome["response"] = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "500",
                "detail": FAILED,
            });
        }
    }
    json!({
        "iss": issuer,
        "iat": iat,
        "jti": Uuid::new_v5(&req.txn, b"asyncresp").simple().to_string(),
        "txn": req.txn.simple().to_string(),
        "sub_id": {"format": "scim", "uri": path},
        "events": {ASYNC_RESPONSE: outcome},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, failure: Option<&str>) -> Model {
        Model {
            txn: Uuid::nil(),
            tenant_id: Uuid::nil(),
            method: method.into(),
            resource_type: "User".into(),
            resource_id: Uuid::nil(),
            version: Some("W/\"2\"".into()),
            created_at: chrono::Utc::now().into(),
            completed_at: Some(chrono::Utc::now().into()),
            failure: failure.map(str::to_owned),
        }
    }

    #[test]
    fn a_completion_is_a_bulk_operation_response() {
        let c = claims(&request("POST", None), "https://s.example/scim/v2", 1);
        let e = &c["events"][ASYNC_RESPONSE];
        assert_eq!(e["method"], "POST");
        assert_eq!(e["status"], "201");
        assert_eq!(e["version"], "W/\"2\"");
        assert_eq!(
            e["location"],
            format!("https://s.example/scim/v2/Users/{}", Uuid::nil())
        );
        assert_eq!(c["sub_id"]["uri"], format!("/Users/{}", Uuid::nil()));
        assert!(e.get("response").is_none());
        let d = claims(&request("DELETE", None), "https://s.example/scim/v2", 1);
        assert_eq!(d["events"][ASYNC_RESPONSE]["status"], "204");
        assert!(d["events"][ASYNC_RESPONSE].get("location").is_none());
    }

    #[test]
    fn a_failure_carries_a_scim_error_without_the_internal_reason() {
        let c = claims(
            &request("PATCH", Some("violates check constraint")),
            "https://s",
            1,
        );
        let e = &c["events"][ASYNC_RESPONSE];
        assert_eq!(e["status"], "500");
        assert_eq!(e["response"]["status"], "500");
        assert!(!e.to_string().contains("constraint"), "{e}");
    }
}
