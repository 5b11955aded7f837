//! The deprovisioning guard's rules. One wrong scope change in an IdP deactivates a whole
//! company in minutes, sent as ordinary SCIM; the directory records it and the IdP gets its
//! normal answers, but the product applies a mass deprovisioning only when a person approves it.
//!
//! A deprovisioning is a user's deactivation (`active` turned false) or the delete of an active
//! user. Within a tenant's window, deprovisionings beyond both `min_count` and `max_fraction` of
//! the tenant's active users (as they were before the window's deprovisionings) are held, and
//! once one is held every further one is held too, until the tenant's admin approves or rejects
//! them. Protected accounts are never deprovisioned in the product by SCIM. With a grace period,
//! a deprovisioning reaches the product only after it, and a reactivation within it cancels it.
//! The api applies these rules as it writes; `scim-worker verify` and `reconcile` read them so
//! that held, rejected and protected users are reported as such, not as drift.

use serde::{Deserialize, Serialize};

/// Longest window and grace period: a week.
pub const MAX_MINUTES: i32 = 7 * 24 * 60;
/// Most protected accounts a tenant may list.
pub const MAX_PROTECTED: usize = 1000;

/// A tenant's policy, as the admin API takes and shows it; absent fields take the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `false` turns the guard off for the tenant: every change goes to the product at once.
    pub enabled: bool,
    /// Deprovisionings within the window may reach this fraction of the tenant's active users
    /// (0 < x ≤ 1)...
    pub max_fraction: f64,
    /// ... or this many, whichever is more, before the rest is held.
    pub min_count: i32,
    /// The sliding window deprovisionings are counted in, in minutes (1 to 10,080).
    pub window_minutes: i32,
    /// How long a deprovisioning waits before it reaches the product (0: not at all; at most
    /// 10,080); a reactivation within it cancels it.
    pub grace_minutes: i32,
    /// userNames (compared case-insensitively) never deactivated or deleted in the product by
    /// SCIM: break-glass admins.
    pub protected: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_fraction: 0.1,
            min_count: 25,
            window_minutes: 60,
            grace_minutes: 0,
            protected: Vec::new(),
        }
    }
}

impl Policy {
    /// Why the policy cannot be stored, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(self.max_fraction > 0.0 && self.max_fraction <= 1.0) {
            return Err(format!(
                "max_fraction must be above 0 and at most 1, not {}",
                self.max_fraction
            ));
        }
        if self.min_count < 0 {
            return Err(format!("min_count must not be negative, not {}", self.min_count));
        }
        if !(1..=MAX_MINUTES).contains(&self.window_minutes) {
            return Err(format!(
                "window_minutes must be between 1 and {MAX_MINUTES}, not {}",
                self.window_minutes
            ));
        }
        if !(0..=MAX_MINUTES).contains(&self.grace_minutes) {
            return Err(format!(
                "grace_minutes must be between 0 and {MAX_MINUTES}, not {}",
                self.grace_minutes
            ));
        }
        if self.protected.len() > MAX_PROTECTED {
            return Err(format!(
                "at most {MAX_PROTECTED} protected accounts, not {}",
                self.protected.len()
            ));
        }
        if let Some(bad) = self
            .protected
            .iter()
            .find(|n| n.trim().is_empty() || n.len() > 256)
        {
            return Err(format!(
                "protected userNames must be 1 to 256 characters, not {bad:?}"
            ));
        }
        Ok(())
    }

    /// How many deprovisionings the window may hold before the next one is held, for a tenant
    /// whose active users numbered `base` before them: the larger of the two limits, so a
    /// change must exceed both to be held.
    pub fn allowed(&self, base: i64) -> i64 {
        let fraction = (self.max_fraction * base.max(0) as f64).floor() as i64;
        fraction.max(i64::from(self.min_count))
    }

    /// Whether `user_name` is a protected account.
    pub fn protects(&self, user_name: &str) -> bool {
        self.protected
            .iter()
            .any(|p| p.to_lowercase() == user_name.to_lowercase())
    }

    /// The tenant's policy; the defaults when it has set none.
    pub async fn of_tenant(
        db: &impl sea_orm::ConnectionTrait,
        tenant: uuid::Uuid,
    ) -> Result<Self, sea_orm::DbErr> {
        use sea_orm::EntityTrait;
        let row = crate::entity::scim_deprovisioning_guard::Entity::find_by_id(tenant)
            .one(db)
            .await?;
        Ok(Self::of_row(row))
    }

    /// The policy a stored row says; the defaults when there is none.
    pub fn of_row(row: Option<crate::entity::scim_deprovisioning_guard::Model>) -> Self {
        row.map(|r| Self {
            enabled: r.enabled,
            max_fraction: r.max_fraction,
            min_count: r.min_count,
            window_minutes: r.window_minutes,
            grace_minutes: r.grace_minutes,
            protected: r.protected,
        })
        .unwrap_or_default()
    }
}

/// What a deprovisioning does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Deactivate,
    Delete,
}

impl Kind {
    /// A stored kind; anything but `delete` is a deactivation.
    pub fn parse(s: &str) -> Self {
        if s == "delete" {
            Kind::Delete
        } else {
            Kind::Deactivate
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deactivate => "deactivate",
            Kind::Delete => "delete",
        }
    }
}

/// What became of a deprovisioning (`scim.deprovisions.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Sent to the product at once.
    Passed,
    /// Waiting out the grace period.
    Grace,
    /// Sent when its grace period ended.
    Released,
    /// Over the threshold: waiting for approve or reject.
    Held,
    Approved,
    /// The product keeps the user until the IdP changes it again.
    Rejected,
    /// The user was reactivated before the change reached the product.
    Cancelled,
    /// An attempt on a protected account: never sent.
    Protected,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Passed,
        State::Grace,
        State::Released,
        State::Held,
        State::Approved,
        State::Rejected,
        State::Cancelled,
        State::Protected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Passed => "passed",
            State::Grace => "grace",
            State::Released => "released",
            State::Held => "held",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Cancelled => "cancelled",
            State::Protected => "protected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Counted against the window: changes that reached (or will reach) the product unasked.
    pub const COUNTED: [State; 3] = [State::Passed, State::Grace, State::Released];
    /// A user has at most one of these at a time; the product does not have the user's latest
    /// change while it lasts.
    pub const OPEN: [State; 3] = [State::Grace, State::Held, State::Rejected];
}

/// Why the product may lawfully differ from the directory about a user (verify, reconcile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exception {
    /// Its deprovisioning waits for a decision: the product has it as it was before.
    Held,
    /// Its deprovisioning waits out the grace period.
    Grace,
    /// Its deprovisioning was rejected: the product keeps it until its next change.
    Rejected,
    /// A protected account: the product keeps it active (and, once deleted in the directory,
    /// as it was).
    Protected,
}

impl Exception {
    /// As reports name it (its JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            Exception::Held => "held",
            Exception::Grace => "grace",
            Exception::Rejected => "rejected",
            Exception::Protected => "protected",
        }
    }
}

/// The tenant's users the product may lawfully have otherwise than the directory says, and
/// why: those whose deprovisioning waits or was rejected, and the protected accounts the
/// directory has inactive or deleted.
pub async fn exceptions(
    directory: &impl sea_orm::ConnectionTrait,
    tenant: uuid::Uuid,
) -> Result<std::collections::HashMap<uuid::Uuid, Exception>, sea_orm::DbErr> {
    let mut out = std::collections::HashMap::new();
    let rows = directory
        .query_all_raw(crate::db::stmt(
            "select user_id, state from scim.deprovisions
             where tenant_id = $1 and state in ('grace', 'held', 'rejected')",
            [tenant.into()],
        ))
        .await?;
    for r in &rows {
        let why = match State::parse(&r.try_get_by_index::<String>(1)?) {
            Some(State::Grace) => Exception::Grace,
            Some(State::Held) => Exception::Held,
            _ => Exception::Rejected,
        };
        out.insert(r.try_get_by_index(0)?, why);
    }
    let policy = Policy::of_tenant(directory, tenant).await?;
    if policy.enabled && !policy.protected.is_empty() {
        // `user_name_key` is the userName folded to lower case, as `protects` compares.
        let names: Vec<String> = policy.protected.iter().map(|n| n.to_lowercase()).collect();
        let rows = directory
            .query_all_raw(crate::db::stmt(
                "select id from scim.users where tenant_id = $1 and user_name_key = any($2)
                   and (not active or deleted_at is not null)",
                [tenant.into(), names.into()],
            ))
            .await?;
        for r in &rows {
            out.entry(r.try_get_by_index(0)?).or_insert(Exception::Protected);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_held_only_beyond_both_limits() {
        let p = Policy::default();
        assert_eq!(p.allowed(100), 25, "10% of 100 is below min_count");
        assert_eq!(p.allowed(20_000), 2_000);
        assert_eq!(p.allowed(0), 25);
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        let bad = |f: fn(&mut Policy)| {
            let mut p = Policy::default();
            f(&mut p);
            p.check().unwrap_err()
        };
        assert!(bad(|p| p.max_fraction = 0.0).contains("max_fraction"));
        assert!(bad(|p| p.max_fraction = 1.5).contains("max_fraction"));
        assert!(bad(|p| p.min_count = -1).contains("min_count"));
        assert!(bad(|p| p.window_minutes = 0).contains("window_minutes"));
        assert!(bad(|p| p.grace_minutes = MAX_MINUTES + 1).contains("grace_minutes"));
        assert!(bad(|p| p.protected = vec![" ".into()]).contains("protected"));
        assert_eq!(Policy::default().check(), Ok(()));
    }

    #[test]
    fn protected_names_match_case_insensitively() {
        let p = Policy {
            protected: vec!["Break.Glass@Acme.test".into()],
            ..Policy::default()
        };
        assert!(p.protects("break.glass@acme.test"));
        assert!(!p.protects("someone@acme.test"));
    }

    #[test]
    fn unknown_fields_are_refused_and_missing_ones_default() {
        let p: Policy = serde_json::from_str(r#"{"min_count": 5}"#).unwrap();
        assert_eq!(p.min_count, 5);
        assert!(p.enabled);
        assert!(serde_json::from_str::<Policy>(r#"{"max_fraktion": 0.2}"#).is_err());
    }
}
