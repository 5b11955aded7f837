# Sourced by scripts/profile: CPU time (user + system) of the processes a profile started and of
# the Postgres backends serving them, read from /proc/<pid>/stat. Unlike `perf record -a`, it
# leaves out every process of the machine that is not ours (another Postgres cluster, a build,
# another engineer's tests), so it holds when the machine is shared.
# shellcheck shell=bash

CLK_TCK=$(getconf CLK_TCK)

# psql as the profile's own client: its sessions are named, and left out of the backends counted.
profile_psql() { PGAPPNAME=scim-profile psql -X -q -h 127.0.0.1 -U postgres "$@"; }

# Prints "<group> <pid> <ticks>" for: the pids given (group "proc"), the client backends of
# database $1 ("pg") and the cluster's background writers, shared by all its databases ("pgbg").
cpu_snapshot() {
  local db=$1 pid group
  shift
  {
    for pid in "$@"; do echo "proc $pid"; done
    profile_psql -d postgres -At -F ' ' -c "
      select 'pg', pid from pg_stat_activity
       where datname = '$db' and backend_type = 'client backend' and application_name <> 'scim-profile'
      union all
      select 'pgbg', pid from pg_stat_activity
       where backend_type in ('checkpointer', 'background writer', 'walwriter')"
  } | while read -r group pid; do
    # The command name (field 2) may hold spaces: cut up to ") ", then utime and stime are the
    # 12th and 13th fields left (14 and 15 of proc(5)). A process gone meanwhile prints nothing.
    awk -v g="$group" -v p="$pid" '{ sub(/^.*\) /, ""); print g, p, $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || true
  done
}

# CPU milliseconds used by group $3 between snapshots $1 and $2 (files). A pid new in $2 counts
# from 0 (a backend opened meanwhile); one gone from $2 is lost, which the caller avoids by
# taking $2 while the processes still run.
cpu_ms() {
  awk -v g="$3" -v hz="$CLK_TCK" '
    NR == FNR { if ($1 == g) before[$2] = $3; next }
    $1 == g { used += $3 - ($2 in before ? before[$2] : 0) }
    END { printf "%.0f\n", used * 1000 / hz }' "$1" "$2"
}
