#!/usr/bin/env bash
# make cluster-up | cluster-down | cluster-test: deploy/compose.yaml with podman or docker.
#   up    build the image, start PostgreSQL, migrations, two instances and nginx
#   down  stop and remove the containers (the named volumes are kept; down -v drops them)
#   test  up on a throwaway project with generated secrets, a prediction through nginx is
#         audited in PostgreSQL, then everything (volumes too) is removed
# Where no engine or no compose front-end exists, `test` says so and exits 0: the same
# behaviour is covered without containers by tests/cluster (make test).
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: cluster.sh up|down|test}
COMPOSE_FILE=deploy/compose.yaml

compose_command() {
    if command -v podman >/dev/null && podman compose version >/dev/null 2>&1; then
        echo "podman compose"
    elif command -v podman-compose >/dev/null; then
        echo "podman-compose"
    elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
        echo "docker compose"
    fi
}

compose=$(compose_command)
if [[ -z $compose ]]; then
    echo "cluster: no container engine with compose here (podman compose, podman-compose or" \
         "docker compose)."
    if [[ $action == test ]]; then
        echo "cluster: skipped; tests/cluster runs the same cluster without containers" \
             "(real PostgreSQL, nginx, two gunicorns) in make test."
        exit 0
    fi
    exit 1
fi

case $action in
up)
    [[ -f deploy/.env ]] || { echo "cluster: copy deploy/env.example to deploy/.env and set" \
                                   "its passwords first" >&2; exit 1; }
    $compose -f "$COMPOSE_FILE" --env-file deploy/.env up -d --build
    echo "cluster: http://127.0.0.1:$(grep -E '^VIGIE_HTTP_PORT=' deploy/.env | cut -d= -f2 \
        || echo 8080)"
    ;;
down)
    $compose -f "$COMPOSE_FILE" --env-file deploy/.env down
    ;;
test)
    env_file=$(mktemp)
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$env_file" <<ENV
VIGIE_DB_OWNER_PASSWORD=$(openssl rand -hex 16)
VIGIE_DB_APP_PASSWORD=$(openssl rand -hex 16)
VIGIE_SECRET_KEY=$(openssl rand -hex 32)
VIGIE_ADMIN_PASSWORD=cluster-test-admin
VIGIE_HTTP_PORT=$port
ENV
    project=(-p "vigie-cluster-test-$$" -f "$COMPOSE_FILE" --env-file "$env_file")
    trap '$compose "${project[@]}" down -v >/dev/null 2>&1 || true; rm -f "$env_file"' EXIT
    $compose "${project[@]}" up -d --build
    for _ in $(seq 120); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 2
    done
    curl -fsS "http://127.0.0.1:$port/readyz"
    key=$($compose "${project[@]}" exec -T vigie1 flask --app webapp apikeys create \
        cluster-test --role operator | tail -n 1)
    answer=$(curl -fsS -H "X-API-Key: $key" -H 'Content-Type: application/json' \
        -d '{"asset":"pump-1","readings":[{"Accelerometer1RMS":0.2,"Accelerometer2RMS":0.27,"Current":2.17,"Pressure":0.38,"Temperature":90.6,"Thermocouple":26.8,"Voltage":238.8,"Volume Flow RateRMS":122.6}]}' \
        "http://127.0.0.1:$port/api/v1/predict")
    request_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["request_id"])' "$answer")
    rows=$($compose "${project[@]}" exec -T db psql -U vigie_owner -d vigie -tAc \
        "SELECT count(*) FROM audit WHERE request_id = '$request_id'")
    [[ $rows == 1 ]] || { echo "cluster-test: expected 1 audit row for $request_id, found $rows" >&2; exit 1; }
    echo "cluster-test: prediction $request_id through nginx audited once in PostgreSQL"
    ;;
*)
    echo "usage: cluster.sh up|down|test" >&2; exit 2 ;;
esac
