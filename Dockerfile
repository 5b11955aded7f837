# syntax=docker/dockerfile:1
#
# scim-relay: one image holding both binaries.
#   scim-api    (default command: `scim-api serve`, listens on 8080)
#   scim-worker (run with `scim-worker run`)
# Health checks use the binaries' own `healthcheck` subcommand, so the runtime
# image needs no curl/wget.
#
# The RUN --mount cache mounts need BuildKit (the default builder of Docker
# Engine >= 23 and of `docker compose` v2). With the legacy builder set
# DOCKER_BUILDKIT=1 (and COMPOSE_DOCKER_CLI_BUILD=1 for docker-compose 1.x).

############################ builder ############################
FROM rust:1.95-bookworm AS builder
WORKDIR /app
COPY . .
# target/ and the registry live in cache mounts, which are not part of the
# image layer, so the binaries are copied out to /out within the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/app/target \
    cargo build --release --locked -p api -p worker \
 && mkdir -p /out \
 && cp target/release/scim-api target/release/scim-worker /out/

############################ runtime ############################
# ca-certificates: the CA bundle the TLS connections trust (Postgres with
# sslmode=verify-full, amqps://). A private CA: add it in a derived image
# (update-ca-certificates) or name its file in the URLs; see docs/tls.md.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 scim \
 && useradd --system --uid 10001 --gid scim --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin scim
COPY --from=builder /out/scim-api /out/scim-worker /usr/local/bin/
# Inside a container the API must listen on all interfaces (the binary's own
# default is 127.0.0.1:8080); override with SCIM_BIND_ADDR.
ENV SCIM_BIND_ADDR=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
# No ENTRYPOINT, so `command: ["scim-worker", "run"]` etc. replace the CMD whole.
CMD ["scim-api", "serve"]
