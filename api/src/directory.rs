//! The SCIM directory in Postgres (`scim` schema). Every write goes through here, together with
//! its outbox row, in one transaction.

pub mod filter_sql;
pub mod group_filter;
pub mod groups;
pub mod memberships;
pub mod sort_sql;
pub mod user_filter;
pub mod users;

use crate::scim::filter::Filter;
use crate::scim::sort::Sort;

/// One page of a list or search: which resources, in which order, which slice.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub filter: Option<&'a Filter>,
    pub sort: Option<&'a Sort>,
    pub scope: Scope,
    pub offset: i64,
    pub limit: i64,
}

/// The endpoint a query runs for, which decides what an attribute the resource type does not
/// have means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/Users`, `/Groups` and their `.search`: such an attribute is a client error.
    OneType,
    /// The root `/.search` over every type: it matches nothing in this type (another type may
    /// have it; `scim::search` refuses attributes that no type has).
    AllTypes,
}
