//! The machine's raw ceilings, measured with the same concurrency and pool size as the workload:
//! (a) a Postgres transaction inserting a ~1 KiB JSON row plus an outbox row, (b) RabbitMQ
//! persistent publishes with confirms to a classic queue, (c) single-row Postgres upserts by
//! primary key, (d) single-row Postgres selects by primary key (what a lookup by a unique key can
//! cost at most), (e) the same publishes as (b) to a quorum queue, the kind the changes go to
//! (`shared::amqp`): what one queue takes at most, which docs/sizing.md sizes the lanes by.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use lapin::BasicProperties;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, TransactionTrait};
use serde::Serialize;
use shared::db::stmt;
use uuid::Uuid;

use crate::stats::rate;

#[derive(Debug, Clone, Serialize)]
pub struct Ceilings {
    pub pg_insert_tx_per_s: f64,
    pub amqp_confirmed_publish_per_s: f64,
    pub pg_upsert_per_s: f64,
    pub pg_select_by_key_per_s: f64,
    pub amqp_quorum_confirmed_publish_per_s: f64,
}

pub async fn measure(db_url: &str, amqp_url: &str, concurrency: usize, n: usize) -> anyhow::Result<Ceilings> {
    let mut opts = ConnectOptions::new(db_url.to_owned());
    opts.max_connections(concurrency as u32).sqlx_logging(false);
    let db = Database::connect(opts).await.context("ceiling pool")?;
    db.execute_unprepared(
        "create table if not exists bench_docs (id uuid primary key, body jsonb not null);
         create table if not exists bench_outbox (id bigint generated always as identity primary key, payload jsonb not null);
         create table if not exists bench_rows (id uuid primary key, name text not null, version bigint not null)",
    )
    .await?;
    let doc = serde_json::json!({"userName": "x".repeat(900), "active": true});
    let a = run(concurrency, n, |_| {
        let (db, doc) = (db.clone(), doc.clone());
        async move {
            let txn = db.begin().await?;
            txn.execute_raw(stmt(
                "insert into bench_docs (id, body) values ($1, $2)",
                [Uuid::now_v7().into(), doc.clone().into()],
            ))
            .await?;
            txn.execute_raw(stmt(
                "insert into bench_outbox (payload) values ($1)",
                [doc.into()],
            ))
            .await?;
            txn.commit().await?;
            Ok(())
        }
    })
    .await?;
    let ids: Arc<Vec<Uuid>> = Arc::new((0..n).map(|_| Uuid::now_v7()).collect());
    let c = run(concurrency, n, |i| {
        let (db, ids) = (db.clone(), ids.clone());
        async move {
            db.execute_raw(stmt(
                "insert into bench_rows as r (id, name, version) values ($1, $2, $3)
                 on conflict (id) do update set name = excluded.name, version = excluded.version
                 where r.version < excluded.version",
                [ids[i].into(), format!("user-{i}").into(), 1i64.into()],
            ))
            .await?;
            Ok(())
        }
    })
    .await?;
    let d = run(concurrency, n, |i| {
        let (db, ids) = (db.clone(), ids.clone());
        async move {
            let row = db
                .query_one_raw(stmt(
                    "select id, name, version from bench_rows where id = $1",
                    [ids[(i * 7919) % ids.len()].into()],
                ))
                .await?;
            anyhow::ensure!(row.is_some(), "ceiling (d): a row is missing");
            Ok(())
        }
    })
    .await?;
    db.execute_unprepared("drop table bench_docs; drop table bench_outbox; drop table bench_rows")
        .await?;
    let b = amqp(amqp_url, concurrency, n, false).await?;
    let e = amqp(amqp_url, concurrency, n, true).await?;
    Ok(Ceilings {
        pg_insert_tx_per_s: a,
        amqp_confirmed_publish_per_s: b,
        pg_upsert_per_s: c,
        pg_select_by_key_per_s: d,
        amqp_quorum_confirmed_publish_per_s: e,
    })
}

/// Runs `op(i)` for i in 0..n with `concurrency` in flight; returns operations per second.
async fn run<F, Fut>(concurrency: usize, n: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(0..n)
        .map(&op)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(rate(n, started.elapsed()))
}

/// Confirmed persistent publishes to a new durable queue, a quorum queue if `quorum`.
async fn amqp(url: &str, concurrency: usize, n: usize, quorum: bool) -> anyhow::Result<f64> {
    // Through shared::amqp, as the binaries connect: the URL may name several nodes.
    let conn = shared::amqp::connect(&shared::config::AmqpConfig::new(url), "scim-bench").await?;
    let ch = conn.create_channel().await?;
    let queue = format!("scimbench_ceiling_{}", Uuid::now_v7().simple());
    let mut arguments = FieldTable::default();
    if quorum {
        arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    }
    ch.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        arguments,
    )
    .await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let payload = vec![b'x'; 600];
    let started = Instant::now();
    // `concurrency` confirms outstanding at a time, like the api's pipelined batches.
    let mut sent = 0;
    while sent < n {
        let batch = concurrency.min(n - sent);
        let mut confirms = Vec::with_capacity(batch);
        for _ in 0..batch {
            confirms.push(
                ch.basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &payload,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?,
            );
        }
        for c in confirms {
            anyhow::ensure!(c.await?.is_ack(), "broker refused a message");
        }
        sent += batch;
    }
    let per_s = rate(n, started.elapsed());
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.close(200, "bye".into())).await;
    Ok(per_s)
}
