# PostgreSQL 15 from Debian's package.
#   docker build -f deploy/docker/postgres.Dockerfile -t stax-postgres:15 .
# BASE_IMAGE: debian:bookworm-slim from a registry, or a local bookworm root (deploy/containers).
# Environment: POSTGRES_PASSWORD (required), POSTGRES_USER / POSTGRES_DB (default stax),
# PGPORT (5432), POSTGRES_LISTEN (addresses to listen on, default *; host networking: 127.0.0.1).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /run/postgresql
COPY deploy/docker/postgres-start /usr/local/bin/postgres-start
USER postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    PGPORT=5432
CMD ["postgres-start"]
