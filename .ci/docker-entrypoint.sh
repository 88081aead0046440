#!/bin/sh
# Container start: on a fresh store volume train pump-1 from data/ and create the admin, then serve.
set -eu

if [ "${1:-}" = "gunicorn" ]; then
    # Idempotent: trains only when the store is empty, creates the admin only once.
    flask --app webapp bootstrap
fi
exec "$@"
