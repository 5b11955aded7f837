//! The keys that sign SETs, kept in `scim.signing_keys` so that every replica signs with the
//! same key and publishes the same set. The newest unretired key signs. `rotate` retires it and
//! adds a new one; a retired key stays published (`/.well-known/jwks.json`) for a grace period,
//! so that a SET signed just before a rotation still verifies wherever it is read later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::jws;
use crate::db::interval;
use crate::entity::scim_signing_key::{ActiveModel, Column, Entity, Model};

pub const ALGORITHM: &str = "EdDSA";

/// How long a retired key stays published by default: as long as a SET may wait for delivery.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A key that signs.
pub struct Signing {
    pub kid: String,
    key: SigningKey,
}

impl Signing {
    /// The compact JWS of `claims`, typed `secevent+jwt` (RFC 8417 §2.3).
    pub fn sign(&self, claims: &Value) -> String {
        jws::sign(&self.key, &self.kid, "secevent+jwt", claims)
    }

    fn from_row(row: &Model) -> Result<Self, DbErr> {
        let seed: [u8; 32] =
            row.private_key.as_slice().try_into().map_err(|_| {
                DbErr::Custom(format!("signing key {} is not a 32-byte Ed25519 seed", row.kid))
            })?;
        Ok(Self {
            kid: row.kid.clone(),
            key: SigningKey::from_bytes(&seed),
        })
    }
}

fn generate() -> (String, ActiveModel) {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    // A time-ordered id: the newest key is also the greatest kid, which reads well in a JWKS.
    let kid = uuid::Uuid::now_v7().simple().to_string();
    let row = ActiveModel {
        public_jwk: Set(jws::public_jwk(&key, &kid)),
        kid: Set(kid.clone()),
        algorithm: Set(ALGORITHM.to_owned()),
        private_key: Set(seed.to_vec()),
        ..Default::default()
    };
    (kid, row)
}

/// The signing key; the first is made on first use (two replicas racing both make one, and the
/// newer signs: both are published).
pub async fn signing(db: &impl ConnectionTrait) -> Result<Signing, DbErr> {
    let newest = Entity::find()
        .filter(Column::RetiredAt.is_null())
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Kid)
        .one(db)
        .await?;
    let row = match newest {
        Some(row) => row,
        None => {
            let (kid, made) = generate();
            Entity::insert(made).exec_without_returning(db).await?;
            tracing::info!(kid = %kid, "first SET signing key made");
            Entity::find_by_id(kid)
                .one(db)
                .await?
                .ok_or(DbErr::RecordNotInserted)?
        }
    };
    Signing::from_row(&row)
}

/// Retires every signing key and adds a new one, which signs from now on. Returns its `kid`.
pub async fn rotate(db: &DatabaseConnection) -> Result<String, DbErr> {
    let txn = db.begin().await?;
    Entity::update_many()
        .col_expr(Column::RetiredAt, Expr::current_timestamp())
        .filter(Column::RetiredAt.is_null())
        .exec(&txn)
        .await?;
    let (kid, made) = generate();
    Entity::insert(made).exec_without_returning(&txn).await?;
    txn.commit().await?;
    Ok(kid)
}

/// The public keys a receiver may need: the signing one(s), and those retired less than `grace`
/// ago. Retired keys older than that are deleted.
pub async fn published(db: &impl ConnectionTrait, grace: Duration) -> Result<Vec<Value>, DbErr> {
    let expired = Expr::col(Column::RetiredAt).lt(Expr::current_timestamp().sub(interval(grace)));
    Entity::delete_many().filter(expired).exec(db).await?;
    let rows = Entity::find().order_by_desc(Column::Kid).all(db).await?;
    Ok(rows.into_iter().map(|r| r.public_jwk).collect())
}

/// The signing key, read again from the database at most every `ttl`: a rotation takes effect
/// on every replica within that time (the old key stays published meanwhile).
pub struct Cache {
    ttl: Duration,
    current: Mutex<Option<(Instant, Arc<Signing>)>>,
}

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            current: Mutex::new(None),
        }
    }

    pub async fn signing(&self, db: &impl ConnectionTrait) -> Result<Arc<Signing>, DbErr> {
        let mut current = self.current.lock().await;
        if let Some((at, key)) = current.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(key.clone());
        }
        let key = Arc::new(signing(db).await?);
        *current = Some((Instant::now(), key.clone()));
        Ok(key)
    }
}
