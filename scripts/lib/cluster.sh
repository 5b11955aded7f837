# Sourced by scripts/cluster and scripts/chaos --cluster: a private 3-node RabbitMQ cluster on this
# machine, in a folder of its own, that stopping never disturbs the machine's own node (or tests
# running against it).
#
# Nodes scimcl1..3@localhost; node i listens for AMQP on $CLUSTER_PORT_BASE+i and for Erlang
# distribution on $CLUSTER_PORT_BASE+10+i. The base (24780 by default) sits below Linux's
# ephemeral range (32768-60999), so no outgoing connection can take a port while its node is
# stopped (see scripts/chaos). The nodes share the Erlang cookie of the user they run as (the
# rabbitmq user when started by root, as rabbitmq-server and rabbitmqctl switch to it), which is
# what lets them, and rabbitmqctl, talk to each other.
# shellcheck shell=bash

CLUSTER_PORT_BASE="${CLUSTER_PORT_BASE:-24780}"
CLUSTER_SIZE=3

cluster_node() { echo "scimcl$1@localhost"; }
cluster_amqp_port() { echo $((CLUSTER_PORT_BASE + $1)); }
cluster_dist_port() { echo $((CLUSTER_PORT_BASE + 10 + $1)); }

# The comma-separated AMQP_URL of every node, and the node names (comma-separated).
cluster_amqp_url() {
  local i urls=()
  for i in $(seq 1 $CLUSTER_SIZE); do urls+=("amqp://guest:guest@127.0.0.1:$(cluster_amqp_port "$i")/%2f"); done
  (IFS=,; echo "${urls[*]}")
}
cluster_nodes() {
  local i names=()
  for i in $(seq 1 $CLUSTER_SIZE); do names+=("$(cluster_node "$i")"); done
  (IFS=,; echo "${names[*]}")
}

# Refuses to start when a port is taken (another cluster, or anything else).
cluster_ports_free() {
  local i port
  for i in $(seq 1 $CLUSTER_SIZE); do
    for port in "$(cluster_amqp_port "$i")" "$(cluster_dist_port "$i")"; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "cluster: port $port is taken; set CLUSTER_PORT_BASE" >&2
        return 1
      fi
    done
  done
}

# cluster_start DIR: starts the three nodes with their state under DIR, joins 2 and 3 to 1, and
# waits until all three run in one cluster.
cluster_start() {
  local dir="$1" i node
  cluster_ports_free || return 1
  for i in $(seq 1 $CLUSTER_SIZE); do
    mkdir -p "$dir/n$i/mnesia" "$dir/n$i/log"
    echo "listeners.tcp.local = 127.0.0.1:$(cluster_amqp_port "$i")" > "$dir/n$i/rabbitmq.conf"
    echo "[]." > "$dir/n$i/enabled_plugins"
  done
  if [[ "$(id -u)" == 0 ]]; then
    chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
    chmod 755 "$dir"
  fi
  # Started side by side: a node's boot is mostly waiting, and three in a row take three times
  # as long on a busy machine.
  for i in $(seq 1 $CLUSTER_SIZE); do
    (cd "$dir/n$i" && env RABBITMQ_NODENAME="$(cluster_node "$i")" \
      RABBITMQ_CONFIG_FILE="$dir/n$i/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/n$i/enabled_plugins" \
      RABBITMQ_MNESIA_BASE="$dir/n$i/mnesia" RABBITMQ_LOG_BASE="$dir/n$i/log" \
      RABBITMQ_DIST_PORT="$(cluster_dist_port "$i")" rabbitmq-server -detached >/dev/null 2>&1)
  done
  for i in $(seq 1 $CLUSTER_SIZE); do
    node="$(cluster_node "$i")"
    for _ in $(seq 1 60); do
      rabbitmqctl -q -n "$node" await_startup --timeout 60 >/dev/null 2>&1 && break
      sleep 1
    done
    rabbitmqctl -q -n "$node" await_startup --timeout 5 >/dev/null || { echo "cluster: $node did not start (logs in $dir/n$i/log)" >&2; return 1; }
  done
  for i in $(seq 2 $CLUSTER_SIZE); do
    node="$(cluster_node "$i")"
    rabbitmqctl -q -n "$node" stop_app >/dev/null
    rabbitmqctl -q -n "$node" join_cluster "$(cluster_node 1)" >/dev/null
    rabbitmqctl -q -n "$node" start_app >/dev/null
  done
  local running
  running=$(rabbitmqctl -q -n "$(cluster_node 1)" cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["running_nodes"]))' 2>/dev/null || echo 0)
  if [[ "$running" != "$CLUSTER_SIZE" ]]; then
    echo "cluster: only $running of $CLUSTER_SIZE nodes run in the cluster (logs in $dir/n*/log)" >&2
    return 1
  fi
}

# cluster_stop DIR: stops every node (whatever state it is in) and removes DIR.
cluster_stop() {
  local dir="$1" i
  for i in $(seq 1 $CLUSTER_SIZE); do
    rabbitmqctl -q -n "$(cluster_node "$i")" stop >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}

# cluster_quorum_members QUEUE [VHOST]: the nodes holding a member of a quorum queue, one a line
# (asked of the first node that answers).
cluster_quorum_members() {
  local queue="$1" vhost="${2:-/}" i
  for i in $(seq 1 $CLUSTER_SIZE); do
    if rabbitmq-queues -q -n "$(cluster_node "$i")" quorum_status -p "$vhost" "$queue" --formatter json 2>/dev/null |
      python3 -c 'import json,sys; [print(m["Node Name"]) for m in json.load(sys.stdin)]'; then
      return 0
    fi
  done
  return 1
}
