#!/usr/bin/env bash
# The compose file's broker (apache/kafka image, run instead of its /etc/kafka/docker/run, which
# neither takes PEM keystores without passwords nor passes --add-scram to the storage format):
#   1. render server.properties from the template, passwords from the environment (mode 0600);
#   2. on the first start only, format the storage with the SCRAM users admin and broker;
#   3. write the admin client config the healthcheck uses, then exec the broker.
# Passwords are fixed at the first format: to change one later, use the admin API (as `stax kafka`
# does), then .env; or start over with `docker compose down -v`.
set -euo pipefail

template=/stax/server.properties
conf=/opt/kafka/config/stax-server.properties
admin_conf=/opt/kafka/config/stax-admin-client.properties
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

umask 077
props=$(<"$template")
# The replacement is quoted so that bash 5.2 does not treat '&' in it as the matched text.
props=${props//@BROKER_PASSWORD@/"$STAX_KAFKA_PASSWORD_BROKER"}
props=${props//@CONTROLLER_PASSWORD@/"$STAX_KAFKA_PASSWORD_CONTROLLER"}
props=${props//@EXTERNAL_HOST@/"$external_host"}
props=${props//@EXTERNAL_PORT@/"$external_port"}
printf '%s\n' "$props" >"$conf"

if [[ ! -f $data/meta.properties ]]; then
  echo "start-kafka: formatting $data with the bootstrap SCRAM users admin and broker"
  # stdout lists salts and stored keys: not for the log.
  /opt/kafka/bin/kafka-storage.sh format --config "$conf" \
    --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$STAX_KAFKA_PASSWORD_ADMIN]" \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$STAX_KAFKA_PASSWORD_BROKER]" >/dev/null
fi

cat >"$admin_conf" <<CONF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$STAX_KAFKA_PASSWORD_ADMIN";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/tls/ca.crt
CONF

exec /opt/kafka/bin/kafka-server-start.sh "$conf"
