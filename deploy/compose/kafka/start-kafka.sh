#!/usr/bin/env bash
# The compose file's broker (the stax-kafka image: the Maven Central jars and `kafka-java`):
#   1. render server.properties from the template, passwords from the environment (mode 0600);
#   2. on the first start only, format the storage with the SCRAM users admin and broker;
#   3. exec the broker.
# Passwords are fixed at the first format: to change one later, use the admin API (as `stax kafka`
# does), then .env; or start over with `docker compose down -v`.
set -euo pipefail

template=/stax/server.properties
conf=$HOME/stax-server.properties
data=/var/lib/kafka/data

for var in STAX_KAFKA_PASSWORD_ADMIN STAX_KAFKA_PASSWORD_BROKER STAX_KAFKA_PASSWORD_CONTROLLER; do
  # StorageTool's --add-scram cannot parse a ',' even quoted, and a quote would end the JAAS
  # value: allow the characters of Python's secrets.token_urlsafe() only.
  if [[ ! ${!var:-} =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
    echo "start-kafka: $var must be 16 or more of A-Z a-z 0-9 _ - (see deploy/compose/.env.example)" >&2
    exit 1
  fi
done
external_host=${STAX_KAFKA_EXTERNAL_HOST:-localhost}
external_port=${STAX_KAFKA_EXTERNAL_PORT:-19092}
external_bind=${STAX_KAFKA_EXTERNAL_BIND:-127.0.0.1}
internal_port=${STAX_KAFKA_PORT:-9092}
controller_port=${STAX_KAFKA_CONTROLLER_PORT:-9093}

umask 077
props=$(<"$template")
# The replacement is quoted so that bash 5.2 does not treat '&' in it as the matched text.
props=${props//@BROKER_PASSWORD@/"$STAX_KAFKA_PASSWORD_BROKER"}
props=${props//@CONTROLLER_PASSWORD@/"$STAX_KAFKA_PASSWORD_CONTROLLER"}
props=${props//@EXTERNAL_HOST@/"$external_host"}
props=${props//@EXTERNAL_PORT@/"$external_port"}
props=${props//@EXTERNAL_BIND@/"$external_bind"}
props=${props//@INTERNAL_PORT@/"$internal_port"}
props=${props//@CONTROLLER_PORT@/"$controller_port"}
printf '%s\n' "$props" >"$conf"

if [[ ! -f $data/meta.properties ]]; then
  echo "start-kafka: formatting $data with the bootstrap SCRAM users admin and broker"
  # stdout lists salts and stored keys: not for the log.
  kafka-java kafka.tools.StorageTool format --config "$conf" \
    --cluster-id "$(kafka-java kafka.tools.StorageTool random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$STAX_KAFKA_PASSWORD_ADMIN]" \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$STAX_KAFKA_PASSWORD_BROKER]" >/dev/null
fi

exec kafka-java kafka.Kafka "$conf"
