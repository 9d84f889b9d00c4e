"""Containers on a machine with no image registry and loopback-only traffic: the Docker engine
started with host networking only, a Debian base image made with debootstrap, and the STAX,
Kafka and PostgreSQL images built on it (`make images`). A machine with a registry needs none of
this: `docker compose -f deploy/compose/compose.yaml up --build` builds on the registry's bases."""
