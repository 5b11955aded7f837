//! The cluster variant's faults (`scripts/chaos --cluster`): the api and workers run against a
//! 3-node RabbitMQ cluster (AMQP_URL names every node), the node that leads the change queue is
//! stopped under load and started again, then the node that leads it next is stopped and
//! started. With one node of three down, the quorum queues keep a majority, so the IdP should not
//! notice at all: the pass condition allows no error but 503.
//!
//! The cluster is driven with `rabbitmqctl` and `rabbitmq-queues` (each call boots an Erlang VM,
//! about a second of CPU, so they are asked only around the faults, never polled fast).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::faults::{SETTLE, Window, wait_ready};
use crate::observe::Observer;

/// When each node outage starts, as a fraction of the load phase.
const SCHEDULE: [f64; 2] = [0.15, 0.50];
/// How long a new leader may take to be elected and reported, and a restarted node to be back
/// in every queue's quorum, on a busy machine.
const CLUSTER_LIMIT: Duration = Duration::from_secs(90);

pub struct Cluster {
    /// Erlang node names, e.g. `scimcl1@localhost`.
    nodes: Vec<String>,
    /// The change queue, its bulk lane and its dead-letter queue, in vhost `/`.
    queue: String,
    bulk_queue: String,
    dead_queue: String,
}

/// What the faults did to the cluster, for the figure line and report.json.
#[derive(Debug, Default)]
pub struct ClusterReport {
    pub nodes: usize,
    pub stopped: Vec<String>,
    /// The change queue's leader as seen at start, after each stop and after each restart.
    pub leaders: Vec<String>,
    /// Nodes holding a member of the change queue, of its bulk lane and of its dead-letter
    /// queue, at start.
    pub replicas: usize,
    pub bulk_replicas: usize,
    pub dead_replicas: usize,
    /// Reconnects of the api and of the workers (each to another node), from their logs.
    pub moves: (usize, usize),
}

impl ClusterReport {
    pub fn leader_changes(&self) -> usize {
        self.leaders.windows(2).filter(|w| w[0] != w[1]).count()
    }

    /// Both queues on every node, every planned node stopped, and the leadership moved.
    pub fn passed(&self) -> bool {
        self.replicas == self.nodes
            && self.bulk_replicas == self.nodes
            && self.dead_replicas == self.nodes
            && self.stopped.len() == SCHEDULE.len()
            && self.leader_changes() >= 1
    }

    pub fn line(&self) -> String {
        let short = |n: &String| n.split('@').next().unwrap_or(n).to_owned();
        format!(
            "cluster: {} nodes, queue replicas on {} of {} (bulk lane {} of {}, dead letters {} of {}), nodes stopped {} ({}), \
             leader changes {} ({}), moved to another node: api {}, workers {}",
            self.nodes,
            self.replicas,
            self.nodes,
            self.bulk_replicas,
            self.nodes,
            self.dead_replicas,
            self.nodes,
            self.stopped.len(),
            self.stopped.iter().map(short).collect::<Vec<_>>().join(" then "),
            self.leader_changes(),
            {
                let mut seen: Vec<String> = self.leaders.iter().map(short).collect();
                seen.dedup();
                seen.join(" → ")
            },
            self.moves.0,
            self.moves.1,
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "nodes": self.nodes,
            "replicas": self.replicas,
            "bulk_lane_replicas": self.bulk_replicas,
            "dead_letter_replicas": self.dead_replicas,
            "stopped": self.stopped,
            "leaders": self.leaders,
            "leader_changes": self.leader_changes(),
            "moves": {"api": self.moves.0, "workers": self.moves.1},
        })
    }
}

impl Cluster {
    /// `nodes`: comma-separated Erlang node names (CHAOS_CLUSTER_NODES).
    pub fn new(nodes: &str, queue: &str) -> anyhow::Result<Self> {
        let nodes: Vec<String> = nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(
            nodes.len() >= 3,
            "a cluster chaos run needs 3 nodes or more (one stopped keeps a majority), got {nodes:?}"
        );
        Ok(Self {
            nodes,
            queue: queue.to_owned(),
            bulk_queue: format!("{queue}.bulk"),
            dead_queue: format!("{queue}.dead"),
        })
    }

    /// The nodes holding a member of `queue`, asked of the first node that answers.
    async fn members(&self, queue: &str) -> anyhow::Result<Vec<String>> {
        let mut last = None;
        for node in &self.nodes {
            match cli(
                "rabbitmq-queues",
                &[
                    "-q",
                    "-n",
                    node,
                    "quorum_status",
                    "-p",
                    "/",
                    queue,
                    "--formatter",
                    "json",
                ],
            )
            .await
            {
                Ok(out) => {
                    let rows: Vec<Value> = serde_json::from_str(&out)
                        .with_context(|| format!("quorum_status of {queue}: {out}"))?;
                    return Ok(rows
                        .iter()
                        .filter_map(|r| r["Node Name"].as_str().map(str::to_owned))
                        .collect());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("nodes"))
    }

    /// The change queue's leader, as the first running node in `up` reports it.
    async fn leader(&self, up: &[&String]) -> anyhow::Result<String> {
        let mut last = None;
        for node in up {
            let out = cli(
                "rabbitmqctl",
                &[
                    "-q",
                    "-n",
                    node,
                    "list_queues",
                    "-p",
                    "/",
                    "name",
                    "leader",
                    "--formatter",
                    "json",
                ],
            )
            .await;
            match out.and_then(|out| {
                let rows: Vec<Value> =
                    serde_json::from_str(&out).with_context(|| format!("list_queues: {out}"))?;
                rows.iter()
                    .find(|r| r["name"] == self.queue.as_str())
                    .and_then(|r| r["leader"].as_str().map(str::to_owned))
                    .with_context(|| format!("{} has no leader in {out}", self.queue))
            }) {
                Ok(leader) => return Ok(leader),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no running node to ask")))
    }

    /// Waits until a running node reports a leader other than `stopped` (an election happened).
    async fn new_leader(&self, stopped: &str) -> anyhow::Result<String> {
        let up: Vec<&String> = self.nodes.iter().filter(|n| *n != stopped).collect();
        let deadline = Instant::now() + CLUSTER_LIMIT;
        loop {
            match self.leader(&up).await {
                Ok(l) if l != stopped => return Ok(l),
                outcome => anyhow::ensure!(
                    Instant::now() < deadline,
                    "no new leader of {} within {CLUSTER_LIMIT:?} after {stopped} stopped: {outcome:?}",
                    self.queue
                ),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Waits until stopping `node` would leave every quorum queue a majority: the node stopped
    /// before has rejoined and caught up.
    async fn until_safe_to_stop(&self, node: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + CLUSTER_LIMIT;
        loop {
            let check = cli(
                "rabbitmq-queues",
                &["-q", "-n", node, "check_if_node_is_quorum_critical"],
            )
            .await;
            match check {
                Ok(_) => return Ok(()),
                Err(e) => anyhow::ensure!(
                    Instant::now() < deadline,
                    "{node} still quorum-critical after {CLUSTER_LIMIT:?}: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// Checks both queues are on every node, then stops the leading node of the change queue for
/// `outage` and starts it again, twice: the second time the node leading then (another one).
pub async fn run(
    cluster: &Cluster,
    observer: &Observer,
    duration: Duration,
    outage: Duration,
) -> anyhow::Result<(Vec<Window>, ClusterReport)> {
    let start = tokio::time::Instant::now();
    let mut report = ClusterReport {
        nodes: cluster.nodes.len(),
        replicas: cluster.members(&cluster.queue).await?.len(),
        bulk_replicas: cluster.members(&cluster.bulk_queue).await?.len(),
        dead_replicas: cluster.members(&cluster.dead_queue).await?.len(),
        ..Default::default()
    };
    let all: Vec<&String> = cluster.nodes.iter().collect();
    report.leaders.push(cluster.leader(&all).await?);
    let mut windows = Vec::new();
    let mut previous_end = start;
    for at in SCHEDULE {
        tokio::time::sleep_until((start + duration.mul_f64(at)).max(previous_end + SETTLE)).await;
        let leader = report.leaders.last().expect("a leader").clone();
        // The leader, unless it is the node stopped last time (leadership stayed there after it
        // came back): then any other, so that two different nodes go down.
        let victim = if report.stopped.last() != Some(&leader) {
            leader.clone()
        } else {
            cluster
                .nodes
                .iter()
                .find(|n| Some(*n) != report.stopped.last())
                .expect("3 nodes")
                .clone()
        };
        cluster.until_safe_to_stop(&victim).await?;
        let from = Instant::now();
        eprintln!("chaos: stopping {victim} (the change queue's leader is {leader})");
        cli("rabbitmqctl", &["-q", "-n", &victim, "stop_app"]).await?;
        report.stopped.push(victim.clone());
        let elected = cluster.new_leader(&victim).await?;
        eprintln!("chaos: {elected} leads the change queue now");
        report.leaders.push(elected);
        tokio::time::sleep_until((from + outage).into()).await;
        cli("rabbitmqctl", &["-q", "-n", &victim, "start_app"]).await?;
        wait_ready(observer, &format!("start_app on {victim}")).await?;
        report.leaders.push(cluster.leader(&all).await?);
        windows.push(Window::injected(
            &format!("node {victim} stopped"),
            if victim == leader {
                "the change queue's leader stopped, then started"
            } else {
                "a follower of the change queue stopped, then started"
            },
            from,
        ));
        previous_end = tokio::time::Instant::now();
    }
    Ok((windows, report))
}

/// Runs a RabbitMQ command line tool; its standard output, or an error with its standard error.
async fn cli(tool: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(tool)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {tool}"))?;
    anyhow::ensure!(
        out.status.success(),
        "`{tool} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
