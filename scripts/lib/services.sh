# Sourced by scripts/test and scripts/dev: makes sure the machine's PostgreSQL (127.0.0.1:5432)
# and RabbitMQ (127.0.0.1:5672) are up, starting whichever is down. A service that does not come
# up ends the calling script with status 1.
# shellcheck shell=bash

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  printf '==> %s\n' "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 1; done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1
}

rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

ensure_rabbitmq() {
  if rabbit_up; then return; fi
  printf '==> %s\n' "starting RabbitMQ" >&2
  rabbitmq-server -detached
  for _ in $(seq 1 90); do rabbit_up && return; sleep 1; done
  echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1
}

# PgBouncer for the tests that run the api and workers through one (tests/tests/scaling.rs).
# They need 1.21 or later, whose max_prepared_statements carries sqlx's named prepared
# statements across server connections; Debian 12's package is 1.18. So, unless a new enough
# pgbouncer is on PATH, this builds Debian 13's (trixie's) source package into
# target/tools/pgbouncer with Debian 12's libraries: `apt-get source` through a private apt
# state (the machine's sources are left as they are), build dependencies with apt-get.
PGBOUNCER_SOURCE_SUITE=trixie
ensure_pgbouncer() {
  local prefix="$PWD/target/tools/pgbouncer"
  pgbouncer_new_enough() {
    local v
    v=$("$1" --version 2>/dev/null | awk 'NR==1 {print $2}')
    [[ -n $v ]] && [[ $(printf '%s\n1.21.0\n' "$v" | sort -V | head -1) == 1.21.0 ]]
  }
  if command -v pgbouncer >/dev/null 2>&1 && pgbouncer_new_enough pgbouncer; then return; fi
  if [[ -x $prefix/bin/pgbouncer ]] && pgbouncer_new_enough "$prefix/bin/pgbouncer"; then return; fi
  printf '==> %s\n' "building pgbouncer from Debian's $PGBOUNCER_SOURCE_SUITE source package into $prefix" >&2
  local work apt
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb-src http://deb.debian.org/debian $PGBOUNCER_SOURCE_SUITE main" >"$work/sources.list"
  apt=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- \
       -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential pkg-config \
           libevent-dev libssl-dev libc-ares-dev >/dev/null 2>&1 \
         || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                build-essential pkg-config libevent-dev libssl-dev libc-ares-dev >/dev/null 2>&1; }; } \
     || ! apt-get -qq "${apt[@]}" update >/dev/null 2>&1 \
     || ! (cd "$work" && apt-get -qq "${apt[@]}" source --download-only pgbouncer >/dev/null 2>&1); then
    echo "could not get pgbouncer's source or its build dependencies; the pgbouncer tests will fail" >&2
    rm -rf "$work"; return 1
  fi
  (
    cd "$work" && tar xzf pgbouncer_*.orig.tar.gz && cd pgbouncer-*/ \
      && ./configure --prefix="$prefix" --without-systemd --without-pam >/dev/null \
      && make -j"$(nproc)" >/dev/null 2>&1 && make install >/dev/null 2>&1
  ) || { echo "pgbouncer did not build (log in $work)" >&2; return 1; }
  rm -rf "$work"
  pgbouncer_new_enough "$prefix/bin/pgbouncer" || { echo "the pgbouncer built is older than 1.21" >&2; return 1; }
}
