#!/bin/sh
# The compose deployment's Prometheus targets, then Prometheus: writes FOLDER/<service>.json
# (file_sd, read by prometheus.yaml) with every port of each service's span, from the compose
# .env variables, and runs COMMAND. Usage: prometheus-targets.sh FOLDER COMMAND [ARG...]
set -eu
folder=$1
shift
mkdir -p "$folder"
tries=${STAX_HTTP_PORT_TRIES:-9}

span() { # SERVICE FIRST_PORT: FIRST_PORT ... FIRST_PORT + tries - 1
  port=$2
  last=$(($2 + tries - 1))
  targets=""
  while [ "$port" -le "$last" ]; do
    targets="$targets${targets:+, }\"127.0.0.1:$port\""
    port=$((port + 1))
  done
  # Written aside, then renamed: Prometheus never reads half a file.
  printf '[{"targets": [%s]}]\n' "$targets" >"$folder/$1.json.new"
  mv "$folder/$1.json.new" "$folder/$1.json"
}

span intake "${STAX_INTAKE_PORT:-8001}"
span matcher "${STAX_MATCHER_PORT:-8010}"
span notifier "${STAX_NOTIFIER_PORT:-8020}"
exec "$@"
