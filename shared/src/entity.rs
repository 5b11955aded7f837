//! sea-orm entities: one module per table of the `scim` schema (the directory, owned by the api)
//! and of the `product` schema (what the rest of the product reads, owned by the worker), named
//! `<schema>_<row>`. Their columns are checked against the migrated tables by
//! `shared/tests/schema/drift.rs`, which also fails when a table has no entity here.

pub mod product_group;
pub mod product_group_child;
pub mod product_group_effective_member;
pub mod product_group_member;
pub mod product_group_version;
pub mod product_membership_version;
pub mod product_nested_tenant;
pub mod product_nesting_version;
pub mod product_role_mapping;
pub mod product_user;
pub mod product_user_entitlement;
pub mod product_user_role;
pub mod scim_admin_session;
pub mod scim_api_token;
pub mod scim_async_request;
pub mod scim_async_request_part;
pub mod scim_audit;
pub mod scim_auth_ack;
pub mod scim_auth_listener;
pub mod scim_deprovision;
pub mod scim_deprovisioning_guard;
pub mod scim_event;
pub mod scim_event_error;
pub mod scim_event_pending;
pub mod scim_event_sequence;
pub mod scim_event_stream;
pub mod scim_group;
pub mod scim_group_child;
pub mod scim_group_member;
pub mod scim_group_member_ref;
pub mod scim_outbox;
pub mod scim_signing_key;
pub mod scim_tenant;
pub mod scim_tenant_access;
pub mod scim_tenant_mapping;
pub mod scim_tenant_role_mapping;
pub mod scim_tenant_schema;
pub mod scim_user;
