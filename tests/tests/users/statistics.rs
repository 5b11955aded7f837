//! The statistics keeper in the running binaries: the api analyses the directory's tables and
//! the worker the product's once they have grown, so that plans made while a tenant was small
//! do not serve it once it is large (`shared::statistics`). `last_analyze` records manual
//! analyses only, never autovacuum's: the test holds whether the server's autovacuum is on or off.

use tests::okta_user;

#[tokio::test]
async fn the_api_and_the_worker_analyse_the_tables_they_write_once_they_have_grown() {
    let env = tests::TestEnv::new().await;
    let every_second = [("SCIM_ANALYZE_INTERVAL_SECS", "1")];
    let api = env.spawn_api_with(&every_second).await;
    let _worker = env.spawn_worker_with(&every_second);
    let (_, token) = env.create_tenant("Acme");
    let db = env.db().await;
    let analysed = |table: &'static str| {
        let db = db.clone();
        async move {
            tests::scalar::<bool>(
                &db,
                &format!(
                    "select coalesce(max(last_analyze) is not null, false) as done
                       from pg_stat_user_tables where schemaname || '.' || relname = '{table}'"
                ),
                "done",
            )
            .await
        }
    };
    // Past the first threshold (50 changes) of both users tables.
    let mut last = None;
    for n in 0..60 {
        let user = okta_user(&format!("grown{n}@acme.test"), "Gro", "Wn");
        last = Some(env.create_user(&api, &token, user).await);
    }
    env.product_user_where(&db, last.unwrap(), |_| true).await;
    tests::eventually("the api analyses scim.users", || analysed("scim.users")).await;
    tests::eventually("the worker analyses product.users", || analysed("product.users")).await;
}

#[tokio::test]
async fn without_growth_nothing_is_analysed() {
    let env = tests::TestEnv::new().await;
    let every_second = [("SCIM_ANALYZE_INTERVAL_SECS", "1")];
    let api = env.spawn_api_with(&every_second).await;
    let (_, token) = env.create_tenant("Acme");
    env.create_user(&api, &token, okta_user("one@acme.test", "O", "Ne"))
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let db = env.db().await;
    let analysed: i64 = tests::scalar(
        &db,
        "select count(*) as n from pg_stat_user_tables where schemaname = 'scim' and last_analyze is not null",
        "n",
    )
    .await;
    assert_eq!(analysed, 0);
}
