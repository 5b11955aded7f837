//! `product.users`: one row per SCIM user, as the rest of the product sees it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(schema_name = "product", table_name = "users")]
pub struct Model {
    /// The SCIM id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub user_name: String,
    #[sea_orm(column_type = "Text")]
    pub email: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub first_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub last_name: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub department: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub job_title: Option<String>,
    /// The resolved manager; null while `manager_ref` names nobody known yet.
    pub manager_id: Option<Uuid>,
    pub active: bool,
    /// The directory version last applied: older or repeated change messages are ignored.
    pub version: i64,
    pub updated_at: DateTimeWithTimeZone,
    /// What a manager reference may name besides the id: externalId, employee number, emails.
    #[sea_orm(column_type = "Text")]
    pub external_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub employee_number: Option<String>,
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub emails: Vec<String>,
    /// The manager reference as sent, kept while it cannot be resolved yet.
    #[sea_orm(column_type = "Text")]
    pub manager_ref: Option<String>,
    /// The enterprise extension's `costCenter`, `organization` and `division`.
    #[sea_orm(column_type = "Text")]
    pub cost_center: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub organization: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub division: Option<String>,
    /// Values of the tenant's own extensions, under the keys its mapping names.
    #[sea_orm(column_type = "JsonBinary")]
    pub attributes: Json,
    /// The roles the IdP set on the user (`roles[].value`), and the one it marked primary;
    /// `product.user_roles` holds these and the roles the tenant's role mapping gives.
    #[sea_orm(column_type = "Array(RcOrArc::new(ColumnType::Text))")]
    pub idp_roles: Vec<String>,
    #[sea_orm(column_type = "Text")]
    pub idp_primary_role: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ManagerId",
        to = "Column::Id",
        on_delete = "SetNull"
    )]
    Manager,
}

impl ActiveModelBehavior for ActiveModel {}
