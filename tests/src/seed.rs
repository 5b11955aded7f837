//! Large directories written straight into Postgres: tests of what happens at scale (a 20,000-user
//! tenant, a group of 10,000 members) need the data, not 20,000 POSTs.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use uuid::Uuid;

fn sql(sql: &str, values: impl IntoIterator<Item = sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, sql, values)
}

/// `n` live users of `tenant` named `{prefix}-{i}@acme.test` (i from 1), each with a work email
/// and a name, as the api would have stored them. Returns their ids in order.
pub async fn users(db: &DatabaseConnection, tenant: Uuid, prefix: &str, n: usize) -> Vec<Uuid> {
    let rows = db
        .query_all_raw(sql(
            "insert into scim.users (id, tenant_id, user_name, user_name_key, active, resource, version, created_at, updated_at)
             select gen_random_uuid(), $1, u, u, true,
                    jsonb_build_object(
                        'userName', u,
                        'active', true,
                        'name', jsonb_build_object('givenName', 'Given' || i, 'familyName', 'Family' || i),
                        'emails', jsonb_build_array(jsonb_build_object('value', u, 'type', 'work', 'primary', true))),
                    1, now(), now()
             from generate_series(1, $2) as i, lateral (select $3 || '-' || i || '@acme.test' as u) n
             order by i
             returning id",
            [tenant.into(), (n as i32).into(), prefix.to_owned().into()],
        ))
        .await
        .expect("insert users");
    rows.iter().map(|r| r.try_get("", "id").expect("id")).collect()
}

/// A live group of `tenant` whose members are `members`.
pub async fn group(db: &DatabaseConnection, tenant: Uuid, name: &str, members: &[Uuid]) -> Uuid {
    let id = Uuid::now_v7();
    db.execute_raw(sql(
        "insert into scim.groups (id, tenant_id, display_name, display_name_key, resource, version, revision, created_at, updated_at)
         values ($1, $2, $3, lower($3), jsonb_build_object('displayName', $3::text), 1, 1, now(), now())",
        [id.into(), tenant.into(), name.to_owned().into()],
    ))
    .await
    .expect("insert group");
    db.execute_raw(sql(
        "insert into scim.group_members (group_id, user_id, tenant_id, member, version)
         select $1, u, $2, true, 1 from unnest($3::uuid[]) as u",
        [id.into(), tenant.into(), members.to_vec().into()],
    ))
    .await
    .expect("insert members");
    id
}
