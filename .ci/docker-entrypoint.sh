#!/bin/sh
# Container start: on a fresh store volume train pump-1 from data/ and create the admin, then serve.
set -eu

# A volume the app user cannot write is the usual first-install mistake: say how to fix it.
# A serving instance of a cluster reads a shared store it must not write (deploy/compose.yaml).
store="${VIGIE_MODEL_STORE:-/app/model_store}"
[ "${VIGIE_MODEL_STORE_READONLY:-0}" = 1 ] && store=""
for folder in $store "${VIGIE_LOG_DIR:-/app/logs}" "${VIGIE_INSTANCE_DIR:-/app/instance}"; do
    if [ ! -w "$folder" ]; then
        echo "vigie: $folder is not writable by uid $(id -u): give its volume to that user" \
             "(on the host: chown $(id -u):$(id -g) FOLDER)" >&2
        exit 1
    fi
done

if [ "${1:-}" = "gunicorn" ]; then
    # Idempotent: trains only when the store is empty, creates the admin only once.
    flask --app webapp bootstrap
fi
exec "$@"
