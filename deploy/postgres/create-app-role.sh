#!/bin/sh
# First start of the PostgreSQL volume only: the login role Vigie serves with. The migrations
# (flask --app webapp db upgrade, run as the owner) give it its rights through vigie_app.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v password="$VIGIE_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE vigie_web LOGIN PASSWORD :'password';
SQL
