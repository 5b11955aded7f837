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
